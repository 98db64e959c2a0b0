import gzip
import random
import string
import tracemalloc
import zlib

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


def test_json_is_compact_utf8() -> None:
    # The agent's and collector's byte counts (batch size limits) assume this form.
    assert codec.dumps({"a": [1, 2], "b": "é✓"}) == '{"a":[1,2],"b":"é✓"}'.encode()


def test_gzip_only_above_1_kib_and_only_when_it_saves_a_fifth() -> None:
    at_limit = b"[" + b"0," * 510 + b"10]"  # 1,024 bytes of very compressible JSON
    assert len(at_limit) == codec.COMPRESS_ABOVE
    assert codec.pack(at_limit) == (at_limit, codec.CONTENT_JSON)
    above = b"[" + b"0," * 512 + b"1]"
    packed, ctype = codec.pack(above)
    assert ctype == codec.CONTENT_GZIP_JSON and codec.inflate(packed, ctype) == above
    assert codec.pack(above, compress=False) == (above, codec.CONTENT_JSON)
    # Random digits compress to about half: gzipped. Random text of 90 printable characters
    # to about 85%: less than a fifth saved, so sent as it is.
    rng = random.Random(1)
    digits = ("[" + ",".join(str(rng.randrange(10)) for _ in range(2000)) + "]").encode()
    assert codec.pack(digits)[1] == codec.CONTENT_GZIP_JSON
    alphabet = [c for c in string.printable[:94] if c not in '"\\']
    text = ('"' + "".join(rng.choice(alphabet) for _ in range(3000)) + '"').encode()
    assert 0.8 < len(gzip.compress(text, 5, mtime=0)) / len(text) < 0.9
    assert codec.pack(text) == (text, codec.CONTENT_JSON)


def test_gzip_output_is_deterministic() -> None:
    # mtime=0: the same document gives the same bytes (resends are byte-identical).
    doc = {"events": [{"kind": "x", "n": i} for i in range(300)]}
    assert codec.encode(doc) == codec.encode(doc)
    assert codec.encode(doc)[0][4:8] == b"\0\0\0\0"  # gzip's MTIME field


def test_payload_size_limit_is_inclusive() -> None:
    at_limit = b'"' + b"x" * (L.MAX_PAYLOAD_BYTES - 2) + b'"'
    assert codec.decode(at_limit) == "x" * (L.MAX_PAYLOAD_BYTES - 2)
    with pytest.raises(InvalidPayload, match=f"{L.MAX_PAYLOAD_BYTES + 1} bytes"):
        codec.decode(at_limit + b" ")


def test_gzip_saving_exactly_a_fifth_is_used() -> None:
    # "At least a fifth": 1,220 bytes of random text (67 symbols) gzip to exactly 976.
    rng = random.Random(97)
    n, k = rng.choice(range(1100, 1600, 5)), rng.randrange(40, 93)
    alphabet = [c for c in string.printable[:94] if c not in '"\\'][:k]
    raw = ('"' + "".join(rng.choice(alphabet) for _ in range(n - 2)) + '"').encode()
    assert (len(raw), len(gzip.compress(raw, 5, mtime=0))) == (1220, 976)
    assert codec.pack(raw)[1] == codec.CONTENT_GZIP_JSON


def test_encode_without_compression_is_plain_json() -> None:
    doc = {"events": [{"kind": "feature_use", "feature": "calibrate"}] * 200}
    assert codec.encode(doc, compress=False) == (codec.dumps(doc), codec.CONTENT_JSON)


def test_only_gzip_is_inflated_not_a_bare_zlib_stream() -> None:
    # The content type says gzip: a zlib (RFC 1950) stream is not that, and is refused.
    with pytest.raises(InvalidPayload) as err:
        codec.decode(zlib.compress(b'{"a":1}'), codec.CONTENT_GZIP_JSON)
    assert err.value.reason == "bad_gzip" and "decompress" in err.value.detail


def test_a_gzip_bomb_is_refused_with_the_limit_and_inflated_only_to_it() -> None:
    bomb = gzip.compress(b"0" * (L.MAX_DECOMPRESSED_BYTES * 4))
    tracemalloc.start()
    try:
        with pytest.raises(InvalidPayload) as err:
            codec.decode(bomb, codec.CONTENT_GZIP_JSON)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert err.value.detail == f"inflates beyond {L.MAX_DECOMPRESSED_BYTES} bytes"
    # At most the limit (plus one byte) is inflated, not the bomb's 16 MiB (zlib's growing
    # output buffer peaks at about twice what it returns).
    assert peak < 3 * L.MAX_DECOMPRESSED_BYTES
