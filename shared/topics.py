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
