"""Periodic jobs: housekeeping (partitions, retention) inside `serve`, and alert rules (inside
`pes-collector alerts`). Each run happens once across a group of collectors (`Store.job`)."""

from collector.jobs.alerts import Breach, evaluate, run_claimed, run_forever
from collector.jobs.housekeeping import housekeeping_once, prune_once, retention_loop

__all__ = [
    "Breach",
    "evaluate",
    "housekeeping_once",
    "prune_once",
    "retention_loop",
    "run_claimed",
    "run_forever",
]
