"""Validation, spoof check, quarantine and clock correction of incoming batches (pure)."""

from __future__ import annotations

import gzip
import json
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from collector.ingest.parse import parse_batch, parse_import_line
from shared import codec

UTC = ZoneInfo("UTC")
NOW = 1_773_480_000_000  # 2026-03-14T09:20:00Z
TOPIC = "pes/v1/dev/gw-1/events"


def event(seq: int, **kw: Any) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "id": f"0190a000-0000-7000-8000-{seq:012x}",
        "seq": seq,
        "kind": "feature_use",
        "feature": "calibrate",
        "ts": NOW - 1000,
        "mono": 10_000 + seq,
        "boot": "boot-a",
        "device_type": "press-x",
        "firmware_version": "2.1",
        "account_id": "acme",
    }
    ev.update(kw)
    return ev


def batch(events: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    b: dict[str, Any] = {
        "v": 1,
        "device_id": "gw-1",
        "stream_id": "s-1",
        "first_seq": 1,
        "last_seq": max([e.get("seq", 1) for e in events] or [1]),
        "sent_ms": NOW,
        "sent_mono": 20_000,
        "boot": "boot-a",
        "events": events,
    }
    b.update(kw)
    return b


def parse(doc: Any, topic: str = TOPIC, raw: bytes | None = None) -> Any:
    payload = raw if raw is not None else json.dumps(doc).encode()
    return parse_batch(topic, payload, None, NOW, UTC)


def test_valid_batch_is_parsed_and_acked() -> None:
    out = parse(batch([event(1), event(2)]))
    assert [e.seq for e in out.events] == [1, 2]
    assert out.quarantined == []
    assert out.ack is not None
    assert (out.ack.device_id, out.ack.stream_id, out.ack.first_seq, out.ack.last_seq) == (
        "gw-1",
        "s-1",
        1,
        2,
    )
    assert out.events[0].day == "2026-03-14"
    assert out.events[0].clock_method == "wall"


def test_gzipped_batch_is_accepted() -> None:
    raw = gzip.compress(json.dumps(batch([event(1)])).encode())
    out = parse_batch(TOPIC, raw, codec.CONTENT_GZIP_JSON, NOW, UTC)
    assert len(out.events) == 1


def test_one_bad_event_is_quarantined_the_others_kept() -> None:
    bad = event(2, kind="feature_use", feature=None)
    out = parse(batch([event(1), bad, event(3, labels={"x" * 40: "v"})]))
    assert [e.seq for e in out.events] == [1]
    assert len(out.quarantined) == 2
    assert all(q.reason.startswith("invalid") for q in out.quarantined)
    assert out.ack is not None  # quarantined events are acknowledged too


def test_spoofed_device_id_is_quarantined_whole_and_acked_to_sender() -> None:
    out = parse(batch([event(1)], device_id="gw-2"))
    assert out.events == []
    assert [q.reason for q in out.quarantined] == ["spoofed_device_id"]
    assert out.ack is not None and out.ack.device_id == "gw-1"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json", "bad_json"),
        (b"[1,2]", "bad_envelope"),
        (json.dumps({"events": 3}).encode(), "bad_envelope"),
        (json.dumps({"v": 1, "events": []}).encode(), "bad_envelope"),
    ],
)
def test_broken_envelopes_are_quarantined_with_topic(raw: bytes, reason: str) -> None:
    out = parse(None, raw=raw)
    assert out.events == [] and out.ack is None
    assert [(q.reason, q.topic) for q in out.quarantined] == [(reason, TOPIC)]


def test_too_many_events_is_rejected() -> None:
    out = parse(batch([event(1)] * 1001, last_seq=1))
    assert [q.reason for q in out.quarantined] == ["too_many_events"]


def test_bad_topic_is_quarantined() -> None:
    out = parse(batch([event(1)]), topic="pes/v1/other")
    assert [q.reason for q in out.quarantined] == ["bad_topic"]


def test_seq_outside_declared_range_is_quarantined() -> None:
    out = parse(batch([event(1), event(9)], last_seq=2))
    assert [e.seq for e in out.events] == [1]
    assert [q.reason for q in out.quarantined] == ["seq_out_of_range"]


def test_clock_at_1970_is_corrected_to_the_right_day() -> None:
    out = parse(batch([event(1, ts=1000, mono=15_000)], sent_ms=6000))
    (ev,) = out.events
    assert ev.clock_method == "receive"
    assert ev.ts_ms == NOW - 5000  # recorded 5 s of monotonic time before the send
    assert ev.day == "2026-03-14"


def test_day_follows_the_collector_time_zone() -> None:
    # The device's clock agrees with the receive time, so ts is kept as sent: 23:30 UTC on
    # 2026-03-14 is 08:30 the next morning in Tokyo and 19:30 the same evening in New York.
    late_ms = 1_773_531_000_000  # 2026-03-14T23:30:00Z
    raw = json.dumps(batch([event(1, ts=late_ms)], sent_ms=late_ms + 1000)).encode()

    def day(zone: str) -> str:
        out = parse_batch(TOPIC, raw, None, late_ms + 1000, ZoneInfo(zone))
        assert out.events[0].ts_ms == late_ms
        return out.events[0].day

    assert day("Asia/Tokyo") == "2026-03-15"
    assert day("UTC") == "2026-03-14"
    assert day("America/New_York") == "2026-03-14"


