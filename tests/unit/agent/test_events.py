"""The fast event path (agent/events.py) makes exactly what the wire contract accepts."""

import json
import random
from pathlib import Path
from typing import Any

import pytest

from agent.errors import InvalidEvent
from agent.events import Factory, check_json, check_python, make_event, to_body
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
