"""The kept release Fleet brought up to date after writes (reports/fleets.py `update_fleet`,
through reports/releases.py `load_fleet`) on both backends. On random fleets, through writes of
late uses (on days with and without activity), new days, new devices, firmware changes (a late
event that splits a run, an upgrade to a version never seen), a new device type, a new feature
(a fallback core set grows) and days outside the Fleet's days, after every write:
- the updated Fleet equals, array for array, the Fleet a fresh process builds of the same days;
- the report equals a fresh process's (its own Fleet of the query's days), intervals included,
  and the reference; so does the rollout;
- the Fleet was updated, not rebuilt (`updates` counts the writes it followed);
- each kept measurement equals measuring the updated Fleet again (analytics/releases_update.py
  adjusts it where it can, and always after late uses).
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
from collections.abc import Callable
from datetime import date, timedelta

import numpy as np
import pytest

from collector.analytics.releases import Measured, TransitionTable, measure
from collector.analytics.releases_fleet import Fleet
from collector.analytics.releases_groups import Measures, Sums
from collector.reports import releases, warm_up
from collector.reports.devices import device_codes
from collector.reports.fleets import update_fleet
from collector.reports.releases import (
    ReleaseQuery,
    _reading,
    load_fleet,
    make_release_query,
    release_rows,
    rollout_table,
)
from collector.reports.tables import current_snapshot
from collector.storage import Store, open_store
from collector.storage.runcache import current_run_columns
from tests.kits.releases import (
    AS_OF,
    DAYS,
    END,
    SETTINGS,
    START,
    TODAY,
    D,
    Ev,
    W,
    Writer,
    assert_matches_oracle,
    ev,
    small_fleet,
)
from tests.oracles.releases_reference import reference_rows

KINDS = ("late", "days", "new_devices", "late", "split", "days", "new_firmware", "new_type",
         "outside", "late", "days", "idle", "new_feature", "late")  # fmt: skip


def query() -> ReleaseQuery:
    return make_release_query(SETTINGS, start=START, end=END, window=W, as_of=AS_OF, today=TODAY)


def assert_same_fleet(got: Fleet, want: Fleet) -> None:
    for f in dataclasses.fields(Fleet):
        a, b = getattr(got, f.name), getattr(want, f.name)
        if isinstance(a, np.ndarray):
            assert a.dtype == b.dtype and np.array_equal(a, b), f.name
        else:
            assert a == b, f.name


class Plan:
    """The next write of each kind, from what is stored so far."""

    def __init__(self, rng: random.Random, base: list[Ev], cut: date) -> None:
        self.rng, self.base, self.cut, self.n = rng, base, cut, 0

    def _id(self) -> int:
        self.n += 1
        return 50_000 + self.n

    def _like(self, e: Ev, kind: str, feature: str | None, fw: str | None = None) -> Ev:
        """An event of e's device, day and type (its firmware unless `fw`), its own id."""
        n = self._id()
        return ev(e["device"], e["day"], fw or e["fw"], n, kind, feature, e["type"],
                  at_ms=e["ts"] % 86_400_000 + n % 997 + 1)  # fmt: skip

    def batch(self, kind: str, stored: list[Ev]) -> list[Ev]:
        rng = self.rng
        if kind == "late":  # more uses on days and features already used
            used = [e for e in stored if e["kind"] == "feature_use"]
            return [self._like(e, "feature_use", e["feature"]) for e in rng.sample(used, 6)]
        if kind == "idle":  # activity on days with only a heartbeat: new day bits
            quiet = [e for e in stored if e["kind"] == "heartbeat"]
            return [self._like(e, "feature_use", rng.choice(["jog", "calibrate"]))
                    for e in rng.sample(quiet, 5)]  # fmt: skip
        if kind == "days":
            nxt = self.cut + timedelta(days=7)
            out = [e for e in self.base if self.cut <= e["day"] < nxt]
            self.cut = nxt
            return out
        if kind == "new_devices":
            k = self._id()
            out = []
            for d in range(8, 28):
                fw = "1.0" if d < 16 else "2.0"
                day = D + timedelta(days=d)
                out.append(ev(f"new{k}", day, fw, self._id(), "session_start"))
                if rng.random() < 0.6:
                    out.append(ev(f"new{k}", day, fw, self._id(), "feature_use", "jog"))
                out.append(ev(f"nil{k}", day, "1.0", self._id(), "session_start", typ="lathe-9"))
            return out
        if kind == "split":  # a late event of another firmware inside a run
            e = rng.choice([e for e in stored if START <= e["day"] <= END])
            return [self._like(e, "heartbeat", None, "2.0" if e["fw"] == "1.0" else "1.0")]
        if kind == "new_firmware":  # devices move to a version never seen, on stored days
            last = max(e["day"] for e in stored)
            devices = sorted({e["device"] for e in stored if e["day"] == last})
            out = []
            for device in rng.sample(devices, 3):
                mine = [e for e in stored if e["device"] == device and e["day"] == last]
                out += [self._like(mine[0], "session_start", None, "3.0"),
                        self._like(mine[0], "feature_use", "calibrate", "3.0")]  # fmt: skip
            return out
        if kind == "new_feature":  # lathe-9 has no configured core set: its fallback one grows
            lathe = [e for e in stored if e["type"] == "lathe-9" and START <= e["day"] <= END]
            return [self._like(e, "feature_use", "spindle") for e in rng.sample(lathe, 3)]
        if kind == "new_type":
            return [ev("mill", D + timedelta(days=d), "1.0" if d < 14 else "1.1", self._id(),
                       "session_start", typ="mill-3") for d in range(6, 24)]  # fmt: skip
        if kind == "outside":  # long before and after every Fleet's days
            devices = sorted({e["device"] for e in stored})
            out = []
            for device, shift in ((devices[0], -120), (devices[1], 200), (devices[2], -120)):
                e = next(e for e in stored if e["device"] == device)
                n = self._id()
                day = D + timedelta(days=shift)
                out.append(ev(device, day, e["fw"], n, "feature_use", "jog", e["type"]))
            return out
        raise AssertionError(kind)


