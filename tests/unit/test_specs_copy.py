"""The vendored contract in specs/ is the pinned one, and the same as ../shared/specs when that
is beside the clone. The pin makes the check meaningful in a standalone clone too: an edit to the
vendored copy fails here until it is re-pinned on purpose (specs/README.md says how)."""

import hashlib
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VENDORED = REPO / "specs"
UPSTREAM = REPO.parent / "shared" / "specs"
# Repo-only files beside the contract: the folder's own note and the pin itself.
NOT_CONTRACT = {"README.md", "SHA256SUMS"}


def _pinned() -> dict[str, str]:
    out: dict[str, str] = {}
    for line in (VENDORED / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        out[name.lstrip("*")] = digest
    return out


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_vendored_specs_are_the_pinned_files() -> None:
    pinned = _pinned()
    present = {p.name for p in VENDORED.iterdir() if p.is_file()} - NOT_CONTRACT
    assert present == set(pinned), "specs/ and specs/SHA256SUMS list different files"
    for name, digest in pinned.items():
        assert _sha256(VENDORED / name) == digest, f"specs/{name} differs from its pinned hash"


def test_pin_covers_the_whole_contract() -> None:
    # Pinning an empty or partial folder would make the check above vacuous.
    assert {"pes.md", "wire.md", "releases.md", "outcomes.md"} <= set(_pinned())
    expected = json.loads((VENDORED / "pes-example-expected.json").read_text())
    assert expected, "the worked example's expected results are empty"
    events = (VENDORED / "pes-example-events.jsonl").read_text().splitlines()
    assert len(events) > 10 and all(json.loads(e) for e in events)


@pytest.mark.skipif(not UPSTREAM.is_dir(), reason="no ../shared/specs beside this clone")
def test_vendored_specs_match_upstream() -> None:
    upstream = {p.name for p in UPSTREAM.iterdir() if p.is_file()}
    vendored = {p.name for p in VENDORED.iterdir() if p.is_file()} - NOT_CONTRACT
    assert upstream == vendored, "specs/ and ../shared/specs hold different files"
    for name in sorted(upstream):
        assert (VENDORED / name).read_bytes() == (UPSTREAM / name).read_bytes(), (
            f"specs/{name} drifted from ../shared/specs"
        )
