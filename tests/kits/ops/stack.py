"""One real monitored stack for the operations tests: Mosquitto, `pes-collector serve` (SQLite),
two `pes-agent run` (one delivering, one whose broker is unreachable, so its buffer holds
events), and a Prometheus running the shipped scrape config and alert rules, scraping every
second. conftest.py starts it once for the directory."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.kits.ops.kit import (
    Proc,
    PromApi,
    emit,
    free_port,
    prometheus_config,
    publish_raw,
    start_agent,
    start_collector,
    start_mosquitto,
    start_prometheus,
    wait_until,
)

EVENT = b'{"kind":"feature_use","feature":"calibrate","session_id":"s-1"}\n'
STORED = 20  # events the delivering agent sends: with one bad payload, ~5% quarantined


@dataclass
class Stack:
    prom: PromApi
    collector: str  # host:port, the Prometheus instance label
    agents: dict[str, str]  # device_id -> host:port
    dir: Path  # the processes' logs and configs, for a failing test's inspection


@contextlib.contextmanager
def running_stack(d: Path) -> Iterator[Stack]:
    procs: list[Proc] = []
    try:
        broker, mqtt = start_mosquitto(d)
        procs.append(broker)
        collector, http = start_collector(d, mqtt)
        procs.append(collector)
        live, live_port, live_sock = start_agent(d, mqtt, "gw-ops-live")
        procs.append(live)
        # Its broker port has no listener: it records, buffers and never delivers.
        stuck, stuck_port, stuck_sock = start_agent(d, free_port(), "gw-ops-stuck")
        procs.append(stuck)

        target = f"127.0.0.1:{http}"
        agents = {
            "gw-ops-live": f"127.0.0.1:{live_port}",
            "gw-ops-stuck": f"127.0.0.1:{stuck_port}",
        }
        conf = prometheus_config(d, [target], list(agents.values()))
        prom_proc, prom_port = start_prometheus(d, conf)
        procs.append(prom_proc)
        prom = PromApi(prom_port)

        def scraped_twice() -> bool:
            return len(prom.query("count_over_time(up[1m]) >= 2")) == 1 + len(agents)

        def seen(stored: int, bad: int) -> Callable[[], bool]:
            def check() -> bool:
                s = prom.query('pes_events_stored_total{job="pes-collector"}')
                q = prom.query('pes_events_quarantined_total{reason="bad_json"}')
                return [r["value"][1] for r in s + q] == [str(stored), str(bad)]

            return check

        # Traffic starts after the first scrapes, so rate() sees the counters move. A reason
        # label appears with its first quarantined item (rate() cannot see that one): a
        # second bad payload once Prometheus has the series.
        wait_until("Prometheus scraped every target twice", scraped_twice, 60, *procs)
        bad_topic = "pes/v1/dev/gw-ops-bad/events"
        publish_raw(mqtt, bad_topic, b"not json")
        wait_until("Prometheus saw the first bad payload", seen(0, 1), 60, *procs)
        replies = emit(live_sock, [EVENT] * STORED) + emit(stuck_sock, [EVENT] * 3)
        assert all(r.startswith(b'{"ok":true') for r in replies), replies
        publish_raw(mqtt, bad_topic, b"not json either")
        wait_until("Prometheus saw the events and the second one", seen(STORED, 2), 60, *procs)
        started = time.monotonic()
        wait_until("three more scrapes", lambda: time.monotonic() - started > 3, 10, *procs)
        yield Stack(prom, target, agents, d)
    finally:
        # All at once: the agent that never reached a broker takes ~5 s to exit on SIGTERM.
        for p in procs:
            p.terminate()
        for p in reversed(procs):
            p.stop()
