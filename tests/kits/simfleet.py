"""Simulated fleets for the bootstrap's accuracy tests: thousands of devices with a known
difference between two firmware versions, built with numpy straight into an analytics
`Snapshot` (the arrays the stores' bitmap rows become), so a test can draw hundreds of them.

The design, per device: a base engagement p ~ Beta(2, 2.5); 10% start late, 10% stop early
(new and dropped devices for growth); 40% run firmware 2.0 throughout, 40% 2.1, 20% upgrade
from 2.0 to 2.1 on a day of the last 30 (so they count in both configurations, paired). On a
day running firmware f the device is active with probability min(1, p * LIFT[f]) and uses each
of the features a, b, c with probability USE[f]. The "true" value of a metric is its value on
a very large fleet drawn from the same design.
"""

from __future__ import annotations

from datetime import date

import numpy as np

from collector.analytics.state import Snapshot
from collector.storage.bitmaps import BLOCK_DAYS

END = date(2026, 3, 31)
HISTORY = 70  # days up to END: P (14 days), P' and the 30-day windows fit
FIRMWARE = ("2.0", "2.1")
FEATURES = ("a", "b", "c")
LIFT = np.array([1.0, 1.15])
USE = np.array([0.25, 0.3])


def _words(days: np.ndarray, first_day: int) -> np.ndarray:
    """(rows, HISTORY) bools of days from ordinal first_day -> (rows, blocks) 64-bit words
    whose column 0 is block first_day // 64."""
    offset = first_day % BLOCK_DAYS
    blocks = (offset + days.shape[1] + BLOCK_DAYS - 1) // BLOCK_DAYS
    wide = np.zeros((days.shape[0], blocks * BLOCK_DAYS), np.bool_)
    wide[:, offset : offset + days.shape[1]] = days
    packed = np.packbits(wide, axis=1, bitorder="little")
    return np.ascontiguousarray(packed).view("<u8").astype(np.uint64)


def simulated_fleet(rng: np.random.Generator, devices: int) -> Snapshot:
    """One fleet of the design above (one combination per device and firmware it ran)."""
    n, h = devices, HISTORY
    p = rng.beta(2.0, 2.5, n)
    start = np.where(rng.random(n) < 0.1, rng.integers(0, h, n), 0)
    stop = np.where(rng.random(n) < 0.1, rng.integers(0, h, n), h)
    group = rng.random(n)
    upgrade = np.where(group < 0.4, h, np.where(group < 0.8, 0, rng.integers(h - 30, h, n)))
    day = np.arange(h)
    fw = (day[None, :] >= upgrade[:, None]).astype(np.int64)  # 0: 2.0, 1: 2.1
    live = (day[None, :] >= start[:, None]) & (day[None, :] < stop[:, None])
    active = live & (rng.random((n, h)) < np.minimum(1.0, p[:, None] * LIFT[fw]))
    used = active[:, :, None] & (rng.random((n, h, len(FEATURES))) < USE[fw][:, :, None])
    first_day = END.toordinal() - h + 1
    # Combination rows: device k on 2.0 is row 2k, on 2.1 row 2k + 1 (kept if it was active).
    on = np.stack([active & (fw == f) for f in (0, 1)], axis=1).reshape(2 * n, h)
    keep = on.any(axis=1)
    rows = np.flatnonzero(keep)
    act = _words(on[rows], first_day)
    first = first_day + np.argmax(on[rows], axis=1).astype(np.int64)
    f_days = np.stack([used & (fw == f)[:, :, None] for f in (0, 1)], axis=1)
    f_days = f_days.reshape(2 * n, h, len(FEATURES))[rows]
    f_combo, f_feat = np.nonzero(f_days.any(axis=1))
    f_words = _words(f_days[f_combo, :, f_feat], first_day)
    ro = np.zeros(0, np.int64)
    codes = {
        "device_id": rows // 2,
        "account_id": rows // 2,
        "device_type": np.zeros(len(rows), np.int64),
        "firmware_version": rows % 2,
        "labels": np.zeros(len(rows), np.int64),
    }
    names = [f"dev{k}" for k in range(n)]
    vocab = {"device_id": names, "account_id": names, "device_type": ["press-x"],
             "firmware_version": list(FIRMWARE), "labels": ["{}"]}  # fmt: skip
    return Snapshot(
        block0=first_day // BLOCK_DAYS,
        act=act,
        first=first,
        codes=codes,
        vocab=vocab,
        f_combo=f_combo.astype(np.int64) if len(f_combo) else ro,
        f_feat=f_feat.astype(np.int64) if len(f_feat) else ro,
        f_words=f_words,
        features=list(FEATURES),
    )
