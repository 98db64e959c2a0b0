"""The ingest loop's young generation: raised while any loop runs, restored after the last."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.ingest import gcpolicy
from collector.ingest.gcpolicy import YOUNG, ingest_gc
from collector.ingest.loop import IngestLoop
from collector.settings import load_settings
from collector.storage import open_store


@pytest.fixture(autouse=True)
def thresholds() -> Iterator[None]:
    saved = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*saved)


def test_raised_inside_and_restored_after() -> None:
    with ingest_gc():
        assert gc.get_threshold() == (YOUNG, 10, 10)
    assert gc.get_threshold() == (700, 10, 10)


def test_overlapping_users_restore_at_the_last_exit() -> None:
    first, second = ingest_gc(), ingest_gc()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert gc.get_threshold()[0] == YOUNG  # the second loop still runs
    second.__exit__(None, None, None)
    assert gc.get_threshold() == (700, 10, 10)
    assert gcpolicy._State.users == 0


def test_restored_after_an_exception() -> None:
    with pytest.raises(RuntimeError), ingest_gc():
        raise RuntimeError("boom")
    assert gc.get_threshold() == (700, 10, 10)


@pytest.mark.parametrize("start", [(0, 10, 10), (YOUNG * 2, 5, 5)])
def test_never_lowers_nor_enables(start: tuple[int, int, int]) -> None:
    gc.set_threshold(*start)
    with ingest_gc():
        assert gc.get_threshold() == start
    assert gc.get_threshold() == start


async def test_the_loop_runs_with_it(tmp_path: Path) -> None:
    # No broker on port 1: the loop keeps reconnecting, which is enough to be inside run().
    settings = load_settings(
        None, mqtt={"port": 1, "reconnect_initial_s": 0.05, "reconnect_max_s": 0.1}
    )
    stop = asyncio.Event()
    async with open_store(f"sqlite:///{tmp_path}/c.db") as store:
        loop = IngestLoop(settings, store)
        task = asyncio.create_task(loop.run(stop))
        for _ in range(1000):
            if loop.mqtt is not None:  # inside run(): its MQTT client is open
                break
            await asyncio.sleep(0.01)
        assert gc.get_threshold()[0] == YOUNG
        stop.set()
        await asyncio.wait_for(task, 10)
    assert gc.get_threshold() == (700, 10, 10)
