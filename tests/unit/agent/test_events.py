"""The fast event path (agent/events.py) makes exactly what the wire contract accepts."""

import json
import random
from pathlib import Path
from typing import Any

import pytest

from agent.errors import InvalidEvent
from agent.events import (
    Factory,
    check_json,
    check_python,
    event_body,
    lean,
    make_event,
    to_body,
)
from agent.settings import AgentSettings
from shared.models import WireEvent


def settings(tmp_path: Path, **kw: Any) -> AgentSettings:
    values: dict[str, Any] = {
        "device_id": "gw-1",
        "device_type": "press-x",
        "firmware_version": "2.0",
        "account_id": "acme",
        "labels": {"site": "plant-3"},
        "buffer_path": tmp_path / "b.db",
    }
    return AgentSettings(**(values | kw))


def random_fields(rng: random.Random) -> dict[str, Any]:
    f: dict[str, Any] = {"kind": rng.choice(["feature_use", "session_start", "session_end", "x"])}
    f["feature"] = rng.choice([None, "calibrate", "export/2 +x"])
    if f["kind"] == "feature_use" and f["feature"] is None:
        f["feature"] = "jog"
    for key in ("session_id", "user_id"):
        f[key] = rng.choice([None, "s-1", "u:42"])
    f["ts"] = rng.choice([None, 1_800_000_000_000])
    f["labels"] = rng.choice([None, {}, {"line": "a", "site": "override"}])
    f["props"] = rng.choice([None, {}, {"n": 3, "x": 1.5, "ok": True, "z": None, "s": "ü"}])
    f["device_type"] = rng.choice([None, "lathe-9"])
    return {k: v for k, v in f.items() if v is not None}


def test_built_events_equal_what_the_wire_model_makes(tmp_path: Path) -> None:
    s = settings(tmp_path)
    factory = Factory(s)
    rng = random.Random(1)
    for _ in range(300):
        fields = random_fields(rng)
        for doc in (factory.build(check_python(fields)),
                    factory.build(check_json(json.dumps(fields).encode()))):  # fmt: skip
            wire = WireEvent.model_validate({**doc, "seq": 1})
            assert wire.model_dump(mode="json", exclude_defaults=True, exclude={"seq"}) == doc
            assert json.loads(to_body(doc)) == doc
            assert doc["labels"]["site"] == fields.get("labels", {}).get("site", "plant-3")
            assert ("mono" in doc) == ("ts" not in fields)


def test_made_bodies_are_the_built_bodies_byte_for_byte(tmp_path: Path) -> None:
    """Factory.make + event_body (the identity encoded once) store exactly what build +
    to_body did, key order included (agent/batch.py finds `boot` by position)."""
    s = settings(tmp_path, labels={"site": "plant-3", "hall": "ü"})
    factory = Factory(s)
    rng = random.Random(2)
    lean = 0
    for i in range(400):
        fields = random_fields(rng)
        if i % 3 == 0:  # explicit ts: no clock readings, so both paths make identical events
            fields["ts"] = 1_800_000_000_000 + i
        if i == 200:  # a reload: the cached identity follows the new version
            factory.firmware_version = "2.1-rc"
        checked = check_python(fields)
        built = factory.build(checked, f"0190-{i}")
        doc, tail = factory.make(checked, f"0190-{i}")
        lean += tail is not None
        for key in ("ts", "mono"):  # read the clocks a moment apart
            if key in built:
                doc[key] = built[key]
        assert event_body(doc, tail) == to_body(built)
        assert json.loads(to_body(built))["firmware_version"] == ("2.0" if i < 200 else "2.1-rc")
    assert 50 < lean < 400  # both paths ran


def test_given_clocks_are_stamped_instead_of_a_new_reading(tmp_path: Path) -> None:
    """record_many() and a socket read stamp all their events with one clocks() reading."""
    factory = Factory(settings(tmp_path))
    rng = random.Random(3)
    t0 = factory.clocks()
    for i in range(200):
        fields = random_fields(rng)
        checked = check_python(fields)
        clocks = (1_700_000_000_000 + i, 42 + i)
        built = factory.build(checked, f"0190-{i}", clocks)
        doc, tail = factory.make(checked, f"0190-{i}", clocks)
        assert event_body(doc, tail) == to_body(built)  # byte for byte, no patching
        if "ts" in fields:  # the caller's claim stands, with no clock reading
            assert built["ts"] == fields["ts"] and "mono" not in built
        else:
            assert (built["ts"], built["mono"]) == clocks
    t1 = factory.clocks()
    assert t0[0] <= t1[0] and t0[1] <= t1[1]


