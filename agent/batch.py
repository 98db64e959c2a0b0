"""Batches on the wire: assembled from the buffer's stored bodies, sized to fit the limits,
and sent no faster than the drain rate."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from agent.drops import Drop
from agent.wire import encode
from shared import codec

MAX_ANCHORS = 8  # BatchHeader.anchors max_length
MAX_DROPS = 64  # BatchHeader.drops max_length
# Room kept in batch_max_bytes for the header (ids, clocks), per anchor and per drop range.
HEADER_RESERVE_BYTES = 512
ANCHOR_BYTES = 96
DROP_BYTES = 112


def events_budget(max_bytes: int, anchors: int, drops: int) -> int:
    """Bytes left for events in a batch of `max_bytes` with that many anchors and drops."""
    anchors = min(anchors, MAX_ANCHORS)
    return max_bytes - HEADER_RESERVE_BYTES - anchors * ANCHOR_BYTES - drops * DROP_BYTES


@dataclass(frozen=True, slots=True)
class EncodedBatch:
    first_seq: int
    last_seq: int
    count: int
    payload: bytes
    content_type: str
    drops: tuple[Drop, ...] = ()


def build_batch(
    rows: Sequence[tuple[int, str]],
    *,
    device_id: str,
    stream_id: str,
    anchors: Mapping[str, tuple[int, int]],
    boot: str,
    sent_ms: int,
    sent_mono: int,
    drops: Sequence[Drop] = (),
    first_seq: int | None = None,
    last_seq: int | None = None,
) -> EncodedBatch:
    """Encode buffer rows (seq, body) as one batch, oldest first. `rows` may be empty only
    for a batch that just reports drops (then `first_seq`/`last_seq` give its range).

    The JSON is assembled from the stored bodies (each gets its `"seq":N,` spliced in) rather
    than parsed and serialised again: this runs for every event of a backlog. Events are not
    re-validated: they were validated when recorded, and the collector checks each one anyway
    (quarantining, and still acking, a bad one); re-validating here could only turn one bad
    row into a stream that is stuck forever."""
    events: list[bytes] = []
    for seq, body in rows:
        raw = body.encode()
        if len(raw) < 3 or raw[0] != 0x7B or raw[-1] != 0x7D:  # not "{...}": damaged
            # Still sent, so the collector quarantines it and the loss is visible, not silent.
            raw = codec.dumps({"unreadable": body[:200]})
        events.append(b'{"seq":%d,%s' % (seq, raw[1:]))
    joined = b",".join(events)
    # Anchors only for boots in this batch; the sender's own boot first, it matters most.
    wanted = sorted(_boots(events, joined) & anchors.keys(), key=lambda b: (b != boot, b))
    wanted = wanted[:MAX_ANCHORS]
    first = rows[0][0] if rows else first_seq
    last = rows[-1][0] if rows else last_seq
    assert first is not None and last is not None
    # shared.models.BatchHeader, field for field (tests/unit/agent/test_batch.py
    # validates it with that model): every value is the agent's own, already in range.
    header = {
        "v": 1,
        "device_id": device_id,
        "stream_id": stream_id,
        "first_seq": first,
        "last_seq": last,
        "sent_ms": sent_ms,
        "sent_mono": sent_mono,
        "boot": boot,
        "anchors": [{"boot": b, "mono": anchors[b][0], "true_ms": anchors[b][1]} for b in wanted],
        "drops": [{"first_seq": d.first, "last_seq": d.last, "reason": d.reason} for d in drops],
    }
    head = encode(header)
    raw_doc = b'%s,"events":[%s]}' % (head[:-1], joined)
    payload, content_type = codec.pack(raw_doc)
    return EncodedBatch(first, last, len(rows), payload, content_type, tuple(drops))


_BOOT_KEY = b'"boot":"'


def _boots(events: Sequence[bytes], joined: bytes) -> set[str]:
    """The top-level boots of `events` (joined: them, comma-separated). Mostly one: when every
    `"boot":"` in the batch is followed by the first event's boot, no event can have another
    (two searches in C, not a search of each event: ~0.6 us an event); else each event's."""
    first = _boot_of(events[0]) if events else None
    if first is not None:
        own = b'%s%s"' % (_BOOT_KEY, first.encode())
        if joined.count(_BOOT_KEY) == joined.count(own):
            return {first}
    return {b for b in map(_boot_of, events) if b is not None}


def _boot_of(body: bytes) -> str | None:
    """The event's top-level `boot` (it precedes labels and props, the only free-form parts)."""
    end = body.find(b'"device_type"')
    at = body.find(_BOOT_KEY, 0, end if end > 0 else len(body))
    if at < 0:
        return None
    start = at + 8
    stop = body.find(b'"', start)
    return body[start:stop].decode() if stop > start else None


class TokenBucket:
    """`rate` tokens a second, at most `burst` saved up; take() says how long to wait first."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate, self.burst = rate, burst
        self._tokens, self._at = burst, now

    def take(self, n: int, now: float) -> float:
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        self._tokens -= n
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate
