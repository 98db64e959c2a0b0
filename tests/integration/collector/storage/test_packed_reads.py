"""The release engine's packed reads (collector/storage/packed.py) equal the row reads they
replace, on both backends: random fleets with several firmware runs per device, devices without
feature use, late and out-of-order events written after a first read (the refresh of changed
devices), names the packing cannot split (the row read answers then), and the caches built on
them (storage/runcache.py, storage/usecache.py) against the row reads after every write."""

from __future__ import annotations

import random
from datetime import date, timedelta

import numpy as np
import pytest

from collector.storage import NO_RUNS_CURSOR, Store
from collector.storage.packed import SEP, PackedRuns, PackedUses
from collector.storage.runbook import UsesRow, group_runs
from collector.storage.runcache import RunColumns, current_run_columns
from collector.storage.usecache import UseColumns, current_uses
from tests.kits.releases import Ev, ev, import_unit, write_stream

D = date(2026, 3, 2)
DAYS = 30
FEATURES = ("jog", "calibrate", "home")


def fleet(rng: random.Random, devices: int, prefix: str = "dev") -> list[Ev]:
    """Devices of two types whose firmware changes 0-3 times (and back), some never using a
    feature (heartbeats and sessions only), several feature_use events a day on others."""
    out: list[Ev] = []
    for k in range(devices):
        device, typ = f"{prefix}{k:03d}", ("press-x", "lathe-9")[k % 2]
        changes = sorted(rng.sample(range(1, DAYS), rng.randrange(0, 4)))
        user = rng.random() < 0.7
        n = 0
        for d in range(DAYS):
            if rng.random() < 0.25:
                continue
            fw = ("1.0", "2.0", "2.1", "1.0")[sum(c <= d for c in changes)]
            day = D + timedelta(days=d)
            kinds: list[tuple[str, str | None]] = [("heartbeat", None), ("session_start", None)]
            if user:
                kinds += [("feature_use", rng.choice(FEATURES)) for _ in range(rng.randrange(4))]
            for kind, feature in kinds:
                out.append(ev(device, day, fw, n, kind, feature, typ))
                n += 1
    return out


def late(rng: random.Random, events: list[Ev], count: int, first: int) -> list[Ev]:
    """Late events of existing devices: feature use on past days (inside runs, between them, of
    another firmware so that runs split), ids from `first` on."""
    out = []
    for i in range(count):
        base = rng.choice(events)
        day = D + timedelta(days=rng.randrange(DAYS))
        fw = rng.choice(("1.0", "2.0", "3.0"))
        out.append(ev(base["device"], day, fw, first + i, "feature_use", rng.choice(FEATURES),
                      base["type"], at_ms=rng.randrange(86_400_000)))  # fmt: skip
    return out


def runs_list(p: PackedRuns) -> list[tuple[str, str, str, int, int]]:
    return [
        (p.devices[d], p.types[t], p.firmwares[f], int(a), int(b))
        for d, t, f, a, b in zip(p.device, p.type, p.firmware, p.first_day, p.last_day, strict=True)
    ]


def uses_set(p: PackedUses) -> list[tuple[str, int, int]]:
    names = np.repeat(np.asarray(p.names, dtype=object), p.counts)
    return sorted(zip(names, p.day.tolist(), p.uses.tolist(), strict=True))


def cols_set(c: UseColumns, lo: int, hi: int) -> list[tuple[str, int, int]]:
    keep = (c.day >= lo) & (c.day <= hi)
    return sorted(
        (c.names[int(d)], int(day), int(u))
        for d, day, u in zip(c.device[keep], c.day[keep], c.uses[keep], strict=True)
    )


def run_columns(c: RunColumns) -> dict[str, list[tuple[str, str, int, int]]]:
    out: dict[str, list[tuple[str, str, int, int]]] = {}
    for d, t, f, a, b in zip(c.device, c.type, c.firmware, c.first_day, c.last_day, strict=True):
        out.setdefault(c.names[int(d)], []).append((c.types[int(t)], c.firmwares[int(f)],
                                                    int(a), int(b)))  # fmt: skip
    return out


