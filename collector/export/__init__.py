"""The warehouse export: day-partitioned Parquet for analysts (docs/operations.md). `plan` picks
the partitions a run writes from the manifest of earlier runs, `streams` derives per-day stream
delivery, `parquet` writes files atomically (pyarrow, the optional `export` extra), `run`
orchestrates one run. The CLI's `pes-collector export` calls `export_parquet`."""

from collector.export.errors import ExportBusy, ExportError, ExportUnavailable, ManifestError
from collector.export.parquet import INSTALL_HINT
from collector.export.plan import TABLES, Manifest, Task, plan
from collector.export.run import ExportOptions, ExportSummary, export_parquet

__all__ = [
    "INSTALL_HINT",
    "TABLES",
    "ExportBusy",
    "ExportError",
    "ExportOptions",
    "ExportSummary",
    "ExportUnavailable",
    "Manifest",
    "ManifestError",
    "Task",
    "export_parquet",
    "plan",
]
