"""One source of truth for the wire contract: the agent validates with msgspec (agent/wire.py),
the contract is shared/'s pydantic models. This proves both accept and refuse the same inputs:

- a corpus generated from shared/wire-schema.json (the schema made from the pydantic models):
  for every field an event's caller may give, and every field of an Ack, values on each side of
  each constraint the schema states (lengths, patterns, bounds, counts, types);
- hypothesis: events and acks assembled from valid, nearly valid and hostile values.

An event is "accepted" by the agent when check_json + Factory.build make it (the socket path)
and by the contract when shared.models.WireEvent accepts the event the caller's fields describe
(strict: JSON that says what it means). An ack: agent.wire.decode_ack vs shared.models.Ack.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from agent.errors import InvalidEvent
from agent.events import Factory, check_json, check_json_lines, check_python
from agent.settings import AgentSettings
from agent.wire import decode_ack, known, lean_props
from shared.models import Ack, WireEvent
from shared.schema import SCHEMA_PATH
from tests.kits.hostile import FAST, hostile_text, ids, json_values, kinds, names, prop_values
from tests.kits.ids import plain_id

SCHEMA = json.loads(Path(SCHEMA_PATH).read_text())["$defs"]
CALLER_KEYS = ["kind", "feature", "session_id", "user_id", "ts", "labels", "props",
               "device_type", "firmware_version", "account_id"]  # fmt: skip
EVENT_ID = "019a7c3e-5c1d-7a2b-9f10-3c5d6e7f8091"
NOW = 1_800_000_000_000
SETTINGS = AgentSettings(device_id="gw-1", device_type="press-x", firmware_version="2.0",
                         account_id="acme", buffer_path=Path("/nonexistent/b.db"))  # fmt: skip
FACTORY = Factory(SETTINGS)
WRONG_TYPES: list[Any] = [None, True, 0, -1, 1.5, "x", [], {}, [1], {"a": 1}]


# -- the contract's verdict -----------------------------------------------------------------
def contract_accepts_event(raw: bytes) -> bool:
    """Does shared.models.WireEvent accept the event these caller fields describe? Fields the
    caller leaves out (or gives as null) are the agent's: its ids, clock and identity."""
    try:
        doc = json.loads(raw)
    except ValueError:
        return False
    if not isinstance(doc, dict) or set(doc) - set(CALLER_KEYS) or doc.get("kind") is None:
        return False
    event: dict[str, Any] = {"id": EVENT_ID, "seq": 1, "ts": NOW, "device_type": "press-x",
                             "firmware_version": "2.0", "account_id": "acme"}  # fmt: skip
    event |= {k: v for k, v in doc.items() if v is not None}
    try:
        WireEvent.model_validate_json(json.dumps(event), strict=True)
    except ValidationError:
        return False
    return True


def agent_accepts_event(raw: bytes) -> bool:
    """The socket's verdict, by both of its paths (many lines in one go, and line by line)."""
    try:
        FACTORY.build(check_json(raw))
        one = True
    except InvalidEvent:
        one = False
    (fields,) = check_json_lines([raw, b'{"kind":"x"}'])[:1]
    many = not isinstance(fields, str)
    if not isinstance(fields, str):
        try:
            FACTORY.build(fields)
        except InvalidEvent:
            many = False
    if has_repeated_keys(raw):  # see assert_same_event_verdict: either may be stricter
        return one and many
    assert one == many, raw
    return one


def has_repeated_keys(raw: bytes) -> bool:
    repeated = False

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal repeated
        repeated = repeated or len({k for k, _ in items}) < len(items)
        return dict(items)

    try:
        json.loads(raw, object_pairs_hook=pairs)
    except ValueError:
        return False
    return repeated


