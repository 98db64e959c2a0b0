"""Outcome imports (specs/outcomes.md): all or nothing, the bad line named, later lines with
the same (entity, id, date) replacing earlier ones."""

from __future__ import annotations

import io
import json
from datetime import date

import pytest

from collector.analytics.outcome_records import (
    MAX_LINE_CHARS,
    OutcomeLineError,
    OutcomeRecord,
    parse_outcome_line,
    parse_outcome_lines,
    parse_outcome_text,
)


def line(**fields: object) -> str:
    return json.dumps(fields)


GOOD = line(account_id="a-7", outcome="renewed", date="2026-06-30")


def test_the_spec_example_and_a_device() -> None:
    text = GOOD + "\n" + line(device_id="d-1", outcome="churned", date="2026-07-01") + "\n"
    assert parse_outcome_text(text) == [
        OutcomeRecord("account", "a-7", "renewed", date(2026, 6, 30)),
        OutcomeRecord("device", "d-1", "churned", date(2026, 7, 1)),
    ]


def test_retained_is_renewed_or_expanded() -> None:
    words = {"renewed": True, "expanded": True, "churned": False}
    for word, retained in words.items():
        rec = parse_outcome_line(line(account_id="a", outcome=word, date="2026-01-01"))
        assert rec.retained is retained


def test_account_and_device_with_the_same_id_are_different_keys() -> None:
    recs = parse_outcome_lines(
        [
            line(account_id="x", outcome="renewed", date="2026-01-01"),
            line(device_id="x", outcome="churned", date="2026-01-01"),
        ]
    )
    assert [(r.entity, r.id, r.outcome) for r in recs] == [
        ("account", "x", "renewed"),
        ("device", "x", "churned"),
    ]
    assert recs[0].key == ("account", "x", date(2026, 1, 1))


def test_a_later_line_with_the_same_key_replaces_the_earlier() -> None:
    recs = parse_outcome_lines(
        [
            line(account_id="a", outcome="renewed", date="2026-01-01"),
            line(account_id="b", outcome="renewed", date="2026-01-01"),
            line(account_id="a", outcome="renewed", date="2026-02-01"),  # another date: kept
            line(account_id="a", outcome="churned", date="2026-01-01"),
        ]
    )
    assert [(r.id, r.outcome, r.date.month) for r in recs] == [
        ("a", "churned", 1),  # the first line's place, the last line's outcome
        ("b", "renewed", 1),
        ("a", "renewed", 2),
    ]


def test_blank_lines_are_skipped_but_counted_and_crlf_and_bom_are_accepted() -> None:
    body = ("\ufeff" + GOOD + "\r\n\r\n   \n" + '{"outcome": "renewed"}\n').encode()
    with pytest.raises(OutcomeLineError) as e:
        parse_outcome_text(body)
    assert e.value.line == 4
    assert len(parse_outcome_text(("\ufeff" + GOOD + "\r\n\r\n").encode())) == 1
    assert parse_outcome_text("") == []


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("{", "not valid JSON"),
        ("[1, 2]", "not a JSON object"),
        ('"renewed"', "not a JSON object"),
        (line(account_id="a", outcome="Renewed", date="2026-01-01"), "outcome"),
        (line(account_id="a", outcome="lost", date="2026-01-01"), "outcome"),
        (line(account_id="a", outcome="renewed", date="2026-02-30"), "not a calendar day"),
        (line(account_id="a", outcome="renewed", date="2026-1-5"), "YYYY-MM-DD"),
        (line(account_id="a", outcome="renewed", date="2026-01-01T00:00"), "YYYY-MM-DD"),
        (line(account_id="a", outcome="renewed", date="1969-12-31"), "1970 to 2999"),
        (line(account_id="a", outcome="renewed", date="3000-01-01"), "1970 to 2999"),
        (line(account_id="a", outcome="renewed", date=20260101), "date"),
        (line(account_id="a", outcome="renewed"), "date"),
        (line(outcome="renewed", date="2026-01-01"), "exactly one of"),
        (line(account_id="a", device_id="d", outcome="renewed", date="2026-01-01"), "exactly one"),
        (line(account_id="a b", outcome="renewed", date="2026-01-01"), "account_id"),
        (line(account_id="a" * 65, outcome="renewed", date="2026-01-01"), "at most 64"),
        (line(device_id=7, outcome="renewed", date="2026-01-01"), "device_id"),
        (line(account_id="a", outcome="renewed", date="2026-01-01", note="x"), "note"),
        (
            '{"account_id": "a", "account_id": "b", "outcome": "renewed", "date": "2026-01-01"}',
            "appears twice",
        ),
        ("[" * 900, "not valid JSON"),
        (
            line(account_id="a", outcome="renewed", date="2026-01-01", pad=" " * MAX_LINE_CHARS),
            "longer than",
        ),
    ],
)
def test_a_bad_line_refuses_the_whole_import_with_its_number(bad: str, reason: str) -> None:
    lines = [GOOD, line(device_id="d", outcome="expanded", date="2026-01-02"), bad, GOOD]
    with pytest.raises(OutcomeLineError) as e:
        parse_outcome_lines(lines)
    assert e.value.line == 3
    assert reason in e.value.reason
    assert str(e.value).startswith("line 3: ")


def test_bytes_that_are_not_utf8_are_refused_on_their_line() -> None:
    body = GOOD.encode() + b"\n" + b'{"account_id": "\xff"}\n'
    with pytest.raises(OutcomeLineError) as e:
        parse_outcome_text(body)
    assert (e.value.line, e.value.reason) == (2, "not UTF-8")


def test_too_many_lines() -> None:
    with pytest.raises(OutcomeLineError) as e:
        parse_outcome_lines([GOOD] * 4, max_lines=3)
    assert e.value.line == 4
    assert len(parse_outcome_lines([GOOD] * 3, max_lines=3)) == 1


def test_files_in_text_or_binary_mode() -> None:
    body = GOOD + "\n" + line(device_id="d-1", outcome="expanded", date="2026-07-01") + "\n"
    from_text = parse_outcome_lines(io.StringIO(body))
    from_bytes = parse_outcome_lines(io.BytesIO(body.encode()))
    assert from_text == from_bytes == parse_outcome_text(body)
    assert [r.entity for r in from_text] == ["account", "device"]