async def fresh_fleet(url: str, lo: int, hi: int) -> Fleet:
    """The Fleet of days [lo, hi] a process without kept state builds."""
    async with open_store(url) as fresh:
        return (await load_fleet(fresh, lo, hi)).fleet


def assert_same_measured(got: Measured, want: Measured) -> None:
    for f in dataclasses.fields(TransitionTable):
        assert np.array_equal(getattr(got.table, f.name), getattr(want.table, f.name)), f.name
    for f in dataclasses.fields(Measures):
        a, b = getattr(got.values, f.name), getattr(want.values, f.name)
        assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True), f.name
    assert got.cores == want.cores and got.sums.keys() == want.sums.keys(), (
        got.sums.keys(),
        want.sums.keys(),
        got.params,
    )
    for code, s in got.sums.items():
        for f in dataclasses.fields(Sums):
            assert np.array_equal(getattr(s, f.name), getattr(want.sums[code], f.name)), f.name


async def check(store: Store, url: str, events: list[Ev], updates: int) -> int:
    """The checks after a write; the number of kept measurements adjusted, not measured again."""
    q = query()
    kept = await load_fleet(store, q.start.toordinal() - W, q.end.toordinal() + W)
    assert kept.updates == updates
    f = kept.fleet
    assert_same_fleet(f, await fresh_fleet(url, f.day0, f.day0 + f.n_days - 1))
    for m in kept.measured.values():  # adjusted for the write's devices
        assert m.params is not None
        assert_same_measured(m, measure(f, m.params))
    adjusted = len(kept.measured)
    got = await release_rows(store, SETTINGS, q)
    async with open_store(url) as fresh:
        assert got == await release_rows(fresh, SETTINGS, q)
        assert await rollout_table(store, q) == await rollout_table(fresh, q)
    assert_matches_oracle(got, reference_rows(events, START, END, AS_OF, W, SETTINGS.core_features))
    return adjusted


