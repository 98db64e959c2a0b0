"""Each package's public face is its `__all__`, pinned here (as httpx pins its own): a name added
or dropped is a decision, made in this file too. Everything else is private to its package."""

from __future__ import annotations

import importlib

import pytest

FACES: dict[str, set[str]] = {
    "collector": {"__version__"},
    "collector.errors": {
        "CollectorError", "ConfigError", "QueryError", "StoreError", "StoreUnavailable",
    },
    "collector.records": {"AckTarget", "EventRow", "ParsedMessage", "QuarantineRow", "StatusRow"},
    "collector.storage": {
        "EXPORT_COLUMNS", "FILTER_COLUMNS", "NO_CURSOR", "NO_RUNS_CURSOR", "ActivityTuple",
        "AlertState", "Changes", "ComboRow", "Cursor", "DayMark", "Entity", "ExportTable",
        "FeatureNameRow", "FeatureTuple", "Filters", "OutcomeTuple", "Pruned", "RunChanges",
        "RunRow", "SessionTuple", "Store", "StreamRow", "UsesRow", "WriteCounts", "Writer",
        "open_store", "sqlite_path",
    },
    "collector.export": {
        "INSTALL_HINT", "TABLES", "ExportBusy", "ExportError", "ExportOptions", "ExportSummary",
        "ExportUnavailable", "Manifest", "ManifestError", "Task", "export_parquet", "plan",
    },
    "collector.storage.sqlite": {"SqliteStore"},
    "collector.storage.postgres": {"PgStore"},
    "collector.ingest": {
        "IngestCounters", "IngestLoop", "IngestMetrics", "OpsGauges", "RateWindow", "SegmentScore",
        "now_ms",
        "parse_batch",
        "parse_import_line",
    },
    "collector.analytics": {
        "DEFAULT_CORE_KEY", "MAX_CONFIGS", "STICKINESS_MODES", "Config", "Cube", "CubeState",
        "HealthParams", "PesParams", "PesResult", "Segment", "Snapshot", "StickinessMode",
        "compare", "parse_config",
    },
    "collector.reports": {
        "DEFAULT_GROUP_BY", "EARLIEST", "LATEST", "HealthList", "OutcomeLineError",
        "OutcomeQuery", "PesQuery", "band_table", "compare_rows", "compare_table", "funnel_rows",
        "health_rows", "health_table",
        "import_outcomes", "make_outcome_query", "make_query", "outcome_band_rows",
        "outcome_report", "overview_tables", "parse_bands", "parse_group_by", "parse_weights",
        "pes_rows", "pes_table", "release_table", "result_row", "retention_rows",
        "retention_table", "to_csv", "to_table", "trend_rows", "warm_up",
    },
    "collector.jobs": {
        "Breach", "evaluate", "housekeeping_once", "prune_once", "retention_loop",
        "run_claimed", "run_forever",
    },
    "collector.api": {"AppState", "PesRow", "create_app"},
    "collector.cli": {"main"},
    "devkit": {"BrokerSecurity", "LocalBroker", "find_mosquitto", "free_port"},
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(FACES))
def test_public_names_are_pinned(name: str) -> None:
    module = importlib.import_module(name)
    assert set(module.__all__) == FACES[name]
    assert len(module.__all__) == len(set(module.__all__)), "a name listed twice"


@pytest.mark.parametrize("name", sorted(FACES))
def test_every_public_name_exists(name: str) -> None:
    module = importlib.import_module(name)
    missing = [n for n in module.__all__ if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names what it does not define: {missing}"
