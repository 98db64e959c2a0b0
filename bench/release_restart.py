"""The first `/v1/releases` of a fresh process after a restart (issue 18), one step per process so
that each timed request runs in a process of its own, as after a restart:

    python -m bench.release_restart fill DEVICES DB    # growth store + its analytics file
    python -m bench.release_restart prep DB [ASKED]    # a process that answers and stops (flush)
    python -m bench.release_restart first DB           # fresh: analytics warm, then time it
    python -m bench.release_restart default DB         # fresh: the default report, timed
    python -m bench.release_restart warmup DB          # fresh: serve's warm-up, then time it
    python -m bench.release_restart other DB           # fresh: a report the file did not measure
    python -m bench.release_restart write DB N         # N writes of late uses, file not kept

`first` loads the analytics state from its kept file (`warm_up_pes`, as `serve` does first), then
times the growth query's report (bench.growth_fleet.release_query, what `growth_releases_*`
times): wall and CPU (`time.process_time`), and a sha256 of the rows (JSON) to compare trees.
`default` times the default report instead, the one `serve`'s warm-up measures (`prep` runs
that warm-up, so its file keeps it; `prep` also prints that report's sha256 as
`default_sha256`). Run it with PYTHONPATH on either tree: a tree without the kept release file
builds as before. bench/growth.py runs `prep` and `default` through `step` for its
`growth_releases_restart_*` figures.

`prep` then also asks what ASKED says (none by default): `once`, the `other` report once;
`recent`, the `other` report, `_KEEP_MEASURED - 1` reports of other windows, `other` again,
then one more window: `other` is among the `_KEEP_MEASURED` reports asked most recently,
though measured before all the others kept with it (a product manager's usual report between
one-off ones)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import sys
import time
from pathlib import Path

from bench.growth_fleet import DAYS, RUNS, default_query, release_query
from bench.pes_warm import _late_uses
from bench.query import END, SETTINGS, _fill_sqlite
from collector.reports import warmstart
from collector.reports.releases import (
    ReleaseQuery,
    make_release_query,
    release_rows,
    warm_up_releases,
)
from collector.reports.tables import warm_up_pes
from collector.settings import StorageSettings
from collector.storage import Store, open_store

try:  # absent on trees before the kept release file
    from collector.reports import release_keep
    from collector.reports.releases import _KEEP_MEASURED, flush_releases
except ImportError:  # pragma: no cover - the baseline tree
    release_keep = None  # type: ignore[assignment]  # the baseline tree has no such module
    _KEEP_MEASURED = 8

_ROOT = Path(__file__).resolve().parent.parent  # the tree `python -m bench...` runs from


def _keep(store: Store, url: str) -> None:
    warmstart.keep_warm(store, StorageSettings(url=url))
    if release_keep is not None:
        release_keep.keep(store, StorageSettings(url=url))


async def _flush(store: Store) -> None:
    await warmstart.flush(store)
    if release_keep is not None:
        await flush_releases(store)


class _Refusals(logging.Handler):
    """Counts release_keep's warnings: a refused file is one (then the Fleet is built)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def _window(more: int) -> ReleaseQuery:
    """The growth query's report with a window `more` days wider (1: `other`, a window the
    previous process did not ask for unless `prep` was told to)."""
    q = release_query()
    return make_release_query(SETTINGS, start=q.start, end=q.end, window=q.window + more,
                              as_of=q.as_of, today=END)  # fmt: skip


async def _timed(store: Store, q: ReleaseQuery) -> dict[str, object]:
    """One release request: wall and CPU ms, its rows' count and sha256 (of the JSON rows)."""
    w0, c0 = time.perf_counter(), time.process_time()
    rows = await release_rows(store, SETTINGS, q)
    return {
        "first_ms": (time.perf_counter() - w0) * 1000,
        "first_cpu_ms": (time.process_time() - c0) * 1000,
        "rows": len(rows),
        "sha256": hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()[:16],
    }


async def main(step: str, args: list[str]) -> None:
    if step == "fill":
        url = f"sqlite:///{args[1]}"
        async with open_store(url) as store:
            await _fill_sqlite(store, int(args[0]), DAYS)
            await store.db.execute(RUNS)  # type: ignore[attr-defined]  # SqliteStore's
            await store.db.commit()  # type: ignore[attr-defined]  # connection, as growth does
            _keep(store, url)
            await warm_up_pes(store, SETTINGS)
            await _flush(store)
        return
    url = f"sqlite:///{args[0]}"
    if step == "write":  # as another collector of the store would, without keeping the file
        async with open_store(url) as store:
            for k in range(int(args[1])):
                await store.write([await _late_uses(store, 200 + k)], 0)
        return
    refusals = _Refusals()
    logging.getLogger("collector.reports.release_keep").addHandler(refusals)
    async with open_store(url) as store:
        _keep(store, url)
        await warm_up_pes(store, SETTINGS)
        out: dict[str, object] = {"step": step, "release_keep": release_keep is not None}
        if step in ("prep", "warmup"):
            w0, c0 = time.perf_counter(), time.process_time()
            await warm_up_releases(store, SETTINGS, today=END)
            out["warmup_ms"] = (time.perf_counter() - w0) * 1000
            out["warmup_cpu_ms"] = (time.process_time() - c0) * 1000
        q = default_query() if step == "default" else _window(1) if step == "other" else (
            release_query()
        )  # fmt: skip
        out |= await _timed(store, q)
        if step == "prep":  # the warm-up's report, as measured by a build (no file read)
            out["default_sha256"] = (await _timed(store, default_query()))["sha256"]
            asked = args[1] if len(args) > 1 else ""
            n = _KEEP_MEASURED
            more = [1] if asked == "once" else [1, *range(2, n + 1), 1, n + 1] if asked else []
            for k in more:
                got = await _timed(store, _window(k))
                if k == 1:  # as measured by a build, for `other` after the restart
                    out["other_sha256"] = got["sha256"]
            await _flush(store)
        out["refused"] = refusals.count  # the release file's refusals (logged warnings)
        print(json.dumps(out), flush=True)


async def step(step: str, db: Path) -> dict[str, object]:
    """`python -m bench.release_restart STEP DB` in a process of its own (this interpreter,
    this tree), as a restart runs it; its JSON line."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.release_restart", step, str(db), cwd=_ROOT,
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"bench.release_restart {step} exited {proc.returncode}")
    got: dict[str, object] = json.loads(out.decode().strip().splitlines()[-1])
    return got


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2:]))
