"""Firmware runs and transitions (specs/releases.md, "Transitions"): pure functions, no I/O.

A device's stored events, ordered by `(timestamp, event id)`, fall into maximal **runs** of
consecutive events with the same `(device_type, firmware_version)` (heartbeats included: they
carry the firmware). A run is kept as its first and last event key and their days; the events
inside it are not needed. A **transition** is the first event of a run whose firmware differs from
the previous run's (a run that only changes the device type is not one).

Why runs: a storage layer keeps one small row per run and device (typically one or two per
device) and keeps it exact under late, out-of-order and resent events with `apply_event`:

- an event whose key falls inside a run of its own configuration changes nothing (a late event
  in the middle of a run, an exact duplicate resend: idempotent);
- an event between two runs (or before the first / after the last) extends the neighbouring run
  of its configuration, else becomes a one-event run (no stored event lies between two runs);
- an event inside a run of another configuration splits that run in three. Only then are the
  stored neighbours needed (the stored events just before and after the new one, which both lie
  in that run): the left part ends at `prev`, the right part starts at `next_`.

`transition_changes(old, new)` then says which transitions to add and remove, and
`releases_fleet.run_rows` turns runs into the arrays the release engine reads.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from itertools import pairwise

Key = tuple[int, str]  # (corrected timestamp in ms, event id): the order of a device's events


@dataclass(frozen=True, slots=True)
class Stamp:
    """Where a stored event sits: its key and its day (ordinal in the collector's time zone)."""

    ts: int
    event_id: str
    day: int

    @property
    def key(self) -> Key:
        return (self.ts, self.event_id)


@dataclass(frozen=True, slots=True)
class FwEvent:
    """The part of a stored event (any kind) that transitions need."""

    device_id: str
    device_type: str
    firmware_version: str
    day: int  # date.toordinal() of the event's day
    ts: int
    event_id: str

    @property
    def key(self) -> Key:
        return (self.ts, self.event_id)

    @property
    def stamp(self) -> Stamp:
        return Stamp(self.ts, self.event_id, self.day)


@dataclass(frozen=True, slots=True)
class Run:
    """A maximal run of one device's events with one (device_type, firmware)."""

    device_type: str
    firmware: str
    first: Key
    first_day: int
    last: Key
    last_day: int

    @property
    def config(self) -> tuple[str, str]:
        return (self.device_type, self.firmware)


@dataclass(frozen=True, slots=True)
class Transition:
    device_id: str
    device_type: str  # the transitioning event's
    from_fw: str
    to_fw: str
    day: int
    key: Key  # the transitioning event


def _single(event: FwEvent) -> Run:
    return Run(
        event.device_type, event.firmware_version, event.key, event.day, event.key, event.day
    )


def runs_from_events(events: Iterable[FwEvent]) -> tuple[Run, ...]:
    """The runs of ONE device's events (any order; repeated keys count once)."""
    ordered = sorted({e.key: e for e in events}.values(), key=lambda e: e.key)
    runs: list[Run] = []
    for e in ordered:
        if runs and runs[-1].config == (e.device_type, e.firmware_version):
            runs[-1] = replace(runs[-1], last=e.key, last_day=e.day)
        else:
            runs.append(_single(e))
    return tuple(runs)


def transitions_of(device_id: str, runs: Sequence[Run]) -> list[Transition]:
    """The transitions of one device, in event order."""
    return [
        Transition(
            device_id, cur.device_type, prev.firmware, cur.firmware, cur.first_day, cur.first
        )
        for prev, cur in pairwise(runs)
        if cur.firmware != prev.firmware
    ]


def transitions(events: Iterable[FwEvent]) -> list[Transition]:
    """Every transition of every device in `events`, ordered by (device, event key)."""
    by_device: dict[str, list[FwEvent]] = {}
    for e in events:
        by_device.setdefault(e.device_id, []).append(e)
    out: list[Transition] = []
    for device in sorted(by_device):
        out += transitions_of(device, runs_from_events(by_device[device]))
    return out


def apply_event(
    runs: Sequence[Run],
    event: FwEvent,
    prev: Stamp | None = None,
    next_: Stamp | None = None,
) -> tuple[Run, ...]:
    """The device's runs after storing `event` (idempotent for an event already stored).

    `prev` / `next_`: the device's stored events just before and just after `event` (excluding
    it); needed only when `event` splits a run of another configuration (ValueError otherwise).
    """
    key, config = event.key, (event.device_type, event.firmware_version)
    i = bisect_right([r.first for r in runs], key) - 1  # last run starting at or before key
    if i >= 0 and key <= runs[i].last:
        run = runs[i]
        if run.config == config:
            return tuple(runs)
        if key in (run.first, run.last):
            raise ValueError(f"event {key} is stored with another configuration")
        if prev is None or next_ is None or not run.first <= prev.key < key < next_.key <= run.last:
            raise ValueError(f"event {key} splits a run: its stored neighbours are needed")
        left = replace(run, last=prev.key, last_day=prev.day)
        right = replace(run, first=next_.key, first_day=next_.day)
        return (*runs[:i], left, _single(event), right, *runs[i + 1 :])
    before = runs[i] if i >= 0 else None
    after = runs[i + 1] if i + 1 < len(runs) else None
    if before is not None and before.config == config:
        return (*runs[:i], replace(before, last=key, last_day=event.day), *runs[i + 1 :])
    if after is not None and after.config == config:
        return (*runs[: i + 1], replace(after, first=key, first_day=event.day), *runs[i + 2 :])
    return (*runs[: i + 1], _single(event), *runs[i + 1 :])


def transition_changes(
    device_id: str, old: Sequence[Run], new: Sequence[Run]
) -> tuple[list[Transition], list[Transition]]:
    """(added, removed) transitions when a device's runs go from `old` to `new`."""
    before = transitions_of(device_id, old)
    after = transitions_of(device_id, new)
    old_set, new_set = set(before), set(after)
    return [t for t in after if t not in old_set], [t for t in before if t not in new_set]
