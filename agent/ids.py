"""Identifiers and clocks the agent stamps on events.

uuid7(): RFC 9562 version 7, time-ordered, so ids sort by recording time and index well.
boot_id() + mono_ms(): a monotonic reading and the boot it belongs to; with a collector
timestamp from an ack (an anchor) they let the collector correct a wrong wall clock."""

from __future__ import annotations

import functools
import os
import re
import secrets
import threading
import time

from shared import limits as L

_BOOT_ID_FILE = "/proc/sys/kernel/random/boot_id"
_ID_RE = re.compile(L.ID_PATTERN)

_lock = threading.Lock()
_last_ms = -1
_counter = 0
_prefix = ""  # "tttttttt-tttt-7" for _prefix_for
_prefix_for = -1
_POOL_BYTES = 8192
_hex = ""  # os.urandom(_POOL_BYTES).hex(), consumed 16 characters per id
_hex_pos = 2 * _POOL_BYTES
# The variant (binary 10xx) in the first hex digit of the 4th group: 62 random bits remain.
_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}


def uuid7() -> str:
    """A UUIDv7 string: 48-bit unix ms, version 7, a 12-bit counter, the variant, 62 random bits.

    Monotonic within the process (RFC 9562 section 6.2, method 1): within one millisecond the
    12-bit rand_a field counts up from a random start in its lower half; when it overflows, or
    the wall clock steps back, we keep borrowing from the last used millisecond instead, so ids
    never go backwards while the process lives."""
    return uuid7_many(1)[0]


def uuid7_many(n: int) -> list[str]:
    """`n` consecutive UUIDv7s (see uuid7), made under one lock: this runs for every event.
    Randomness comes from the OS CSPRNG, read 8 KiB at a time."""
    global _last_ms, _counter, _prefix, _prefix_for, _hex, _hex_pos
    now = time.time_ns() // 1_000_000
    out: list[str] = []
    with _lock:
        if now > _last_ms:
            _last_ms = now
            _counter = _rand11()
        else:
            _counter += 1
        for _ in range(n):
            if _counter > 0xFFF:
                _last_ms += 1
                _counter = _rand11()
            if _prefix_for != _last_ms:
                h = f"{_last_ms & 0xFFFF_FFFF_FFFF:012x}"
                _prefix, _prefix_for = f"{h[:8]}-{h[8:]}-7", _last_ms
            if _hex_pos >= len(_hex):
                _hex, _hex_pos = os.urandom(_POOL_BYTES).hex(), 0
            r = _hex[_hex_pos : _hex_pos + 16]
            _hex_pos += 16
            out.append(f"{_prefix}{_counter:03x}-{_VARIANT[r[0]]}{r[1:4]}-{r[4:]}")
            _counter += 1
        _counter -= 1  # the last one used
    return out


def _rand11() -> int:
    """A random start for the counter, in the lower half of its 12 bits. Callers hold _lock."""
    return int.from_bytes(os.urandom(2), "big") & 0x7FF


def uuid7_ms(event_id: str) -> int:
    """The unix-ms timestamp a UUIDv7 carries (its first 48 bits)."""
    return int(event_id.replace("-", "")[:12], 16)


@functools.cache
def boot_id() -> str:
    """The kernel's id of the current boot; shared by every process on the machine, so events
    emitted by the CLI and by the running agent agree. Without /proc (not Linux), a random id per
    process, which matches time.monotonic()'s per-machine-but-unknown origin well enough: the
    collector then simply has no anchor for it and falls back to other corrections."""
    try:
        with open(_BOOT_ID_FILE, encoding="ascii") as fh:
            value = fh.read().strip()
        if _ID_RE.fullmatch(value):
            return value
    except (OSError, UnicodeDecodeError):
        pass
    return f"proc-{os.getpid()}-{secrets.token_hex(8)}"


def mono_ms() -> int:
    """Milliseconds on a clock that never steps: CLOCK_BOOTTIME (keeps counting during
    suspend, so it stays consistent with the wall clock across a sleep) where it exists."""
    clock = getattr(time, "CLOCK_BOOTTIME", None)
    if clock is not None:
        return time.clock_gettime_ns(clock) // 1_000_000
    return time.monotonic_ns() // 1_000_000
