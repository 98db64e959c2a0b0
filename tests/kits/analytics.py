"""Brute-force references for the analytics endpoints, straight from raw event dicts.

A copy of the naive PES reference in tests/unit/collector/test_pes.py, extended with a time zone
(the day of an event is its local date, as ingest decides it), filters, per-day DAU/WAU/MAU,
entity health and the onboarding funnel. Everything loops over days and entities literally, as
pes.md reads; nothing is shared with collector/analytics.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from collector.analytics.params import PesParams, PesResult, Segment
from collector.analytics.state import CubeState
from collector.storage.bitmaps import Changes, ComboRow, FeatureNameRow

Event = dict[str, Any]
ACTIVITY_KINDS = frozenset({"session_start", "session_end", "feature_use"})
FEATURES = {"press-x": ["calibrate", "export", "recipes", "clean"], "lathe-9": ["jog", "spindle"]}
UTC_ZONE = ZoneInfo("UTC")


def event_day(event: Event, tz: ZoneInfo = UTC_ZONE) -> date:
    ts = datetime.fromisoformat(str(event["ts"]).replace("Z", "+00:00"))
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(tz).date()


def dedup(events: Iterable[Event]) -> list[Event]:
    seen: set[tuple[str, str]] = set()
    kept: list[Event] = []
    for event in events:
        key = (event["device_id"], event["id"])
        if key not in seen:
            seen.add(key)
            kept.append(event)
    return kept


def attr_of(event: Event, attr: str) -> str | None:
    if attr.startswith("label:"):
        value = (event.get("labels") or {}).get(attr.removeprefix("label:"))
        return None if value is None else str(value)
    return str(event[attr])


def segment_of(event: Event, group_by: Sequence[str]) -> Segment:
    return tuple(attr_of(event, a) for a in group_by)


def entity_of(event: Event, entity: str) -> str:
    return str(event["device_id"] if entity == "device" else event["account_id"])


def matches(event: Event, filters: Mapping[str, str] | None) -> bool:
    return all(attr_of(event, k) == v for k, v in (filters or {}).items())


def activity_of(
    events: Iterable[Event], tz: ZoneInfo = UTC_ZONE, filters: Mapping[str, str] | None = None
) -> list[Event]:
    """Deduplicated activity events that pass the filters, each with its local `day`."""
    return [
        {**ev, "day": event_day(ev, tz)}
        for ev in dedup(events)
        if ev["kind"] in ACTIVITY_KINDS and matches(ev, filters)
    ]


def _ordinal_bits(days: Iterable[date]) -> dict[int, int]:
    blocks: dict[int, int] = {}
    for d in days:
        o = d.toordinal()
        blocks[o // 64] = blocks.get(o // 64, 0) | (1 << (o % 64))
    return {b: (v - (1 << 64) if v >= 1 << 63 else v) for b, v in blocks.items()}


def analytics_rows(
    events: Iterable[Event], tz: ZoneInfo = UTC_ZONE, like: Sequence[Event] = ()
) -> tuple[list[ComboRow], list[FeatureNameRow], Changes]:
    """What the stores' analytics tables hold for these events, as analytics_changes and
    analytics_names return it; ids are numbered over `like` (default: the events)."""
    combos: dict[tuple[str, str, str, str, str], set[date]] = {}
    feats: dict[tuple[tuple[str, str, str, str, str], str], set[date]] = {}
    for ev in activity_of(events, tz):
        labels = json.dumps(ev.get("labels") or {}, sort_keys=True, separators=(",", ":"))
        key = (ev["device_id"], ev["account_id"], ev["device_type"], ev["firmware_version"], labels)
        combos.setdefault(key, set()).add(ev["day"])
        if ev["kind"] == "feature_use" and ev.get("feature"):
            feats.setdefault((key, ev["feature"]), set()).add(ev["day"])
    if like:
        all_combos, all_features, _ = analytics_rows(like, tz)
        combo_id = {tuple(c[1:]): c[0] for c in all_combos}
        feature_id = {f: i for i, f in all_features}
    else:
        combo_id = {key: i + 1 for i, key in enumerate(combos)}
        feature_id = {f: i + 1 for i, f in enumerate(sorted({f for _, f in feats}))}
    act = [
        (combo_id[key], b, v)
        for key, days in combos.items()
        for b, v in _ordinal_bits(days).items()
    ]
    fb = [
        (combo_id[key], feature_id[f], b, v)
        for (key, f), days in feats.items()
        for b, v in _ordinal_bits(days).items()
    ]
    return (
        [(combo_id[key], *key) for key in combos],
        sorted({(feature_id[f], f) for _, f in feats}),
        Changes(activity=act, feature_bits=fb, cursor=(1, 1)),
    )


async def write_events(store: Any, events: Sequence[Event], tz: ZoneInfo = UTC_ZONE) -> None:
    """The events through store.write, in one transaction, as ingest stores a batch."""
    from collector.ingest.parse import parse_import_line
    from collector.records import ParsedMessage

    unit = ParsedMessage()
    for n, e in enumerate(events):
        row = parse_import_line(json.dumps(e), f"t:{n}", 0, tz)
        assert not hasattr(row, "reason"), row
        unit.events.append(row)
    await store.write([unit], 0)


def state_from_events(events: Sequence[Event], tz: ZoneInfo = UTC_ZONE) -> CubeState:
    """A CubeState fed in two steps, as a live collector would be: first the state after the
    older half of the events, then every row again with its final value."""
    state = CubeState()
    ordered = sorted(events, key=lambda ev: event_day(ev, tz))
    for part in (ordered[: len(ordered) // 2], ordered):
        combos, features, changes = analytics_rows(part, tz, like=events)
        state.add_names(combos, features)
        state.apply(changes)
    return state


def torn_refreshes(
    events: Sequence[Event], parts: int
) -> list[tuple[list[ComboRow], list[FeatureNameRow], Changes]]:
    """Refreshes as a live collector's analytics state sees them, over growing prefixes of
    `events` (by day; new firmware and late-starting devices bring new combinations): per
    prefix first its feature rows alone, then its activity rows. The first of each pair is a
    torn read, as when SQLite's analytics_changes finds no new activity row and a write commits
    before it reads feature_bits. Each refresh's cursor is its index; see `merged`."""
    ordered = sorted(events, key=event_day)
    out: list[tuple[list[ComboRow], list[FeatureNameRow], Changes]] = []
    for k in range(1, parts + 1):
        combos, features, rows = analytics_rows(ordered[: len(ordered) * k // parts], like=events)
        for act, fb in (([], rows.feature_bits), (rows.activity, [])):
            n = len(out)
            out.append((combos, features, Changes(act, fb, (n, n))))
    return out


def merged(changes: Sequence[Changes]) -> Changes:
    """Several refreshes as one (each row's last value), with the last one's cursor."""
    act = {r[:2]: r for c in changes for r in c.activity}
    fb = {r[:3]: r for c in changes for r in c.feature_bits}
    return Changes(list(act.values()), list(fb.values()), changes[-1].cursor)


# ---------------------------------------------------------------- naive PES


def core_set(acts: Sequence[Event], params: PesParams, device_type: str) -> set[str]:
    if device_type in params.core_features:
        return set(params.core_features[device_type])
    if "*" in params.core_features:
        return set(params.core_features["*"])
    return {
        a["feature"]
        for a in acts
        if a["device_type"] == device_type
        and a["kind"] == "feature_use"
        and params.start <= a["day"] <= params.end
    }


def reference_pes(
    events: Iterable[Event],
    group_by: Sequence[str],
    entity: str,
    params: PesParams,
    tz: ZoneInfo = UTC_ZONE,
    filters: Mapping[str, str] | None = None,
) -> list[PesResult]:
    """pes.md read literally: every day, every window, every entity (see test_pes.py)."""
    acts = activity_of(events, tz, filters)
    start, end = params.start, params.end
    length = (end - start).days + 1
    period = [start + timedelta(days=k) for k in range(length)]
    prev_period = [start - timedelta(days=length - k) for k in range(length)]
    results: list[PesResult] = []
    for seg in {segment_of(a, group_by) for a in acts}:
        seg_acts = [a for a in acts if segment_of(a, group_by) == seg]
        entities = {entity_of(a, entity) for a in seg_acts}
        a_set = {(entity_of(a, entity), a["day"]) for a in seg_acts if a["day"] <= end}

        def count_window(
            d: date, width: int, entities: set[str] = entities, a_set: set[Any] = a_set
        ) -> int:
            return sum(
                any((e, d - timedelta(days=k)) in a_set for k in range(width)) for e in entities
            )

        active_p = {e for e in entities if any((e, d) in a_set for d in period)}
        active_prev = {e for e in entities if any((e, d) in a_set for d in prev_period)}
        if not active_p and not active_prev:
            continue
        shares: list[float] = []
        row_core: dict[str, list[str]] = {}
        all_core: set[str] = set()
        used_by: dict[str, set[str]] = {}
        core_of: dict[str, set[str]] = {}
        for e in active_p:
            e_acts = [a for a in seg_acts if entity_of(a, entity) == e and start <= a["day"] <= end]
            c_e: set[str] = set()
            for t in {a["device_type"] for a in e_acts}:
                c_e |= core_set(acts, params, t)
                row_core[t] = sorted(core_set(acts, params, t))
            used_by[e] = {a["feature"] for a in e_acts if a["kind"] == "feature_use"}
            core_of[e] = c_e
            all_core |= c_e
            if c_e:
                shares.append(len(c_e & used_by[e]) / len(c_e))
        adoption = 100 * sum(shares) / len(shares) if shares else None
        num_w, den_w = {"dau_mau": (1, 30), "dau_wau": (1, 7), "wau_mau": (7, 30)}[
            params.stickiness
        ]
        ratios = [
            count_window(d, num_w) / count_window(d, den_w)
            for d in period
            if count_window(d, den_w)
        ]
        stickiness = 100 * sum(ratios) / len(ratios) if ratios else None

        def first(e: str, seg_acts: list[Event] = seg_acts) -> date:
            day: date = min(a["day"] for a in seg_acts if entity_of(a, entity) == e)
            return day

        new = sum(1 for e in active_p if start <= first(e) <= end)
        recovered = sum(
            1
            for e in active_p
            if e not in active_prev and first(e) < start - timedelta(days=length)
        )
        dropped = len(active_prev - active_p)
        moved = new + recovered
        growth = 50.0 if moved + dropped == 0 else 100 * moved / (moved + dropped)
        pes = None
        if adoption is not None and stickiness is not None:
            w_a, w_s, w_g = params.weights
            pes = w_a * adoption + w_s * stickiness + w_g * growth
        results.append(
            PesResult(
                segment=seg,
                active=len(active_p),
                adoption=adoption,
                stickiness=stickiness,
                growth=growth,
                pes=pes,
                new=new,
                recovered=recovered,
                dropped=dropped,
                quick_ratio=moved / dropped if dropped else None,
                dau=count_window(end, 1),
                wau=count_window(end, 7),
                mau=count_window(end, 30),
                core_features=dict(sorted(row_core.items())),
                feature_adoption={
                    f: sum(f in used_by[e] for e in active_p if f in core_of[e])
                    / sum(f in core_of[e] for e in active_p)
                    for f in sorted(all_core)
                },
                low_sample=len(active_p) < params.low_sample_threshold,
            )
        )
    results.sort(key=lambda r: [(v is None, v or "") for v in r.segment])
    return results


def reference_series(
    events: Iterable[Event], entity: str, start: date, end: date, tz: ZoneInfo = UTC_ZONE
) -> list[tuple[date, int, int, int]]:
    """(day, DAU, WAU, MAU) for the whole fleet, each day of [start, end]."""
    acts = activity_of(events, tz)
    out = []
    d = start
    while d <= end:
        counts = []
        for width in (1, 7, 30):
            lo = d - timedelta(days=width - 1)
            counts.append(len({entity_of(a, entity) for a in acts if lo <= a["day"] <= d}))
        out.append((d, counts[0], counts[1], counts[2]))
        d += timedelta(days=1)
    return out


def reference_health(
    events: Iterable[Event],
    entity: str,
    params: PesParams,
    tz: ZoneInfo = UTC_ZONE,
    *,
    weights: tuple[float, float, float, float] = (25, 35, 25, 15),
    key_actions: Mapping[str, Sequence[str]] | None = None,
    target_uses: float = 10,
    target_minutes: float = 30,
) -> dict[str, dict[str, Any]]:
    """entity -> {health, frequency, breadth, key_actions, depth, dropped} per pes.md."""
    acts = activity_of(events, tz)
    start, end, length = params.start, params.end, params.length
    prev_start = start - timedelta(days=length)
    out: dict[str, dict[str, Any]] = {}
    for e in sorted({entity_of(a, entity) for a in acts}):
        mine = [a for a in acts if entity_of(a, entity) == e]
        in_p = [a for a in mine if start <= a["day"] <= end]
        in_prev = [a for a in mine if prev_start <= a["day"] < start]
        if not in_p and not in_prev:
            continue
        types = {a["device_type"] for a in in_p}
        c_e: set[str] = set()
        ka: set[str] = set()
        for t in types:
            c_e |= core_set(acts, params, t)
            if key_actions is not None and t in key_actions:
                ka |= set(key_actions[t])
            elif key_actions is not None and "*" in key_actions:
                ka |= set(key_actions["*"])
            else:
                ka |= core_set(acts, params, t)
        used = {a["feature"] for a in in_p if a["kind"] == "feature_use"}
        uses = sum(1 for a in in_p if a["kind"] == "feature_use" and a["feature"] in ka)
        ends = [a for a in in_p if a["kind"] == "session_end"]
        seconds = sum(float((a.get("props") or {}).get("duration_s", 0)) for a in ends)
        frequency = len({a["day"] for a in in_p}) / length
        breadth = len(c_e & used) / len(c_e) if c_e else 0.0
        key = min(1.0, uses / (target_uses * length / 30))
        depth = min(1.0, seconds / len(ends) / 60 / target_minutes) if ends else 0.0
        w_f, w_b, w_k, w_d = weights
        out[e] = {
            "health": w_f * frequency + w_b * breadth + w_k * key + w_d * depth,
            "frequency": frequency,
            "breadth": breadth,
            "key_actions": key,
            "depth": depth,
            "dropped": not in_p,
        }
    return out


def reference_funnel(
    events: Iterable[Event], entity: str, params: PesParams, days: int, tz: ZoneInfo = UTC_ZONE
) -> dict[str, tuple[int, int]]:
    """feature -> (eligible new entities, those that used it within `days` of first activity)."""
    acts = activity_of(events, tz)
    out: dict[str, list[int]] = {}
    for e in sorted({entity_of(a, entity) for a in acts}):
        mine = [a for a in acts if entity_of(a, entity) == e]
        first = min(a["day"] for a in mine)
        if not params.start <= first <= params.end:
            continue
        window = [a for a in mine if first <= a["day"] < first + timedelta(days=days)]
        c_e: set[str] = set()
        for t in {a["device_type"] for a in window}:
            c_e |= core_set(acts, params, t)
        used = {a["feature"] for a in window if a["kind"] == "feature_use"}
        for f in c_e:
            row = out.setdefault(f, [0, 0])
            row[0] += 1
            row[1] += f in used
    return {f: (v[0], v[1]) for f, v in sorted(out.items())}


# ---------------------------------------------------------------- randomized fleets

BASE = date(2026, 1, 1)


def new_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128)))


