import gzip

import pytest

from shared import codec
from shared import limits as L
from shared.errors import InvalidPayload


def test_small_payload_stays_plain_json() -> None:
    payload, ctype = codec.encode({"a": 1})
    assert ctype == codec.CONTENT_JSON
    assert codec.decode(payload, ctype) == {"a": 1}


def test_large_repetitive_payload_is_gzipped_and_round_trips() -> None:
    doc = {"events": [{"kind": "feature_use", "feature": "calibrate"}] * 200}
    payload, ctype = codec.encode(doc)
    assert ctype == codec.CONTENT_GZIP_JSON
    assert len(payload) < len(codec.dumps(doc)) / 5
    assert codec.decode(payload, ctype) == doc
    assert codec.decode(payload, None) == doc  # sniffed by the gzip magic


def test_oversized_payload_is_rejected_with_reason() -> None:
    with pytest.raises(InvalidPayload) as err:
        codec.decode(b" " * (L.MAX_PAYLOAD_BYTES + 1))
    assert err.value.reason == "too_large"


def test_gzip_bomb_is_rejected_without_inflating_it_all() -> None:
    bomb = gzip.compress(b"0" * (L.MAX_DECOMPRESSED_BYTES * 4))
    assert len(bomb) < L.MAX_PAYLOAD_BYTES
    with pytest.raises(InvalidPayload) as err:
        codec.decode(bomb, codec.CONTENT_GZIP_JSON)
    assert err.value.reason == "too_large"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [(b"{not json", "bad_json"), (b"\xff\xfe", "bad_json"), (b"\x1f\x8bxx", "bad_gzip")],
)
def test_garbage_gets_a_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(InvalidPayload) as err:
        codec.decode(payload)
    assert err.value.reason == reason


def test_deep_nesting_is_a_bad_json_not_a_crash() -> None:
    with pytest.raises(InvalidPayload):
        codec.decode(b"[" * 100_000 + b"]" * 100_000)
