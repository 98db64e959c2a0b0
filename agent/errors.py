"""The errors the agent raises on purpose: one root, split by what the caller should do.

    AgentError                      (shared.errors.PesError)  catch-all for the agent
    ├── AgentRetryableError         (shared.errors.RetryableError)  may succeed later: retry
    │   ├── BufferUnavailable       buffer busy (another process), disk full, disk headroom
    │   ├── BufferFull              at its size limit with overflow = "reject_new"
    │   └── AgentStopped            not running, or stopping: a restarted agent will accept
    └── AgentPermanentError         (shared.errors.PermanentError)  will not: fix the cause
        ├── InvalidEvent            violates the wire contract (the message names the field)
        ├── CollectionOff           collection = "off": the operator withdrew consent
        ├── BufferCorrupt           not a buffer file, a foreign schema, an unusable path
        └── ConfigError             (shared.errors.ConfigError)  bad settings, names the key

`except RetryableError` / `except PermanentError` (shared.errors) work across the project;
`except AgentError` catches exactly what the agent raises on purpose.
"""

from shared.errors import ConfigError as _SharedConfigError
from shared.errors import PermanentError, PesError, RetryableError

__all__ = [
    "AgentError",
    "AgentPermanentError",
    "AgentRetryableError",
    "AgentStopped",
    "BufferCorrupt",
    "BufferFull",
    "BufferUnavailable",
    "CollectionOff",
    "ConfigError",
    "InvalidEvent",
]


class AgentError(PesError):
    """Root of the errors the agent raises on purpose."""


class AgentRetryableError(AgentError, RetryableError):
    """Nothing was stored, but the same call may succeed later."""


class AgentPermanentError(AgentError, PermanentError):
    """Retrying the same call will not help: the input, the settings or the file is wrong."""


class BufferUnavailable(AgentRetryableError):
    """The buffer is busy (locked by another process past the busy timeout), the disk is full
    or below the agent's free-space headroom: nothing was written, try again later."""


class BufferFull(AgentRetryableError):
    """The buffer is at its size limit and its overflow policy is `reject_new`: the event was
    not stored. Retrying helps once the agent has sent (and the collector acked) older events."""


class AgentStopped(AgentRetryableError):
    """The agent is not running (not entered, or shutting down): nothing was stored. Record
    again once an agent runs (the local socket's clients: reconnect after its restart)."""


class InvalidEvent(AgentPermanentError):
    """An event that violates the wire contract; the message names the field and the rule.
    Raised before anything is written, so the caller can fix the input and record again."""


class CollectionOff(AgentPermanentError):
    """Collection is switched off (`collection = "off"`: consent withdrawn): the agent stores
    nothing new until an operator switches it back on. Nothing was stored."""


class BufferCorrupt(AgentPermanentError):
    """The buffer file cannot be used: not an SQLite database, a foreign schema, or a path that
    cannot be opened. Retrying will not help; an operator has to look at the file."""


class ConfigError(AgentPermanentError, _SharedConfigError):
    """Agent settings that cannot work; the message says which key and why. Also a
    shared.errors.ConfigError, so code that catches that one still does."""
