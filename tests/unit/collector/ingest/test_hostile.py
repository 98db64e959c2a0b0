"""Hostile input to the collector's parsers (collector.ingest.parse_batch, parse_import_line):
nothing raises, every event built valid is kept next to invalid ones, every rejection has a
short reason, and every limit of shared/limits.py holds exactly at its edge."""

from __future__ import annotations

import gzip
import json
import re
import uuid
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector.ingest.parse import parse_batch, parse_import_line
from collector.records import AckTarget, EventRow, ParsedMessage, QuarantineRow
from shared import limits as L
from tests.kits.batches import (
    DEVICE,
    EDGES,
    ENVELOPE_BREAKERS,
    NOW,
    NUMBERS,
    TOPIC,
    UTC,
    encode,
    header,
    invalid_item,
    one_batch,
    valid_event,
)
from tests.kits.hostile import FAST, SLOW, hostile_text, ids, json_values

# Every reason is a short code from a closed set (it labels metrics): never sender text.
REASON = re.compile(
    r"^(bad_topic|too_large|bad_gzip|bad_json|bad_envelope|too_many_events|spoofed_device_id|"
    r"seq_out_of_range|clock_unknown|invalid:[a-z_]{1,32})$"
)
ENVELOPE_REASONS = {"bad_topic", "too_large", "bad_gzip", "bad_json", "bad_envelope"}


def check_invariants(out: ParsedMessage, payload: bytes) -> None:
    for q in out.quarantined:
        assert q.reason and REASON.match(q.reason), q.reason
        assert len(q.raw) <= 64 * 1024
        assert isinstance(q.detail, str) and len(q.detail) <= 1000
        q.detail.encode()  # storable: no lone surrogates
        q.topic.encode()
    for e in out.events:
        assert L.MIN_PLAUSIBLE_MS <= e.ts_ms <= NOW + L.MAX_FUTURE_SKEW_MS
        json.loads(e.labels)  # canonical JSON, storable as text
        json.loads(e.props)
        e.labels.encode()
        e.props.encode()
    if out.events:
        assert out.ack is not None and out.stream is not None


def parse(payload: bytes, topic: str = TOPIC, content_type: str | None = None) -> ParsedMessage:
    out = parse_batch(topic, payload, content_type, NOW, UTC)
    check_invariants(out, payload)
    return out


# -- properties ----------------------------------------------------------------------------
@FAST
@given(
    payload=st.binary(max_size=2000),
    content_type=st.none() | st.sampled_from(["application/json", "application/json+gzip", "x"]),
)
def test_arbitrary_bytes_never_raise(payload: bytes, content_type: str | None) -> None:
    out = parse(payload, content_type=content_type)
    assert not out.events


@FAST
@given(doc=json_values)
def test_arbitrary_json_never_raises(doc: Any) -> None:
    out = parse(encode(doc))
    assert not out.events
    out = parse(gzip.compress(encode(doc)))
    assert not out.events


# What can arrive as an MQTT topic: UTF-8 (the broker refuses lone surrogates).
mqtt_topics = st.one_of(
    hostile_text.filter(lambda s: not any("\ud800" <= c <= "\udfff" for c in s)),
    st.builds("pes/v1/dev/{}/{}".format, st.text(max_size=70), st.text(max_size=10)),
)


@FAST
@given(topic=mqtt_topics, doc=json_values)
def test_hostile_topics_never_raise(topic: str, doc: Any) -> None:
    out = parse(encode({**header(1), "events": [doc]}), topic=topic)
    if not re.fullmatch(r"pes/v1/dev/[^/]+/[^/]*", topic):
        assert [q.reason for q in out.quarantined] == ["bad_topic"]


@SLOW
@given(st.data())
def test_valid_events_are_kept_next_to_invalid_ones(data: st.DataObject) -> None:
    n = data.draw(st.integers(min_value=1, max_value=12), label="n")
    items: list[Any] = []
    valid_ids: list[str] = []
    sure_invalid = 0
    for seq in range(1, n + 1):
        if data.draw(st.booleans(), label=f"valid {seq}"):
            ev = data.draw(valid_event(seq))
            valid_ids.append(ev["id"])
            items.append(ev)
        else:
            item, sure = data.draw(invalid_item(seq, n))
            sure_invalid += sure
            items.append(item)
    gzipped = data.draw(st.booleans(), label="gzip")
    payload = encode({**header(n), "events": items})
    out = parse(gzip.compress(payload) if gzipped else payload)
    stored = [e.event_id for e in out.events]
    # Every valid event is stored, once; every item is either stored or quarantined.
    assert set(valid_ids) <= set(stored)
    assert len(out.events) + len(out.quarantined) == n
    assert len(out.quarantined) >= sure_invalid
    assert out.ack is not None and (out.ack.first_seq, out.ack.last_seq) == (1, n)
    for row in out.events:
        assert row.device_id == DEVICE and row.stream_id == "s-1"


