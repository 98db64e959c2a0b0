"""The whole path: real agents -> real Mosquitto -> `pes-collector serve` (its own process) ->
SQLite -> HTTP API, with exact counts after a forced resend of a whole buffer."""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.agent import Agent
from agent.buffer import Buffer
from agent.events import make_event
from agent.settings import AgentSettings, MqttSettings
from devkit.broker import LocalBroker
from tests.kits.pes import api_get, start_collector, stop, wait_http, write_collector_config

DAY_MS = 86_400_000


def settings(tmp: Path, port: int, device: str, dtype: str, fw: str, buf: str) -> AgentSettings:
    return AgentSettings(
        device_id=device,
        device_type=dtype,
        firmware_version=fw,
        account_id="acme",
        buffer_path=tmp / buf,
        mqtt=MqttSettings(port=port, reconnect_initial_s=0.05, reconnect_max_s=0.5),
        linger_ms=20,
        ack_timeout_s=2.0,
        auto_sessions=False,  # exact event counts: no session events added by the agent
    )


async def test_events_flow_end_to_end_and_resends_count_once(
    tmp_path: Path, broker: LocalBroker
) -> None:
    core = '[pes.core_features]\n"press-x" = ["calibrate", "export", "recipes"]'
    conf, http = write_collector_config(tmp_path, broker.port, extra=core)
    proc = start_collector(conf, tmp_path / "collector.log")
    try:
        await asyncio.to_thread(wait_http, f"http://127.0.0.1:{http}/healthz", 20, proc)
        # Noon of yesterday: always in the past, so that before noon UTC the newest events
        # are not beyond the collector's future limit (noon of today was, until 11:50 UTC).
        noon = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
        noon -= timedelta(days=1)
        t0 = int(noon.timestamp() * 1000)
        fleet = [
            settings(tmp_path, broker.port, "gw-1", "press-x", "2.0", "gw-1.db"),
            settings(tmp_path, broker.port, "gw-2", "press-x", "2.1", "gw-2.db"),
            settings(tmp_path, broker.port, "gw-3", "lathe-9", "1.5", "gw-3.db"),
        ]
        # gw-3's events are written offline first and its buffer copied: replaying the copy
        # later is a forced resend of every one of its batches (same stream, same events).
        s3 = fleet[2]
        with Buffer(s3.buffer_path) as buf:
            buf.append_many(
                [make_event(s3, "feature_use", "jog", ts_ms=t0 - d * DAY_MS) for d in range(40)]
            )
        shutil.copy(s3.buffer_path, tmp_path / "gw-3-copy.db")

        sent = 40
        async with Agent(fleet[0]) as a1, Agent(fleet[1]) as a2, Agent(fleet[2]) as a3:
            for day in range(10):
                for agent, feats in ((a1, ["calibrate"]), (a2, ["calibrate", "export"])):
                    for f in feats:
                        await agent.record("feature_use", f, ts_ms=t0 - day * DAY_MS)
                        sent += 1
            assert all(await asyncio.gather(*(a.flush(30) for a in (a1, a2, a3))))

        stats = api_get(http, "/v1/stats")
        assert stats["events"] == sent == 70
        assert stats["ingest"]["duplicates"] == 0

        replay = settings(tmp_path, broker.port, "gw-3", "lathe-9", "1.5", "gw-3-copy.db")
        async with Agent(replay) as again:
            assert await again.flush(30)  # emptied only because the collector acked it all

        stats = api_get(http, "/v1/stats")
        assert stats["events"] == 70, "a resent event was stored twice"
        assert stats["ingest"]["duplicates"] == 40
        assert stats["quarantined"] == 0

        end = noon.date()
        rows = api_get(http, "/v1/pes", start=str(end - timedelta(days=9)), end=str(end),
                       group_by="device_type,firmware_version")  # fmt: skip
        by_seg = {(r["device_type"], r["firmware_version"]): r for r in rows}
        assert set(by_seg) == {("press-x", "2.0"), ("press-x", "2.1"), ("lathe-9", "1.5")}
        assert all(r["active"] == 1 for r in rows)
        # press-x core set is configured as {calibrate, export, recipes}: gw-2 used two of three
        assert by_seg[("press-x", "2.1")]["adoption"] == pytest.approx(100 * 2 / 3)
        assert by_seg[("press-x", "2.0")]["adoption"] == pytest.approx(100 * 1 / 3)
        # every device was active every day of the period: DAU/MAU = 1
        assert all(r["stickiness"] == 100.0 for r in rows)
        # backfilled events keep their own days (not the day they were sent)
        earlier = api_get(http, "/v1/pes", start=str(end - timedelta(days=9)),
                          end=str(end - timedelta(days=5)), group_by="")  # fmt: skip
        assert [(r["active"], r["dau"], r["mau"]) for r in earlier] == [(3, 3, 3)]
        devices = {d["device_id"]: d for d in api_get(http, "/v1/devices")}
        assert devices["gw-3"]["events"] == 40 and devices["gw-3"]["gap_events"] == 0
    finally:
        assert stop(proc) == 0, (tmp_path / "collector.log").read_text()
