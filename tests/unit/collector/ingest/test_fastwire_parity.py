"""The msgspec fast path (collector/ingest/fastwire.py) against the pydantic path it shortcuts:
for any input it either refuses (and parse_batch runs the pydantic path) or returns exactly the
records the pydantic path returns, value for value and type for type. Valid batches must take
it (else it saves nothing), so each corpus of valid batches also asserts that it did."""

from __future__ import annotations

import gzip
import json
import uuid
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from bench.loadgen import make_batches
from collector.ingest import fastwire
from collector.ingest.parse import parse_batch
from collector.records import ParsedMessage
from shared import codec
from shared import limits as L
from shared.clock import AGREE_MS
from shared.models import Anchor, Batch, DropRange, WireEvent
from tests.kits.batches import (
    DEVICE,
    EDGES,
    ENVELOPE_BREAKERS,
    NOW,
    NUMBERS,
    SURE_INVALID,
    TOPIC,
    UTC,
    encode,
    header,
    invalid_item,
    one_batch,
    valid_event,
)
from tests.kits.hostile import FAST, SLOW, json_values
from tests.kits.ids import plain_id

Verdict = str  # "fast": the fast path took it; "fallback": it refused


def _exact(out: ParsedMessage) -> str:
    """Records compared type for type (1, 1.0 and True are equal in Python, not in a row)."""
    return repr(out)


def check(payload: bytes, topic: str = TOPIC, content_type: str | None = None) -> Verdict:
    """Both paths on the same bytes: the fast one may refuse, never differ."""
    slow = parse_batch(topic, payload, content_type, NOW, UTC, fast=False)
    both = parse_batch(topic, payload, content_type, NOW, UTC)
    assert _exact(both) == _exact(slow)
    try:
        data = codec.inflate(payload, content_type)
    except Exception:
        return "fallback"
    quick = fastwire.parse_valid(DEVICE, data, NOW, UTC) if topic == TOPIC else None
    if quick is None:
        return "fallback"
    assert _exact(quick) == _exact(slow)
    assert not slow.quarantined  # the fast path never takes a batch with something to quarantine
    return "fast"


def batch(events: list[Any], **over: Any) -> bytes:
    return encode({**header(len(events)), "events": events, **over})


# -- the contract's shape: the structs mirror shared/models.py ---------------------------
PAIRS: list[tuple[type[msgspec.Struct], type[BaseModel]]] = [
    (fastwire.Event, WireEvent),
    (fastwire.Anchor, Anchor),
    (fastwire.DropRange, DropRange),
    (fastwire.Batch, Batch),
]


@pytest.mark.parametrize(("struct", "model"), PAIRS, ids=[m.__name__ for _, m in PAIRS])
def test_structs_have_the_models_fields(
    struct: type[msgspec.Struct], model: type[BaseModel]
) -> None:
    fields = {f.name: f for f in msgspec.structs.fields(struct)}
    assert set(fields) == set(model.model_fields)
    required = {n for n, f in fields.items() if f.required}
    assert required == {n for n, f in model.model_fields.items() if f.is_required()}


# -- valid batches take the fast path ------------------------------------------------------
@SLOW
@given(data=st.data(), n=st.integers(1, 12), gzipped=st.booleans())
def test_valid_batches_take_the_fast_path_with_the_same_records(
    data: st.DataObject, n: int, gzipped: bool
) -> None:
    events = [data.draw(valid_event(seq)) for seq in range(1, n + 1)]
    payload = batch(events)
    assert check(gzip.compress(payload) if gzipped else payload) == "fast"


def test_the_load_generators_batches_take_the_fast_path() -> None:
    for payload, ctype in make_batches(DEVICE, 3, 500):
        assert check(payload, content_type=ctype) == "fast"


@pytest.mark.parametrize(("what", "at", "over"), EDGES, ids=[e[0] for e in EDGES])
def test_limits_at_and_over_the_edge(what: str, at: dict[str, Any], over: dict[str, Any]) -> None:
    assert check(one_batch(**at)) == "fast"
    assert check(one_batch(**over)) == "fallback"


# -- invalid input: refused, so that the pydantic path quarantines it ----------------------
@SLOW
@given(data=st.data(), n=st.integers(1, 8))
def test_mixed_batches_never_differ(data: st.DataObject, n: int) -> None:
    items: list[Any] = []
    for seq in range(1, n + 1):
        if data.draw(st.booleans(), label=f"valid {seq}"):
            items.append(data.draw(valid_event(seq)))
        else:
            items.append(data.draw(invalid_item(seq, n))[0])
    check(batch(items))


@pytest.mark.parametrize(
    ("field", "value"), SURE_INVALID, ids=[plain_id(f"{f}={v!r:.20}") for f, v in SURE_INVALID]
)
def test_each_invalid_field_falls_back(field: str, value: Any) -> None:
    ev = json.loads(one_batch())["events"][0]
    assert check(batch([ev])) == "fast"
    ev[field] = 2 if (field, value) == ("seq", 10**6) else value  # 2: outside 1..1
    assert check(batch([ev])) == "fallback"


