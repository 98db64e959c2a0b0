"""What scripts/mutation mutates: per module, its source files and the fast tests that state
its behaviour (the test command of its mutation run)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Module:
    sources: tuple[str, ...]
    tests: tuple[str, ...]
    # Tests of those files left out of the mutation runs (pytest node ids), each for a reason
    # given where it is listed.
    deselect: tuple[str, ...] = ()


U = "tests/unit"
MODULES: dict[str, Module] = {
    # Analytics statistics.
    "compare": Module(
        ("collector/analytics/compare.py",),
        (
            f"{U}/collector/analytics/test_compare.py",
            f"{U}/collector/analytics/test_compare_buckets.py",
            f"{U}/collector/analytics/test_compare_draws.py",
            f"{U}/collector/analytics/test_coverage.py",
        ),
        # The bucketed bootstrap's coverage on 200 simulated fleets (about 45 s of each
        # surviving mutant's run, so most of a run of compare()'s 214 mutants). The 95% level
        # stays pinned without it: test_coverage.py checks the exact bootstrap's coverage and
        # width, and test_bucketed_intervals_agree_with_the_exact_bootstrap ties the bucketed
        # intervals to the exact ones.
        deselect=(
            f"{U}/collector/analytics/test_compare_buckets.py::test_the_design_has_a_real_difference",
            f"{U}/collector/analytics/test_compare_buckets.py::"
            "test_bucketed_intervals_cover_the_truth_at_the_nominal_rate",
        ),
    ),
    "releases_stats": Module(
        ("collector/analytics/releases_stats.py",),
        (
            f"{U}/collector/analytics/test_releases_stats.py",
            f"{U}/collector/analytics/test_releases.py",
        ),
    ),
    "outcomes_stats": Module(
        ("collector/analytics/outcomes_stats.py",),
        (f"{U}/collector/analytics/test_outcomes.py",),
    ),
    # The PES engine: period statistics and PES rows over the day bitmaps.
    "pes": Module(
        (
            "collector/analytics/cube.py",
            "collector/analytics/bits.py",
            "collector/analytics/scores.py",
        ),
        (
            f"{U}/collector/analytics/test_cube_bits.py",
            f"{U}/collector/analytics/test_engine.py",
            f"{U}/collector/analytics/test_pes.py",
            f"{U}/collector/analytics/test_periods.py",
            f"{U}/collector/analytics/test_snapshot.py",
            f"{U}/collector/analytics/test_compare.py",
        ),
    ),
    # The PES table and trend of /v1/pes and /v1/trend: per-segment state kept between requests.
    "pes_table": Module(
        (
            "collector/analytics/pes_table.py",
            "collector/analytics/segments.py",
            "collector/analytics/grouping.py",
            "collector/analytics/pes_pairs.py",
            "collector/analytics/pes_slots.py",
            "collector/analytics/feature_pairs.py",
        ),
        (
            f"{U}/collector/analytics/test_feature_pairs.py",
            f"{U}/collector/analytics/test_pes_slots.py",
            f"{U}/collector/analytics/test_pes_table.py",
            f"{U}/collector/analytics/test_pes_table_edges.py",
            f"{U}/collector/analytics/test_pes_table_trend.py",
            f"{U}/collector/analytics/test_segments_growth.py",
            f"{U}/collector/analytics/test_segments_edges.py",
        ),
    ),
    # Streams and their dedup.
    "streams": Module(
        ("collector/storage/streams.py",),
        (
            f"{U}/collector/storage/test_streams.py",
            f"{U}/collector/storage/test_stream_dedup.py",
            f"{U}/collector/storage/test_stream_book.py",
        ),
    ),
    # Ingest parsing and the quarantine reasons.
    "parse": Module(
        ("collector/ingest/parse.py", "collector/ingest/fastwire.py"),
        (
            f"{U}/collector/ingest/test_parse.py",
            f"{U}/collector/ingest/test_hostile.py",
            f"{U}/collector/ingest/test_fastwire_parity.py",
            f"{U}/collector/ingest/test_import_line.py",
            f"{U}/collector/ingest/test_quarantine_rows.py",
        ),
    ),
    # The shared wire contract.
    "topics": Module(("shared/topics.py",), (f"{U}/shared/test_topics.py",)),
    "codec": Module(
        ("shared/codec.py",),
        (f"{U}/shared/test_codec.py", f"{U}/shared/test_hostile_codec.py"),
    ),
    "clock": Module(("shared/clock.py",), (f"{U}/shared/test_clock.py",)),
    "wire": Module(
        ("shared/models.py",),
        (
            f"{U}/shared/test_models.py",
            f"{U}/shared/test_wire_schema.py",
            f"{U}/shared/test_codec.py",
            f"{U}/agent/test_wire_equivalence.py",
        ),
    ),
    # The agent's buffer accounting and retry policy.
    "retry": Module(
        ("shared/retry.py",),
        (f"{U}/shared/test_retry.py",),
    ),
    "buffer": Module(
        ("agent/buffer.py", "agent/stored.py", "agent/budget.py", "agent/drops.py"),
        (
            f"{U}/agent/test_buffer.py",
            f"{U}/agent/test_buffer_limits.py",
            f"{U}/agent/test_buffer_accounting.py",
        ),
    ),
    # The group commit between intake and the buffer: a caller hears "stored" only after
    # its own rows have committed.
    "writer": Module(
        ("agent/writer.py",), (f"{U}/agent/test_writer.py", f"{U}/agent/test_writer_accounting.py")
    ),
}
