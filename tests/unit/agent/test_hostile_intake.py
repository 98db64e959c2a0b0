"""Hostile input to the agent's intake (agent.events.make_event and Agent.record): every call
either raises InvalidEvent or yields an event the collector accepts; a bad call never takes a
concurrent good one with it, and nothing but InvalidEvent reaches the caller."""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.agent import Agent
from agent.buffer import Buffer
from agent.errors import InvalidEvent
from agent.events import make_event, to_body
from agent.settings import AgentSettings, MqttSettings
from collector.ingest.parse import parse_batch
from devkit.broker import free_port
from shared import limits as L
from shared.models import WireEvent
from tests.kits.hostile import (
    FAST,
    SLOW,
    hostile_text,
    ids,
    json_scalars,
    json_values,
    keys,
    kinds,
    label_values,
    names,
    prop_values,
)

UTC = ZoneInfo("UTC")


def agent_settings(buffer: Path, **kw: Any) -> AgentSettings:
    values: dict[str, Any] = {
        "device_id": "gw-1",
        "device_type": "press-x",
        "firmware_version": "2.0",
        "account_id": "acme",
        "labels": {"site": "plant-3"},
        "buffer_path": buffer,
        "auto_sessions": False,  # one row per recorded event
        # Nothing listens there: intake must not depend on the broker.
        "mqtt": MqttSettings(port=free_port(), reconnect_initial_s=0.5, reconnect_max_s=1.0),
    }
    return AgentSettings(**(values | kw))


SETTINGS = agent_settings(Path(tempfile.gettempdir()) / "pes-hostile-unused.db")


VALID = {
    "feature": names,
    "session_id": ids,
    "user_id": ids,
    "labels": st.dictionaries(keys, label_values, max_size=6),
    "props": st.dictionaries(keys, prop_values, max_size=6),
    "ts_ms": st.one_of(
        st.integers(min_value=0, max_value=2**53),
        st.sampled_from([0, L.MIN_PLAUSIBLE_MS - 1, L.MIN_PLAUSIBLE_MS, 2**53]),
        st.integers(min_value=L.MIN_PLAUSIBLE_MS, max_value=1_773_480_000_000),
    ),
    "device_type": names,
    "firmware_version": names,
    "account_id": ids,
}


@st.composite
def calls(draw: st.DrawFn) -> dict[str, Any]:
    """Arguments of make_event/record: well typed, then up to three replaced by anything."""
    call: dict[str, Any] = {
        "kind": draw(st.sampled_from(["feature_use", "session_start", "session_end"]) | kinds)
    }
    for key, strategy in VALID.items():
        if draw(st.booleans()):
            call[key] = draw(strategy)
    if call["kind"] == "feature_use" and "feature" not in call and draw(st.booleans()):
        call["feature"] = draw(names)
    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.sampled_from(["kind", *VALID]))
        call[key] = draw(st.one_of(hostile_text, json_scalars, json_values))
    return call


def collector_verdict(event: dict[str, Any], now_ms: int) -> str:
    """What the collector makes of this event alone in a batch: 'stored' or the reason."""
    ev = {**json.loads(to_body(event)), "seq": 1}
    doc = {"v": 1, "device_id": "gw-1", "stream_id": "s", "first_seq": 1, "last_seq": 1,
           "sent_ms": now_ms, "sent_mono": ev.get("mono", 0), "boot": ev.get("boot", "b"),
           "events": [ev]}  # fmt: skip
    out = parse_batch("pes/v1/dev/gw-1/events", to_body(doc).encode(), None, now_ms, UTC)
    if out.events:
        return "stored"
    assert len(out.quarantined) == 1
    return out.quarantined[0].reason


@FAST
@given(call=calls())
def test_make_event_raises_invalid_event_or_makes_what_the_collector_stores(
    call: dict[str, Any],
) -> None:
    kind = call.pop("kind")
    try:
        event = make_event(SETTINGS, kind, **call)
    except InvalidEvent as exc:
        assert str(exc).startswith("invalid event")
        return
    WireEvent.model_validate({**event, "seq": 1})  # the wire contract holds
    explicit = call.get("ts_ms") is not None
    now = 1_773_480_000_000 if explicit else event["ts"]
    verdict = collector_verdict(event, now)
    plausible = not explicit or L.MIN_PLAUSIBLE_MS <= event["ts"] <= now + L.MAX_FUTURE_SKEW_MS
    # An explicit time the collector cannot place (before 2020, or in its future) is its claim
    # to judge: quarantined with a reason, never lost silently or stored wrongly.
    assert verdict == ("stored" if plausible else "clock_unknown")


@FAST
@given(
    value=st.one_of(
        st.sampled_from([float("nan"), float("inf"), -float("inf"), 2**63, -(2**63) - 1]),
        st.just(10**5000),  # not even serialisable as JSON text by Python
        st.sampled_from([[1], {"a": 1}, b"bytes", object(), {1, 2}, (1,)]),
    )
)
def test_props_the_wire_cannot_carry_are_refused(value: Any) -> None:
    try:
        event = make_event(SETTINGS, "feature_use", "f", props={"k": value})
    except InvalidEvent:
        return
    # Converted to what JSON carries (ints beyond 64 bits to floats, bytes to text).
    assert type(event["props"]["k"]) in (float, str)
    assert collector_verdict(event, event["ts"]) == "stored"


async def _record_all(buffer: Path, items: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    async with Agent(agent_settings(buffer)) as agent:
        results = await asyncio.gather(
            *(agent.record(kind, **kw) for kind, kw in items), return_exceptions=True
        )
        await agent.close()
    return results


AGENT = settings(SLOW, max_examples=25)  # each example runs an agent with its own buffer


@AGENT
@given(items=st.lists(calls(), min_size=1, max_size=12))
def test_concurrent_records_keep_the_good_events_and_refuse_the_bad(
    items: list[dict[str, Any]],
) -> None:
    with tempfile.TemporaryDirectory(prefix="pes-hostile-") as tmp:
        buffer = Path(tmp) / "b.db"
        calls_ = [(c.pop("kind"), c) for c in items]
        results = asyncio.run(_record_all(buffer, calls_))
        for r in results:
            assert isinstance(r, str | InvalidEvent), repr(r)
        accepted = [r for r in results if isinstance(r, str)]
        with Buffer(buffer) as buf:
            rows = buf.read_after(0, 10_000, 2**40)
    bodies = [json.loads(body) for _, body in rows]
    assert sorted(b["id"] for b in bodies) == sorted(accepted)
    for seq, body in zip((s for s, _ in rows), bodies, strict=True):
        WireEvent.model_validate({**body, "seq": seq})