def assert_same_event_verdict(raw: bytes) -> None:
    if has_repeated_keys(raw):
        # The one known difference: with a key given twice, pydantic reads only the last
        # occurrence, msgspec checks every one (and keeps the last). Stricter, never laxer.
        assert not agent_accepts_event(raw) or contract_accepts_event(raw), raw[:300]
        return
    assert agent_accepts_event(raw) == contract_accepts_event(raw), raw[:300]


def contract_accepts_ack(raw: bytes) -> bool:
    try:
        Ack.model_validate_json(raw, strict=True)
    except ValidationError:
        return False
    return True


def agent_accepts_ack(raw: bytes) -> bool:
    try:
        decode_ack(raw)
    except Exception:  # msgspec's DecodeError / ValidationError: the agent ignores that ack
        return False
    return True


# -- values from the schema -------------------------------------------------------------------
CANDIDATES = ["a", "A1", "calibrate", "feature_use", "session_start", "x_1", "a.b:c-d",
              "x/y +z", "u:42", "s-1", "0", "9z", "é", "a b", " a", "a\n", "a\t", "-a", ".a",
              "a" * 31, "a" * 32, "a" * 33, "Z" * 63, "Z" * 64, "Z" * 65, "", "A", "a/b",
              "a\u2028", "ab$", "a\x00"]  # fmt: skip


def string_values(schema: dict[str, Any]) -> list[Any]:
    out: list[Any] = list(CANDIDATES)
    n = schema.get("maxLength")
    if n is not None:
        out += ["a" * n, "a" * (n + 1), "é" * n, "é" * (n + 1)]
    if (m := schema.get("minLength")) is not None:
        out += ["a" * m, "a" * max(0, m - 1)]
    if (pattern := schema.get("pattern")) is not None:
        good = [c for c in out if isinstance(c, str) and re.fullmatch(pattern[1:-1], c)]
        out += [g + "\n" for g in good[:3]] + [g + " " for g in good[:3]]
    return out


def number_values(schema: dict[str, Any]) -> list[Any]:
    out: list[Any] = [0, 1, -1, 1.0, 0.5, "1", True, 2**53, 2**63, 10**30, 1e300, -1e300]
    for bound in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        if (b := schema.get(bound)) is not None:
            out += [b - 1, b, b + 1, float(b)]
    return out


def values_for(schema: dict[str, Any]) -> list[Any]:
    """Values on both sides of every constraint `schema` states, plus every JSON type."""
    if "anyOf" in schema:
        return [v for sub in schema["anyOf"] for v in values_for(sub)] + WRONG_TYPES
    if "$ref" in schema:
        return values_for(SCHEMA[schema["$ref"].rsplit("/", 1)[1]])
    kind = schema.get("type")
    if kind == "string":
        return string_values(schema) + WRONG_TYPES
    if kind in ("integer", "number"):
        return number_values(schema) + WRONG_TYPES
    if kind == "object":
        return object_values(schema) + WRONG_TYPES
    if kind == "boolean":
        return [True, False, 0, 1, "true"]
    if kind == "null":
        return [None]
    return list(WRONG_TYPES)


def object_values(schema: dict[str, Any]) -> list[Any]:
    names_ = schema.get("propertyNames", {})
    keys = [k for k in string_values({**names_, "type": "string"}) if isinstance(k, str)]
    value_schema = schema.get("additionalProperties", {})
    values = values_for(value_schema) if value_schema else WRONG_TYPES
    out: list[Any] = [{}]
    out += [{k: "v"} for k in keys]
    out += [{"k": v} for v in values]
    if (n := schema.get("maxProperties")) is not None:
        out += [{f"k{i}": "v" for i in range(n)}, {f"k{i}": "v" for i in range(n + 1)}]
    return out


