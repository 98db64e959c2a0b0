"""Optional Prometheus metrics: the text exposition format (version 0.0.4) on a local port.

Written by hand (a dozen lines) so that the agent needs no prometheus-client. Off unless
`metrics_port` is set; binds `metrics_host` (127.0.0.1 by default). Any GET is answered with
the metrics; the agent serves nothing else on this port."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable, Iterable

log = logging.getLogger(__name__)

# (name, type, help, value); value None = not known now (the sample is left out)
Sample = tuple[str, str, str, float | None]
MAX_REQUEST_BYTES = 8192


def render(samples: Iterable[Sample], labels: dict[str, str] | None = None) -> str:
    lab = ""
    if labels:
        inner = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
        lab = "{" + inner + "}"
    lines = []
    for name, kind, help_, value in samples:
        lines.append(f"# HELP {name} {help_}")
        lines.append(f"# TYPE {name} {kind}")
        if value is not None:
            lines.append(f"{name}{lab} {_number(value)}")
    return "\n".join(lines) + "\n"


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(v: float) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return str(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(float(v))


class MetricsServer:
    def __init__(self, host: str, port: int, body: Callable[[], Awaitable[str]]) -> None:
        self.host, self.port = host, port
        self._body = body
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        sock = self._server.sockets[0]
        self.port = int(sock.getsockname()[1])

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            if self._handlers:  # requests being answered: let them finish and close
                await asyncio.wait(set(self._handlers), timeout=2)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            if len(head) > MAX_REQUEST_BYTES:
                return
            method = head.split(b" ", 1)[0]
            if method != b"GET":
                status, text = "405 Method Not Allowed", "GET only\n"
            else:
                status, text = "200 OK", await self._body()
            data = text.encode()
            writer.write(
                f"HTTP/1.0 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
                f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode()
                + data
            )
            await writer.drain()
        except (
            TimeoutError,
            ConnectionError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
        ):
            pass
        except Exception:
            log.exception("metrics request failed")
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
