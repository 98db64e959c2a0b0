"""The agent's side of the wire contract, in msgspec rather than pydantic (a gateway process
without pydantic is ~8 MB smaller and validates an event in a fraction of the time).

One source of truth: shared/models.py (pydantic, with shared/wire-schema.json generated from
it) is the contract. Everything here is derived from the same shared/limits.py constants, and
tests/unit/agent/test_wire_equivalence.py proves that these types and shared's models
accept and refuse the same inputs (a corpus generated from shared/wire-schema.json, and
hypothesis). Change the contract in shared/ first; that test then says what to change here.

Validation is strict (no "123" for an integer), like pydantic's strict mode, which is what the
equivalence test compares against: JSON that says what it means.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

import msgspec
from msgspec import Meta, Struct

from shared import limits as L


def full_match(pattern: str) -> str:
    """A shared.limits pattern (`^...$`) for Python's re, which msgspec uses: there `$` also
    matches before a final newline, pydantic-core's `$` does not; `\\Z` does not either."""
    assert pattern.endswith("$")
    return pattern[:-1] + r"\Z"


Id = Annotated[str, Meta(pattern=full_match(L.ID_PATTERN), max_length=L.MAX_ID_LEN)]
Name = Annotated[str, Meta(pattern=full_match(L.NAME_PATTERN), max_length=L.MAX_NAME_LEN)]
Kind = Annotated[str, Meta(pattern=full_match(L.KIND_PATTERN))]
Key = Annotated[str, Meta(min_length=1, max_length=L.MAX_KEY_LEN)]
Value = Annotated[str, Meta(max_length=L.MAX_VALUE_LEN)]
Millis = Annotated[int, Meta(ge=0, le=2**53)]
Seq = Annotated[int, Meta(ge=1, le=2**53)]
Count = Annotated[int, Meta(ge=0)]
# A property value: checked further by check_props (strings' length, finite numbers, ints
# beyond 64 bits become floats: what shared.models.PropValue does).
PropValue = str | int | float | bool | None
Labels = Annotated[dict[Key, Value], Meta(max_length=L.MAX_LABELS)]
Props = Annotated[dict[Key, PropValue], Meta(max_length=L.MAX_PROPS)]
INT64 = (-(2**63), 2**63 - 1)


class EventFields(Struct, forbid_unknown_fields=True, omit_defaults=True):
    """What a caller may say about an event (the socket's JSON lines have these keys)."""

    kind: Kind
    feature: Name | None = None
    session_id: Id | None = None
    user_id: Id | None = None
    ts: Millis | None = None  # ms since the epoch; default now
    labels: Labels | None = None
    props: Props | None = None
    device_type: Name | None = None
    firmware_version: Name | None = None
    account_id: Id | None = None


# The fast path (agent/events.py): the same fields without the patterns (Python's re, run by
# msgspec for every string, cost ~1 us of ~1.5 per event) and with property values bounded in
# the type; the patterns are then checked in Python against memos of names already seen (a
# gateway's kinds, features and users repeat). Whatever this path refuses goes through
# EventFields itself, so the verdict is EventFields' (and the error message its).
_Str64 = Annotated[str, Meta(max_length=64)]
_FastProp = (
    Annotated[str, Meta(max_length=L.MAX_VALUE_LEN)]
    | Annotated[int, Meta(ge=INT64[0], le=INT64[1])]
    | float
    | bool
    | None
)


class FastFields(EventFields, forbid_unknown_fields=True, omit_defaults=True):
    kind: _Str64
    feature: _Str64 | None = None
    session_id: _Str64 | None = None
    user_id: _Str64 | None = None
    props: Annotated[dict[Key, _FastProp], Meta(max_length=L.MAX_PROPS)] | None = None
    device_type: _Str64 | None = None
    firmware_version: _Str64 | None = None
    account_id: _Str64 | None = None


_ID_RX = re.compile(full_match(L.ID_PATTERN))
_NAME_RX = re.compile(full_match(L.NAME_PATTERN))
_KIND_RX = re.compile(full_match(L.KIND_PATTERN))
_IDS: set[str] = set()
_NAMES: set[str] = set()
_KINDS: set[str] = set()
MEMO_MAX = 4096


def _seen(value: str, rx: re.Pattern[str], memo: set[str]) -> bool:
    if rx.match(value) is None:
        return False
    if len(memo) >= MEMO_MAX:
        memo.clear()
    memo.add(value)
    return True


