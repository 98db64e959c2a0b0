"""Brute-force reference for specs/releases.md, written from the spec alone: loops over raw
events, no numpy, nothing shared with collector.analytics.releases*. Slow on purpose.

An event is a dict: device, type, fw, kind, feature, day (date), ts (int), id (str).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

Ev = dict[str, Any]
ACTIVITY = ("session_start", "session_end", "feature_use")
METRIC_NAMES = ("active_share", "breadth", "uses_per_day")


def _days(a: date, b: date) -> list[date]:
    out = []
    d = a
    while d <= b:
        out.append(d)
        d += timedelta(days=1)
    return out


def stored(events: list[Ev]) -> list[Ev]:
    seen = set()
    out = []
    for e in events:
        if (e["device"], e["id"]) not in seen:
            seen.add((e["device"], e["id"]))
            out.append(e)
    return out


def reference_transitions(events: list[Ev]) -> list[tuple[str, str, str, str, date]]:
    """(device, type, from, to, day) for every transition, by device then event order."""
    out = []
    for device in sorted({e["device"] for e in events}):
        mine = sorted(
            (e for e in events if e["device"] == device), key=lambda e: (e["ts"], e["id"])
        )
        for i in range(1, len(mine)):
            if mine[i]["fw"] != mine[i - 1]["fw"]:
                out.append(
                    (device, mine[i]["type"], mine[i - 1]["fw"], mine[i]["fw"], mine[i]["day"])
                )
    return out


def reference_core(
    events: list[Ev], device_type: str, core: Mapping[str, Sequence[str]], a: date, b: date
) -> set[str]:
    if device_type in core:
        return set(core[device_type])
    if "*" in core:
        return set(core["*"])
    return {
        e["feature"]
        for e in events
        if e["kind"] == "feature_use" and e["type"] == device_type and a <= e["day"] <= b
    }


def _metric(
    events: list[Ev], device: str, days: list[date], metric: str, core: set[str], w: int
) -> float | None:
    mine = [e for e in events if e["device"] == device and e["day"] in days]
    if metric == "active_share":
        return len({e["day"] for e in mine if e["kind"] in ACTIVITY}) / w
    if metric == "uses_per_day":
        return len([e for e in mine if e["kind"] == "feature_use"]) / w
    if not core:
        return None
    used = {e["feature"] for e in mine if e["kind"] == "feature_use"}
    return len(used & core) / len(core)


def _mean(xs: list[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def reference_rows(
    raw: list[Ev],
    start: date,
    end: date,
    as_of: date,
    w: int,
    core_cfg: Mapping[str, Sequence[str]],
) -> list[dict[str, Any]]:
    events = stored(raw)
    every = reference_transitions(events)
    devices = sorted({e["device"] for e in events})
    W = timedelta(days=w)
    results: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for i, (device, typ, f, t, u) in enumerate(every):
        if not start <= u <= end:
            continue
        pre = _days(u - W, u - timedelta(days=1))
        post = _days(u + timedelta(days=1), u + W)
        item: dict[str, Any] = {"device": device, "u": u}
        if u + W > as_of:
            item["status"] = "pending"
        elif any(
            j != i and d2 == device and u - W <= u2 <= u + W
            for j, (d2, _t, _f, _g, u2) in enumerate(every)
        ):
            item["status"] = "confounded"
        elif not any(
            e["device"] == device and e["kind"] in ACTIVITY and e["day"] in pre for e in events
        ):
            item["status"] = "inactive"
        else:
            item["status"] = "measurable"
            core = reference_core(events, typ, core_cfg, start - W, end + W)
            controls = []
            for other in devices:
                if other == device:
                    continue
                if not any(
                    e["device"] == other and e["kind"] in ACTIVITY and e["day"] in pre
                    for e in events
                ):
                    continue
                window = [e for e in events if e["device"] == other and u - W <= e["day"] <= u + W]
                if all(e["type"] == typ and e["fw"] == f for e in window):
                    controls.append(other)
            item["control"] = bool(controls)
            for m in METRIC_NAMES:
                a = _metric(events, device, pre, m, core, w)
                b = _metric(events, device, post, m, core, w)
                item[m] = None if a is None or b is None else (a, b)
                if controls and a is not None and b is not None:
                    deltas = []
                    for c in controls:
                        ca = _metric(events, c, pre, m, core, w)
                        cb = _metric(events, c, post, m, core, w)
                        assert ca is not None and cb is not None
                        deltas.append(cb - ca)
                    item["cc_" + m] = sum(deltas) / len(deltas)
        results.setdefault((typ, f, t), []).append(item)
    rows = []
    for (typ, f, t), items in sorted(results.items()):
        meas = [x for x in items if x["status"] == "measurable"]
        for m in METRIC_NAMES:
            pairs = [x[m] for x in meas if x[m] is not None]
            with_c = [x for x in meas if x["control"] and x[m] is not None]
            rows.append(
                {
                    "device_type": typ,
                    "from": f,
                    "to": t,
                    "metric": m,
                    "transitions": len(items),
                    "measurable": len(meas),
                    "pending": len([x for x in items if x["status"] == "pending"]),
                    "confounded": len([x for x in items if x["status"] == "confounded"]),
                    "inactive": len([x for x in items if x["status"] == "inactive"]),
                    "no_control": len([x for x in meas if not x["control"]]),
                    "pre_mean": _mean([p[0] for p in pairs]),
                    "post_mean": _mean([p[1] for p in pairs]),
                    "change": _mean([p[1] - p[0] for p in pairs]),
                    "control_change": _mean([x["cc_" + m] for x in with_c]),
                    "did": _mean([x[m][1] - x[m][0] - x["cc_" + m] for x in with_c]),
                }
            )
    return rows


def reference_rollout(raw: list[Ev], start: date, end: date) -> dict[str, Any]:
    events = stored(raw)
    days = []
    for d in _days(start, end):
        for typ in sorted({e["type"] for e in events}):
            act = [
                e for e in events if e["day"] == d and e["type"] == typ and e["kind"] in ACTIVITY
            ]
            total = len({e["device"] for e in act})
            for fw in sorted({e["fw"] for e in act}):
                n = len({e["device"] for e in act if e["fw"] == fw})
                days.append(
                    {
                        "day": d.isoformat(),
                        "device_type": typ,
                        "firmware": fw,
                        "active": n,
                        "share": n / total,
                    }
                )
    versions = []
    for typ, fw in sorted({(e["type"], e["fw"]) for e in events}):
        seen = [e["day"] for e in events if e["type"] == typ and e["fw"] == fw]
        versions.append(
            {
                "device_type": typ,
                "firmware": fw,
                "first_day": min(seen).isoformat(),
                "last_day": max(seen).isoformat(),
            }
        )
    return {"days": days, "versions": versions}
