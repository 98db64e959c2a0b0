"""Hostile bytes into shared.codec.decode: it returns a value or raises InvalidPayload with a
known reason, never anything else, and round-trips whatever encode() makes."""

from __future__ import annotations

import gzip
import json
import zlib
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared import codec
from shared import limits as L
from shared.errors import InvalidPayload
from tests.kits.ids import plain_id

FAST = settings(
    max_examples=200,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
REASONS = {"too_large", "bad_gzip", "bad_json"}
CONTENT_TYPES = st.none() | st.sampled_from([codec.CONTENT_JSON, codec.CONTENT_GZIP_JSON, "", "x"])


def decode_or_reason(payload: bytes, content_type: str | None = None) -> tuple[Any, str | None]:
    try:
        return codec.decode(payload, content_type), None
    except InvalidPayload as exc:
        assert exc.reason in REASONS, exc.reason
        return None, exc.reason


@FAST
@given(payload=st.binary(max_size=4096), content_type=CONTENT_TYPES)
def test_arbitrary_bytes(payload: bytes, content_type: str | None) -> None:
    decode_or_reason(payload, content_type)


@FAST
@given(payload=st.binary(max_size=4096), cut=st.integers(0, 64))
def test_gzip_of_arbitrary_bytes_whole_and_truncated(payload: bytes, cut: int) -> None:
    packed = gzip.compress(payload)
    decode_or_reason(packed, codec.CONTENT_GZIP_JSON)
    decode_or_reason(packed[: max(2, len(packed) - cut)])


@FAST
@given(payload=st.binary(min_size=2, max_size=512))
def test_gzip_magic_then_garbage(payload: bytes) -> None:
    decode_or_reason(b"\x1f\x8b" + payload)


# JSON whose text survives a round trip (lone surrogates cannot be UTF-8 encoded).
json_text = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=30)
json_docs = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | json_text,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(json_text, inner, max_size=5),
    max_leaves=30,
)


@FAST
@given(doc=json_docs, compress=st.booleans())
def test_encode_then_decode_round_trips(doc: Any, compress: bool) -> None:
    payload, ctype = codec.encode(doc, compress=compress)
    assert codec.decode(payload, ctype) == doc
    assert codec.decode(payload) == doc  # gzip is recognised by its magic bytes too


@FAST
@given(
    text=st.lists(
        st.sampled_from(["\\ud800", "\\udfff", "\\u0000", "\u202e", "\ufeff", "😀", "\\\\", '\\"']),
        max_size=30,
    ).map("".join)
)
def test_unicode_edge_cases_in_json_strings(text: str) -> None:
    doc, reason = decode_or_reason(f'{{"k": "{text}"}}'.encode())
    assert reason is None and isinstance(doc, dict)


@pytest.mark.parametrize("depth", [1, 100, 900, 1000, 10_000, 500_000])
@pytest.mark.parametrize("bracket", ["[", '{"a":'])
def test_deep_nesting(depth: int, bracket: str) -> None:
    close = "]" if bracket == "[" else "}"
    payload = (bracket * depth + "1" + close * depth).encode()
    if len(payload) > L.MAX_PAYLOAD_BYTES:
        assert decode_or_reason(payload)[1] == "too_large"
        assert decode_or_reason(gzip.compress(payload))[1] in ("bad_json", None)
    else:
        decode_or_reason(payload)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"1" * 4301, "bad_json"),  # beyond Python's int-from-text limit: a ValueError
        (b"[" + b"9" * 100_000 + b"]", "bad_json"),
        (b"1e999", None),  # inf: valid to json.loads, rejected later by the models
        (b"NaN", None),
        (b"\xff\xfe{}", "bad_json"),
        (b"\xef\xbb\xbf{}", None),  # a UTF-8 byte order mark: json.loads skips it
        # A surrogate's UTF-8-style bytes: json.loads reads them ("surrogatepass"); the models
        # then refuse the string (tests/unit/collector/test_hostile_ingest.py).
        (b'"\xed\xa0\x80"', None),
        (b"", "bad_json"),
        (b" " * L.MAX_PAYLOAD_BYTES, "bad_json"),
        (b" " * (L.MAX_PAYLOAD_BYTES + 1), "too_large"),
    ],
    ids=lambda v: v if isinstance(v, str) or v is None else plain_id(repr(v[:12])),
)
def test_specific_hostile_payloads(payload: bytes, reason: str | None) -> None:
    assert decode_or_reason(payload)[1] == reason


def test_inflation_is_bounded_exactly_at_the_limit() -> None:
    at = b"[" + b" " * (L.MAX_DECOMPRESSED_BYTES - 2) + b"]"
    assert decode_or_reason(gzip.compress(at))[0] == []
    over = b"[" + b" " * (L.MAX_DECOMPRESSED_BYTES - 1) + b"]"
    assert decode_or_reason(gzip.compress(over))[1] == "too_large"
    # A bomb: 1 KiB that would inflate to 1 GiB is refused without inflating it all.
    d = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    bomb = d.compress(b"\0" * (64 * 1024 * 1024)) + d.flush()
    assert len(bomb) < L.MAX_PAYLOAD_BYTES
    assert decode_or_reason(bomb)[1] == "too_large"
    assert decode_or_reason(json.dumps({"a": 1}).encode(), codec.CONTENT_GZIP_JSON)[1] == (
        "bad_gzip"
    )