def random_fleet(rng: random.Random, history: int = 60, devices: int = 0) -> list[Event]:
    """Firmware upgrades mid-history, accounts owning several device types, sessions with a
    duration, heartbeats (not activity), duplicate deliveries, local-time offsets."""
    firmwares = ["1.0", "1.1", "2.0"][: rng.choice([2, 3])]
    accounts = [f"acct{k}" for k in range(rng.randint(2, 4))]
    events: list[Event] = []
    for n in range(devices or rng.randint(5, 15)):
        device = f"dev{n}"
        dtype = rng.choice(list(FEATURES))
        account = rng.choice(accounts)
        site = rng.choice(["north", "south", None])
        fw_index = rng.randrange(len(firmwares))
        upgrade_day = rng.randrange(history) if rng.random() < 0.4 else history
        spans = [sorted(rng.sample(range(history + 1), 2)) for _ in range(rng.randint(1, 3))]
        p_active = rng.uniform(0.1, 0.9)
        for day in range(history):
            fw = firmwares[min(fw_index + (day >= upgrade_day), len(firmwares) - 1)]
            kinds: list[tuple[str, str | None]] = []
            if any(a <= day < b for a, b in spans) and rng.random() < p_active:
                if rng.random() < 0.7:
                    kinds.append(("session_start", None))
                kinds += [("feature_use", f) for f in FEATURES[dtype] if rng.random() < 0.3]
                if rng.random() < 0.5:
                    kinds.append(("session_end", None))
            if rng.random() < 0.3:
                kinds.append((rng.choice(["heartbeat", "status"]), None))
            for kind, feature in kinds:
                offset = rng.choice([0, 0, 0, -3, 5])
                local = datetime(BASE.year, BASE.month, BASE.day, rng.randrange(24))
                local += timedelta(days=day, minutes=rng.randrange(60))
                ts = local.isoformat() + ("Z" if offset == 0 else f"{offset:+03d}:00")
                event: Event = {
                    "id": new_id(rng),
                    "device_id": device,
                    "account_id": account,
                    "device_type": dtype,
                    "firmware_version": fw,
                    "kind": kind,
                    "feature": feature,
                    "ts": ts,
                }
                if kind == "session_end":
                    event["props"] = {"duration_s": rng.choice([60, 600, 1800, 3600])}
                if site is not None:
                    event["labels"] = {"site": site}
                events.append(event)
                if rng.random() < 0.05:  # a second delivery of the same event
                    events.append(dict(event))
    rng.shuffle(events)
    return events