@pytest.mark.parametrize(
    ("field", "value"), ENVELOPE_BREAKERS, ids=[f for f, _ in ENVELOPE_BREAKERS]
)
def test_each_broken_envelope_falls_back(field: str, value: Any) -> None:
    doc = json.loads(one_batch())
    doc[field] = value
    if field == "first_seq" and value == 5:
        doc["last_seq"] = 4
    assert check(encode(doc)) == "fallback"


@FAST
@given(doc=json_values)
def test_arbitrary_json_never_differs(doc: Any) -> None:
    check(encode(doc))
    check(batch([doc]))


@pytest.mark.parametrize("number", NUMBERS.values(), ids=NUMBERS.keys())
def test_huge_and_odd_numbers(number: bytes) -> None:
    for field in (b'"sent_mono": 50000', b'"ts": 1773480000000', b'"seq": 1', b'"mono": 1'):
        body = one_batch(mono=1)
        assert field in body
        assert check(body.replace(field, field.split(b":")[0] + b": " + number)) == "fallback"


# Numbers pydantic takes (or converts) and the fast path must refuse or keep as they are.
PROPS: list[Any] = [
    2**63 - 1, -(2**63), 2**63, -(2**63) - 1, 2**64, 10**30, 10**300, 1e308, -1e308, 5e-324,
    0.0, -0.0, 1.0, 1, True, False, None, "", "1", 1.5e16,
]  # fmt: skip


@pytest.mark.parametrize("value", PROPS, ids=[repr(p) for p in PROPS])
def test_prop_values(value: Any) -> None:
    verdict = check(one_batch(props={"k": value}))
    if isinstance(value, str | bool) or value is None:
        assert verdict == "fast"
    elif isinstance(value, int) and not -(2**63) <= value < 2**63:
        assert verdict == "fallback"  # pydantic makes it a float: its path decides


def test_equal_but_different_props_in_one_batch() -> None:
    """1, 1.0 and True are one dict key: each event keeps its own JSON (a memo keyed on the
    values alone once gave all three the first one's)."""
    evs = [json.loads(one_batch(props={"k": v}, seq=i + 1))["events"][0]
           for i, v in enumerate([1, 1.0, True, 0.0, -0.0])]  # fmt: skip
    doc = {**header(5), "events": evs}
    assert check(encode(doc)) == "fast"
    out = parse_batch(TOPIC, encode(doc), None, NOW, UTC)
    assert [e.props for e in out.events] == [
        '{"k":1}',
        '{"k":1.0}',
        '{"k":true}',
        '{"k":0.0}',
        '{"k":-0.0}',
    ]


RAW_CASES = {
    # JSON texts a sender might write by hand: each parsed by both paths alike
    "duplicate event field": b'"seq": 1, "seq": 1',
    "duplicate field, first invalid": b'"seq": "x", "seq": 1',
    "int as float": b'"seq": 1.0',
    "int as string": b'"seq": "1"',
    "bool as int": b'"seq": true',
    "exponent": b'"seq": 1e0',
    "negative zero": b'"seq": -0',
    "null optional": b'"seq": 1, "session_id": null',
    "null labels": b'"seq": 1, "labels": null',
    "surrogate pair": b'"seq": 1, "labels": {"k": "\\ud83d\\ude00"}',
    "lone surrogate": b'"seq": 1, "labels": {"k": "\\ud800"}',
    "duplicate label keys": b'"seq": 1, "labels": {"a": "1", "a": "2"}',
}


@pytest.mark.parametrize("text", RAW_CASES.values(), ids=RAW_CASES.keys())
def test_hand_written_json(text: bytes) -> None:
    body = one_batch()
    assert b'"seq": 1' in body
    check(body.replace(b'"seq": 1', text, 1))


# A final newline: Python's `$` matches before it, pydantic-core's does not.
NEWLINES = [("id", str(uuid.UUID(int=1)) + "\n"), ("kind", "feature_use\n"),
            ("feature", "f\n"), ("device_type", "t\n"), ("firmware_version", "1\n"),
            ("account_id", "a\n"), ("session_id", "s\n"), ("user_id", "u\n"),
            ("boot", "boot-a\n")]  # fmt: skip


@pytest.mark.parametrize(("field", "value"), NEWLINES, ids=[f for f, _ in NEWLINES])
def test_a_final_newline_falls_back(field: str, value: str) -> None:
    assert check(one_batch(**{field: value, "mono": 1})) == "fallback"
    assert check(one_batch(**{field: value.strip(), "mono": 1})) == "fast"


@pytest.mark.parametrize("field", ["stream_id", "device_id", "boot"])
def test_a_final_newline_in_the_envelope_falls_back(field: str) -> None:
    ev = json.loads(one_batch())["events"][0]
    doc = {**header(1), "events": [ev]}
    doc[field] += "\n"
    assert check(encode(doc)) == "fallback"


MISSING = ["id", "seq", "kind", "ts", "device_type", "firmware_version", "account_id", "feature"]


@pytest.mark.parametrize("field", MISSING)
def test_a_missing_field_falls_back(field: str) -> None:
    ev = json.loads(one_batch())["events"][0]  # a feature_use: its feature is required
    del ev[field]
    assert check(batch([ev])) == "fallback"