@SLOW
@given(breaker=st.sampled_from(ENVELOPE_BREAKERS), n=st.integers(1, 5), data=st.data())
def test_a_broken_envelope_is_quarantined_whole_with_a_reason(
    breaker: tuple[str, Any], n: int, data: st.DataObject
) -> None:
    field, value = breaker
    events = [data.draw(valid_event(seq)) for seq in range(1, n + 1)]
    doc = {**header(n), "events": events, field: value}
    if field == "first_seq" and value == 5:
        doc["last_seq"] = 4  # last < first
    out = parse(encode(doc))
    assert out.events == [] and out.stream is None
    # Acknowledged (quarantined) to the topic's device whenever its stream and range can be
    # read, so that an agent does not resend a poison batch for ever.
    if field in ("stream_id", "first_seq", "last_seq"):
        assert out.ack is None
    else:
        assert out.ack == AckTarget(DEVICE, doc["stream_id"], 1, n)
    assert [q.reason for q in out.quarantined] == ["bad_envelope"]
    assert out.quarantined[0].device_id == DEVICE


@SLOW
@given(claimed=ids, data=st.data())
def test_a_batch_claiming_another_device_is_quarantined_whole(
    claimed: str, data: st.DataObject
) -> None:
    events = [data.draw(valid_event(1))]
    out = parse(encode({**header(1, device_id=claimed), "events": events}))
    if claimed == DEVICE:
        assert len(out.events) == 1
        return
    assert out.events == [] and out.stream is None
    assert [q.reason for q in out.quarantined] == ["spoofed_device_id"]
    assert out.ack is not None and out.ack.device_id == DEVICE  # acked to the topic's device


@FAST
@given(line=st.one_of(hostile_text, json_values.map(lambda v: encode(v).decode())))
def test_arbitrary_import_lines_never_raise(line: str) -> None:
    row = parse_import_line(line, "import:x:1", NOW, UTC)
    if isinstance(row, QuarantineRow):
        assert REASON.match(row.reason), row.reason
        row.detail.encode()
    else:
        assert isinstance(row, EventRow)


IMPORT_TS = [
    "2026-03-14T09:20:00Z", "2026-03-14T09:20:00", "2026-03-14T09:20:00+14:00",
    "1970-01-01T00:00:00Z", "1969-12-31T23:59:59Z", "0001-01-01T00:00:00",
    "9999-12-31T23:59:59.999999", "9999-12-31T23:59:59-14:00", "2026-02-30T00:00:00",
    "2026-03-14T25:00:00", "not a time", "", 0, -1, 1.5, 10**20, None, [],
]  # fmt: skip


@SLOW
@given(
    ts=st.sampled_from(IMPORT_TS),
    tz=st.sampled_from(["UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago", "Asia/Kathmandu"]),
    data=st.data(),
)
def test_import_lines_at_extreme_times(ts: Any, tz: str, data: st.DataObject) -> None:
    ev = data.draw(valid_event(1))
    doc = {k: v for k, v in ev.items() if k not in ("seq", "ts")}
    doc |= {"device_id": DEVICE, "ts": ts}
    row = parse_import_line(encode(doc).decode(), "import:x:1", NOW, ZoneInfo(tz))
    if isinstance(row, QuarantineRow):
        assert REASON.match(row.reason), row.reason
    else:
        assert row.event_id == ev["id"] and row.seq is None and len(row.day) == 10


# -- limits, exactly at and just over each edge ---------------------------------------------
@pytest.mark.parametrize(("what", "at", "over"), EDGES, ids=[e[0] for e in EDGES])
def test_event_limits_hold_at_the_edge(what: str, at: dict[str, Any], over: dict[str, Any]) -> None:
    ok = parse(one_batch(**at))
    assert len(ok.events) == 1, ok.quarantined
    bad = parse(one_batch(**over))
    assert bad.events == [] and len(bad.quarantined) == 1


