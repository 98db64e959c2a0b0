"""Identifiers and clocks the agent stamps on events.

uuid7(): RFC 9562 version 7, time-ordered, so ids sort by recording time and index well.
boot_id() + mono_ms(): a monotonic reading and the boot it belongs to; with a collector
timestamp from an ack (an anchor) they let the collector correct a wrong wall clock."""

from __future__ import annotations

import functools
import os
import re
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
# "ccc-" for each value of the 12-bit counter: formatting it per id was a third of the cost.
_COUNTER = [f"{c:03x}-" for c in range(0x1000)]
# The variant (binary 10xx) in the top bits of the 9th byte: 62 random bits remain.
_VARIANT = bytes((b & 0x3F) | 0x80 for b in range(256))
_POOL_BYTES = 8192  # OS randomness read ahead: one syscall per ~1,000 ids, not per call
_pool = b""
_pool_pos = 0
_hex_pool = ""  # the single-id path's pool (_random_hex16), separate bytes: never reused
_hex_pos = 0


def uuid7(now_ms: int | None = None) -> str:
    """A UUIDv7 string: 48-bit unix ms, version 7, a 12-bit counter, the variant, 62 random bits.
    `now_ms`: the wall clock already read by the caller (time.time_ns() // 1_000_000).

    Monotonic within the process (RFC 9562 section 6.2, method 1): within one millisecond the
    12-bit rand_a field counts up from a random start in its lower half; when it overflows, or
    the wall clock steps back, we keep borrowing from the last used millisecond instead, so ids
    never go backwards while the process lives."""
    global _last_ms, _counter, _prefix, _prefix_for, _hex_pool, _hex_pos
    now = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    with _lock:
        # The same steps as uuid7_many(1), inline: this runs for every record() call.
        if now > _last_ms:
            _last_ms = now
            _counter = _rand11()
        elif _counter < 0xFFF:
            _counter += 1
        else:
            _last_ms += 1
            _counter = _rand11()
        if _prefix_for != _last_ms:
            t = f"{_last_ms & 0xFFFF_FFFF_FFFF:012x}"
            _prefix, _prefix_for = f"{t[:8]}-{t[8:]}-7", _last_ms
        # _random_hex16() inline (a call is a fifth of the cost here): the pool's digits carry
        # the variant already.
        i = _hex_pos
        if i + 16 > len(_hex_pool):
            _hex_pool, i = _variant_hex(os.urandom(_POOL_BYTES)), 0
        _hex_pos = i + 16
        return f"{_prefix}{_COUNTER[_counter]}{_hex_pool[i : i + 4]}-{_hex_pool[i + 4 : i + 16]}"


def uuid7_many(n: int) -> list[str]:
    """`n` consecutive UUIDv7s (see uuid7), made under one lock: this runs for every event.

    In bulk: one slice of read-ahead OS CSPRNG bytes for all of them, the variant bits set
    with one translate() and one hex() call, then one string join per id (~0.4 us, was
    ~1.2 us)."""
    global _last_ms, _counter, _prefix, _prefix_for
    now = time.time_ns() // 1_000_000
    out: list[str] = []
    with _lock:
        if now > _last_ms:
            _last_ms = now
            _counter = _rand11()
        else:
            _counter += 1
        while n > 0:
            if _counter > 0xFFF:
                _last_ms += 1
                _counter = _rand11()
            take = min(n, 0x1000 - _counter)
            if _prefix_for != _last_ms:
                t = f"{_last_ms & 0xFFFF_FFFF_FFFF:012x}"
                _prefix, _prefix_for = f"{t[:8]}-{t[8:]}-7", _last_ms
            prefix = _prefix
            if take == 1:  # record(): one id per call, skip the bulk set-up
                r = _random_hex16()
                out.append(f"{prefix}{_COUNTER[_counter]}{r[:4]}-{r[4:]}")
                _counter += 1
                n -= 1
                continue
            rnd = bytearray(_random(8 * take))
            rnd[0::8] = rnd[0::8].translate(_VARIANT)
            h = rnd.hex()
            c = _counter
            out += [
                f"{prefix}{_COUNTER[c + k]}{h[16 * k : 16 * k + 4]}-{h[16 * k + 4 : 16 * k + 16]}"
                for k in range(take)
            ]
            _counter += take
            n -= take
        _counter -= 1  # the last one used
    return out


def _rand11() -> int:
    """A random start for the counter, in the lower half of its 12 bits. Callers hold _lock."""
    return int.from_bytes(_random(2), "big") & 0x7FF


def _random(n: int) -> bytes:
    """n bytes from the OS CSPRNG, through the read-ahead pool. Callers hold _lock."""
    global _pool, _pool_pos
    if n > _POOL_BYTES:
        return os.urandom(n)
    if _pool_pos + n > len(_pool):
        _pool, _pool_pos = os.urandom(_POOL_BYTES), 0
    _pool_pos += n
    return _pool[_pool_pos - n : _pool_pos]


def _random_hex16() -> str:
    """16 hex digits (8 bytes) from the OS CSPRNG, the first byte with the variant bits set,
    through a read-ahead pool kept as hex: one slice per id instead of a bytes slice and a
    hex() call. Callers hold _lock."""
    global _hex_pool, _hex_pos
    if _hex_pos + 16 > len(_hex_pool):
        _hex_pool, _hex_pos = _variant_hex(os.urandom(_POOL_BYTES)), 0
    _hex_pos += 16
    return _hex_pool[_hex_pos - 16 : _hex_pos]


def _variant_hex(raw: bytes) -> str:
    """`raw` (a multiple of 8 bytes) as hex, the variant set in the first byte of each 8."""
    rnd = bytearray(raw)
    rnd[0::8] = rnd[0::8].translate(_VARIANT)
    return rnd.hex()


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
    return f"proc-{os.getpid()}-{os.urandom(8).hex()}"


def mono_ms() -> int:
    """Milliseconds on a clock that never steps: CLOCK_BOOTTIME (keeps counting during
    suspend, so it stays consistent with the wall clock across a sleep) where it exists."""
    clock = getattr(time, "CLOCK_BOOTTIME", None)
    if clock is not None:
        return time.clock_gettime_ns(clock) // 1_000_000
    return time.monotonic_ns() // 1_000_000
