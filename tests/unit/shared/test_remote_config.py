"""The remote configuration schema (shared/remote_config.py): what the collector checks before
publishing is what the agent applies, and each key accepts and refuses the same values as the
agent's local setting of that name (agent/settings.py, msgspec, strict as for JSON)."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.remote import RemoteConfig
from agent.settings import AgentSettings
from shared import limits as L
from shared.remote_config import (
    SAFE_KEYS,
    ConfigMessage,
    InvalidRemoteConfig,
    check_value,
    decode_message,
    encode_message,
    parse_assignment,
)
from tests.kits.agent import agent_settings

FIELD_TYPES = {f.name: f.type for f in msgspec.structs.fields(AgentSettings)}
EDGES: list[Any] = [
    None, True, False, 0, 1, -1, 2, 0.0, 0.5, 1.0, 1.5, -0.5, 1e-300, 1e300, 7, 5000,
    L.MAX_EVENTS_PER_BATCH, L.MAX_EVENTS_PER_BATCH + 1, 2**63, 2**64 - 1, 2**64, 2**70,
    -(2**63) - 1, "on", "off", "On", "", "1",
    [], {}, [1],
]  # fmt: skip


def _agent_accepts(key: str, value: Any) -> tuple[bool, Any]:
    try:
        return True, msgspec.convert(value, FIELD_TYPES[key], strict=True)
    except msgspec.ValidationError:
        return False, None


def _shared_accepts(key: str, value: Any) -> tuple[bool, Any]:
    try:
        return True, check_value(key, value)
    except InvalidRemoteConfig:
        return False, None


@pytest.mark.parametrize("key", SAFE_KEYS)
@pytest.mark.parametrize("value", EDGES, ids=repr)
def test_each_key_agrees_with_the_local_setting_on_edges(key: str, value: Any) -> None:
    assert _shared_accepts(key, value) == _agent_accepts(key, value)


@given(
    key=st.sampled_from(SAFE_KEYS),
    value=st.one_of(
        st.integers(-(2**64), 2**64),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=5),
        st.booleans(),
        st.none(),
    ),
)
def test_each_key_agrees_with_the_local_setting(key: str, value: Any) -> None:
    assert _shared_accepts(key, value) == _agent_accepts(key, value)


def test_every_safe_key_is_a_local_setting() -> None:
    assert set(SAFE_KEYS) <= set(FIELD_TYPES)


def test_a_published_message_is_applied_by_the_agent(tmp_path: Any) -> None:
    payload = encode_message(ConfigMessage("7", {"collection": "off", "status_interval_s": 30}))
    remote = RemoteConfig(agent_settings(tmp_path, 1883, "gw-1"))
    assert remote.receive("fleet", payload) and remote.error is None
    assert remote.version == "fleet=7"
    assert remote.effective()["collection"] == "off"
    assert remote.effective()["status_interval_s"] == 30.0


@pytest.mark.parametrize(
    ("doc", "why"),
    [
        ({"settings": {}}, "expected"),
        ({"version": 1, "settings": {"buffer_path": "/x"}}, "buffer_path: not a setting"),
        ({"version": 1, "settings": {"batch_max_events": 0}}, "batch_max_events: must be >= 1"),
        ({"version": "a;b", "settings": {}}, "version"),
        ({"version": "", "settings": {}}, "version"),
        ({"version": "x" * 41, "settings": {}}, "version"),
        ({"version": True, "settings": {}}, "version"),
        ({"version": 1, "settings": []}, "settings: an object"),
        ({"version": 1, "settings": {}, "extra": 1}, "expected"),
        ([1], "expected"),
    ],
)
def test_bad_messages_are_refused_with_the_reason(doc: object, why: str) -> None:
    with pytest.raises(InvalidRemoteConfig, match=why):
        decode_message(json.dumps(doc).encode())


@pytest.mark.parametrize("payload", [b"{", b"\xff", b"[" * 100_000, b'{"version": NaN}'])
def test_undecodable_payloads_are_refused(payload: bytes) -> None:
    with pytest.raises(InvalidRemoteConfig):
        decode_message(payload)


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("status_interval_s=300", ("status_interval_s", 300.0)),
        ("feature_sample_rate=0.25", ("feature_sample_rate", 0.25)),
        ("collection=off", ("collection", "off")),
        ('collection="on"', ("collection", "on")),
        ("drain_rate_eps = 0", ("drain_rate_eps", 0)),
    ],
)
def test_assignments_from_the_command_line(text: str, want: tuple[str, Any]) -> None:
    assert parse_assignment(text) == want


@pytest.mark.parametrize(
    "text", ["status_interval_s", "=3", "status_interval_s=0", "window=5", "collection=maybe",
             "drain_rate_eps=1.5", "status_interval_s=Infinity"],
)  # fmt: skip
def test_bad_assignments_are_refused(text: str) -> None:
    with pytest.raises(InvalidRemoteConfig):
        parse_assignment(text)