def test_import_line_uses_the_same_model_rules() -> None:
    good = parse_import_line(
        json.dumps({"id": "00000000-0000-0000-0000-000000000001", "device_id": "d1",
                    "account_id": "a", "device_type": "t", "firmware_version": "1",
                    "kind": "feature_use", "feature": "x", "ts": "2026-03-01T10:00:00Z"}),
        "import", NOW, UTC,
    )  # fmt: skip
    assert getattr(good, "day", None) == "2026-03-01"
    bad = parse_import_line('{"id": "nope"}', "import:1", NOW, UTC)
    assert getattr(bad, "reason", "").startswith("invalid")
    assert getattr(parse_import_line("{", "import:2", NOW, UTC), "reason", None) == "bad_json"


def test_sqlite_urls_follow_file_uri_rules() -> None:
    from collector.storage import sqlite_path

    assert sqlite_path("sqlite:///var/lib/pes/c.db") == "/var/lib/pes/c.db"
    assert sqlite_path("sqlite:////var/lib/pes/c.db") == "/var/lib/pes/c.db"
    assert sqlite_path("sqlite:data/c.db") == "data/c.db"
    assert sqlite_path("sqlite://") == ":memory:"


# -- a batch JSON cannot read as a whole: each event read on its own --------------------------
HUGE = "1" + "0" * 5000  # over Python's 4,300-digit limit: json cannot read it


def with_unreadable(doc: dict[str, Any], at: int) -> bytes:
    """The batch's JSON text with event `at`'s `mono` replaced by a number json cannot read."""
    text = json.dumps(doc)
    mono = f'"mono": {doc["events"][at]["mono"]}'
    assert text.count(mono) == 1
    return text.replace(mono, f'"mono": {HUGE}').encode()


def test_an_unreadable_event_is_quarantined_alone_after_the_anchors() -> None:
    # The header's anchors array comes before the events: only the events array is split.
    anchors = [{"boot": "boot-b", "mono": 5_000, "true_ms": NOW - 60_000}]
    doc = batch([event(1), event(2), event(3, ts=1000, mono=6_000, boot="boot-b")])
    doc = {"anchors": anchors, **doc}
    out = parse(None, raw=with_unreadable(doc, 1))
    assert [e.seq for e in out.events] == [1, 3]
    # Event 3's wall clock is unset (1970): placed by the anchor of its boot, 1 s after it.
    assert (out.events[1].clock_method, out.events[1].ts_ms) == ("anchor", NOW - 59_000)
    (q,) = out.quarantined
    assert (q.reason, q.topic, q.device_id) == ("bad_json", TOPIC, "gw-1")
    assert q.detail.startswith("Exceeds the limit (4300 digits)")
    assert json.loads(q.raw.decode().replace(HUGE, "0"))["seq"] == 2  # the event's own bytes
    assert out.ack is not None and (out.ack.first_seq, out.ack.last_seq) == (1, 3)


def test_an_empty_item_in_a_broken_events_array_is_quarantined_too() -> None:
    good = json.dumps(event(1))
    text = json.dumps(batch([], last_seq=1)).replace('"events": []', f'"events": [ , {good}]')
    out = parse(None, raw=text.encode())
    assert [e.seq for e in out.events] == [1]
    assert [(q.reason, q.raw) for q in out.quarantined] == [("bad_json", b" ")]


def test_an_unreadable_events_object_is_bad_json_whole() -> None:
    text = json.dumps(batch([])).replace('"events": []', f'"events": {{"a": {HUGE}}}')
    out = parse(None, raw=text.encode())
    assert out.events == [] and [q.reason for q in out.quarantined] == ["bad_json"]


# -- a refused envelope is still acked when its stream and range can be read -----------------
@pytest.mark.parametrize(
    ("stream", "first", "last"),
    [("X-s.1:X", 1, 3), ('"x"', 1, 1), ("s-1", 1, 2**53), ("s-1", 7, 7)],
)
def test_a_refused_envelope_is_acked_with_its_stream_and_range(
    stream: str, first: int, last: int
) -> None:
    doc = batch([event(first)], v=2, stream_id=stream, first_seq=first, last_seq=last)
    out = parse(doc)
    assert [q.reason for q in out.quarantined] == ["bad_envelope"]
    if stream == '"x"':  # not an id: nothing to ack
        assert out.ack is None
        return
    assert out.ack is not None
    assert (out.ack.device_id, out.ack.stream_id) == ("gw-1", stream)
    assert (out.ack.first_seq, out.ack.last_seq) == (first, last)
    assert out.stream is None and out.events == []


@pytest.mark.parametrize(("first", "last"), [(0, 1), (3, 2), (1, 2**53 + 1)])
def test_a_refused_envelope_with_an_impossible_range_is_not_acked(first: int, last: int) -> None:
    out = parse(batch([event(1)], v=2, first_seq=first, last_seq=last))
    assert [q.reason for q in out.quarantined] == ["bad_envelope"]
    assert out.ack is None
