"""`pes-agent run | emit | status`.

Exit codes: 0 success; 1 a runtime failure (buffer busy, an internal error); 2 bad config,
bad arguments or an invalid event. User errors print one clear line, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import socket
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent._version import __version__
from agent.buffer import Buffer
from agent.errors import BufferUnavailable, CollectionOff, InvalidEvent
from agent.events import check_python, make_event
from agent.settings import CONFIG_ENV, AgentSettings, load_settings
from agent.status import buffer_snapshot
from shared.errors import PermanentError, PesError

if TYPE_CHECKING:
    from agent.agent import Agent

log = logging.getLogger("agent")

DEFAULT_DRAIN_S = 5.0


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed usage or help already
        return exc.code if isinstance(exc.code, int) else 2
    try:
        settings = load_settings(args.config)
        if args.command == "run":
            return _run(settings, args)
        if args.command == "emit":
            return _emit(settings, args)
        return _status(settings)
    except PermanentError as exc:  # ConfigError, InvalidEvent, BufferCorrupt
        print(f"pes-agent: {exc}", file=sys.stderr)
        return 2
    except PesError as exc:  # retryable: buffer busy, broker trouble
        print(f"pes-agent: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pes-agent", description="PES telemetry agent")
    p.add_argument("--version", action="version", version=f"pes-agent {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config", metavar="FILE", help=f"TOML settings (default: ${CONFIG_ENV}, if set)"
    )
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", parents=[common], help="send buffered events until SIGTERM")
    run.add_argument(
        "--drain-timeout",
        type=float,
        default=DEFAULT_DRAIN_S,
        metavar="S",
        help="on SIGTERM/SIGINT, keep sending for up to S seconds (default %(default)s)",
    )
    run.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])

    emit = sub.add_parser("emit", parents=[common], help="store one event in the buffer")
    emit.add_argument("--kind", required=True, help="session_start, session_end, feature_use...")
    emit.add_argument("--feature", help="required for feature_use")
    emit.add_argument("--session-id")
    emit.add_argument("--user-id")
    emit.add_argument(
        "--label", action="append", default=[], metavar="KEY=VALUE", help="repeatable"
    )
    emit.add_argument("--prop", action="append", default=[], metavar="KEY=VALUE", help="repeatable")
    emit.add_argument("--ts", metavar="ISO8601", help="event time (default: now; naive = UTC)")
    emit.add_argument(
        "--via",
        choices=["auto", "socket", "buffer"],
        default="auto",
        help="through the running agent's socket, or straight into the buffer file "
        "(default: the socket if an agent listens on it)",
    )

    sub.add_parser(
        "status", parents=[common], help="print buffer depth, oldest age, drops, last ack (JSON)"
    )
    return p


# -- run ------------------------------------------------------------------------------------
def _run(settings: AgentSettings, args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Imported here: `emit` and `status` need neither asyncio nor paho. Without TLS, `run`
    # loads no OpenSSL either (agent/lean.py).
    if not settings.mqtt.tls:
        from agent.lean import import_without_tls

        import_without_tls()
    import asyncio

    return asyncio.run(_serve(settings, max(0.0, args.drain_timeout)))


async def _serve(settings: AgentSettings, drain_s: float) -> int:
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from agent.agent import Agent
    from agent.aio import wait_any

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # Buffer work runs on threads (SQLite releases the GIL while it commits): two suffice, as
    # the buffer serialises its transactions anyway; the default pool would start up to six.
    loop.set_default_executor(ThreadPoolExecutor(2, thread_name_prefix="pes-agent-io"))
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # SIGHUP: read the firmware version again. Caught from here on (its default would end the
    # process); one that arrives while the agent starts is handled once it runs.
    hup = asyncio.Event()
    loop.add_signal_handler(signal.SIGHUP, hup.set)
    async with Agent(settings) as agent:
        log.info(
            "pes-agent %s running: device %s, buffer %s (limit %g MiB, %s), stream %s, "
            "socket %s, broker %s:%d%s",
            __version__,
            settings.device_id,
            settings.buffer_path,
            settings.max_buffer_mb,
            settings.overflow,
            agent.stats().stream_id,
            settings.socket_file if settings.socket_enabled else "off",
            settings.mqtt.host,
            settings.mqtt.port,
            " (TLS)" if settings.mqtt.tls else "",
        )
        log.info("firmware_version %s", agent.firmware_version)
        while not stop.is_set() and not agent.failed.is_set():
            await wait_any(stop, agent.failed, hup)
            if hup.is_set() and not stop.is_set():
                hup.clear()
                await _reload(agent)
        log.info("stopping: sending what remains for up to %.1fs", drain_s)
        await agent.close(flush_timeout=drain_s)
    if agent.failure is not None:
        return 1
    log.info("stopped")
    return 0


async def _reload(agent: Agent) -> None:
    try:
        version = await agent.reload_firmware()
    except PesError as exc:  # unreadable source: the current version stays
        log.warning("SIGHUP: firmware_version stays %s: %s", agent.firmware_version, exc)
    else:
        log.info("SIGHUP: firmware_version is %s", version)


# -- emit -----------------------------------------------------------------------------------
def _emit(settings: AgentSettings, args: argparse.Namespace) -> int:
    if settings.collection == "off":
        raise CollectionOff("collection is off (consent withdrawn): nothing stored")
    fields: dict[str, Any] = {"kind": args.kind}
    for key, value in (
        ("feature", args.feature), ("session_id", args.session_id), ("user_id", args.user_id),
        ("labels", _pairs(args.label, "--label") or None),
        ("props", _props(args.prop) or None), ("ts", _ts_ms(args.ts) if args.ts else None),
    ):  # fmt: skip
        if value is not None:
            fields[key] = value
    check_python(fields)  # a bad event exits 2 here, whichever way it would have gone
    if args.via != "buffer" and settings.socket_enabled:
        try:
            reply = _via_socket(settings.socket_file, fields)
        except OSError as exc:
            if args.via == "socket":
                raise BufferUnavailable(f"agent socket {settings.socket_file}: {exc}") from exc
        else:
            if not reply.get("ok"):
                print(f"pes-agent: {reply.get('error', reply)}", file=sys.stderr)
                return 1
            print(reply["id"])
            return 0
    # No agent running: straight into the buffer (no automatic session); the agent sends it
    # when it starts, or within a second if it was started meanwhile.
    event = make_event(
        settings,
        fields.pop("kind"),
        fields.pop("feature", None),
        ts_ms=fields.pop("ts", None),
        **fields,
    )
    with Buffer(
        settings.buffer_path,
        max_bytes=settings.max_buffer_bytes,
        overflow=settings.overflow,
        min_free_bytes=settings.min_free_bytes,
    ) as buffer:
        buffer.append_many([event])
    print(event["id"])
    return 0


def _via_socket(path: Path, fields: dict[str, Any]) -> dict[str, Any]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(30)
        sock.connect(str(path))
        sock.sendall(json.dumps(fields).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            more = sock.recv(65536)
            if not more:
                raise ConnectionError("agent closed the connection without replying")
            data += more
    reply = json.loads(data)
    return reply if isinstance(reply, dict) else {"ok": False, "error": repr(reply)}


def _props(items: list[str]) -> dict[str, Any]:
    """KEY=VALUE; VALUE is JSON if it parses as a number, true/false or null, else a string."""
    out: dict[str, Any] = {}
    for key, value in _pairs(items, "--prop").items():
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = value
        out[key] = parsed if isinstance(parsed, int | float | bool) or parsed is None else value
    return out


def _pairs(items: list[str], flag: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidEvent(f"{flag} expects KEY=VALUE, got {item!r}")
        out[key] = value
    return out


def _ts_ms(text: str) -> int:
    try:
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidEvent(f"--ts: not an ISO 8601 time: {text!r}") from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


# -- status ---------------------------------------------------------------------------------
def _status(settings: AgentSettings) -> int:
    """What the retained status says (and more), read from the buffer file: works whether or
    not the agent runs, and never creates a buffer (a new stream) just to look at it."""
    path: Path = settings.buffer_path
    doc: dict[str, Any] = {
        "device_id": settings.device_id,
        "buffer_path": str(path),
        "exists": path.exists(),
        "running": _agent_listening(settings),
        "socket_path": str(settings.socket_file) if settings.socket_enabled else None,
    }
    if path.exists():
        with Buffer(path) as buffer:
            doc |= buffer_snapshot(buffer)
        doc["limit_bytes"] = settings.max_buffer_bytes
        doc["overflow"] = settings.overflow
    else:
        doc |= {"stream_id": None, "buffer_depth": 0, "oldest_age_s": None, "dropped": 0}
    doc["collection"] = settings.collection
    print(json.dumps(doc, indent=2))
    return 0


def _agent_listening(settings: AgentSettings) -> bool | None:
    if not settings.socket_enabled:
        return None
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        try:
            sock.connect(str(settings.socket_file))
        except OSError:
            return False
    return True


if __name__ == "__main__":
    sys.exit(main())
