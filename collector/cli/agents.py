"""`pes-collector agents config set|show|clear`: remote configuration of the agents.

Publishes retained messages on the fleet's, a device type's or one device's configuration
topic (shared/topics.py) through the broker the collector uses ([mqtt] of its settings, the
collectors' login: only it may write them, deploy/mosquitto/pes.acl). A message is checked with
shared/remote_config.py, the schema every agent checks it with, before it is published: what
an agent would refuse never leaves this command (exit status 2, the reason on stderr).

`set` merges the given keys into the level's current message (read back from the broker) and
publishes it with the next version (the current integer + 1, or `--version`); `--unset KEY`
removes a key, `--replace` starts from no keys. `clear` removes the level (an empty retained
message: the agents fall back to the next level down, or their local settings). `show` prints
the retained messages; whether an agent applied one is in its status (`config_version`,
`config_error`: `GET /v1/fleet`, the dashboard's Fleet page).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from collector.settings import CollectorSettings
from shared import codec
from shared import limits as L
from shared.errors import BrokerRefused, BrokerUnavailable, ConfigError, PublishFailed
from shared.mqtt import Message, MqttClient
from shared.remote_config import (
    SAFE_KEYS,
    ConfigMessage,
    InvalidRemoteConfig,
    decode_message,
    encode_message,
    parse_assignment,
)
from shared.topics import (
    config_level_from_topic,
    config_probe_topic,
    config_subscriptions,
    device_config_topic,
    device_type_config_topic,
    fleet_config_topic,
)

COMMAND = "agents"
CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 10.0
_ID = re.compile(L.ID_PATTERN)
_NAME = re.compile(L.NAME_PATTERN)


@dataclass(frozen=True, slots=True)
class Retained:
    """One level's retained message as read from the broker."""

    level: str
    target: str
    topic: str
    message: ConfigMessage | None  # None: it does not pass the schema (see error)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        m = self.message
        return {
            "level": self.level,
            "target": self.target or None,
            "topic": self.topic,
            "version": m.version if m else None,
            "settings": m.settings if m else None,
            "error": self.error,
        }


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    agents = sub.add_parser(COMMAND, help="manage the agents: remote configuration")
    what = agents.add_subparsers(dest="agents_cmd", required=True)
    config = what.add_parser("config", help="retained configuration for the fleet, a device "
                             "type or a device (keys that agents apply while running)")  # fmt: skip
    verbs = config.add_subparsers(dest="config_cmd", required=True)

    def level_args(p: argparse.ArgumentParser, *, required: bool) -> None:
        p.add_argument("--config", help="the collector's settings ([mqtt] is used)")
        g = p.add_mutually_exclusive_group(required=required)
        g.add_argument("--device", help="one device (its id)")
        g.add_argument("--device-type", help="every device of this type")
        g.add_argument("--fleet", action="store_true", help="every device")

    s = verbs.add_parser("set", help="publish KEY=VALUE ... for a level (merged into its "
                         "current message)")  # fmt: skip
    level_args(s, required=True)
    s.add_argument("assignments", nargs="*", metavar="KEY=VALUE",
                   help="status_interval_s, drain_rate_eps, batch_max_events, "
                   "feature_sample_rate, collection (on/off)")  # fmt: skip
    s.add_argument("--unset", action="append", default=[], metavar="KEY", help="remove a key")
    s.add_argument("--replace", action="store_true", help="start from no keys, not the current")
    s.add_argument("--version", help="the new version (default: the current integer + 1)")
    c = verbs.add_parser("clear", help="remove a level's message (agents fall back)")
    level_args(c, required=True)
    sh = verbs.add_parser("show", help="print the retained messages (all levels by default)")
    level_args(sh, required=False)
    sh.add_argument("--format", choices=["json", "table"], default="table")


def target_topic(args: argparse.Namespace) -> tuple[str, str, str]:
    """(level, target, topic) named by --fleet / --device-type / --device; ConfigError if bad."""
    if args.device is not None:
        if not _ID.match(args.device):
            raise ConfigError(f"--device {args.device[:80]!r}: not a valid device id")
        return "device", args.device, device_config_topic(args.device)
    if args.device_type is not None:
        if not _NAME.match(args.device_type):
            raise ConfigError(f"--device-type {args.device_type[:80]!r}: not a valid type name")
        return "type", args.device_type, device_type_config_topic(args.device_type)
    return "fleet", "", fleet_config_topic()


def next_message(
    current: ConfigMessage | None,
    assignments: Sequence[str],
    *,
    unset: Sequence[str] = (),
    replace: bool = False,
    version: str | None = None,
) -> ConfigMessage:
    """The message `set` publishes, checked as an agent will check it (InvalidRemoteConfig)."""
    settings = {} if replace or current is None else dict(current.settings)
    for key in unset:
        if key not in SAFE_KEYS:
            raise InvalidRemoteConfig(f"--unset {key[:60]}: not a remote setting "
                                      f"({', '.join(SAFE_KEYS)})")  # fmt: skip
        settings.pop(key, None)
    for text in assignments:
        key, value = parse_assignment(text)
        settings[key] = value
    if version is None:
        before = current.version if current else "0"
        if not before.isdigit():
            raise InvalidRemoteConfig(
                f"the current version {before!r} is not an integer: give --version"
            )
        version = str(int(before) + 1)
    return decode_message(encode_message(ConfigMessage(version, settings)))


