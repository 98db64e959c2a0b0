from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UPSTREAM = REPO.parent / "shared" / "specs"


@pytest.mark.skipif(not UPSTREAM.is_dir(), reason="no ../shared/specs beside this clone")
def test_vendored_specs_match_upstream() -> None:
    for f in sorted(UPSTREAM.iterdir()):
        assert (REPO / "specs" / f.name).read_bytes() == f.read_bytes(), f"specs/{f.name} drifted"