def random_params(rng: random.Random, mode: str = "dau_mau", history: int = 60) -> PesParams:
    end = BASE + timedelta(days=rng.randint(25, history))
    length = rng.choice([1, 7, 10, 14, 30])
    core: Mapping[str, Sequence[str]] = rng.choice(
        [
            {},
            {"press-x": ["calibrate", "export"]},
            {"*": ["jog", "calibrate", "never-used"]},
            {"lathe-9": ["spindle"], "*": ["clean", "recipes"]},
        ]
    )
    weights = rng.choice([(1 / 3, 1 / 3, 1 / 3), (0.5, 0.25, 0.25), (0.0, 0.0, 1.0)])
    return PesParams(
        end - timedelta(days=length - 1),
        end,
        stickiness=mode,  # type: ignore[arg-type]  # callers pass names as str; PesParams checks them
        weights=weights,
        core_features=core,
        low_sample_threshold=rng.choice([1, 3, 5, 30]),
    )


def assert_same(
    actual: Sequence[PesResult], expected: Sequence[PesResult], tol: float = 1e-9
) -> None:
    import math
    from dataclasses import fields

    assert [r.segment for r in actual] == [r.segment for r in expected]
    for got, want in zip(actual, expected, strict=True):
        for f in fields(PesResult):
            g, w = getattr(got, f.name), getattr(want, f.name)
            where = f"{f.name} of segment {got.segment}"
            if isinstance(w, float) and isinstance(g, float):
                assert math.isclose(g, w, rel_tol=0, abs_tol=tol), f"{where}: {g} != {w}"
            elif f.name == "feature_adoption":
                assert g.keys() == w.keys(), where
                for k in w:
                    assert math.isclose(g[k], w[k], rel_tol=0, abs_tol=tol), f"{where}[{k}]"
            else:
                assert g == w, f"{where}: {g!r} != {w!r}"
