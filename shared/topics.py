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


# Remote configuration (retained, published by the collector side, shared/remote_config.py):
# one message per level, a device applies fleet < device type < device, in that order of
# precedence. The device's own lives under its prefix; the fleet's and the device types' under
# CONFIG_PREFIX. Devices may only read them (deploy/mosquitto/pes.acl: the fleet's and their own
# for every device, a device type's for the devices provisioned with that type); only the
# collectors' login may write them.
CONFIG_PREFIX = "pes/v1/config"


def fleet_config_topic() -> str:
    return f"{CONFIG_PREFIX}/fleet"


def device_type_config_topic(device_type: str) -> str:
    """Device type names may hold / + and spaces: percent-encoded into one topic level."""
    from urllib.parse import quote

    return f"{CONFIG_PREFIX}/type/{quote(device_type, safe='')}"


def device_config_topic(device_id: str) -> str:
    return f"{PREFIX}/{device_id}/config"


def config_subscriptions() -> tuple[str, ...]:
    """Every level's retained configuration (what `pes-collector agents config show` reads)."""
    return (fleet_config_topic(), f"{CONFIG_PREFIX}/type/+", f"{PREFIX}/+/config")


def config_probe_topic(client_id: str) -> str:
    """A collector tool's own marker topic (not retained, read by nobody else): the marker
    coming back after a subscribe means every retained message of that subscribe has arrived."""
    return f"{CONFIG_PREFIX}/probe/{client_id}"


def config_level_from_topic(topic: str) -> tuple[str, str] | None:
    """(level, target) of a configuration topic: ("fleet", ""), ("type", <device type>),
    ("device", <device id>); None for any other topic."""
    from urllib.parse import unquote

    if topic == fleet_config_topic():
        return "fleet", ""
    head = f"{CONFIG_PREFIX}/type/"
    if topic.startswith(head) and "/" not in topic[len(head) :] and topic != head:
        return "type", unquote(topic[len(head) :])
    parts = topic.split("/")
    if len(parts) == 5 and "/".join(parts[:3]) == PREFIX and parts[3] and parts[4] == "config":
        return "device", parts[3]
    return None
