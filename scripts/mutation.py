"""Mutation testing of the pure core (mutmut), one module at a time: `scripts/mutation [module...]`.

Each module is mutated in a scratch copy of the work tree (mutmut 3 copies the tree into
`mutants/` and swaps functions through trampolines, so the checkout is never touched and runs
for different modules cannot collide), with only the fast unit and component tests that state
that module's behaviour as the test command: a module takes minutes on a shared two-core machine.

The score is caught / (generated - listed equivalents): a mutant counts as caught when a test
failed or timed out, and as missed when it survived or no selected test reached its function.
Equivalent mutants (no test can tell them apart from the original) are listed with their reason
in scripts/mutation_equivalent.txt; a listed one that is caught or no longer generated is
reported as stale, so the list cannot rot silently. docs/testing.md says how to read the output.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

from scripts.mutation_manual import MANUAL, run_manual
from scripts.mutation_modules import MODULES, Module

ROOT = Path(__file__).resolve().parent.parent
EQUIVALENT_FILE = ROOT / "scripts" / "mutation_equivalent.txt"
# What the tests import besides the mutated files; mutmut copies these into mutants/ unchanged.
ALSO_COPY = ("agent", "collector", "shared", "devkit", "tests", "specs", "bench", "scripts")
PYTEST_ARGS = ("-p", "no:cacheprovider", "-q")
CAUGHT = frozenset({"killed", "timeout", "segfault"})
MISSED = frozenset({"survived", "no tests", "suspicious"})


_RESULT_LINE = re.compile(r"^\s+(?P<name>[\w.]+__mutmut_\d+): (?P<status>[a-z ]+)$")


@dataclass(frozen=True)
class Score:
    module: str
    statuses: dict[str, str]  # mutant name -> mutmut status
    equivalent: frozenset[str]
    seconds: float

    @property
    def counts(self) -> Counter[str]:
        return Counter(s for n, s in self.statuses.items() if n not in self.equivalent)

    @property
    def caught(self) -> int:
        return sum(v for k, v in self.counts.items() if k in CAUGHT)

    @property
    def missed(self) -> list[str]:
        return sorted(
            n for n, s in self.statuses.items() if s in MISSED and n not in self.equivalent
        )

    @property
    def scored(self) -> int:
        return self.caught + len(self.missed)

    @property
    def percent(self) -> float:
        return 100.0 * self.caught / self.scored if self.scored else 100.0

    @property
    def stale(self) -> list[str]:
        """Listed as equivalent but caught or not generated any more: the list needs mending."""
        return sorted(n for n in self.equivalent if self.statuses.get(n) not in MISSED)


def load_equivalent(path: Path = EQUIVALENT_FILE) -> dict[str, str]:
    """`mutant-name  reason...` per line; `#` starts a comment line."""
    out: dict[str, str] = {}
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, reason = line.partition(" ")
        if not reason.strip():
            raise SystemExit(f"{path}: {name} is listed without a reason")
        out[name] = reason.strip()
    return out


def _copy_tree(dest: Path) -> None:
    """The work tree as it is now (tracked and new files, uncommitted edits included)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    for raw in listed:
        rel = raw.decode()
        src = ROOT / rel
        if rel and src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def _toml_list(items: tuple[str, ...] | list[str]) -> str:
    return "[" + ", ".join(f'"{i}"' for i in items) + "]"


def _pytest_args(module: Module) -> list[str]:
    return [*PYTEST_ARGS, *(arg for node in module.deselect for arg in ("--deselect", node))]


def _configure(scratch: Path, module: Module) -> None:
    for test in module.tests:
        if not (scratch / test).is_file():
            raise SystemExit(f"mutation: test file {test} is missing (MODULES is out of date)")
    for node in module.deselect:
        if node.partition("::")[0] not in module.tests:
            raise SystemExit(f"mutation: {node} is deselected but not in the module's tests")
    config = (
        "\n[tool.mutmut]\n"
        f"source_paths = {_toml_list(module.sources)}\n"
        f"also_copy = {_toml_list(ALSO_COPY)}\n"
        f"pytest_add_cli_args_test_selection = {_toml_list(module.tests)}\n"
        f"pytest_add_cli_args = {_toml_list(_pytest_args(module))}\n"
        # A mutant that loops forever is stopped after 6x its tests' CPU time (mutmut's default,
        # 30x, let one hang an hour on a loaded machine).
        "timeout_multiplier = 3.0\n"
    )
    with (scratch / "pyproject.toml").open("a") as f:
        f.write(config)


