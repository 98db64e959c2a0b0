"""Hand-written mutants for code mutmut cannot mutate: it skips decorated functions (pydantic's
model validators, properties) and class bodies (the models' Field limits), which is where the
wire contract's rules live (shared/models.py). Each mutant is one textual edit of the source,
applied in a scratch copy of the work tree; the module's tests must fail on it.

`scripts/mutation wire` runs these (docs/testing.md)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

Edit = tuple[str, str]  # (text in the source, what replaces it); the text occurs exactly once

_FEATURE = 'if self.kind == "feature_use" and self.feature is None:'
_DROP_CHECK = 'if self.last_seq < self.first_seq:\n            raise ValueError("drop range'
_RANGE_CHECK = 'if self.last_seq < self.first_seq:\n            raise ValueError("last_seq < first'
_SIZE = "return self.last_seq - self.first_seq + 1"
_DROPS = "if sum(d.size for d in self.drops) > L.MAX_DROPPED_PER_BATCH:"


def swap(text: str, old: str, new: str) -> Edit:
    """`text` with `old` (once) replaced by `new`."""
    return text, text.replace(old, new, 1)


def returns_none(message_end: str) -> Edit:
    """The validator that raises with a message ending so returns None instead of the model."""
    return swap(f'{message_end}")\n        return self', "self", "None")


MODELS: list[Edit] = [
    swap(_FEATURE, "==", "!="),
    swap(_FEATURE, " and ", " or "),
    swap(_FEATURE, "is None", "is not None"),
    swap(_FEATURE, '"feature_use"', '"XXfeature_useXX"'),
    swap('"feature_use needs a feature")', "feature_use", "XXfeature_use"),
    returns_none("needs a feature"),
    swap(_DROP_CHECK, "<", "<="),
    swap(_DROP_CHECK, "<", ">"),
    returns_none("reversed: last_seq < first_seq"),
    swap(_SIZE, "+ 1", "+ 2"),
    swap(_SIZE, "+ 1", "- 1"),
    swap(_SIZE, "- self", "+ self"),
    swap(_RANGE_CHECK, "<", "<="),
    swap(_RANGE_CHECK, "self.last_seq < self.first_seq", "False"),
    swap(_DROPS, ">", ">="),
    swap(_DROPS, "sum(d.size for d in self.drops)", "max([0, *(d.size for d in self.drops)])"),
    swap(_DROPS, "BATCH:", "BATCH + 1:"),
    returns_none("{L.MAX_DROPPED_PER_BATCH} events"),
    swap("Field(default_factory=list, max_length=8)", "=8", "=9"),
    swap("Field(default_factory=list, max_length=64)", "=64", "=65"),
    swap("Field(max_length=L.MAX_EVENTS_PER_BATCH)", "BATCH", "BATCH + 1"),
    swap("stored: int = Field(ge=0)", "ge=0", "ge=-1"),
    swap("le=2**63 - 1)]", " - 1", ""),
    swap('_STRICT = ConfigDict(extra="forbid"', "forbid", "ignore"),
]

MANUAL: dict[str, dict[str, list[Edit]]] = {"wire": {"shared/models.py": MODELS}}


def run_manual(
    name: str, tests: tuple[str, ...], copy_tree: Callable[[Path], None]
) -> dict[str, str]:
    """mutant name -> "killed" or "survived", for the hand-written mutants of module `name`."""
    scratch = Path(tempfile.mkdtemp(prefix=f"pes-mutation-{name}-hand-"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env |= {"PYTHONPATH": str(scratch), "PYTHONDONTWRITEBYTECODE": "1"}
    out: dict[str, str] = {}
    try:
        copy_tree(scratch)
        for source, edits in MANUAL[name].items():
            path = scratch / source
            original = path.read_text()
            stem = source.removesuffix(".py").replace("/", ".")
            for k, (old, new) in enumerate(edits, start=1):
                if original.count(old) != 1:
                    raise SystemExit(f"mutation: hand mutant {stem}.hand_{k} no longer applies")
                path.write_text(original.replace(old, new))
                run = subprocess.run(
                    [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests],
                    cwd=scratch,
                    env=env,
                    capture_output=True,
                )
                out[f"{stem}.hand_{k}"] = "survived" if run.returncode == 0 else "killed"
            path.write_text(original)
        return out
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
