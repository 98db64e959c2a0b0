"""Onboarding funnel: of the entities new in P (first activity in the segment, over all history,
falls in P), the share that used each core feature within N days of their first activity.

An entity's window is [first, first + N - 1]; its core set C_e is the union of the core sets of
the device types of its activity in that window (configured, or the fleet's features in P as for
adoption). A feature's row counts the new entities whose C_e contains it (`eligible`) and those
of them that used it in their window (`used`). Windows of entities new near the end of P may
still be open; `window_open` says how many of the eligible ones that concerns.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import numpy as np

from collector.analytics.bits import unpack
from collector.analytics.cube import Members, core_sets, fleet_features
from collector.analytics.params import PesParams
from collector.analytics.state import Cube


def funnel_range(params: PesParams, days: int) -> tuple[int, int]:
    return params.start.toordinal(), params.end.toordinal() + days - 1


def funnel(
    cube: Cube,
    mem: Members,
    params: PesParams,
    days: int,
    today: date,
    fleet: Mapping[str, set[str]] | None = None,
) -> list[dict[str, Any]]:
    """Rows (segment index, feature, new, eligible, used, share, window_open), by segment."""
    start, end = params.start.toordinal(), params.end.toordinal()
    is_new = (mem.first >= start) & (mem.first <= end)
    if fleet is None:
        fleet = fleet_features(cube, start, end)
    cores = core_sets(params, cube.vocab["device_type"], fleet)
    lo = cube.lo
    member_first = mem.first

    def in_window(rows: np.ndarray[Any, Any], words: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """Per row (whose member is new): some set day lies in its member's window."""
        owners = mem.combo_member[rows]
        bits = unpack(words)
        cs = np.zeros((len(rows), bits.shape[1] + 1), np.int32)
        np.cumsum(bits, axis=1, out=cs[:, 1:])
        a = np.clip(member_first[owners] - lo, 0, bits.shape[1])
        b = np.clip(member_first[owners] + days - lo, 0, bits.shape[1])
        hit: np.ndarray[Any, Any] = cs[np.arange(len(rows)), b] - cs[np.arange(len(rows)), a] > 0
        return hit

    combo_rows = np.flatnonzero((mem.combo_member >= 0) & is_new[np.maximum(mem.combo_member, 0)])
    c_e: dict[int, set[str]] = {}
    if len(combo_rows):
        hit = in_window(combo_rows, cube.words[combo_rows])
        for i in combo_rows[hit].tolist():
            c_e.setdefault(int(mem.combo_member[i]), set()).update(cores[cube.type_name(i)])
    used: dict[int, set[str]] = {}
    f_rows = np.flatnonzero(
        (mem.combo_member[cube.f_combo] >= 0)
        & is_new[np.maximum(mem.combo_member[cube.f_combo], 0)]
    )
    if len(f_rows):
        hit = in_window(cube.f_combo[f_rows], cube.f_words[f_rows])
        for j in f_rows[hit].tolist():
            used.setdefault(int(mem.combo_member[cube.f_combo[j]]), set()).add(
                cube.features[int(cube.f_feat[j])]
            )
    open_from = today.toordinal() - days + 1  # first day whose window has not ended yet
    out: list[dict[str, Any]] = []
    for k in range(len(mem.segments)):
        seg_members = np.flatnonzero(is_new & (mem.seg == k)).tolist()
        counts: dict[str, list[int]] = {}
        for m in seg_members:
            for f in c_e.get(m, ()):
                row = counts.setdefault(f, [0, 0, 0])
                row[0] += 1
                row[1] += f in used.get(m, ())
                row[2] += int(member_first[m]) >= open_from
        for f in sorted(counts):
            eligible, n_used, still_open = counts[f]
            out.append(
                {
                    "_segment": k,
                    "feature": f,
                    "new": len(seg_members),
                    "eligible": eligible,
                    "used": n_used,
                    "share": n_used / eligible,
                    "window_open": still_open,
                }
            )
    return out