@pytest.mark.parametrize(("seed", "warm", "held"), [(3, True, False), (8, False, True)])
async def test_an_updated_fleet_equals_a_fresh_build(
    url: str, seed: int, warm: bool, held: bool
) -> None:
    """warm: the warm-up's Fleet (the default 90 days and its window) is the one updated; else
    the query's own. held: a request is computing on the kept Fleet through each write and
    update, so the update copies (it must leave that Fleet as it was); else it writes into the
    kept Fleet's arrays where it can."""
    rng = random.Random(seed)
    base = small_fleet(rng, D, DAYS, devices=14)
    cut = D + timedelta(days=19)
    plan, w = Plan(rng, base, cut), Writer()
    q = query()
    async with open_store(url) as store:
        await w.write(store, [e for e in base if e["day"] < cut])
        if warm:
            await warm_up(store, SETTINGS, today=TODAY)
        await check(store, url, w.events, 0)
        adjusted = {}
        for step, kind in enumerate(KINDS, 1):
            async with contextlib.AsyncExitStack() as stack:
                if held:
                    reading = _reading(store, q.start.toordinal() - W, q.end.toordinal() + W)
                    before = await stack.enter_async_context(reading)
                    copy = dataclasses.replace(before.fleet, **{
                        f.name: getattr(before.fleet, f.name).copy()
                        for f in dataclasses.fields(Fleet)
                        if isinstance(getattr(before.fleet, f.name), np.ndarray)
                    })  # fmt: skip
                await w.write(store, plan.batch(kind, w.events))
                adjusted[step] = await check(store, url, w.events, step)
                if held:
                    assert_same_fleet(before.fleet, copy)
        # Late uses change no day of change: their measurement is adjusted; a core set that
        # moved is measured again.
        assert not adjusted[KINDS.index("new_feature") + 1]
        assert all(adjusted[k] for k, kind in enumerate(KINDS, 1) if kind == "late"), adjusted


async def test_an_update_declines_where_codes_other_than_devices_would_move(url: str) -> None:
    """update_fleet returns None (load_fleet then builds) when a kept type, firmware or feature
    would get another code, or a kept device is gone; else it takes the sources as they are."""
    w = Writer()
    async with open_store(url) as store:
        await w.write(store, small_fleet(random.Random(5), D, DAYS, devices=6))
        q = query()
        f = (await load_fleet(store, q.start.toordinal() - W, q.end.toordinal() + W)).fleet
        snapshot, runs = await current_snapshot(store), await current_run_columns(store)
        codes = device_codes(None, snapshot.vocab["device_id"], runs, [])
        same = update_fleet(f, snapshot, runs, codes, [], None)  # nothing changed
        assert same is not None
        assert_same_fleet(same.fleet, f)

        def device_gone() -> Fleet:  # a kept device the sources lack: its rows must go
            value = ("x", *f.devices)
            return dataclasses.replace(f, devices=value, uses=np.zeros(
                (len(value), f.n_days), np.int32), run_device=f.run_device + 1,
                act_device=f.act_device + 1, use_device=f.use_device + 1)  # fmt: skip

        moves: list[tuple[str, Callable[[], Fleet]]] = [
            ("types", lambda: dataclasses.replace(f, types=("x", *f.types))),
            ("firmwares", lambda: dataclasses.replace(f, firmwares=("x", *f.firmwares))),
            ("features", lambda: dataclasses.replace(f, features=("x", *f.features))),
            ("devices", device_gone),
        ]
        for field, move in moves:
            assert update_fleet(move(), snapshot, runs, codes, [], None) is None, field


async def test_where_an_update_declines_the_days_are_built(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """load_fleet after a declined update: the asked days built (no update counted), the kept
    Fleet that declined dropped, the answer a fresh process's."""
    rng = random.Random(7)
    base = small_fleet(rng, D, DAYS, devices=8)
    w, plan = Writer(), Plan(rng, base, D + timedelta(days=DAYS))
    q = query()
    lo, hi = q.start.toordinal() - W, q.end.toordinal() + W
    async with open_store(url) as store:
        await w.write(store, base)
        await warm_up(store, SETTINGS, today=TODAY)
        await release_rows(store, SETTINGS, q)
        monkeypatch.setattr(releases, "update_fleet", lambda *args: None)
        await w.write(store, plan.batch("late", w.events))
        kept = await load_fleet(store, lo, hi)
        assert kept.updates == 0 and (kept.fleet.day0, kept.fleet.n_days) == (lo, hi - lo + 1)
        assert all(b.fleet.day0 == lo for b in releases._FLEETS[store].values())
        await check(store, url, w.events, 0)
