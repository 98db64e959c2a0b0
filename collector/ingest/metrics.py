"""The ingest loop's counters and the Prometheus metrics of one collector process, in a registry
of its own (no global state). Counters are read at scrape time from the ingest loop's own
counters, so there is one source of truth for /v1/stats and /metrics. `RateWindow` turns samples
of the stored counter into a rate for the Fleet page."""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


@dataclass
class IngestCounters:
    messages: int = 0
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    commits: int = 0
    acks_failed: int = 0
    store_errors: int = 0
    quarantine_reasons: Counter[str] = field(default_factory=Counter)
    last_commit_s: float = 0.0
    last_lag_s: float = 0.0


@dataclass(frozen=True, slots=True)
class SegmentScore:
    """One segment's PES and components for the engagement gauges (None: undefined)."""

    segment: str
    pes: float | None
    components: dict[str, float | None]


@dataclass(frozen=True, slots=True)
class OpsGauges:
    """What an operator's alerts need beyond the counters (docs/operations.md)."""

    ready: bool  # as GET /readyz: store readable, broker connected (or ingest disabled)
    broker_connected: bool | None  # None: this collector does not ingest
    silent_devices_24h: int  # no event for 24 h (or never), from the shared database
    alerts_sent: int  # alert webhook deliveries, from the shared database
    alert_webhook_failures: int  # deliveries that failed after their retries


COMMIT_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


class IngestMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.commit_seconds = Histogram(
            "pes_batch_commit_seconds",
            "Duration of one write transaction",
            buckets=COMMIT_BUCKETS,
            registry=self.registry,
        )
        self._snapshot = _Snapshot()
        self.registry.register(self._snapshot)

    def render(
        self,
        counters: IngestCounters | None,
        store_stats: dict[str, Any],
        pes: Sequence[SegmentScore] = (),
        ops: OpsGauges | None = None,
    ) -> bytes:
        self._snapshot.counters = counters
        self._snapshot.stats = store_stats
        self._snapshot.pes = pes
        self._snapshot.ops = ops
        return generate_latest(self.registry)


class _Snapshot(Collector):
    def __init__(self) -> None:
        self.counters: IngestCounters | None = None
        self.stats: dict[str, Any] = {}
        self.pes: Sequence[SegmentScore] = ()
        self.ops: OpsGauges | None = None

    def collect(self) -> Iterable[Metric]:
        yield from _ops(self.ops)
        c = self.counters
        if c is not None:
            for name, doc, value in (
                ("pes_ingest_messages", "MQTT messages processed", c.messages),
                ("pes_events_stored", "Events stored (first delivery)", c.stored),
                ("pes_events_duplicate", "Events received again and ignored", c.duplicates),
                ("pes_acks_failed", "Acks that could not be sent", c.acks_failed),
                ("pes_store_errors", "Failed write transactions", c.store_errors),
            ):
                yield CounterMetricFamily(name, doc, value=value)
            q = CounterMetricFamily(
                "pes_events_quarantined", "Events or payloads quarantined", labels=["reason"]
            )
            for reason, n in sorted(c.quarantine_reasons.items()):
                q.add_metric([reason], n)
            yield q
            yield GaugeMetricFamily(
                "pes_ingest_lag_seconds",
                "Oldest event of the last commit: corrected event time to commit",
                value=c.last_lag_s,
            )
        s = self.stats
        for key, name, doc in (
            ("events", "pes_db_events", "Events in the database"),
            ("devices", "pes_db_devices", "Devices in the registry"),
            ("quarantined", "pes_db_quarantined", "Quarantined items in the database"),
            ("gap_events", "pes_stream_gap_events", "Sequence numbers missing in transport"),
            ("dropped_events", "pes_stream_dropped_events", "Events dropped by agents"),
        ):
            if key in s:
                yield GaugeMetricFamily(name, doc, value=float(s[key]))
        if self.pes:
            score = GaugeMetricFamily(
                "pes_collector_pes_score", "PES of a segment over the last period",
                labels=["segment"],
            )  # fmt: skip
            part = GaugeMetricFamily(
                "pes_collector_pes_component", "Adoption, stickiness and growth of a segment",
                labels=["segment", "component"],
            )  # fmt: skip
            for row in self.pes:
                if row.pes is not None:
                    score.add_metric([row.segment], row.pes)
                for component, v in row.components.items():
                    if v is not None:
                        part.add_metric([row.segment, component], v)
            yield score
            yield part


def _ops(o: OpsGauges | None) -> Iterable[Metric]:
    if o is None:
        return
    yield GaugeMetricFamily(
        "pes_collector_ready", "1 when GET /readyz would answer 200", value=float(o.ready)
    )
    if o.broker_connected is not None:
        yield GaugeMetricFamily(
            "pes_mqtt_connected", "1 while connected to the broker", value=float(o.broker_connected)
        )
    silent = GaugeMetricFamily(
        "pes_db_devices_silent", "Devices without an event in the window", labels=["window"]
    )
    silent.add_metric(["24h"], o.silent_devices_24h)
    yield silent
    yield CounterMetricFamily(
        "pes_alerts_sent", "Alert webhook deliveries (all alert jobs)", value=o.alerts_sent
    )
    yield CounterMetricFamily(
        "pes_alert_webhook_failures",
        "Alert webhook deliveries that failed after their retries (all alert jobs)",
        value=o.alert_webhook_failures,
    )


@dataclass
class RateWindow:
    """Events stored per second by this collector process, from samples of its cumulative
    counter taken whenever the Fleet page asks (pure: the caller passes the clock)."""

    window_s: float = 300.0
    samples: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=600))

    def add(self, t: float, stored: int) -> None:
        if self.samples and stored < self.samples[-1][1]:
            self.samples.clear()  # the counter went back: a new ingest loop
        self.samples.append((t, stored))
        while self.samples and t - self.samples[0][0] > self.window_s:
            self.samples.popleft()

    def rate(self) -> float | None:
        """Events per second between the oldest and newest sample in the window."""
        if len(self.samples) < 2:
            return None
        (t0, n0), (t1, n1) = self.samples[0], self.samples[-1]
        return (n1 - n0) / (t1 - t0) if t1 > t0 else None

    def points(self) -> list[dict[str, float]]:
        """Per interval between consecutive samples: its end (seconds ago) and its rate."""
        if len(self.samples) < 2:
            return []
        now = self.samples[-1][0]
        out = []
        for (ta, na), (tb, nb) in zip(self.samples, list(self.samples)[1:], strict=False):
            if tb > ta:
                out.append({"ago_s": round(now - tb, 3), "rate": (nb - na) / (tb - ta)})
        return out
