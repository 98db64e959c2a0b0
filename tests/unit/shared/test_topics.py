"""Topic names, case by case: what a device topic is, and everything that is not one."""

from __future__ import annotations

import pytest

from shared.errors import InvalidTopic
from shared.topics import (
    ack_topic,
    config_level_from_topic,
    device_config_topic,
    device_from_topic,
    device_type_config_topic,
    events_topic,
    fleet_config_topic,
    status_topic,
)


@pytest.mark.parametrize(
    ("topic", "want"),
    [
        ("pes/v1/dev/gw-1/events", ("gw-1", "events")),
        ("pes/v1/dev/gw-1/status", ("gw-1", "status")),
        ("pes/v1/dev/a.b_c-d/ack", ("a.b_c-d", "ack")),
    ],
)
def test_device_topics(topic: str, want: tuple[str, str]) -> None:
    assert device_from_topic(topic) == want


@pytest.mark.parametrize(
    "topic",
    [
        "pes/v2/dev/gw-1/events",  # another contract version
        "pes/v1/devs/gw-1/events",  # wrong third level
        "xes/v1/dev/gw-1/events",  # wrong first level
        "v1/dev/gw-1/events/x",  # shifted: five levels, wrong prefix
        "pes/v1/dev//events",  # empty device id
        "pes/v1/dev/gw-1",  # a level short
        "pes/v1/dev/gw-1/events/extra",  # a level too many
        "/pes/v1/dev/gw-1/events",  # leading slash: an empty first level
        "pes/v1/dev/gw-1/events/",  # trailing slash: an empty sixth level
        "",
    ],
)
def test_anything_else_is_refused(topic: str) -> None:
    with pytest.raises(InvalidTopic):
        device_from_topic(topic)


def test_topics_round_trip() -> None:
    for make, kind in ((events_topic, "events"), (ack_topic, "ack"), (status_topic, "status")):
        assert device_from_topic(make("gw-7")) == ("gw-7", kind)


def test_a_refusal_quotes_at_most_200_characters_of_the_topic() -> None:
    # A hostile device may publish on a huge topic: the error (and so the log) stays short.
    topic = "q" * 150 + "r" * 50 + "s" * 10_000
    with pytest.raises(InvalidTopic) as refused:
        device_from_topic(topic)
    assert "q" * 150 + "r" * 50 in str(refused.value)
    assert "s" not in str(refused.value).removeprefix("not a PES device topic")


def test_config_topics() -> None:
    assert fleet_config_topic() == "pes/v1/config/fleet"
    assert device_config_topic("gw-1") == "pes/v1/dev/gw-1/config"
    assert device_type_config_topic("press-x") == "pes/v1/config/type/press-x"
    # Device type names may hold / + # and spaces: percent-encoded into one topic level, so
    # a type can neither add levels nor act as a wildcard.
    assert device_type_config_topic("press x/2+#") == "pes/v1/config/type/press%20x%2F2%2B%23"


@pytest.mark.parametrize(
    ("topic", "want"),
    [
        ("pes/v1/config/fleet", ("fleet", "")),
        ("pes/v1/config/type/press-x", ("type", "press-x")),
        ("pes/v1/config/type/press%20x%2F2%2B%23", ("type", "press x/2+#")),  # decoded
        ("pes/v1/dev/gw-1/config", ("device", "gw-1")),
        # Not configuration topics:
        ("pes/v1/config/fleet/x", None),
        ("pes/v1/config/type/", None),  # no type
        ("pes/v1/config/type/a/b", None),  # a type is one level
        ("pes/v1/config/types/press-x", None),
        ("pes/v1/config", None),
        ("pes/v1/dev//config", None),  # no device
        ("pes/v1/dev/gw-1/events", None),
        ("pes/v1/dev/gw-1/config/x", None),
        ("pes/v2/dev/gw-1/config", None),
        ("xes/v1/dev/gw-1/config", None),
        ("v1/dev/gw-1/config/x", None),  # five levels, wrong prefix
        ("", None),
    ],
)
def test_config_levels(topic: str, want: tuple[str, str] | None) -> None:
    assert config_level_from_topic(topic) == want


def test_config_topics_round_trip() -> None:
    assert config_level_from_topic(fleet_config_topic()) == ("fleet", "")
    for t in ("press-x", "a b/c+#%"):
        assert config_level_from_topic(device_type_config_topic(t)) == ("type", t)
    assert config_level_from_topic(device_config_topic("gw-9")) == ("device", "gw-9")