def test_envelope_forms() -> None:
    body = one_batch()
    assert check(body.replace(b'"v": 1, ', b"")) == "fast"  # v defaults to 1
    for v in (b"1.0", b"true", b"2", b'"1"'):
        assert check(body.replace(b'"v": 1', b'"v": ' + v)) == "fallback"
    assert check(b"\xef\xbb\xbf" + body) == "fallback"  # a byte-order mark
    assert check(b" \n" + body + b"\n ") == "fast"
    assert check(body + b"x") == "fallback"
    dup = body.replace(b'"events": [', b'"events": [], "events": [', 1)
    check(dup)


def test_spoofed_too_many_and_bad_topic_fall_back() -> None:
    ev = json.loads(one_batch())["events"][0]
    assert check(encode({**header(1, device_id="gw-2"), "events": [ev]})) == "fallback"
    evs = [{**ev, "id": str(uuid.UUID(int=i + 1)), "seq": i + 1}
           for i in range(L.MAX_EVENTS_PER_BATCH + 1)]  # fmt: skip
    assert check(encode({**header(len(evs)), "events": evs})) == "fallback"
    assert check(one_batch(), topic="pes/v1/dev/a b/events") == "fallback"


# -- clocks: every method, and the events no clock can place ------------------------------
CLOCKS: list[tuple[str, dict[str, Any], dict[str, Any], Verdict]] = [
    # (what, event fields, header fields, verdict)
    ("wall", {}, {}, "fast"),
    ("receive", {"ts": 0, "mono": 40_000, "boot": "boot-a"}, {}, "fast"),
    ("anchor", {"ts": 0, "mono": 5, "boot": "boot-b"},
     {"anchors": [{"boot": "boot-b", "mono": 1, "true_ms": NOW - 3_600_000}]}, "fast"),
    ("anchor agrees with wall", {"mono": 5, "boot": "boot-b"},
     {"anchors": [{"boot": "boot-b", "mono": 5, "true_ms": NOW}]}, "fast"),
    # At and just past the agreement window (shared.clock.AGREE_MS): the wall clock, then the
    # anchor's time (the fast path inlines shared.clock.correct: its edges must match).
    ("anchor agrees at the edge", {"ts": NOW, "mono": 5, "boot": "boot-b"},
     {"anchors": [{"boot": "boot-b", "mono": 5, "true_ms": NOW - AGREE_MS}]}, "fast"),
    ("anchor just past the edge", {"ts": NOW, "mono": 5, "boot": "boot-b"},
     {"anchors": [{"boot": "boot-b", "mono": 5, "true_ms": NOW - AGREE_MS - 1}]}, "fast"),
    ("anchor agrees at the late edge", {"ts": NOW, "mono": 5, "boot": "boot-b"},
     {"anchors": [{"boot": "boot-b", "mono": 5, "true_ms": NOW + AGREE_MS}]}, "fast"),
    ("anchor past the edge, late", {"ts": NOW, "mono": 5, "boot": "boot-b"},
     {"anchors": [{"boot": "boot-b", "mono": 5, "true_ms": NOW + AGREE_MS + 1}]}, "fast"),
    ("duplicate anchors", {"ts": 0, "mono": 5, "boot": "boot-b"},
     {"anchors": [{"boot": "boot-b", "mono": 1, "true_ms": NOW - 9_000_000},
                  {"boot": "boot-b", "mono": 1, "true_ms": NOW - 3_600_000}]}, "fast"),
    ("unknown boot, bad wall", {"ts": 0, "mono": 5, "boot": "boot-z"}, {}, "fallback"),
    ("anchor in the future", {"ts": 0, "mono": 5, "boot": "boot-b"},
     {"anchors": [{"boot": "boot-b", "mono": 1, "true_ms": NOW + 10**9}]}, "fallback"),
    ("mono without boot", {"ts": 0, "mono": 5}, {}, "fallback"),
    ("anchor with a bad boot", {}, {"anchors": [{"boot": "b b", "mono": 1, "true_ms": 1}]},
     "fallback"),
    ("drops", {}, {"drops": [{"first_seq": 1, "last_seq": 1, "reason": "buffer_full"}]}, "fast"),
    ("drop with a bad reason", {}, {"drops": [{"first_seq": 1, "last_seq": 1, "reason": "Full"}]},
     "fallback"),
    ("reversed drop", {}, {"drops": [{"first_seq": 2, "last_seq": 1, "reason": "x"}]},
     "fallback"),
    ("too many dropped", {},
     {"drops": [{"first_seq": 1, "last_seq": 2**32, "reason": "x"},
                {"first_seq": 1, "last_seq": 1, "reason": "x"}]}, "fallback"),
]  # fmt: skip


@pytest.mark.parametrize(("what", "ev", "head", "verdict"), CLOCKS, ids=[c[0] for c in CLOCKS])
def test_clock_fields(what: str, ev: dict[str, Any], head: dict[str, Any], verdict: str) -> None:
    event = {**json.loads(one_batch())["events"][0], **ev}
    assert check(encode({**header(1, **head), "events": [event]})) == verdict
