"""The agent package's public face: `__all__` pinned (as httpx pins its own), every name there
importable, the errors' tree as agent/errors.py draws it, and no import circle between the
agent's modules (counting imports made only for type checking, which hide circles)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import agent
from agent import errors
from shared.errors import ConfigError as SharedConfigError
from shared.errors import PermanentError, PesError, RetryableError

AGENT_DIR = Path(agent.__file__).parent


def test_all_is_pinned() -> None:
    assert agent.__all__ == [
        "Agent",
        "AgentError",
        "AgentPermanentError",
        "AgentRetryableError",
        "AgentSettings",
        "AgentStats",
        "AgentStopped",
        "BufferCorrupt",
        "BufferFull",
        "BufferUnavailable",
        "CollectionOff",
        "ConfigError",
        "InvalidEvent",
        "__version__",
        "load_settings",
    ]


def test_every_public_name_resolves_to_its_owner() -> None:
    from agent.agent import Agent
    from agent.settings import AgentSettings, load_settings
    from agent.telemetry import AgentStats

    for name in agent.__all__:
        assert getattr(agent, name) is not None, name
    assert agent.Agent is Agent
    assert agent.AgentSettings is AgentSettings
    assert agent.load_settings is load_settings
    assert agent.AgentStats is AgentStats
    assert set(agent.__all__) <= set(dir(agent))
    assert set(errors.__all__) <= set(agent.__all__)


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NoSuchThing"):
        getattr(agent, "NoSuchThing")  # noqa: B009  # the point: a name that does not exist


def test_error_tree() -> None:
    retryable: list[type[errors.AgentError]]  # both lists: one loop variable over them
    permanent: list[type[errors.AgentError]]
    retryable = [errors.BufferUnavailable, errors.BufferFull, errors.AgentStopped]
    permanent = [errors.InvalidEvent, errors.CollectionOff, errors.BufferCorrupt,
                 errors.ConfigError]  # fmt: skip
    for cls in retryable:
        assert issubclass(cls, errors.AgentRetryableError) and issubclass(cls, RetryableError)
        assert not issubclass(cls, PermanentError)
    for cls in permanent:
        assert issubclass(cls, errors.AgentPermanentError) and issubclass(cls, PermanentError)
        assert not issubclass(cls, RetryableError)
    assert issubclass(errors.ConfigError, SharedConfigError)
    for cls in (*retryable, *permanent):
        assert issubclass(cls, errors.AgentError) and issubclass(cls, PesError)
        assert cls.__name__ in errors.__doc__  # the tree in the docstring names it
    # every error class of the module is in the tree, and exported
    defined = {n for n, v in vars(errors).items()
               if isinstance(v, type) and issubclass(v, errors.AgentError)}  # fmt: skip
    assert defined == set(errors.__all__)


def _imports(path: Path) -> set[str]:
    """agent.* modules a module imports at its top level, type-checking-only imports included."""
    tree = ast.parse(path.read_text())
    out: set[str] = set()
    body = list(tree.body)
    while body:
        node = body.pop()
        if isinstance(node, ast.If):  # `if TYPE_CHECKING:` and friends
            body += node.body + node.orelse
        elif isinstance(node, ast.Try):
            body += node.body + [h for x in node.handlers for h in x.body]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "agent":
                out |= {f"agent.{a.name}" for a in node.names}
            elif node.module.startswith("agent."):
                out.add(node.module)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("agent.")}
    return out


def test_no_import_circle_between_agent_modules() -> None:
    modules = {f"agent.{p.stem}": p for p in AGENT_DIR.glob("*.py") if p.stem != "__init__"}
    graph = {m: {d for d in _imports(p) if d in modules} for m, p in modules.items()}

    def reach(start: str) -> set[str]:
        seen: set[str] = set()
        todo = list(graph[start])
        while todo:
            m = todo.pop()
            if m not in seen:
                seen.add(m)
                todo += graph[m]
        return seen

    circles = sorted(m for m in graph if m in reach(m))
    assert circles == []


def test_import_agent_is_light() -> None:
    code = "import sys, agent; print(sorted(m for m in ('asyncio', 'paho') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
