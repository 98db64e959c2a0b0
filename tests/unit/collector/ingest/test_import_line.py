"""Import lines (parse_import_line): the row each valid line makes, and the exact quarantine
row (source, device, reason, detail, raw bytes) of each kind of bad line."""

from __future__ import annotations

import calendar
import json
import time
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from collector.ingest.parse import parse_import_line
from collector.records import EventRow, QuarantineRow

UTC = ZoneInfo("UTC")
NOW = 1_773_480_000_000
SOURCE = "import:history.jsonl:7"


def line(**kw: Any) -> str:
    doc: dict[str, Any] = {
        "id": "00000000-0000-0000-0000-000000000001",
        "device_id": "d1",
        "account_id": "acme",
        "device_type": "press-x",
        "firmware_version": "2.1",
        "kind": "feature_use",
        "feature": "calibrate",
        "ts": "2026-03-01T23:30:00Z",
    }
    doc.update(kw)
    return json.dumps({k: v for k, v in doc.items() if v is not ...})


def utc_ms(y: int, mo: int, d: int, h: int, mi: int) -> int:
    return calendar.timegm((y, mo, d, h, mi, 0)) * 1000


@pytest.fixture
def machine_in_new_york(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The importing machine's own zone must not matter: naive import times are UTC."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_a_valid_line_is_an_unsequenced_wall_clock_row() -> None:
    row = parse_import_line(line(), SOURCE, NOW, ZoneInfo("Asia/Tokyo"))
    assert isinstance(row, EventRow)
    ms = utc_ms(2026, 3, 1, 23, 30)
    assert (row.device_id, row.event_id, row.stream_id, row.seq) == (
        "d1",
        "00000000-0000-0000-0000-000000000001",
        None,
        None,
    )
    assert (row.ts_ms, row.wall_ms, row.clock_method) == (ms, ms, "wall")
    assert row.day == "2026-03-02"  # 08:30 the next morning in Tokyo: the collector's zone
    assert (row.kind, row.feature, row.account_id) == ("feature_use", "calibrate", "acme")


def test_a_naive_time_is_utc_whatever_the_machine_zone(machine_in_new_york: None) -> None:
    row = parse_import_line(line(ts="2026-03-01T10:00:00"), SOURCE, NOW, UTC)
    assert isinstance(row, EventRow)
    assert row.ts_ms == utc_ms(2026, 3, 1, 10, 0)


def test_an_offset_time_is_converted_to_utc() -> None:
    row = parse_import_line(line(ts="2026-03-01T10:00:00+02:00"), SOURCE, NOW, UTC)
    assert isinstance(row, EventRow)
    assert (row.ts_ms, row.day) == (utc_ms(2026, 3, 1, 8, 0), "2026-03-01")


def test_a_line_that_is_not_an_object_is_bad_json() -> None:
    assert parse_import_line("[1]", SOURCE, NOW, UTC) == QuarantineRow(
        SOURCE, None, "bad_json", "a line must be a JSON object", b"[1]"
    )


def test_unreadable_json_keeps_the_reader_s_message_and_the_bytes() -> None:
    assert parse_import_line("{", SOURCE, NOW, UTC) == QuarantineRow(
        SOURCE,
        None,
        "bad_json",
        "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
        b"{",
    )


def test_a_lone_surrogate_is_kept_escaped_in_the_raw_bytes() -> None:
    text = line(device_id="d\udc00")
    row = parse_import_line(text, SOURCE, NOW, UTC)
    assert isinstance(row, QuarantineRow)
    assert (row.topic, row.device_id, row.reason) == (SOURCE, "d\udc00", "invalid:device_id")
    assert row.raw == text.encode(errors="backslashreplace")
    assert b"d\\udc00" in row.raw


def test_an_invalid_field_names_it_and_keeps_the_line_s_device() -> None:
    text = line(kind=...)
    assert parse_import_line(text, SOURCE, NOW, UTC) == QuarantineRow(
        SOURCE, "d1", "invalid:kind", "kind: Field required", text.encode()
    )


def test_a_device_id_that_is_not_a_string_is_not_kept() -> None:
    text = line(device_id=5)
    assert parse_import_line(text, SOURCE, NOW, UTC) == QuarantineRow(
        SOURCE, None, "invalid:device_id", "device_id: Input should be a valid string",
        text.encode(),
    )  # fmt: skip


def test_feature_use_without_a_feature_is_refused_by_the_wire_model() -> None:
    text = line(feature=...)
    row = parse_import_line(text, SOURCE, NOW, UTC)
    assert row == QuarantineRow(
        SOURCE, "d1", "invalid:event", ": Value error, feature_use needs a feature", text.encode()
    )  # the error is the whole event's: an empty location before the colon


def test_a_time_past_year_9999_in_utc_is_invalid_ts() -> None:
    text = line(ts="9999-12-31T23:59:59-14:00")  # 10000-01-01T13:59:59Z
    row = parse_import_line(text, SOURCE, NOW, UTC)
    assert isinstance(row, QuarantineRow)
    assert (row.topic, row.device_id, row.reason, row.raw) == (
        SOURCE,
        "d1",
        "invalid:ts",
        text.encode(),
    )
    assert "year 10000" in row.detail


def test_a_day_past_year_9999_in_the_collector_zone_is_invalid_ts() -> None:
    text = line(ts="9999-12-31T23:59:59Z")  # 10000-01-01 in Kiritimati (UTC+14)
    row = parse_import_line(text, SOURCE, NOW, ZoneInfo("Pacific/Kiritimati"))
    assert isinstance(row, QuarantineRow)
    assert (row.topic, row.device_id, row.reason, row.raw) == (
        SOURCE,
        "d1",
        "invalid:ts",
        text.encode(),
    )
    assert "out of range" in row.detail
    # The same instant is a valid row where its day is still 9999-12-31.
    ok = parse_import_line(text, SOURCE, NOW, UTC)
    assert isinstance(ok, EventRow) and ok.day == "9999-12-31"


def test_a_number_json_cannot_read_is_bad_json_like_on_the_wire() -> None:
    # Over Python's 4,300-digit limit, as an event of an MQTT batch would be (bad_json).
    text = line(props={"n": 0}).replace('"n": 0', '"n": 1' + "0" * 5000)
    row = parse_import_line(text, SOURCE, NOW, UTC)
    assert isinstance(row, QuarantineRow)
    assert (row.topic, row.device_id, row.reason, row.raw) == (
        SOURCE,
        None,
        "bad_json",
        text.encode()[: 64 * 1024],
    )
    assert row.detail.startswith("Exceeds the limit (4300 digits)")
