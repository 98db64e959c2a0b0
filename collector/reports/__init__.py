"""Reports: what the API, the CLI and the jobs ask of the analytics. `query` parses and checks a
report's parameters once, `tables` loads the rollups and runs the analyses, `render` turns rows
into CSV or text. The same parameters give the same rows on every surface."""

from collector.reports.outcomes import (
    OutcomeLineError,
    OutcomeQuery,
    import_outcomes,
    make_outcome_query,
    outcome_band_rows,
    outcome_report,
    parse_bands,
)
from collector.reports.query import (
    DEFAULT_GROUP_BY,
    EARLIEST,
    LATEST,
    PesQuery,
    make_query,
    parse_group_by,
    parse_weights,
    result_row,
)
from collector.reports.render import (
    band_table,
    compare_table,
    health_table,
    pes_table,
    release_table,
    retention_table,
    to_csv,
    to_table,
)
from collector.reports.tables import (
    HealthList,
    compare_rows,
    funnel_rows,
    health_rows,
    overview_tables,
    pes_rows,
    retention_rows,
    trend_rows,
)
from collector.reports.warm import warm_up

__all__ = [
    "DEFAULT_GROUP_BY",
    "EARLIEST",
    "LATEST",
    "HealthList",
    "OutcomeLineError",
    "OutcomeQuery",
    "PesQuery",
    "band_table",
    "compare_rows",
    "compare_table",
    "funnel_rows",
    "health_rows",
    "health_table",
    "import_outcomes",
    "make_outcome_query",
    "make_query",
    "outcome_band_rows",
    "outcome_report",
    "overview_tables",
    "parse_bands",
    "parse_group_by",
    "parse_weights",
    "pes_rows",
    "pes_table",
    "release_table",
    "result_row",
    "retention_rows",
    "retention_table",
    "to_csv",
    "to_table",
    "trend_rows",
    "warm_up",
]