def event_corpus() -> list[bytes]:
    props = SCHEMA["WireEvent"]["properties"]
    corpus: list[bytes] = []
    for key in CALLER_KEYS:
        for value in values_for(props[key]):
            base: dict[str, Any] = {"kind": "session_start"}
            corpus.append(json.dumps({**base, key: value}).encode())
            if key != "kind":  # the feature_use rule: with and without a feature
                corpus.append(json.dumps({"kind": "feature_use", key: value}).encode())
    corpus += [b'{"kind":"x","extra":1}', b"{}", b"[]", b'"x"', b"null", b'{"kind":"x"',
               b'{"kind":"x","ts":NaN}', b'{"kind":"x","props":{"a":NaN}}', b"\xff",
               b'{"kind":"x","props":{"a":1e400}}', b'{"kind":"x","ts":1e3}',
               b'{"kind":"x","kind":"Bad"}', b'{"kind":"Bad","kind":"x"}',
               b'{"kind":"x","labels":{"a":"b","a":"' + b"c" * 200 + b'"}}',
               b'{"kind":"x","props":{"a":%d}}' % 10**400,
               b'{"kind":"x","session_id":"\\ud800"}']  # fmt: skip
    return corpus


def ack_corpus() -> list[bytes]:
    ack_schema = SCHEMA["Ack"]
    base = {"v": 1, "stream_id": "s-abc", "first_seq": 1, "last_seq": 10, "stored": 10,
            "duplicates": 0, "quarantined": 0, "collector_ms": NOW}  # fmt: skip
    corpus = [json.dumps(base).encode()]
    for key, schema in ack_schema["properties"].items():
        for value in values_for(schema):
            corpus.append(json.dumps({**base, key: value}).encode())
        corpus.append(json.dumps({k: v for k, v in base.items() if k != key}).encode())
    corpus += [json.dumps({**base, "extra": 1}).encode(), b"[]", b"{", b"\xff"]
    return corpus


def test_the_corpus_covers_every_field_and_both_verdicts() -> None:
    corpus = event_corpus()
    verdicts = [contract_accepts_event(raw) for raw in corpus]
    assert len(corpus) > 800 and 100 < sum(verdicts) < len(corpus) - 100
    assert set(SCHEMA["WireEvent"]["properties"]) >= set(CALLER_KEYS)


@pytest.mark.parametrize(
    "raw", event_corpus(), ids=lambda raw: plain_id(raw.decode(errors="replace")[:60])
)
def test_event_fields_from_the_schema(raw: bytes) -> None:
    assert_same_event_verdict(raw)


@pytest.mark.parametrize(
    "raw", ack_corpus(), ids=lambda raw: plain_id(raw.decode(errors="replace")[:60])
)
def test_ack_from_the_schema(raw: bytes) -> None:
    assert agent_accepts_ack(raw) == contract_accepts_ack(raw), raw


def test_the_python_api_agrees_with_the_socket() -> None:
    for raw in event_corpus():
        try:
            doc = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(doc, dict) or has_repeated_keys(raw):
            continue
        try:
            FACTORY.build(check_python(doc))
            python_ok = True
        except InvalidEvent:
            python_ok = False
        assert python_ok == agent_accepts_event(raw), raw


ANY = st.one_of(json_values, hostile_text)
FIELD_VALUES = {
    "kind": st.one_of(kinds, st.sampled_from(["feature_use", "session_start"]), ANY),
    "feature": st.one_of(names, ANY),
    "session_id": st.one_of(ids, ANY),
    "user_id": st.one_of(ids, ANY),
    "ts": st.one_of(st.integers(-10, 2**54), ANY),
    "labels": st.one_of(
        st.dictionaries(st.text(max_size=34), st.text(max_size=130), max_size=17), ANY
    ),
    "props": st.one_of(st.dictionaries(st.text(max_size=34), prop_values, max_size=17), ANY),
    "device_type": st.one_of(names, ANY),
    "firmware_version": st.one_of(names, ANY),
    "account_id": st.one_of(ids, ANY),
}


@FAST
@given(st.fixed_dictionaries({}, optional=FIELD_VALUES),
       st.dictionaries(st.text(max_size=5), json_values, max_size=1))  # fmt: skip
