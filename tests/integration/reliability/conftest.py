"""The reliability scenarios build on the agent's process helpers (real_kit)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "agent"))
