"""`ops_gauges` on both backends: devices silent for 24 h (never sent an event included, as on
the Fleet page) and the alert delivery counters, added up across runs."""

from __future__ import annotations

from collector.storage import Store
from tests.integration.collector.storage.test_backends import NOW, batch

HOUR = 3_600_000


async def test_silent_devices_and_alert_deliveries(store: Store) -> None:
    assert await store.ops_gauges(NOW) == {
        "silent_devices_24h": 0, "alerts_sent": 0, "alert_webhook_failures": 0
    }  # fmt: skip
    await store.write([batch("d1", 1, 3), batch("d2", 1, 2)], NOW)
    await store.save_status("d3", {"state": "online"}, NOW)  # a status, never an event
    assert (await store.ops_gauges(NOW))["silent_devices_24h"] == 1
    assert (await store.ops_gauges(NOW + 25 * HOUR))["silent_devices_24h"] == 3
    await store.count_alert_deliveries(2, 0)
    await store.count_alert_deliveries(0, 3)
    await store.count_alert_deliveries(1, 1)
    got = await store.ops_gauges(NOW)
    assert (got["alerts_sent"], got["alert_webhook_failures"]) == (3, 4)
