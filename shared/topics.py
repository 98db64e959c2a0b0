"""MQTT topic names.

One device's traffic lives under one prefix, so a broker ACL with %u confines it."""

from shared.errors import InvalidTopic

PREFIX = "pes/v1/dev"
DEFAULT_SHARE_GROUP = "pes-collectors"


def events_topic(device_id: str) -> str:
    return f"{PREFIX}/{device_id}/events"


def ack_topic(device_id: str) -> str:
    return f"{PREFIX}/{device_id}/ack"


def status_topic(device_id: str) -> str:
    return f"{PREFIX}/{device_id}/status"


def shared_events_subscription(group: str = DEFAULT_SHARE_GROUP) -> str:
    return f"$share/{group}/{PREFIX}/+/events"


def status_subscription(group: str = DEFAULT_SHARE_GROUP) -> str:
    """Shared too: every status is written once by one collector of the group, not by all.
    (Retained statuses are not replayed on shared subscriptions; live ones keep coming.)"""
    return f"$share/{group}/{PREFIX}/+/status"


def device_from_topic(topic: str) -> tuple[str, str]:
    """Split `pes/v1/dev/{device_id}/{kind}` into (device_id, kind)."""
    parts = topic.split("/")
    if len(parts) != 5 or "/".join(parts[:3]) != PREFIX or not parts[3]:
        raise InvalidTopic(f"not a PES device topic: {topic[:200]!r}")
    return parts[3], parts[4]


# Remote configuration (retained, published by the collector side): one message per level, a
# device applies fleet < device type < device, in that order of precedence. The device's own
# lives under its prefix (the broker ACL already lets it read there); the fleet's and the device
# types' are read-only for devices (deploy/mosquitto/pes.acl needs `topic read pes/v1/config/#`).
CONFIG_PREFIX = "pes/v1/config"


def fleet_config_topic() -> str:
    return f"{CONFIG_PREFIX}/fleet"


def device_type_config_topic(device_type: str) -> str:
    """Device type names may hold / + and spaces: percent-encoded into one topic level."""
    from urllib.parse import quote

    return f"{CONFIG_PREFIX}/type/{quote(device_type, safe='')}"


def device_config_topic(device_id: str) -> str:
    return f"{PREFIX}/{device_id}/config"
