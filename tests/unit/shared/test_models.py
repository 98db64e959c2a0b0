"""The wire models' own rules (shared/models.py), beyond the field types the JSON schema pins:
feature_use needs a feature, ranges are ordered (one-event ranges included), and a batch may
declare at most MAX_DROPPED_PER_BATCH dropped events across all its drop ranges."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from shared import limits as L
from shared.models import Batch, BatchHeader, DropRange, WireEvent


def event(**kw: Any) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "id": "0190a000-0000-7000-8000-000000000001",
        "seq": 1,
        "kind": "feature_use",
        "feature": "calibrate",
        "ts": 1_773_480_000_000,
        "device_type": "press-x",
        "firmware_version": "2.1",
        "account_id": "acme",
    }
    ev.update(kw)
    return ev


def header(**kw: Any) -> dict[str, Any]:
    h: dict[str, Any] = {
        "device_id": "gw-1",
        "stream_id": "s-1",
        "first_seq": 1,
        "last_seq": 1,
        "sent_ms": 1_773_480_000_000,
        "sent_mono": 20_000,
        "boot": "boot-a",
    }
    h.update(kw)
    return h


def messages(exc: pytest.ExceptionInfo[ValidationError]) -> list[str]:
    return [e["msg"] for e in exc.value.errors(include_url=False)]


def test_feature_use_needs_a_feature() -> None:
    with pytest.raises(ValidationError) as exc:
        WireEvent.model_validate(event(feature=None))
    assert messages(exc) == ["Value error, feature_use needs a feature"]
    with pytest.raises(ValidationError):
        WireEvent.model_validate({k: v for k, v in event().items() if k != "feature"})


@pytest.mark.parametrize("kind", ["session_start", "session_end", "boot", "feature_usex"])
def test_other_kinds_need_no_feature(kind: str) -> None:
    ev = WireEvent.model_validate(event(kind=kind, feature=None))
    assert (ev.kind, ev.feature) == (kind, None)


def test_a_feature_use_with_its_feature_is_the_event_it_says() -> None:
    ev = WireEvent.model_validate(event())
    assert isinstance(ev, WireEvent)
    assert (ev.kind, ev.feature, ev.seq) == ("feature_use", "calibrate", 1)
    # Any kind may name a feature (it is only required for feature_use).
    assert WireEvent.model_validate(event(kind="session_start")).feature == "calibrate"


@pytest.mark.parametrize(
    ("first", "last", "size"), [(1, 1, 1), (5, 15, 11), (1, L.MAX_SEQ, L.MAX_SEQ)]
)
def test_a_drop_range_counts_its_ends(first: int, last: int, size: int) -> None:
    d = DropRange.model_validate({"first_seq": first, "last_seq": last, "reason": "overflow"})
    assert isinstance(d, DropRange)
    assert (d.first_seq, d.last_seq, d.reason, d.size) == (first, last, "overflow", size)


def test_a_reversed_drop_range_is_refused() -> None:
    with pytest.raises(ValidationError) as exc:
        DropRange.model_validate({"first_seq": 3, "last_seq": 2, "reason": "overflow"})
    assert messages(exc) == ["Value error, drop range reversed: last_seq < first_seq"]


def test_a_batch_range_may_hold_one_seq_but_not_run_backwards() -> None:
    one = BatchHeader.model_validate(header(first_seq=7, last_seq=7))
    assert isinstance(one, BatchHeader)
    assert (one.first_seq, one.last_seq) == (7, 7)
    with pytest.raises(ValidationError) as exc:
        BatchHeader.model_validate(header(first_seq=7, last_seq=6))
    assert messages(exc) == ["Value error, last_seq < first_seq"]
    with pytest.raises(ValidationError):
        Batch.model_validate(header(first_seq=7, last_seq=6, events=[]))


def drops(sizes: list[int]) -> list[dict[str, Any]]:
    out, first = [], 1
    for n in sizes:
        out.append({"first_seq": first, "last_seq": first + n - 1, "reason": "overflow"})
        first += n
    return out


@pytest.mark.parametrize(
    "sizes",
    [
        [L.MAX_DROPPED_PER_BATCH],
        [L.MAX_DROPPED_PER_BATCH - 10, 10],
        [1, 2, 3],
    ],
)
def test_drops_up_to_the_limit_are_accepted(sizes: list[int]) -> None:
    h = BatchHeader.model_validate(
        header(first_seq=L.MAX_SEQ - 5, last_seq=L.MAX_SEQ, drops=drops(sizes))
    )
    assert isinstance(h, BatchHeader)
    assert sum(d.size for d in h.drops) == sum(sizes)


@pytest.mark.parametrize(
    "sizes", [[L.MAX_DROPPED_PER_BATCH + 1], [L.MAX_DROPPED_PER_BATCH - 10, 11]]
)
def test_drops_over_the_limit_are_refused_all_ranges_summed(sizes: list[int]) -> None:
    with pytest.raises(ValidationError) as exc:
        BatchHeader.model_validate(header(drops=drops(sizes)))
    assert messages(exc) == [
        f"Value error, drops declare more than {L.MAX_DROPPED_PER_BATCH} events"
    ]


def test_a_valid_batch_keeps_its_header_and_events() -> None:
    b = Batch.model_validate(
        header(last_seq=2, events=[event(), event(seq=2, kind="boot", feature=None)])
    )
    assert isinstance(b, Batch)
    assert [e.seq for e in b.events] == [1, 2]
    assert (b.device_id, b.stream_id, b.boot, b.v) == ("gw-1", "s-1", "boot-a", 1)
