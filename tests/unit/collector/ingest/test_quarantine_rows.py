"""Each quarantine row of an MQTT batch, field by field (topic, device, reason, detail, raw
bytes), the refusals that stop a batch whole, the events a refusal leaves alone, and the fast
(msgspec) path and the pydantic path placing events on the collector's own day."""

from __future__ import annotations

import gzip
import json
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from collector.ingest import fastwire
from collector.ingest.parse import MAX_RAW_KEPT, parse_batch
from collector.records import ParsedMessage, QuarantineRow
from shared import codec
from shared import limits as L
from tests.kits.batches import DEVICE, NOW, TOPIC, UTC, header


def event(seq: int, **over: Any) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "id": f"0190a000-0000-7000-8000-{seq:012x}",
        "seq": seq,
        "kind": "feature_use",
        "feature": "calibrate",
        "ts": NOW - 1000,
        "device_type": "press-x",
        "firmware_version": "2.1",
        "account_id": "acme",
    }
    ev.update(over)
    return ev


def payload(events: list[Any], **over: Any) -> bytes:
    return json.dumps({**header(len(events), **over), "events": events}).encode()


def parse(data: bytes, topic: str = TOPIC, tz: ZoneInfo = UTC, now: int = NOW) -> ParsedMessage:
    out = parse_batch(topic, data, None, now, tz)
    # The fast path (on by default) never changes what comes out.
    assert repr(parse_batch(topic, data, None, now, tz, fast=False)) == repr(out)
    return out


# -- refused before the envelope is read ----------------------------------------------------
def test_a_bad_topic_keeps_256_characters_of_it_and_64_kib_of_the_payload() -> None:
    topic = "pes/v1/dev/" + "x" * 300
    data = payload([event(1)]) + b" " * MAX_RAW_KEPT
    out = parse(data, topic=topic)
    (row,) = out.quarantined
    assert row.topic == topic[:256] and len(row.topic) == 256
    assert (row.device_id, row.reason) == (None, "bad_topic")
    assert row.detail.startswith("not a PES device topic: 'pes/v1/dev/xxx")
    assert row.raw == data[:MAX_RAW_KEPT] and len(row.raw) == MAX_RAW_KEPT
    assert out.ack is None and out.events == []


def test_a_payload_that_does_not_inflate_is_quarantined_with_its_device() -> None:
    data = gzip.compress(payload([event(1)]))
    data = data[:10] + b"\xff" * 8 + data[18:]  # the deflate stream broken
    out = parse_batch(TOPIC, data, codec.CONTENT_GZIP_JSON, NOW, UTC)
    (row,) = out.quarantined
    assert (row.topic, row.device_id, row.raw) == (TOPIC, DEVICE, data)
    assert row.reason == "bad_gzip" and row.detail.startswith("Error -3 while decompressing")
    assert out.ack is None


# -- the envelope ---------------------------------------------------------------------------
def test_a_batch_that_is_not_an_object_is_a_bad_envelope() -> None:
    data = b"[1, 2]"
    (row,) = parse(data).quarantined
    assert (row.topic, row.device_id, row.reason) == (TOPIC, DEVICE, "bad_envelope")
    assert (row.detail, row.raw) == ("a batch must be a JSON object", data)


def test_events_that_are_missing_or_not_a_list_are_a_bad_envelope() -> None:
    for events in ({"events": 3}, {}):
        data = json.dumps({**header(1), **events}).encode()
        out = parse(data)
        (row,) = out.quarantined
        assert (row.topic, row.device_id, row.reason) == (TOPIC, DEVICE, "bad_envelope")
        assert (row.detail, row.raw) == ("events must be a list", data)
        # The stream and range are readable: acked, so the agent does not resend it for ever.
        assert out.ack is not None and (out.ack.device_id, out.ack.stream_id) == (DEVICE, "s-1")
        assert out.stream is None and out.events == []


def test_an_unreadable_batch_with_a_readable_header_is_acked_to_the_topics_device() -> None:
    data = payload([event(1)], last_seq=3)[:-5]  # cut short: no JSON text at all
    out = parse(data)
    (row,) = out.quarantined
    assert (row.topic, row.device_id, row.reason, row.raw) == (TOPIC, DEVICE, "bad_json", data)
    assert out.ack is not None
    assert (out.ack.device_id, out.ack.stream_id, out.ack.first_seq, out.ack.last_seq) == (
        DEVICE,
        "s-1",
        1,
        3,
    )


def test_a_refused_header_is_a_bad_envelope_with_the_models_reason() -> None:
    data = payload([event(1)], v=2)
    out = parse(data)
    (row,) = out.quarantined
    assert (row.topic, row.device_id, row.reason, row.raw) == (TOPIC, DEVICE, "bad_envelope", data)
    assert row.detail.startswith("v: Input should be 1")


def test_too_many_events_is_quarantined_whole_and_acked() -> None:
    n = L.MAX_EVENTS_PER_BATCH + 1
    data = payload([event(1)] * n, last_seq=1)
    out = parse(data)
    (row,) = out.quarantined
    assert (row.topic, row.device_id, row.reason) == (TOPIC, DEVICE, "too_many_events")
    assert row.detail == f"{n} > {L.MAX_EVENTS_PER_BATCH}"
    assert len(data) > MAX_RAW_KEPT and row.raw == data[:MAX_RAW_KEPT]
    assert out.ack is not None and out.stream is None and out.events == []