async def expected_runs(store: Store) -> dict[str, list[tuple[str, str, int, int]]]:
    runs = group_runs((await store.firmware_runs(NO_RUNS_CURSOR)).rows)
    return {
        d: [(r.device_type, r.firmware, r.first_day, r.last_day) for r in rs]
        for d, rs in runs.items()
    }


def rows_set(rows: list[UsesRow]) -> list[tuple[str, int, int]]:
    return sorted(rows)


async def check_reads(store: Store, since: int = NO_RUNS_CURSOR) -> int:
    """Packed == rows for runs changed since `since` and every range of uses; the cursor."""
    rows = await store.firmware_runs(since)
    packed = await store.firmware_runs_packed(since)
    assert runs_list(packed) == runs_list(PackedRuns.of_changes(rows))
    lo, hi = D - timedelta(days=3), D + timedelta(days=DAYS + 3)
    for a, b in ((lo, hi), (D + timedelta(days=5), D + timedelta(days=12)), (D, D)):
        want = rows_set(await store.feature_uses(None, a, b))
        assert uses_set(await store.feature_uses_packed(a, b)) == want
    some = ["dev001", "dev004", "nosuch", "dev007"]
    want = rows_set(await store.feature_uses(None, lo, hi, some))
    assert uses_set(await store.feature_uses_packed(lo, hi, some)) == want
    assert uses_set(await store.feature_uses_packed(lo, hi, [])) == []
    return packed.cursor


@pytest.mark.parametrize("seed", [1, 2])
async def test_packed_reads_equal_row_reads(store: Store, seed: int) -> None:
    rng = random.Random(seed)
    events = fleet(rng, 24)
    assert uses_set(await store.feature_uses_packed(D, D + timedelta(days=DAYS))) == []
    assert runs_list(await store.firmware_runs_packed(NO_RUNS_CURSOR)) == []
    await store.write([import_unit(events)], 0)
    cursor = await check_reads(store)
    packed = await store.firmware_runs_packed(NO_RUNS_CURSOR)
    assert len(packed.device) > len(packed.devices), "several runs per device"
    for k in range(3):
        before = rows_set(await store.feature_uses(None, D, D + timedelta(DAYS)))
        more = late(rng, events, 20, 90_000 + 100 * k)
        # Half as stream batches (the ingest path), half as an import.
        await write_stream(store, more[:10], [1 + 10 * k + i for i in range(10)])
        await store.write([import_unit(more[10:])], 0)
        changed_rows = await store.firmware_runs(cursor)
        changed = await store.firmware_runs_packed(cursor)
        assert runs_list(changed) == runs_list(PackedRuns.of_changes(changed_rows)), k
        assert changed.device.size, "late events of another firmware changed runs"
        assert rows_set(await store.feature_uses(None, D, D + timedelta(DAYS))) != before, k
        cursor = await check_reads(store, cursor)


async def test_names_the_packing_cannot_split_are_read_by_rows(store: Store) -> None:
    rng = random.Random(5)
    events = fleet(rng, 4) + fleet(rng, 3, prefix=f"odd{SEP}")
    await store.write([import_unit(events)], 0)
    packed = await store.firmware_runs_packed(NO_RUNS_CURSOR)
    assert any(SEP in d for d in packed.devices)
    await check_reads(store)


async def test_caches_follow_the_row_reads_after_writes(store: Store) -> None:
    rng = random.Random(9)
    events = fleet(rng, 20)
    await store.write([import_unit(events)], 0)
    lo, hi = D.toordinal() - 2, D.toordinal() + DAYS + 2
    for k in range(3):
        assert run_columns(await current_run_columns(store)) == await expected_runs(store), k
        want = rows_set(await store.feature_uses(None, D - timedelta(2), D + timedelta(DAYS + 2)))
        assert cols_set(await current_uses(store, lo, hi), lo, hi) == want, k
        await store.write([import_unit(late(rng, events, 15, 90_000 + 100 * k))], 0)
