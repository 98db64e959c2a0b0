"""scripts/mutation's own inputs: the hand-written mutants still apply to the code they mutate,
every listed equivalent mutant names a module of MODULES and gives its reason, and the pytest
check finds test ids that mutmut could not run."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from scripts.mutation import PYTEST_ARGS, load_equivalent, unstable_ids
from scripts.mutation_manual import MANUAL
from scripts.mutation_modules import MODULES

ROOT = Path(__file__).resolve().parents[3]


def test_each_hand_mutant_changes_its_source_at_one_place() -> None:
    for name, sources in MANUAL.items():
        assert name in MODULES
        for source, edits in sources.items():
            assert source in MODULES[name].sources
            text = (ROOT / source).read_text()
            for old, new in edits:
                assert text.count(old) == 1, (source, old)
                assert new != old


def test_each_equivalent_belongs_to_a_module_and_says_why() -> None:
    prefixes = tuple(
        s.removesuffix(".py").replace("/", ".") + "." for m in MODULES.values() for s in m.sources
    )
    listed = load_equivalent()
    assert listed
    for name, reason in listed.items():
        assert name.startswith(prefixes), name
        assert "__mutmut_" in name and reason.strip(), (name, reason)


def test_ids_pytest_escapes_are_found_before_mutmut_trips_on_them(tmp_path: Path) -> None:
    # Explicit ids (pytest keeps those on the mark) that it escapes: a backslash, a newline,
    # non-ASCII, a surrogate; then the same through plain_id, and one that needs nothing.
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_ids.py").write_text(
        "import pytest\n"
        "from ids import plain_id\n"
        "V = ['a\\\\b', 'a\\nb', '\\xe9', '\\ud800']\n"
        "@pytest.mark.parametrize('v', V, ids=V)\n"
        "def test_raw(v):\n"
        "    pass\n"
        "@pytest.mark.parametrize('v', V + ['plain'], ids=[plain_id(v) for v in V + ['plain']])\n"
        "def test_plain(v):\n"
        "    pass\n"
    )
    shutil.copy(ROOT / "tests" / "kits" / "ids.py", tmp_path / "ids.py")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = str(tmp_path)
    found = unstable_ids(tmp_path, env, [*PYTEST_ARGS, "test_ids.py"])
    assert found == [
        "test_ids.py::test_raw[a\\\\b]",
        "test_ids.py::test_raw[a\\nb]",
        "test_ids.py::test_raw[\\xe9]",
        "test_ids.py::test_raw[\\ud800]",
    ]