def test_exactly_the_most_events_with_one_invalid_is_parsed_event_by_event() -> None:
    # The invalid event sends the batch down the pydantic path, which counts as the fast one.
    n = L.MAX_EVENTS_PER_BATCH
    events = [event(seq) for seq in range(1, n)] + [event(n, kind="Bad")]
    out = parse(payload(events))
    assert len(out.events) == n - 1
    assert [q.reason for q in out.quarantined] == ["invalid:kind"]


def test_a_spoofed_device_is_quarantined_with_both_names() -> None:
    data = payload([event(1)], device_id="gw-2")
    out = parse(data)
    (row,) = out.quarantined
    assert (row.topic, row.device_id, row.reason, row.raw) == (
        TOPIC,
        DEVICE,
        "spoofed_device_id",
        data,
    )
    assert row.detail == "payload says 'gw-2', topic says 'gw-1'"


# -- one event at a time --------------------------------------------------------------------
def test_an_invalid_event_is_quarantined_with_its_own_bytes() -> None:
    bad = event(2, kind="Bad")
    out = parse(payload([event(1), bad, event(3)]))
    (row,) = out.quarantined
    assert (row.topic, row.device_id, row.reason) == (TOPIC, DEVICE, "invalid:kind")
    assert json.loads(row.raw) == bad
    assert [e.seq for e in out.events] == [1, 3]


def test_events_outside_the_declared_range_are_quarantined_the_rest_kept() -> None:
    for extra in ([], [event(4, kind="Bad")]):  # the fast path, then the pydantic path
        out = parse(payload([event(1), event(9), event(2), *extra], last_seq=4))
        assert [e.seq for e in out.events] == [1, 2]
        assert sorted(q.reason for q in out.quarantined) == [
            *(["invalid:kind"] if extra else []),
            "seq_out_of_range",
        ]
        row = next(q for q in out.quarantined if q.reason == "seq_out_of_range")
        assert (row.topic, row.device_id) == (TOPIC, DEVICE)
        assert row.detail == "seq 9 outside 1..4"
        assert raw_event_of(row) == event(9)


def test_an_event_no_clock_can_place_is_quarantined_the_rest_kept() -> None:
    lost = event(2, ts=1000, mono=5, boot="boot-old")  # 1970 and a boot with no anchor
    for extra in ([], [event(4, kind="Bad")]):
        out = parse(payload([event(1), lost, event(3), *extra], last_seq=4))
        assert [e.seq for e in out.events] == [1, 3]
        assert sorted(q.reason for q in out.quarantined) == [
            "clock_unknown",
            *(["invalid:kind"] if extra else []),
        ]
        row = next(q for q in out.quarantined if q.reason == "clock_unknown")
        assert (row.topic, row.device_id) == (TOPIC, DEVICE)
        assert row.detail == "wall clock 1000 implausible and no anchor for boot 'boot-old'"
        assert raw_event_of(row) == lost


def raw_event_of(row: QuarantineRow) -> dict[str, Any]:
    """The event a row keeps, as sent (the model's dump writes the unset fields as null)."""
    return {k: v for k, v in json.loads(row.raw).items() if v is not None and v != {}}


# -- the collector's day --------------------------------------------------------------------
EVENING = 1_773_518_400_000  # 2026-03-14T20:00:00Z: already 2026-03-15 in Tokyo
TOKYO = ZoneInfo("Asia/Tokyo")


def test_every_path_places_events_on_the_collectors_day() -> None:
    good = [event(1, ts=EVENING - 1000), event(2, ts=EVENING - 500)]
    data = payload(good, sent_ms=EVENING)
    assert fastwire.parse_valid(DEVICE, data, EVENING + 1000, TOKYO) is not None  # fast path
    # As it is: the fast path. With a float time (valid, but not the fast path's): the whole
    # batch validated at once. With an invalid event: each event validated on its own.
    for last in ([], [event(3, ts=float(EVENING))], [event(3, kind="Bad")]):
        out = parse(payload([*good, *last], sent_ms=EVENING), tz=TOKYO, now=EVENING + 1000)
        assert {(e.seq, e.day) for e in out.events} >= {(1, "2026-03-15"), (2, "2026-03-15")}
        assert all(e.day == "2026-03-15" and e.clock_method == "wall" for e in out.events)


def test_a_valid_batch_never_reaches_the_pydantic_path(monkeypatch: pytest.MonkeyPatch) -> None:
    # The fast path is there to save that work: a batch it takes costs no model validation.
    class Refused:
        @staticmethod
        def model_validate_json(data: bytes) -> None:
            raise AssertionError("the pydantic path ran")

    monkeypatch.setattr("collector.ingest.parse.Batch", Refused)
    out = parse_batch(TOPIC, payload([event(1), event(2)]), None, NOW, UTC)
    assert [e.seq for e in out.events] == [1, 2] and out.quarantined == []
    assert out.ack is not None and out.stream == out.ack


def test_a_payload_labelled_gzip_must_be_gzip() -> None:
    data = payload([event(1)])
    out = parse_batch(TOPIC, data, codec.CONTENT_GZIP_JSON, NOW, UTC)
    assert [(q.reason, q.device_id, q.raw) for q in out.quarantined] == [("bad_gzip", DEVICE, data)]
    assert out.events == [] and out.ack is None