async def read_retained(client: MqttClient, client_id: str) -> list[Retained]:
    """Every retained message of the client's subscriptions: a marker is published on the
    client's own probe topic after subscribing; once it comes back, the broker has sent every
    retained message that matched (it handles one client's packets in order)."""
    marker = os.urandom(8).hex().encode()
    probe = config_probe_topic(client_id)
    try:
        await client.publish(probe, marker, timeout=READ_TIMEOUT_S)
    except PublishFailed as exc:
        raise BrokerRefused(
            f"cannot publish the probe on {probe}: {exc} (only the collectors' login may read "
            "and write configuration, deploy/mosquitto/pes.acl)"
        ) from exc
    found: dict[str, Retained] = {}
    deadline = time.monotonic() + READ_TIMEOUT_S
    while True:
        try:
            m = await asyncio.wait_for(client.messages.get(), deadline - time.monotonic())
        except TimeoutError as exc:
            raise BrokerUnavailable(
                f"no echo of the probe on {probe} within {READ_TIMEOUT_S:g} s (is this the "
                "collectors' login? the ACL lets only it read and write configuration)"
            ) from exc
        if m.topic == probe:
            if m.payload == marker:
                return sorted(found.values(), key=lambda r: (r.level, r.target))
            continue
        got = _retained(m)
        if got is not None:
            found[m.topic] = got


def _retained(m: Message) -> Retained | None:
    where = config_level_from_topic(m.topic)
    if where is None or not m.payload:
        return None
    level, target = where
    try:
        return Retained(level, target, m.topic, decode_message(m.payload))
    except InvalidRemoteConfig as exc:
        return Retained(level, target, m.topic, None, str(exc))


def show_table(rows: Sequence[Retained]) -> str:
    if not rows:
        return "(no configuration published)"
    lines = [("level", "target", "version", "settings")]
    for r in rows:
        if r.message is None:
            what = f"INVALID: {r.error}"
        else:
            what = " ".join(f"{k}={json.dumps(v)}" for k, v in sorted(r.message.settings.items()))
        lines.append((r.level, r.target or "-", r.message.version if r.message else "-", what))
    widths = [max(len(line[i]) for line in lines) for i in range(3)]
    return "\n".join(
        "  ".join([*(c.ljust(w) for c, w in zip(line[:3], widths, strict=True)), line[3]])
        for line in lines
    )


async def run(settings: CollectorSettings, args: argparse.Namespace) -> int:
    """`agents config set|clear|show`. Bad input: ConfigError (exit status 2, by main)."""
    verb = args.config_cmd
    named = args.fleet or args.device is not None or args.device_type is not None
    level, target, topic = target_topic(args) if named else ("", "", "")
    proposed: list[str] = list(getattr(args, "assignments", []))
    if verb == "set":
        # Every key=value checked before connecting: a typo costs no broker round trip.
        for text in proposed:
            parse_assignment(text)
        if not proposed and not args.unset and not args.replace:
            raise ConfigError("nothing to set: give KEY=VALUE, --unset KEY or --replace")
    client_id = f"pes-collector-config-{os.getpid()}-{os.urandom(3).hex()}"
    client = MqttClient(settings.mqtt, client_id=client_id)
    for sub in (topic,) if named else config_subscriptions():
        client.subscribe(sub, qos=1)
    client.subscribe(config_probe_topic(client_id), qos=1)
    async with client:
        await client.wait_connected(CONNECT_TIMEOUT_S)
        current = await read_retained(client, client_id)
        if verb == "show":
            if args.format == "json":
                print(json.dumps([r.as_dict() for r in current], indent=1))
            else:
                print(show_table(current))
            return 0
        found = next((r for r in current if r.topic == topic), None)
        if (
            found is not None
            and found.message is None
            and verb == "set"
            and (args.version is None or not args.replace)
        ):
            raise ConfigError(
                f"the current message on {topic} is invalid ({found.error}): its agents keep "
                "their previous values; replace it with --replace --version V"
            )
        before = found.message if found else None
        if verb == "clear":
            await client.publish(topic, b"", retain=True, timeout=READ_TIMEOUT_S)
            out: dict[str, Any] = {"level": level, "target": target or None, "topic": topic,
                                   "cleared": before.version if before else None}  # fmt: skip
        else:
            message = next_message(
                before, proposed, unset=args.unset, replace=args.replace, version=args.version
            )
            await client.publish(
                topic,
                encode_message(message),
                retain=True,
                content_type=codec.CONTENT_JSON,
                timeout=READ_TIMEOUT_S,
            )
            out = Retained(level, target, topic, message).as_dict()
            out.pop("error")
    print(json.dumps(out))
    return 0