# mutmut collects the tests several times in one process (its test list, the stats run, the
# clean run, each forked mutant), and pytest keeps the ids of a parametrize with `ids=` on its
# mark, already escaped (a backslash doubled, non-ASCII as \xe9). The test module is not
# imported again, so the next collection escapes those ids once more: such a test gets another
# node id than the stats run recorded, and the clean run stops on "not found" (pytest exit 4).
# This collects twice in one interpreter, as mutmut does, and writes the ids that changed.
_COLLECT_TWICE = """
import sys
import pytest

class Ids:
    def __init__(self):
        self.runs = []

    def pytest_collection_modifyitems(self, items):
        self.runs.append([item.nodeid for item in items])

ids = Ids()
for _ in range(2):
    if pytest.main(["--collect-only", *sys.argv[2:]], plugins=[ids]) != 0:
        sys.exit("collection failed")
first, second = ids.runs
with open(sys.argv[1], "w", encoding="utf-8", errors="surrogatepass") as out:
    out.write("".join(n + "\\0" for n in first if n not in set(second)))
"""


def unstable_ids(cwd: Path, env: dict[str, str], args: list[str]) -> list[str]:
    """Node ids (pytest `args` run in `cwd`) that a second collection in the same process
    names differently; mutmut cannot run those tests."""
    with tempfile.TemporaryDirectory() as tmp:
        found = Path(tmp) / "unstable"
        run = subprocess.run(
            [sys.executable, "-c", _COLLECT_TWICE, str(found), *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            errors="replace",
        )
        if run.returncode != 0:
            raise SystemExit(f"mutation: cannot collect the tests in {cwd}:\n{run.stdout[-3000:]}")
        return found.read_text(encoding="utf-8", errors="surrogatepass").split("\0")[:-1]


def _check_ids(scratch: Path, env: dict[str, str], module: Module) -> None:
    bad = unstable_ids(scratch, env, [*_pytest_args(module), *module.tests])
    if bad:
        shown = "\n  ".join(bad[:10])
        raise SystemExit(
            f"mutation: {len(bad)} test ids change when pytest collects them again in one "
            'process, so mutmut cannot run them (pytest exit 4, "not found"); give them ids '
            f"of printable ASCII without a backslash (tests/kits/ids.py):\n  {shown}"
        )


def run_module(
    name: str,
    jobs: int,
    keep: bool,
    show: bool,
    equivalent: dict[str, str],
    only: tuple[str, ...] = (),
    deselect: tuple[str, ...] = (),
) -> Score:
    """Mutate and test one module; `only` (mutmut's mutant names, `*` wildcards) restricts the
    run to those mutants, and the score to the ones it checked; `deselect` (node ids) leaves
    tests out of this run."""
    module = MODULES[name]
    extra = tuple(n for n in deselect if n.partition("::")[0] in module.tests)
    module = replace(module, deselect=module.deselect + extra)
    if name in MANUAL:  # code mutmut does not mutate: hand-written mutants (mutation_manual.py)
        started = time.monotonic()
        statuses = run_manual(name, module.tests, _copy_tree)
        mine = frozenset(n for n in equivalent if n in statuses)
        score = Score(name, statuses, mine, time.monotonic() - started)
        for mutant in score.missed if show else ():
            print(f"--- {mutant} (survived): see scripts/mutation_manual.py")
        return score
    scratch = Path(tempfile.mkdtemp(prefix=f"pes-mutation-{name}-"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # import the copy only
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    started = time.monotonic()
    try:
        _copy_tree(scratch)
        _configure(scratch, module)
        _check_ids(scratch, env, module)
        log = scratch / "mutmut.log"
        with log.open("w") as out:
            run = subprocess.run(
                ["mutmut", "run", "--max-children", str(jobs), *only],
                cwd=scratch,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        if run.returncode != 0:
            tail = log.read_text()[-3000:]
            raise SystemExit(f"mutation: mutmut failed on {name} (log {log}):\n{tail}")
        results = subprocess.run(
            ["mutmut", "results", "--all", "true"],
            cwd=scratch,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        statuses = {
            m["name"]: m["status"]
            for m in (_RESULT_LINE.match(line) for line in results.splitlines())
            if m and not (only and m["status"] == "not checked")
        }
        if not statuses:
            raise SystemExit(f"mutation: mutmut generated no mutants for {name} (see {log})")
        prefixes = tuple(s.removesuffix(".py").replace("/", ".") + "." for s in module.sources)
        mine = frozenset(
            n for n in equivalent if n.startswith(prefixes) and (not only or n in statuses)
        )
        score = Score(name, statuses, mine, time.monotonic() - started)
        if show and score.missed:
            _show(scratch, env, score)
        return score
    finally:
        if keep:
            print(f"mutation: {name}: scratch copy kept in {scratch}", file=sys.stderr)
        else:
            shutil.rmtree(scratch, ignore_errors=True)


# One interpreter for all of a module's diffs (`mutmut show` takes seconds per mutant). The diff
# helper is mutmut's own (3.8's module layout; hence the upper bound in pyproject).
_DIFFS = """
import sys
from mutmut.mutation.diff_apply import find_mutant, get_diff_for_mutant
for name in sys.argv[1:]:
    print("\\0" + name)
    print(get_diff_for_mutant(name, path=find_mutant(name).path))
"""


def _show(scratch: Path, env: dict[str, str], score: Score) -> None:
    """The changed lines of each missed mutant."""
    out = subprocess.run(
        [sys.executable, "-c", _DIFFS, *score.missed],
        cwd=scratch,
        env=env,
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        print(f"mutation: cannot show the diffs: {out.stderr[-500:]}", file=sys.stderr)
        return
    for chunk in out.stdout.split("\0")[1:]:
        name, _, diff = chunk.partition("\n")
        changed = [
            line
            for line in diff.splitlines()
            if line[:1] in "-+" and not line.startswith(("---", "+++"))
        ]
        print(f"--- {name} ({score.statuses[name]})")
        print("\n".join(changed))


def _table(scores: list[Score]) -> str:
    head = (
        f"{'module':<16}{'mutants':>8}{'caught':>8}{'missed':>8}{'equiv':>7}{'score':>8}{'time':>8}"
    )
    lines = [head, "-" * len(head)]
    for s in scores:
        lines.append(
            f"{s.module:<16}{len(s.statuses):>8}{s.caught:>8}{len(s.missed):>8}"
            f"{len(s.equivalent):>7}{s.percent:>7.1f}%{s.seconds:>7.0f}s"
        )
    return "\n".join(lines)


def _changed_modules(ref: str) -> list[str]:
    diff = subprocess.run(
        ["git", "diff", "--name-only", ref, "--"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return [n for n, m in MODULES.items() if set(m.sources) & set(diff)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/mutation", description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help=f"default: all of {', '.join(MODULES)}")
    parser.add_argument("--jobs", type=int, default=1, help="mutants tested at once (default 1)")
    parser.add_argument("--changed", metavar="REF", help="only modules whose sources differ")
    parser.add_argument("--show", action="store_true", help="print the diff of each missed mutant")
    parser.add_argument("--keep", action="store_true", help="keep the scratch copies")
    parser.add_argument("--fail-under", type=float, default=0.0, metavar="PERCENT")
    parser.add_argument("--list", action="store_true", help="list modules, sources and tests")
    parser.add_argument(
        "--mutants",
        nargs="+",
        default=(),
        metavar="NAME",
        help="only these mutants (mutmut names, * wildcards), e.g. the ones a full run missed",
    )
    parser.add_argument(
        "--deselect",
        nargs="+",
        default=(),
        metavar="NODE",
        help="leave these tests (pytest node ids) out of this run; a mutant caught without them "
        "is caught with them, so re-run the ones missed without this",
    )
    args = parser.parse_args(argv)
    if args.list:
        for n, m in MODULES.items():
            print(f"{n}: {' '.join(m.sources)}\n    tests: {' '.join(m.tests)}")
            for node in m.deselect:
                print(f"    left out: {node}")
        return 0
    unknown = [m for m in args.modules if m not in MODULES]
    if unknown:
        parser.error(f"unknown module(s) {', '.join(unknown)}; known: {', '.join(MODULES)}")
    if shutil.which("mutmut") is None:
        parser.error("mutmut is not installed: pip install -e '.[dev]'")
    names = args.modules or list(MODULES)
    if args.changed:
        names = [n for n in names if n in _changed_modules(args.changed)]
    equivalent = load_equivalent()
    scores: list[Score] = []
    for name in names:
        only = tuple(args.mutants)
        scores.append(
            run_module(
                name, args.jobs, args.keep, args.show, equivalent, only, tuple(args.deselect)
            )
        )
        s = scores[-1]
        print(f"{name}: {s.percent:.1f}% ({s.caught}/{s.scored})", flush=True)
        for mutant in s.missed:
            print(f"  missed {mutant} ({s.statuses[mutant]})")
        for mutant in s.stale:
            print(f"  stale equivalent entry {mutant} ({s.statuses.get(mutant, 'not generated')})")
    print()
    print(_table(scores))
    low = [s.module for s in scores if s.percent < args.fail_under]
    stale = [n for s in scores for n in s.stale]
    if low or stale:
        print(f"below {args.fail_under}%: {low}; stale equivalents: {stale}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
