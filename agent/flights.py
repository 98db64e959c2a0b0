"""The publisher's bookkeeping, apart from its loop (agent/publisher.py): a batch in flight,
the resend backoff a batch waits by, the counters, and turning ack messages into acks of
this buffer's stream."""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass

import msgspec

from agent.drops import Drop
from agent.wire import Ack, decode_ack
from shared import codec
from shared.errors import InvalidPayload
from shared.retry import Backoff

log = logging.getLogger(__name__)

# Longest wait for an ack before a resend: below a minute, so that a collector that lost the
# copies (not just delayed them) gets them again soon; a reconnect resends everything at once.
RESEND_CAP_S = 60.0


def resend_wait(level: int, ack_timeout_s: float, rng: random.Random | None = None) -> float:
    """Seconds to wait for a batch's ack at resend backoff `level` (0: a link in good health).
    The first wait is ack_timeout_s exactly; then 2x, 4x, ... ack_timeout_s jittered into
    [delay/2, delay] so a fleet does not resend in lock-step, never below ack_timeout_s nor
    above max(ack_timeout_s, RESEND_CAP_S)."""
    if level <= 0:
        return ack_timeout_s
    cap = max(ack_timeout_s, RESEND_CAP_S)
    wait = Backoff(min(2 * ack_timeout_s, cap), cap).delay(level - 1, rng)
    return max(ack_timeout_s, wait)


@dataclass(slots=True)
class _Flight:
    """A batch published and not yet acked."""

    first: int
    last: int
    deadline: float  # loop.time() after which it is resent
    drops: tuple[Drop, ...] = ()  # drop ranges it reported: forgotten once it is acked
    level: int = 0  # resend backoff level: its wait for an ack is resend_wait(level)
    resends: int = 0  # times it was sent again for want of an ack
    sent: float = 0.0  # loop.time() of its latest send
    lonely: int = 0  # its publishes in a row that found no subscriber (backs off its resends)
    unheard: bool = False  # its latest copy found no subscriber: the broker kept none


def due_unheard(flights: Sequence[_Flight], now: float) -> bool:
    """A publish just reached a subscriber (a collector is back): every flight whose latest
    copy found none went nowhere, so it is due now rather than at its backed-off deadline (a
    window of them would otherwise be resent one by one over the backoff, up to a second after
    a collector that resubscribed shortly after the agent). True if any was."""
    due = False
    for f in flights:
        if f.unheard:
            f.unheard, f.lonely = False, 0
            f.deadline = min(f.deadline, now)
            due = True
    return due


class Probe:
    """The one in-flight batch that is sent again while no collector is subscribed; the others
    that found nobody wait (deadline inf) for a publish that is heard (due_unheard)."""

    __slots__ = ("flight",)

    def __init__(self) -> None:
        self.flight: _Flight | None = None

    def asks(self, flight: _Flight, inflight: Sequence[_Flight]) -> bool:
        """Whether `flight`, which just found no subscriber, is the probe: the one that already
        is, or this one when there is none (none yet, or it was acked)."""
        probe = self.flight
        if probe is not None and probe is not flight and any(f is probe for f in inflight):
            return False
        self.flight = flight
        return True

    def hand_over(self, inflight: Sequence[_Flight], now: float) -> None:
        """The probe was acked (a copy reached a collector after all) while others still wait
        for a subscriber: the oldest of them asks next, now."""
        probe = self.flight
        if probe is None or any(f is probe for f in inflight):
            return
        self.flight = None
        waiting = next((f for f in inflight if f.unheard), None)
        if waiting is not None:
            waiting.deadline = now


@dataclass(slots=True)
class PublisherStats:
    batches_sent: int = 0
    batches_resent: int = 0
    events_sent: int = 0
    publish_failures: int = 0
    no_subscribers: int = 0  # PUBACKs saying no collector was subscribed
    acks: int = 0
    acks_ignored: int = 0
    events_acked: int = 0  # rows deleted from the buffer by acks
    last_ack_ms: int | None = None  # collector clock of the latest ack
    throttled_s: float = 0.0  # time spent waiting for the drain rate


def decode_acks(
    messages: Sequence[tuple[bytes, str | None]], stream_id: str, stats: PublisherStats
) -> list[Ack]:
    """The acks among `messages` (payload, content type) for `stream_id`; the others are
    counted in stats.acks_ignored and logged."""
    acks: list[Ack] = []
    for payload, content_type in messages:
        try:
            ack = decode_ack(codec.inflate(payload, content_type))
        except (InvalidPayload, msgspec.ValidationError, msgspec.DecodeError) as exc:
            stats.acks_ignored += 1
            log.warning("ignoring malformed ack: %s", str(exc).replace("\n", " ")[:300])
            continue
        if ack.stream_id != stream_id:
            # An old buffer's stream (the file was recreated): nothing of ours to delete.
            stats.acks_ignored += 1
            log.info("ignoring ack for stream %s (ours is %s)", ack.stream_id, stream_id)
            continue
        acks.append(ack)
    return acks