def test_hypothesis_events(fields: dict[str, Any], extra: dict[str, Any]) -> None:
    assert_same_event_verdict(json.dumps(fields).encode())
    assert_same_event_verdict(json.dumps({**fields, **extra}).encode())


class Name(str):
    """A str subclass: equal to a checked name, but not the plain str lean_body() needs."""


@FAST
@given(
    st.fixed_dictionaries(
        {"kind": st.one_of(kinds, st.just("feature_use"), ANY)},
        optional={key: FIELD_VALUES[key] for key in ("feature", "session_id", "user_id")},
    ),
    st.one_of(
        st.none(),
        st.dictionaries(st.text(max_size=34), prop_values, max_size=17),
        st.dictionaries(st.one_of(st.integers(), st.text(max_size=3)), prop_values, max_size=2),
        ANY,
    ),
    st.booleans(),
)
def test_the_lean_check_takes_only_what_the_full_check_takes(
    fields: dict[str, Any], props: Any, subclass: bool
) -> None:
    """record()'s lean path (wire.known on memos of names already checked, wire.lean_props)
    never lets through what check_python refuses, and stores the props it was given as
    check_python would."""
    for _ in range(2):  # the second time, the names are known if the first check took them
        given_fields = fields if props is None else {**fields, "props": props}
        try:
            checked = check_python(given_fields)
        except InvalidEvent:
            checked = None
        args = [fields.get(k) for k in ("kind", "feature", "session_id", "user_id")]
        if subclass:
            args = [Name(a) if isinstance(a, str) else a for a in args]
        if known(*args) and (props is None or lean_props(props)):
            assert checked is not None, given_fields
            assert not subclass or all(a is None for a in args)
            if props:
                assert checked.props is not None and checked.props == props
                assert [type(v) for v in checked.props.values()] == [
                    type(v) for v in props.values()
                ]


LEAN_PROPS_CASES = [
    ({"k" * 32: 1, "v": "x" * 128, "i": 2**63 - 1, "j": -(2**63), "f": 1.5, "b": True}, True),
    ({f"k{i}": None for i in range(16)}, True),
    ({}, True),
    ({"k" * 33: 1}, False),
    ({"": 1}, False),
    ({"v": "x" * 129}, False),
    ({"i": 2**63}, False),  # the full path stores it as a float
    ({"i": -(2**63) - 1}, False),
    ({"f": float("inf")}, False),
    ({"f": float("nan")}, False),
    ({f"k{i}": None for i in range(17)}, False),
    ({1: 1}, False),
    ({"d": {"x": 1}}, False),
    ({"l": [1]}, False),
    ({"s": Name("x")}, False),
]


@pytest.mark.parametrize(("props", "lean"), LEAN_PROPS_CASES)
def test_lean_props_at_the_bounds(props: dict[Any, Any], lean: bool) -> None:
    assert lean_props(props) is lean
    if lean:
        assert check_python({"kind": "k", "props": props}).props == props
    assert not lean_props(type("D", (dict,), {})(props))  # a dict subclass: the full path


ACK_VALUES = {
    "v": st.one_of(st.just(1), ANY),
    "stream_id": st.one_of(ids, ANY),
    "first_seq": st.one_of(st.integers(-1, 2**54), ANY),
    "last_seq": st.one_of(st.integers(-1, 2**54), ANY),
    "stored": st.one_of(st.integers(-2, 2**70), ANY),
    "duplicates": st.one_of(st.integers(-2, 2**70), ANY),
    "quarantined": st.one_of(st.integers(-2, 2**70), ANY),
    "collector_ms": st.one_of(st.integers(-2, 2**54), ANY),
}


@FAST
@given(st.fixed_dictionaries({}, optional=ACK_VALUES))
def test_hypothesis_acks(ack: dict[str, Any]) -> None:
    raw = json.dumps(ack).encode()
    assert agent_accepts_ack(raw) == contract_accepts_ack(raw), raw
