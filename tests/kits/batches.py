"""Agents' batches for the collector's parser tests (tests/unit/collector/ingest): hypothesis
strategies for valid and invalid events, and the hostile corpora (each limit at and over its
edge, envelope breakers, odd numbers) that the hostile tests and the fast-path parity test
share."""

from __future__ import annotations

import json
import uuid
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

from shared import limits as L
from tests.kits.hostile import (
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
NOW = 1_773_480_000_000  # 2026-03-14T09:20:00Z, the collector's receive time
DEVICE = "gw-1"
TOPIC = f"pes/v1/dev/{DEVICE}/events"

# -- strategies ----------------------------------------------------------------------------
plausible_ts = st.one_of(
    st.sampled_from([L.MIN_PLAUSIBLE_MS, NOW, NOW + L.MAX_FUTURE_SKEW_MS]),
    st.integers(min_value=L.MIN_PLAUSIBLE_MS, max_value=NOW + L.MAX_FUTURE_SKEW_MS),
)


@st.composite
def valid_event(draw: st.DrawFn, seq: int) -> dict[str, Any]:
    kind = draw(st.sampled_from(["feature_use", "session_start", "session_end"]) | kinds)
    ev: dict[str, Any] = {
        "id": str(draw(st.uuids())),
        "seq": seq,
        "kind": kind,
        "ts": draw(plausible_ts),
        "device_type": draw(names),
        "firmware_version": draw(names),
        "account_id": draw(ids),
    }
    if kind == "feature_use" or draw(st.booleans()):
        ev["feature"] = draw(names)
    for key in ("session_id", "user_id"):
        if draw(st.booleans()):
            ev[key] = draw(ids)
    # A few of each (full sets are tested at the limit below: they make examples slow).
    ev["labels"] = draw(st.dictionaries(keys, label_values, max_size=4))
    ev["props"] = draw(st.dictionaries(keys, prop_values, max_size=4))
    return ev


def _many(n: int, value: Any = "v") -> dict[str, Any]:
    return {f"k{i}": value for i in range(n)}


# (field, value): each makes any event invalid, whatever the rest of it.
SURE_INVALID: list[tuple[str, Any]] = [
    ("zz_unknown_field", 1),
    ("id", None), ("id", ""), ("id", "not-a-uuid"), ("id", 7),
    ("id", "0190A000-0000-7000-8000-00000000000A"),
    ("seq", 0), ("seq", -1), ("seq", 2**53 + 1), ("seq", None), ("seq", "one"), ("seq", 10**6),
    ("kind", ""), ("kind", "Feature"), ("kind", "k" * 33), ("kind", None), ("kind", "a-b"),
    ("ts", -1), ("ts", 2**53 + 1), ("ts", None), ("ts", 1.5), ("ts", 0),
    ("ts", L.MIN_PLAUSIBLE_MS - 1), ("ts", NOW + L.MAX_FUTURE_SKEW_MS + 1), ("ts", 10**30),
    ("device_type", ""), ("device_type", "x" * 65), ("device_type", "a\nb"),
    ("device_type", "\ud800"), ("device_type", "é"), ("device_type", " lead"),
    ("firmware_version", None), ("account_id", "a/b"), ("account_id", "x" * 65),
    ("session_id", "a b"), ("user_id", "x" * 65), ("user_id", 5),
    ("mono", -1), ("mono", "x"), ("boot", "b" * 65),
    ("labels", _many(L.MAX_LABELS + 1)), ("labels", {"": "v"}), ("labels", {"k" * 33: "v"}),
    ("labels", {"k": "v" * 129}), ("labels", {"k": 1}), ("labels", {"k": None}),
    ("labels", {"k": "\ud800"}), ("labels", {"\udc00": "v"}), ("labels", []), ("labels", "s"),
    ("props", _many(L.MAX_PROPS + 1, 1)), ("props", {"k": [1]}), ("props", {"k": {"a": 1}}),
    ("props", {"k": float("nan")}), ("props", {"k": float("inf")}), ("props", {"k": "v" * 129}),
    ("props", {"k" * 33: 1}), ("labels", None), ("props", None),
]  # fmt: skip


@st.composite
def invalid_item(draw: st.DrawFn, seq: int, last_seq: int) -> tuple[Any, bool]:
    """(item, sure): `sure` when the item is invalid for certain; otherwise it may even be a
    valid event by accident (a random field replaced by a random JSON value)."""
    choice = draw(st.integers(0, 3))
    if choice == 0:
        field, value = draw(st.sampled_from(SURE_INVALID))
        ev = draw(valid_event(seq))
        if field == "seq" and value == 10**6:
            value = last_seq + 1  # outside the batch's range
        ev[field] = value
        return ev, True
    if choice == 1:
        ev = draw(valid_event(seq))
        if ev["kind"] == "feature_use":
            del ev["feature"]
        else:
            del ev[draw(st.sampled_from(["id", "seq", "ts", "device_type", "account_id"]))]
        return ev, True
    if choice == 2:
        return draw(st.one_of(json_scalars, st.lists(json_values, max_size=3))), True
    ev = draw(valid_event(seq))
    ev[draw(st.sampled_from(sorted(ev)))] = draw(json_values)
    return ev, False


def header(n: int, **over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "v": 1, "device_id": DEVICE, "stream_id": "s-1", "first_seq": 1, "last_seq": max(n, 1),
        "sent_ms": NOW, "sent_mono": 50_000, "boot": "boot-a",
    }  # fmt: skip
    doc.update(over)
    return doc


def encode(doc: Any) -> bytes:
    """As a hostile sender would: lone surrogates escaped, NaN and Infinity allowed."""
    return json.dumps(doc, ensure_ascii=True, allow_nan=True).encode()


ENVELOPE_BREAKERS: list[tuple[str, Any]] = [
    ("v", 2), ("v", "1"), ("device_id", ""), ("device_id", "a/b"), ("device_id", "x" * 65),
    ("device_id", None), ("stream_id", "s s"), ("first_seq", 0), ("last_seq", 0),
    ("first_seq", 5), ("sent_ms", -1), ("sent_ms", 2**53 + 1), ("sent_mono", "x"),
    ("boot", ""), ("anchors", [{"boot": "b", "mono": 1, "true_ms": NOW}] * 9),
    ("anchors", [{"boot": "b"}]), ("drops", [{"first_seq": 1, "last_seq": 1, "reason": "x"}] * 65),
    ("drops", "none"), ("events", None), ("events", {"0": {}}), ("zz_unknown", 1),
]  # fmt: skip


def one_batch(**event_over: Any) -> bytes:
    ev = {
        "id": str(uuid.UUID(int=1)), "seq": 1, "kind": "feature_use", "feature": "f",
        "ts": NOW, "device_type": "t", "firmware_version": "1", "account_id": "a",
    }  # fmt: skip
    ev.update(event_over)
    return encode({**header(1), "events": [ev]})


EDGES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    # (what, at the limit: accepted, one over: rejected)
    ("labels", {"labels": _many(L.MAX_LABELS)}, {"labels": _many(L.MAX_LABELS + 1)}),
    ("props", {"props": _many(L.MAX_PROPS, 1)}, {"props": _many(L.MAX_PROPS + 1, 1)}),
    ("key", {"labels": {"k" * L.MAX_KEY_LEN: "v"}}, {"labels": {"k" * 33: "v"}}),
    ("value", {"labels": {"k": "v" * L.MAX_VALUE_LEN}}, {"labels": {"k": "v" * 129}}),
    ("prop value", {"props": {"k": "v" * L.MAX_VALUE_LEN}}, {"props": {"k": "v" * 129}}),
    ("unicode value", {"labels": {"k": "é" * 128}}, {"labels": {"k": "é" * 129}}),
    ("id", {"account_id": "a" * L.MAX_ID_LEN}, {"account_id": "a" * 65}),
    ("name", {"device_type": "t" * L.MAX_NAME_LEN}, {"device_type": "t" * 65}),
    ("kind", {"kind": "k" * 32}, {"kind": "k" * 33}),
    ("oldest ts", {"ts": L.MIN_PLAUSIBLE_MS}, {"ts": L.MIN_PLAUSIBLE_MS - 1}),
    ("newest ts", {"ts": NOW + L.MAX_FUTURE_SKEW_MS}, {"ts": NOW + L.MAX_FUTURE_SKEW_MS + 1}),
    ("int prop", {"props": {"k": 2**63 - 1}}, {"props": {"k": float("inf")}}),
    ("mono", {"mono": 2**53}, {"mono": 2**53 + 1}),
]  # fmt: skip


NUMBERS = {
    "4300 digits": b"1" * 4300,  # the most Python's int() reads from text
    "4301 digits": b"1" * 4301,
    "100000 digits": b"1" * 100_000,
    "1e400": b"1e400",
    "-1e400": b"-1e400",
    "NaN": b"NaN",
    "-Infinity": b"-Infinity",
}