def test_events_per_batch_at_and_over_the_limit() -> None:
    def batch_of(n: int) -> bytes:
        evs = [
            {"id": str(uuid.UUID(int=i + 1)), "seq": i + 1, "kind": "session_start",
             "ts": NOW, "device_type": "t", "firmware_version": "1", "account_id": "a"}
            for i in range(n)
        ]  # fmt: skip
        return encode({**header(n), "events": evs})

    at = parse(batch_of(L.MAX_EVENTS_PER_BATCH))
    assert len(at.events) == L.MAX_EVENTS_PER_BATCH and at.quarantined == []
    over = parse(batch_of(L.MAX_EVENTS_PER_BATCH + 1))
    assert over.events == [] and [q.reason for q in over.quarantined] == ["too_many_events"]
    assert over.ack is not None  # acked: resending the same batch cannot help


def test_anchors_and_drops_at_and_over_the_limit() -> None:
    anchor = {"boot": "boot-b", "mono": 1, "true_ms": NOW}
    drop = {"first_seq": 1, "last_seq": 1, "reason": "buffer_full"}
    events = [json.loads(one_batch())["events"][0]]
    for field, item, limit in (("anchors", anchor, 8), ("drops", drop, 64)):
        ok = parse(encode({**header(1), field: [item] * limit, "events": events}))
        assert len(ok.events) == 1, (field, ok.quarantined)
        bad = parse(encode({**header(1), field: [item] * (limit + 1), "events": events}))
        assert [q.reason for q in bad.quarantined] == ["bad_envelope"], field


def test_payload_bytes_at_and_over_the_limit() -> None:
    body = one_batch()
    pad = L.MAX_PAYLOAD_BYTES - len(body)
    at = body[:-1] + b" " * pad + b"}"
    assert len(at) == L.MAX_PAYLOAD_BYTES
    assert len(parse(at).events) == 1
    over = body[:-1] + b" " * (pad + 1) + b"}"
    assert [q.reason for q in parse(over).quarantined] == ["too_large"]


def test_inflated_bytes_at_and_over_the_limit() -> None:
    body = one_batch()
    pad = L.MAX_DECOMPRESSED_BYTES - len(body)
    at = gzip.compress(body[:-1] + b" " * pad + b"}")
    assert len(parse(at, content_type="application/json+gzip").events) == 1
    over = gzip.compress(body[:-1] + b" " * (pad + 1) + b"}")
    assert [q.reason for q in parse(over).quarantined] == ["too_large"]
    bomb = gzip.compress(b"[" + b" " * (16 * L.MAX_DECOMPRESSED_BYTES) + b"]")
    assert len(bomb) < L.MAX_PAYLOAD_BYTES
    assert [q.reason for q in parse(bomb).quarantined] == ["too_large"]


@pytest.mark.parametrize("depth", [10, 100, 500, 990, 1000, 5000, 100_000])
@pytest.mark.parametrize("where", ["envelope", "event", "label", "prop"])
def test_deep_nesting_is_quarantined_not_raised(depth: int, where: str) -> None:
    deep = "[" * depth + "]" * depth
    body = one_batch().decode()
    if where == "envelope":
        text = body[:-1] + f', "x": {deep}}}'
    elif where == "event":
        text = body.replace('"events": [', f'"events": [{deep}, ', 1)
    else:
        key = '"labels"' if where == "label" else '"props"'
        text = body.replace('"kind"', f'{key}: {{"k": {deep}}}, "kind"', 1)
    out = parse(text.encode())
    assert len(out.quarantined) == 1
    if where == "event":  # the valid event next to it is kept, however deep the bad one
        assert len(out.events) == 1
    else:
        assert out.events == []
    if depth <= 500:  # well within what json.loads reads
        assert out.quarantined[0].reason != "bad_json"


@pytest.mark.parametrize("number", NUMBERS.values(), ids=NUMBERS.keys())
def test_huge_and_odd_numbers_anywhere(number: bytes) -> None:
    for field in (b'"sent_mono": 50000', b'"ts": 1773480000000', b'"seq": 1'):
        body = one_batch()
        assert field in body
        out = parse(body.replace(field, field.split(b":")[0] + b": " + number))
        assert out.events == [] and len(out.quarantined) == 1
    assert parse(number).quarantined[0].reason in ENVELOPE_REASONS


def test_unknown_fields_and_label_keys_never_become_reasons() -> None:
    keys = [f"attacker-chosen-{i}" for i in range(50)]
    evs = [{**json.loads(one_batch())["events"][0], "seq": 1, k: 1} for k in keys]
    evs += [{**json.loads(one_batch())["events"][0], "labels": {k: "v" * 200}} for k in keys]
    out = parse(encode({**header(1), "events": evs}))
    assert {q.reason for q in out.quarantined} == {"invalid:unknown_field", "invalid:labels"}
