"""Helpers for the release-impact tests: events as the oracle reads them (dicts: device, type,
fw, kind, feature, day, ts, id) turned into EventRows and written through `Store.write`, as
stream batches (the ingest path) or imports, and the runs a store keeps read back."""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from collector.records import AckTarget, EventRow, ParsedMessage
from collector.settings import PesSettings
from collector.storage import NO_RUNS_CURSOR, Store
from collector.storage.runbook import Span, group_runs
from collector.storage.runs import Run, Stamp

Ev = dict[str, Any]
DAY_MS = 86_400_000
ACTIVITY = ("session_start", "session_end", "feature_use")


def ev(
    device: str,
    day: date,
    fw: str,
    n: int,
    kind: str = "heartbeat",
    feature: str | None = None,
    typ: str = "press-x",
    at_ms: int | None = None,
) -> Ev:
    """One event of `device` on `day` (UTC), at `at_ms` into the day (n seconds by default)."""
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    ts = int(midnight.timestamp() * 1000) + (at_ms if at_ms is not None else n * 1000)
    return {"device": device, "type": typ, "fw": fw, "kind": kind, "feature": feature,
            "day": day, "ts": ts, "id": f"{device}-e{n:05d}"}  # fmt: skip


def row(e: Ev, stream: str | None = None, seq: int | None = None) -> EventRow:
    return EventRow(
        e["device"], e["id"], stream, seq, e["kind"], e["feature"], None, None, e["ts"],
        e["ts"], "ntp", e["day"].isoformat(), e["type"], e["fw"], "acct", "{}", "{}",
    )  # fmt: skip


def import_unit(events: Sequence[Ev]) -> ParsedMessage:
    return ParsedMessage(events=[row(e) for e in events])


def stream_unit(events: Sequence[Ev], seqs: Sequence[int], stream: str = "s1") -> ParsedMessage:
    """One device's stream batch: `events` carry the sequence numbers `seqs` (contiguous)."""
    device = events[0]["device"]
    target = AckTarget(device, stream, min(seqs), max(seqs))
    return ParsedMessage(
        events=[row(e, stream, s) for e, s in zip(events, seqs, strict=True)],
        ack=target,
        stream=target,
    )


async def write_stream(store: Store, events: Sequence[Ev], seqs: Sequence[int]) -> None:
    """Each device's events as one stream batch, all in one transaction."""
    units = []
    for device in sorted({e["device"] for e in events}):
        mine = [(e, s) for e, s in zip(events, seqs, strict=True) if e["device"] == device]
        units.append(stream_unit([e for e, _ in mine], [s for _, s in mine], f"s-{device}"))
    await store.write(units, 0)


class Writer:
    """Writes events as stream batches, each device's sequence numbers continuing."""

    def __init__(self) -> None:
        self.seq: dict[str, int] = {}
        self.events: list[Ev] = []

    async def write(self, store: Store, events: list[Ev]) -> None:
        seqs = []
        for e in events:
            self.seq[e["device"]] = self.seq.get(e["device"], 0) + 1
            seqs.append(self.seq[e["device"]])
        await write_stream(store, events, seqs)
        self.events += events


async def stored_runs(store: Store) -> dict[str, tuple[Run, ...]]:
    return group_runs((await store.firmware_runs(NO_RUNS_CURSOR)).rows)


def small_fleet(rng: random.Random, start: date, days: int, devices: int = 12) -> list[Ev]:
    """Two device types; about half of each upgrades 1.0 -> 2.0 on a random day (a few go
    back); daily sessions and feature use with a rate that changes after the upgrade."""
    out: list[Ev] = []
    for k in range(devices):
        device, typ = f"dev{k:02d}", ("press-x", "lathe-9")[k % 2]
        up = rng.randrange(5, days - 5) if rng.random() < 0.5 else days
        down = up + rng.randrange(3, 8) if rng.random() < 0.2 else days
        n = 0
        for d in range(days):
            fw = "2.0" if up <= d < down else "1.0"
            day = start + timedelta(days=d)
            kinds: list[tuple[str, str | None]] = [("heartbeat", None)]
            if rng.random() < (0.8 if fw == "2.0" else 0.6):
                kinds.append(("session_start", None))
                kinds += [("feature_use", f) for f in ("jog", "calibrate") if rng.random() < 0.5]
            for kind, feature in kinds:
                out.append(ev(device, day, fw, n, kind, feature, typ))
                n += 1
    return out


def to_jsonable(rows: Sequence[Any]) -> Any:
    return json.loads(json.dumps(rows))


COUNTS = ("transitions", "measurable", "pending", "confounded", "inactive", "no_control")
VALUES = ("pre_mean", "post_mean", "change", "control_change", "did")


def assert_matches_oracle(
    got: Sequence[Mapping[str, Any]], want: Sequence[Mapping[str, Any]]
) -> None:
    """Release rows against tests/oracles/releases_reference.py: same releases and metrics in
    the same order, same counts, values within 1e-6 (the bootstrap intervals only exist-check)."""
    key = ("device_type", "from", "to", "metric")
    assert [tuple(r[k] for k in key) for r in got] == [tuple(w[k] for k in key) for w in want]
    for g, w in zip(got, want, strict=True):
        assert [g[k] for k in COUNTS] == [w[k] for k in COUNTS], w
        for k in VALUES:
            if w[k] is None:
                assert g[k] is None, (w, k)
            else:
                assert abs(g[k] - w[k]) <= 1e-6, (w, k, g[k])
        assert (g["change_ci"] is None) == (w["change"] is None)
        assert (g["did_ci"] is None) == (w["did"] is None)


# The small fleet's scenario the release report tests share: its settings, its first day and
# length, the day the warm-up's default report ends (the 90 days before it), and one report.
SETTINGS = PesSettings(core_features={"press-x": ["jog", "calibrate"]})
D, DAYS = date(2026, 3, 2), 40
TODAY = D + timedelta(days=DAYS)
START, END, AS_OF, W = D + timedelta(days=5), D + timedelta(days=30), D + timedelta(days=36), 4


class StampsFrom:
    """A runbook.LoadStamps that serves a list of events as a backend serves its events table,
    but strictly: only each device's own span (a backend may read more). Counts its calls."""

    def __init__(self, events: Sequence[EventRow]) -> None:
        self.events = events
        self.calls: list[list[Span]] = []

    async def __call__(self, spans: Sequence[Span]) -> dict[str, list[Stamp]]:
        self.calls.append(list(spans))
        out: dict[str, list[Stamp]] = {}
        for s in spans:
            out[s.device] = [
                Stamp(r.ts_ms, r.event_id, date.fromisoformat(r.day).toordinal())
                for r in self.events
                if r.device_id == s.device and s.lo_ts <= r.ts_ms <= s.hi_ts
            ]
        return out