def test_lean_bodies_are_the_made_bodies_byte_for_byte(tmp_path: Path) -> None:
    """Factory.lean_body (record()'s, record_many()'s and the socket's common event, no dict)
    writes exactly what make() + event_body() do, for every event lean() lets it take."""
    factory = Factory(settings(tmp_path, labels={"site": "plant-3", "hall": "ü"}))
    rng = random.Random(4)
    taken = 0
    for i in range(400):
        fields = random_fields(rng)
        fields.pop("ts", None)  # lean() takes no explicit ts: check that it says so below
        if i % 7 == 0:
            fields["ts"] = 1_800_000_000_000
        if i == 210:  # a reload between events of one clock reading (the formatted middle)
            factory.firmware_version = "2.1-rc"
        checked = check_python(fields)
        if not lean(checked):
            assert (
                "ts" in fields
                or fields.get("labels")
                or "device_type" in fields
                or (fields["kind"] == "feature_use" and "feature" not in fields)
            )
            continue
        taken += 1
        clocks = (1_700_000_000_000 + i // 50, 42 + i // 50)  # 50 events a millisecond
        doc, tail = factory.make(checked, f"0190-{i}", clocks)
        f = checked
        body = factory.lean_body(f"0190-{i}", f.kind, f.feature, f.session_id, f.user_id,
                                 *clocks, f.props)  # fmt: skip
        assert body == event_body(doc, tail)
        assert json.loads(body)["firmware_version"] == ("2.0" if i < 210 else "2.1-rc")
    assert 100 < taken < 400


@pytest.mark.parametrize(
    ("line", "match"),
    [
        (b'{"kind":"feature_use"}', "feature_use needs a feature"),
        (b'{"kind":"Bad Kind"}', "kind"),
        (b'{"kind":"x","bogus":1}', "bogus"),
        (b'{"kind":"x","session_id":"has space"}', "session_id"),
        (b'{"kind":"x","props":{"p":"' + b"v" * 200 + b'"}}', "props"),
        (
            b'{"kind":"x","labels":{' + b",".join(b'"k%d":"v"' % i for i in range(16)) + b"}}",
            "labels",
        ),
        (b'{"kind":"x","ts":-5}', "ts"),
        (b'{"kind":"x"', "Invalid JSON"),
        (b"[1, 2]", "object"),
        (b"\xff\xfe", "JSON"),
    ],
)
def test_bad_input_is_refused_with_the_reason(tmp_path: Path, line: bytes, match: str) -> None:
    factory = Factory(settings(tmp_path))
    with pytest.raises(InvalidEvent, match=match):
        factory.build(check_json(line))


def test_make_event_keeps_its_signature(tmp_path: Path) -> None:
    e = make_event(settings(tmp_path), "feature_use", "calibrate", ts_ms=1_800_000_000_000,
                   props={"k": 1})  # fmt: skip
    assert e["ts"] == 1_800_000_000_000 and "mono" not in e and e["props"] == {"k": 1}
    assert e["labels"] == {"site": "plant-3"}


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_python_callers_non_finite_floats_are_refused(value: float) -> None:
    # The fast path's types let any float through; finite() must send these to the full path.
    with pytest.raises(InvalidEvent, match=r"props\.x"):
        check_python({"kind": "feature_use", "feature": "f", "props": {"ok": 1.5, "x": value}})
    assert check_python({"kind": "k", "props": {"ok": 1.5, "big": 2**70}}).props == {
        "ok": 1.5,
        "big": float(2**70),
    }


def test_many_at_once_is_check_python_of_each() -> None:
    from agent.events import check_python_many

    rng = random.Random(3)
    batch = [random_fields(rng) for _ in range(200)]
    assert check_python_many(batch) == [check_python(f) for f in batch]
    for bad, match in (({"kind": "feature_use", "feature": "f", "props": {"x": float("nan")}},
                        r"event 7: .*props\.x"),
                       ({"kind": "Not A Kind"}, "event 7: invalid event: kind"),
                       ({"kind": "k", "ts": "1"}, "event 7: invalid event: ts")):  # fmt: skip
        with pytest.raises(InvalidEvent, match=match):
            check_python_many([*batch[:7], bad, *batch[7:]])
