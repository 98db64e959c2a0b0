"""Bytes on the wire: JSON, gzip-compressed when that pays. MQTT 5's content type says which."""

from __future__ import annotations

import gzip
import json
import zlib
from typing import Any

from shared import limits as L
from shared.errors import InvalidPayload

CONTENT_JSON = "application/json"
CONTENT_GZIP_JSON = "application/json+gzip"
_GZIP_MAGIC = b"\x1f\x8b"
COMPRESS_ABOVE = 1024  # below this gzip's header costs more than it saves


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def encode(obj: Any, *, compress: bool = True) -> tuple[bytes, str]:
    """Return (payload, content type); gzip only if it saves at least a fifth."""
    return pack(dumps(obj), compress=compress)


def pack(raw: bytes, *, compress: bool = True) -> tuple[bytes, str]:
    """The same for JSON the caller has already serialised (e.g. assembled from stored parts)."""
    if compress and len(raw) > COMPRESS_ABOVE:
        packed = gzip.compress(raw, compresslevel=5, mtime=0)
        if len(packed) <= len(raw) * 0.8:
            return packed, CONTENT_GZIP_JSON
    return raw, CONTENT_JSON


def decode(payload: bytes, content_type: str | None = None) -> Any:
    """Parse a payload within the limits; raise InvalidPayload with a reason code otherwise."""
    return loads(inflate(payload, content_type))


def inflate(payload: bytes, content_type: str | None = None) -> bytes:
    """The JSON bytes of a payload: size-checked, and decompressed (bounded) if gzipped."""
    if len(payload) > L.MAX_PAYLOAD_BYTES:
        raise InvalidPayload("too_large", f"{len(payload)} bytes > {L.MAX_PAYLOAD_BYTES}")
    if content_type == CONTENT_GZIP_JSON or payload[:2] == _GZIP_MAGIC:
        return _gunzip(payload)
    return payload


def loads(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError as exc:  # also UnicodeDecodeError, and ints over 4300 digits
        raise InvalidPayload("bad_json", str(exc)[:200]) from exc
    except RecursionError as exc:
        raise InvalidPayload("bad_json", "nested too deeply") from exc


def _gunzip(payload: bytes) -> bytes:
    # Bounded decompression: a gzip bomb is rejected without inflating it whole.
    d = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = d.decompress(payload, L.MAX_DECOMPRESSED_BYTES + 1)
    except zlib.error as exc:
        raise InvalidPayload("bad_gzip", str(exc)[:200]) from exc
    if len(out) > L.MAX_DECOMPRESSED_BYTES or d.unconsumed_tail:
        raise InvalidPayload("too_large", f"inflates beyond {L.MAX_DECOMPRESSED_BYTES} bytes")
    return out
