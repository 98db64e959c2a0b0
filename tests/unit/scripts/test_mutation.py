"""scripts/mutation's own inputs: the hand-written mutants still apply to the code they mutate,
and every listed equivalent mutant names a module of MODULES and gives its reason."""

from __future__ import annotations

from pathlib import Path

from scripts.mutation import MODULES, load_equivalent
from scripts.mutation_manual import MANUAL

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
