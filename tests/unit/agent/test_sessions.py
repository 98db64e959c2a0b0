"""Automatic and explicit sessions, on a fake monotonic clock."""

import json
from dataclasses import asdict
from typing import Any

import pytest

from agent import sessions
from agent.sessions import Sessions

IDLE_S = 60.0


class Clock:
    def __init__(self) -> None:
        self.ms = 1_000_000

    def __call__(self) -> int:
        return self.ms


def ev(clock: Clock, kind: str = "feature_use", **kw: Any) -> dict[str, Any]:
    return {"id": "e", "kind": kind, "feature": "f", "ts": 1_800_000_000_000 + clock.ms,
            "mono": clock.ms, "boot": "b1", **kw}  # fmt: skip


def test_automatic_session_opens_continues_and_expires() -> None:
    clock = Clock()
    s = Sessions(IDLE_S, clock=clock)
    first = ev(clock)
    out = s.on_event(first)
    assert [e["kind"] for e in out] == ["session_start"]
    sid = first["session_id"]
    assert sid.startswith("auto-") and out[0]["session_id"] == sid
    assert (out[0]["mono"], out[0]["ts"]) == (first["mono"], first["ts"])
    clock.ms += 30_000
    second = ev(clock)
    assert s.on_event(second) == [] and second["session_id"] == sid
    assert s.next_expiry_ms() == clock.ms + 60_000
    clock.ms += 59_000
    assert s.expire() == []
    clock.ms += 2_000
    (end,) = s.expire()
    assert end["kind"] == "session_end" and end["session_id"] == sid
    assert end["props"] == {"duration_s": 30.0, "auto": True}
    assert end["mono"] == second["mono"]  # timed at the last activity, not at the timeout
    assert s.open_count == 0


def test_idle_gap_without_timer_closes_the_old_session_first() -> None:
    clock = Clock()
    s = Sessions(IDLE_S, clock=clock)
    a = ev(clock, user_id="u1")
    s.on_event(a)
    b = ev(clock, user_id="u2")  # another user: another session
    assert [e["kind"] for e in s.on_event(b)] == ["session_start"]
    assert a["session_id"] != b["session_id"]
    clock.ms += 61_000
    c = ev(clock, user_id="u1")
    kinds = [(e["kind"], e["session_id"]) for e in s.on_event(c)]
    assert kinds == [("session_end", a["session_id"]), ("session_start", c["session_id"])]


def test_explicit_sessions_get_a_duration_and_backfills_no_session() -> None:
    clock = Clock()
    s = Sessions(IDLE_S, clock=clock)
    assert s.on_event(ev(clock, "session_start", session_id="s1")) == []
    clock.ms += 12_345
    end = ev(clock, "session_end", session_id="s1", props={"k": 1})
    s.on_event(end)
    assert end["props"] == {"k": 1, "duration_s": 12.345}
    given = ev(clock, "session_end", session_id="s1", props={"duration_s": 5})
    s.on_event(given)
    assert given["props"] == {"duration_s": 5}
    backfill = {"id": "e", "kind": "feature_use", "feature": "f", "ts": 1}
    assert s.on_event(backfill) == [] and "session_id" not in backfill
    assert Sessions(IDLE_S, auto=False).on_event(ev(clock)) == []


def test_recover_closes_what_a_crashed_run_left_open() -> None:
    clock = Clock()
    s = Sessions(IDLE_S, clock=clock)
    s.on_event(ev(clock, user_id="u1"))
    clock.ms += 4_000
    s.on_event(ev(clock, user_id="u1"))
    saved = s.snapshot()
    assert not s.dirty and json.loads(saved)[0]["user_id"] == "u1"
    fresh = Sessions(IDLE_S, clock=clock)
    (end,) = fresh.recover(saved)
    assert end["props"]["duration_s"] == 4.0 and end["user_id"] == "u1"
    assert fresh.dirty and fresh.snapshot() == "[]"
    assert fresh.recover("not json") == [] and fresh.recover(None) == []
    assert [e["kind"] for e in s.close_all()] == ["session_end"] and s.open_count == 0


def test_snapshot_holds_every_field_of_the_open_sessions() -> None:
    s = Sessions(60, clock=lambda: 1000, boot=lambda: "b1")
    for user, mono in (("u1", 1000), ("u2", 1500), (None, 2000)):
        doc: dict[str, Any] = {"kind": "feature_use", "feature": "f", "ts": mono + 7,
                               "mono": mono, "boot": "b1"}  # fmt: skip
        if user is not None:
            doc["user_id"] = user
        s.on_event(doc)
    saved = json.loads(s.snapshot())
    assert saved == [asdict(x) for x in s._open.values()]
    assert [d["user_id"] for d in saved] == ["u1", "u2", None]


def test_past_the_limit_the_least_recently_active_session_is_closed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sessions, "MAX_AUTO", 3)
    clock = Clock()
    s = Sessions(IDLE_S, clock=clock)
    first = {}
    for user in ("u1", "u2", "u3"):
        e = ev(clock, user_id=user)
        s.on_event(e)
        first[user] = e["session_id"]
        clock.ms += 1_000
    s.on_event(ev(clock, user_id="u1"))  # u1, opened first, is the most recently active now
    clock.ms += 1_000
    out = s.on_event(ev(clock, user_id="u4"))
    assert [(e["kind"], e["session_id"]) for e in out][1:] == [("session_end", first["u2"])]
    assert s.open_count == 3
    again = ev(clock, user_id="u1")
    assert s.on_event(again) == [] and again["session_id"] == first["u1"]  # still open
