import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from agent.batch import build_batch, events_budget
from agent.buffer import Buffer
from agent.errors import InvalidEvent
from agent.events import make_event
from agent.settings import AgentSettings
from shared import codec
from shared.models import Batch


def settings(tmp_path: Path, **kw: Any) -> AgentSettings:
    return AgentSettings(
        device_id="gw-1",
        device_type="gateway-x1",
        firmware_version="4.2.1",
        account_id="acme",
        labels={"site": "plant-3"},
        buffer_path=tmp_path / "b.db",
        **kw,
    )


def fill(buf: Buffer, s: AgentSettings, n: int) -> None:
    buf.append_many(
        [
            make_event(s, "feature_use", f"f{i % 7}", labels={f"k{j}": "v" * 100 for j in range(8)})
            for i in range(n)
        ]
    )


def batch_of(buf: Buffer, s: AgentSettings, after: int = 0) -> tuple[Batch, int, str]:
    anchors = buf.anchors()
    rows = buf.read_after(
        after, s.batch_max_events, events_budget(s.batch_max_bytes, len(anchors), 0)
    )
    enc = build_batch(
        rows,
        device_id=s.device_id,
        stream_id=buf.stream_id,
        anchors=anchors,
        boot="boot-now",
        sent_ms=1_800_000_000_000,
        sent_mono=123,
    )
    raw = json.dumps(codec.decode(enc.payload, enc.content_type), separators=(",", ":"))
    batch = Batch.model_validate(codec.decode(enc.payload, enc.content_type))
    assert (batch.first_seq, batch.last_seq, len(batch.events)) == (
        enc.first_seq,
        enc.last_seq,
        enc.count,
    )
    return batch, len(raw.encode()), enc.content_type


def test_batch_respects_max_events(tmp_path: Path) -> None:
    s = settings(tmp_path, batch_max_events=100)
    with Buffer(s.buffer_path) as buf:
        fill(buf, s, 250)
        batch, _, ctype = batch_of(buf, s)
        assert [e.seq for e in batch.events] == list(range(1, 101))
        assert ctype == codec.CONTENT_GZIP_JSON  # repetitive JSON compresses well
        batch, _, _ = batch_of(buf, s, after=200)
        assert [e.seq for e in batch.events] == list(range(201, 251))


def test_batch_respects_max_bytes(tmp_path: Path) -> None:
    s = settings(tmp_path, batch_max_bytes=16 * 1024)
    with Buffer(s.buffer_path) as buf:
        fill(buf, s, 200)
        buf.save_anchor(json.loads(buf.read_after(0, 1, 10**6)[0][1])["boot"], 5, 1_800_000_000)
        buf.save_anchor("other-boot", 1, 2)
        batch, raw_bytes, _ = batch_of(buf, s)
        assert 1 < len(batch.events) < 200
        assert raw_bytes <= s.batch_max_bytes
        assert raw_bytes > s.batch_max_bytes * 0.7  # and fills it reasonably
        assert [a.boot for a in batch.anchors] == [batch.events[0].boot]  # only boots present
        assert batch.device_id == "gw-1" and batch.stream_id == buf.stream_id


def test_make_event_validates_and_merges_labels(tmp_path: Path) -> None:
    s = settings(tmp_path)
    e = make_event(s, "feature_use", "calibrate", labels={"line": "a"}, ts_ms=1_800_000_000_000)
    assert e["labels"] == {"site": "plant-3", "line": "a"}
    assert e["ts"] == 1_800_000_000_000 and "seq" not in e
    assert "session_id" not in e and "props" not in e  # defaults are left out
    with pytest.raises(InvalidEvent, match="feature_use needs a feature"):
        make_event(s, "feature_use")
    with pytest.raises(InvalidEvent, match="labels"):
        make_event(s, "session_start", labels={f"k{i}": "v" for i in range(20)})
    with pytest.raises(InvalidEvent, match="kind"):
        make_event(s, "Bad Kind")


def body(boot: str, props: dict[str, str] | None = None) -> str:
    doc: dict[str, Any] = {"id": "i", "kind": "x", "ts": 1, "boot": boot, "device_type": "t"}
    return json.dumps(doc | ({"props": props} if props else {}), separators=(",", ":"))


@pytest.mark.parametrize(
    ("bodies", "present"),
    [
        ([body("b-1")] * 3, ["b-1"]),
        (
            [body("b-1"), body("b-1", {"boot": "b-3"}), body("b-1")],
            ["b-1"],
        ),  # a property: not a boot
        ([body("b-1"), body("b-2"), body("b-1")], ["b-1", "b-2"]),
        ([body("b-2"), body("b-1")], ["b-1", "b-2"]),
        (['{"id":"i","kind":"x"}', body("b-2")], ["b-2"]),  # the first event names no boot
    ],
)
def test_a_batch_carries_the_anchors_of_its_events_boots(
    bodies: list[str], present: list[str]
) -> None:
    anchors = {b: (1, 2) for b in ("b-1", "b-2", "b-3")}
    rows = list(enumerate(bodies, 1))
    enc = build_batch(rows, device_id="gw-1", stream_id="s-1", anchors=anchors, boot="b-1",
                      sent_ms=1, sent_mono=1)  # fmt: skip
    doc = codec.decode(enc.payload, enc.content_type)
    assert sorted(a["boot"] for a in doc["anchors"]) == present
    assert [e["seq"] for e in doc["events"]] == [1, 2, 3][: len(bodies)]


def test_a_damaged_body_is_sent_as_unreadable(tmp_path: Path) -> None:
    s = settings(tmp_path)
    with Buffer(s.buffer_path) as buf:
        fill(buf, s, 3)
        with sqlite3.connect(s.buffer_path) as db:
            db.execute("UPDATE events SET body = 'garbage' WHERE seq = 2")
        rows = buf.read_after(0, 10, 10**6)
        enc = build_batch(rows, device_id="gw-1", stream_id=buf.stream_id, anchors={},
                          boot="b", sent_ms=1, sent_mono=1)  # fmt: skip
        events = codec.decode(enc.payload, enc.content_type)["events"]
        assert events[1] == {"seq": 2, "unreadable": "garbage"}
        assert [e["kind"] for e in (events[0], events[2])] == ["feature_use"] * 2
