"""Agent errors, split like shared.errors by what the caller should do about them: a
RetryableError may succeed later, a PermanentError will not (fix the input or the config)."""

from shared.errors import ConfigError, PermanentError, PesError, RetryableError

__all__ = [
    "AgentError",
    "AgentStopped",
    "BufferCorrupt",
    "BufferFull",
    "BufferUnavailable",
    "ConfigError",
    "InvalidEvent",
]


class AgentError(PesError):
    """Base of the errors the agent raises on purpose."""


class AgentStopped(AgentError):
    """record() was called on an agent that is not running (not entered, or shutting down)."""


class BufferUnavailable(AgentError, RetryableError):
    """The buffer is busy (locked by another process past the busy timeout) or the disk is
    full: nothing was written, try again later."""


class BufferCorrupt(AgentError, PermanentError):
    """The buffer file cannot be used: not an SQLite database, a foreign schema, or a path that
    cannot be opened. Retrying will not help; an operator has to look at the file."""


class InvalidEvent(AgentError, PermanentError):
    """An event that violates the wire contract; the message names the field and the rule.
    Raised before anything is written, so the caller can fix the input and record again."""


class BufferFull(AgentError, RetryableError):
    """The buffer is at its size limit and its overflow policy is `reject_new`: the event was
    not stored. Retrying helps once the agent has sent (and the collector acked) older events."""
