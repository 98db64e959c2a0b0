"""The agent's version, in a module of its own so that no agent module imports the package."""

__version__ = "0.1.0"