def names_ok(f: EventFields) -> bool:
    """The patterns of EventFields' names and ids, for a FastFields (False: one fails).
    Field by field rather than loops over tuples of them: this runs for every socket line and
    record_many() event, and the usual event has no identity override (half the cost)."""
    kind = f.kind
    if kind not in _KINDS and not _seen(kind, _KIND_RX, _KINDS):
        return False
    v: str | None = f.feature
    if v is not None and v not in _NAMES and not _seen(v, _NAME_RX, _NAMES):
        return False
    v = f.user_id
    if v is not None and v not in _IDS and not _seen(v, _ID_RX, _IDS):
        return False
    v = f.session_id
    if v is not None and v not in _IDS and not _seen(v, _ID_RX, _IDS):
        return False
    if f.device_type is None and f.firmware_version is None and f.account_id is None:
        return True
    for name in (f.device_type, f.firmware_version):
        if name is not None and name not in _NAMES and not _seen(name, _NAME_RX, _NAMES):
            return False
    v = f.account_id
    return v is None or v in _IDS or _seen(v, _ID_RX, _IDS)


def known(kind: object, feature: object, session_id: object, user_id: object) -> bool:
    """All given (not None) are str already seen to match their patterns (memos of names_ok):
    record()'s lean path, which skips building fields for msgspec. False only means "not
    known", the full path then decides. Exact str only (a subclass could format itself
    differently from the value that was checked)."""
    return (
        kind.__class__ is str
        and kind in _KINDS
        and (feature is None or (feature.__class__ is str and feature in _NAMES))
        and (user_id is None or (user_id.__class__ is str and user_id in _IDS))
        and (session_id is None or (session_id.__class__ is str and session_id in _IDS))
    )


def lean_props(props: object) -> bool:
    """`props` is a plain dict FastFields would accept as it is (so its encoding is what the
    full path would store): keys str of 1..MAX_KEY_LEN, values str within MAX_VALUE_LEN,
    64-bit ints, finite floats, bools or None. False: let the full path decide."""
    if props.__class__ is not dict:
        return False
    assert isinstance(props, dict)  # for mypy: the exact-class test above says so
    if len(props) > L.MAX_PROPS:
        return False
    for key, value in props.items():
        if key.__class__ is not str or not 0 < len(key) <= L.MAX_KEY_LEN:
            return False
        cls = value.__class__
        if cls is str:
            if len(value) > L.MAX_VALUE_LEN:
                return False
        elif cls is int:
            if not INT64[0] <= value <= INT64[1]:
                return False
        elif cls is float:
            if not math.isfinite(value):
                return False
        elif cls is not bool and value is not None:
            return False
    return True


class Ack(Struct, forbid_unknown_fields=True):
    """shared.models.Ack: sent by the collector after the commit that stored a batch."""

    stream_id: Id
    first_seq: Seq
    last_seq: Seq
    stored: Count
    duplicates: Count
    quarantined: Count
    collector_ms: Millis
    # The contract's Literal[1]: pydantic takes 1, 1.0 and true for it (they equal 1).
    v: bool | int | float = 1

    def __post_init__(self) -> None:
        if self.v != 1:
            raise ValueError("v: only version 1 is known")


def check_props(props: dict[str, Any]) -> dict[str, Any]:
    """The value rules msgspec's types do not say (shared.models.PropValue); raises ValueError."""
    out = props
    for key, value in props.items():
        if isinstance(value, str):
            if len(value) > L.MAX_VALUE_LEN:
                raise ValueError(f"props.{key}: longer than {L.MAX_VALUE_LEN} characters")
        elif isinstance(value, bool) or value is None:
            pass
        elif isinstance(value, int):
            if not INT64[0] <= value <= INT64[1]:
                as_float = float(value) if abs(value) < 2**1024 else math.inf
                if not math.isfinite(as_float):
                    raise ValueError(f"props.{key}: number out of range")
                if out is props:
                    out = dict(props)
                out[key] = as_float
        elif isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"props.{key}: not a finite number")
    return out


def finite(props: dict[str, Any]) -> bool:
    """No float property is inf or nan (FastFields' props: the one rule its types leave)."""
    for value in props.values():
        if value.__class__ is float and not math.isfinite(value):
            return False
    return True


_ACK = msgspec.json.Decoder(Ack)


def decode_ack(raw: bytes) -> Ack:
    """An ack's JSON (already inflated); msgspec.ValidationError / DecodeError if it is not one."""
    return _ACK.decode(raw)


encode = msgspec.json.Encoder().encode
