"""Ingest: MQTT batches (and import-file lines) to stored rows. `parse` validates and quarantines
(pure), `loop` runs the shared subscription, commits and acknowledges, `metrics` counts."""

from collector.ingest.loop import IngestLoop, now_ms
from collector.ingest.metrics import (
    IngestCounters,
    IngestMetrics,
    OpsGauges,
    RateWindow,
    SegmentScore,
)
from collector.ingest.parse import parse_batch, parse_import_line

__all__ = [
    "IngestCounters",
    "IngestLoop",
    "IngestMetrics",
    "OpsGauges",
    "RateWindow",
    "SegmentScore",
    "now_ms",
    "parse_batch",
    "parse_import_line",
]
