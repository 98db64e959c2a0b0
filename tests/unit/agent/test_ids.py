import re
import time
import uuid

import pytest

from agent import ids
from shared.models import UUID_PATTERN


def test_uuid7_has_rfc9562_layout() -> None:
    value = ids.uuid7()
    assert re.fullmatch(UUID_PATTERN, value)
    u = uuid.UUID(value)
    assert u.version == 7
    assert u.variant == uuid.RFC_4122
    now = time.time_ns() // 1_000_000
    assert abs(ids.uuid7_ms(value) - now) < 5_000


def test_uuid7_takes_the_callers_clock_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ids, "_last_ms", -1)
    later = time.time_ns() // 1_000_000 + 60_000  # a minute ahead: not the clock's own reading
    value = ids.uuid7(later)
    assert ids.uuid7_ms(value) == later
    assert ids.uuid7() > value  # and monotonic from there on


def test_uuid7_is_unique_and_strictly_increasing() -> None:
    values = [ids.uuid7() for _ in range(20_000)]  # many share a millisecond
    assert values == sorted(values)
    assert len(set(values)) == len(values)


def test_uuid7_stays_monotonic_when_the_wall_clock_steps_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = iter([2_000_000_000_000_000_000, 1_000_000_000_000_000_000] + [1_000_000] * 5000)
    monkeypatch.setattr(time, "time_ns", lambda: next(clock))
    # The generator's memory is restored afterwards, so later ids are not stuck in the future.
    monkeypatch.setattr(ids, "_last_ms", -1)
    monkeypatch.setattr(ids, "_counter", 0)
    values = [ids.uuid7() for _ in range(5002)]  # more than 4096 in "one" millisecond
    assert values == sorted(values)
    assert len(set(values)) == len(values)
    # Counter overflows borrow the following millisecond(s) instead of going back in time.
    assert 2_000_000_000_000 < ids.uuid7_ms(values[-1]) <= 2_000_000_000_002


def test_boot_id_is_stable_and_mono_never_goes_back() -> None:
    assert ids.boot_id() == ids.boot_id()
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}", ids.boot_id())
    a = ids.mono_ms()
    b = ids.mono_ms()
    assert 0 <= a <= b


def test_uuid7_many_in_bulk_keeps_layout_order_and_the_counter_overflow() -> None:
    # 5,000 in one call cross the 12-bit counter's end; single ids interleave with bulk ones.
    values = [*ids.uuid7_many(5000), ids.uuid7(), *ids.uuid7_many(3), *ids.uuid7_many(1)]
    assert values == sorted(values)
    assert len(set(values)) == len(values)
    for value in values:
        u = uuid.UUID(value)
        assert str(u) == value
        assert u.version == 7
        assert u.variant == uuid.RFC_4122
    # The 62 random bits really vary (the variant bits are set, the rest left alone).
    assert len({v[19:] for v in values}) == len(values)
    assert {v[19] for v in values} == set("89ab")
