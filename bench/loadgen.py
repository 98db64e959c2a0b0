"""A stand-in fleet for ingest benchmarks, run as its own process so that it does not share the
collector's interpreter: publishes pre-encoded batches from many device streams through MQTT
with a window per device like the agent's, and waits for the collector's ack of every batch.

    python -m bench.loadgen PORT DEVICES BATCHES_PER_DEVICE EVENTS_PER_BATCH [WINDOW [RATE]]
prints one JSON line: {"events": n, "seconds": s, "acks": k}. With RATE (events/s), batches go
out on a fixed schedule, devices in turn, instead of as fast as the acks allow: a steady fleet
for latency measurements (a batch whose device has its window full waits, and the lateness
shows in `seconds`).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid

from shared import codec
from shared.models import Ack
from shared.mqtt import MqttClient, MqttSettings
from shared.topics import events_topic

NOW_MS = int(time.time() * 1000)
# Printed when the batches are built and the first publish goes out: building them takes
# seconds at e2e's rates (an id per event), which a caller timing the load must not count.
STARTED = "started"


def make_batches(device: str, batches: int, size: int) -> list[tuple[bytes, str]]:
    stream = uuid.uuid4().hex[:16]
    out = []
    for b in range(batches):
        first = b * size + 1
        events = [
            {"id": str(uuid.uuid4()), "seq": first + i, "kind": "feature_use",
             "feature": f"f{i % 7}", "ts": NOW_MS - (size - i) * 10, "mono": 10_000 + i,
             "boot": "bench-boot", "device_type": "press-x", "firmware_version": "2.1",
             "account_id": f"acct-{hash(device) % 50}"}
            for i in range(size)
        ]  # fmt: skip
        doc = {"v": 1, "device_id": device, "stream_id": stream, "first_seq": first,
               "last_seq": first + size - 1, "sent_ms": NOW_MS, "sent_mono": 20_000,
               "boot": "bench-boot", "events": events}  # fmt: skip
        out.append(codec.encode(doc))
    return out


async def main(
    port: int, devices: int, per_device: int, size: int, window: int, rate: float = 0
) -> None:
    fleet = {f"bench-{d:05d}": make_batches(f"bench-{d:05d}", per_device, size)
             for d in range(devices)}  # fmt: skip
    acked: dict[str, int] = dict.fromkeys(fleet, 0)
    done = asyncio.Event()
    remaining = devices * per_device
    slots = {d: asyncio.Semaphore(window) for d in fleet}
    async with MqttClient(
        MqttSettings(port=port), client_id=f"loadgen-{uuid.uuid4().hex[:6]}"
    ) as c:
        c.subscribe("pes/v1/dev/+/ack")
        await c.wait_connected(10)
        await asyncio.sleep(0.3)

        async def acks() -> None:
            nonlocal remaining
            while remaining:
                m = await c.messages.get()
                device = m.topic.split("/")[3]
                if device not in acked:  # another device's ack (a real agent next to this)
                    continue
                ack = Ack.model_validate(codec.decode(m.payload, m.content_type))
                acked[device] += 1
                slots[device].release()
                remaining -= 1
                del ack
            done.set()

        async def send(device: str) -> None:
            for payload, ctype in fleet[device]:
                await slots[device].acquire()
                await c.publish(events_topic(device), payload, content_type=ctype, timeout=60)

        async def paced() -> None:
            pubacks = []  # awaited at the end: waiting for each would hold back the schedule
            for b in range(per_device):
                for k, device in enumerate(fleet):
                    due = t0 + (b * devices + k) * size / rate
                    await asyncio.sleep(max(0.0, due - time.perf_counter()))
                    await slots[device].acquire()
                    payload, ctype = fleet[device][b]
                    pub = c.publish(events_topic(device), payload, content_type=ctype, timeout=60)
                    pubacks.append(asyncio.ensure_future(pub))
            await asyncio.gather(*pubacks)

        reader = asyncio.create_task(acks())
        t0 = time.perf_counter()
        print(STARTED, flush=True)  # the batches are built: a caller can time from here
        if rate > 0:
            await paced()
        else:
            await asyncio.gather(*(send(d) for d in fleet))
        await asyncio.wait_for(done.wait(), 600)
        elapsed = time.perf_counter() - t0
        reader.cancel()
    print(json.dumps({"events": devices * per_device * size, "seconds": elapsed,
                      "acks": sum(acked.values())}))  # fmt: skip


async def spawn(
    port: int,
    devices: int,
    per_device: int,
    size: int,
    window: int = 4,
    rate: float = 0,
    *,
    started: asyncio.Event | None = None,
) -> dict[str, float]:
    """Runs this module as its own process (so that it does not share the caller's
    interpreter) and returns its JSON line; sets `started` when it begins to publish."""
    argv = [str(port), str(devices), str(per_device), str(size), str(window), str(int(rate))]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.loadgen", *argv, stdout=asyncio.subprocess.PIPE
    )

    async def lines() -> bytes:
        assert proc.stdout is not None
        last = b""
        async for line in proc.stdout:
            if line.strip() == STARTED.encode():
                if started is not None:
                    started.set()
            elif line.strip():
                last = line
        await proc.wait()
        return last

    try:
        out = await asyncio.wait_for(lines(), 900)
    except BaseException:  # cancelled or timed out: the generator must not outlive the bench
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        raise
    if proc.returncode:
        raise RuntimeError(f"bench.loadgen exited with {proc.returncode}")
    result: dict[str, float] = json.loads(out.decode().strip().splitlines()[-1])
    return result


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    asyncio.run(main(*args[:4], *(args[4:6] or [4])))
