"""Run `pes-agent` with its wall clock shifted, as on a gateway whose RTC is wrong.

libfaketime was the first choice, but libfaketime 0.9.10 (Debian) hangs CPython at start (the
non-MT library) or fails its sleeps with EINVAL when told to leave the monotonic clock alone
(the MT one). The agent reads the wall clock only through time.time_ns() (agent/events.py,
ids.py, publisher.py, status.py), so the launcher shifts that, and time.time(), before the
agent is imported; the monotonic and boot clocks stay true, as they are after a reboot."""

from __future__ import annotations

_CODE = """
import sys, time
off = int(sys.argv.pop(1)) * 1_000_000
_ns = time.time_ns
time.time_ns = lambda: _ns() + off
time.time = lambda: (_ns() + off) / 1e9
from agent.cli import main
sys.exit(main(sys.argv[1:]))
"""


def shifted_cli(offset_ms: int) -> tuple[str, ...]:
    """The interpreter arguments that replace `-m agent.cli` (the `cli` of
    tests.kits.real_agent.start_agent)."""
    return ("-c", _CODE, str(offset_ms))
