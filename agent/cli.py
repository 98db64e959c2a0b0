"""`pes-agent run | emit | status`.

Exit codes: 0 success; 1 a runtime failure (buffer busy, an internal error); 2 bad config,
bad arguments or an invalid event. User errors print one clear line, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from agent import __version__
from agent.aio import wait_any
from agent.buffer import Buffer
from agent.errors import InvalidEvent
from agent.events import make_event
from agent.settings import CONFIG_ENV, AgentSettings, load_settings
from shared.errors import PermanentError, PesError

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
    emit.add_argument("--ts", metavar="ISO8601", help="event time (default: now; naive = UTC)")

    sub.add_parser("status", parents=[common], help="print buffer depth, age, stream id (JSON)")
    return p


# -- run ------------------------------------------------------------------------------------
def _run(settings: AgentSettings, args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return asyncio.run(_serve(settings, max(0.0, args.drain_timeout)))


async def _serve(settings: AgentSettings, drain_s: float) -> int:
    # Imported here: `emit` and `status` need neither asyncio's agent nor paho.
    from agent.agent import Agent

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with Agent(settings) as agent:
        log.info(
            "pes-agent %s running: device %s, buffer %s, stream %s, broker %s:%d",
            __version__,
            settings.device_id,
            settings.buffer_path,
            agent.stats().stream_id,
            settings.mqtt.host,
            settings.mqtt.port,
        )
        await wait_any(stop, agent.failed)
        log.info("stopping: sending what remains for up to %.1fs", drain_s)
        await agent.close(flush_timeout=drain_s)
    if agent.failure is not None:
        return 1
    log.info("stopped")
    return 0


# -- emit -----------------------------------------------------------------------------------
def _emit(settings: AgentSettings, args: argparse.Namespace) -> int:
    event = make_event(
        settings,
        args.kind,
        args.feature,
        session_id=args.session_id,
        user_id=args.user_id,
        labels=_labels(args.label),
        ts_ms=_ts_ms(args.ts) if args.ts else None,
    )
    # Straight into the buffer: a running agent notices it at its next poll.
    with Buffer(settings.buffer_path) as buffer:
        buffer.append_many([event])
    print(event["id"])
    return 0


def _labels(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidEvent(f"--label expects KEY=VALUE, got {item!r}")
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
    path: Path = settings.buffer_path
    doc: dict[str, object] = {"buffer_path": str(path), "exists": path.exists()}
    if path.exists():  # don't create a buffer (and a new stream) just to look at it
        with Buffer(path) as buffer:
            oldest = buffer.oldest()
            now_ms = time.time_ns() // 1_000_000
            doc |= {
                "stream_id": buffer.stream_id,
                "depth": buffer.depth(),
                "last_seq": buffer.last_seq(),
                "oldest_seq": oldest.seq if oldest else None,
                "oldest_age_s": max(0, now_ms - oldest.ts_ms) / 1000 if oldest else None,
            }
    else:
        doc |= {"stream_id": None, "depth": 0, "oldest_seq": None, "oldest_age_s": None}
    print(json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
