"""The reliability table's scenarios as tests: each fault, injected into real processes, leaves
no event stored twice and no accepted event lost without a report (docs/reliability.md)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.kits.reliability.scenarios import SCENARIOS
from tests.kits.reliability.tmpfs import probe

pytestmark = pytest.mark.timeout(600)

POSTGRES = {"postgres_restart"}


def _params(slow: bool) -> list[object]:
    marks = [pytest.mark.slow] if slow else []
    return [
        pytest.param(name, marks=[*marks, *([pytest.mark.postgres] if name in POSTGRES else [])])
        for name in SCENARIOS
    ]


async def check(name: str, tmp_path: Path, quick: bool) -> None:
    if name == "disk_full" and (why := probe()) is not None:
        # Never silently: CI must be able to run it; a developer's laptop may not be root.
        if os.environ.get("CI"):
            pytest.fail(f"cannot mount a private tmpfs here: {why}")
        pytest.skip(f"cannot mount a private tmpfs here (not root?): {why}")
    out = await SCENARIOS[name](tmp_path, quick)
    print(out)
    assert out.duplicated == 0, out
    assert out.lost == 0, out
    assert out.gaps == 0, out
    assert out.stored + out.dropped == out.accepted, out
    assert out.accepted > 0, out
    assert not out.failures, out


@pytest.mark.parametrize("name", _params(slow=False))
async def test_scenario(name: str, tmp_path: Path) -> None:
    await check(name, tmp_path, quick=True)


@pytest.mark.parametrize("name", _params(slow=True))
async def test_scenario_soak(name: str, tmp_path: Path) -> None:
    await check(name, tmp_path, quick=False)
