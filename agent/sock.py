"""The local socket: programs in any language record events over a Unix domain socket.

Protocol (docs/agent.md): newline-delimited JSON. Each request line is one event object
(`{"kind":"feature_use","feature":"calibrate"}`); each gets exactly one reply line, in order:
`{"ok":true,"id":"<event id>"}` once the event is committed to the buffer, or
`{"ok":false,"error":"<why>"}`. Blank lines are ignored. A client may pipeline: send many lines
without waiting; the replies come back in the same order.

A bad line (not JSON, invalid event, longer than `max_line` bytes) gets its error reply and
disturbs nothing else. Lines that arrive together are recorded together (one submission to the
group-commit writer per read), which is what makes pipelining fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from agent.errors import AgentError
from shared.errors import PesError

log = logging.getLogger(__name__)

Row = tuple[str, str]
READ_BYTES = 32 * 1024
MAX_LINES_PER_SUBMISSION = 512
# Per client: chunks read and not yet answered before we stop reading (memory stays bounded
# however far ahead a pipelining client is; the socket buffer then pushes back on it).
MAX_QUEUED_CHUNKS = 2


@dataclass(slots=True)
class SocketStats:
    clients: int = 0
    connections: int = 0
    refused: int = 0
    ok: int = 0
    errors: int = 0


@dataclass(slots=True)
class _Chunk:
    # Per line: (index of its row in `rows`, event id) or (-1, error reply line).
    entries: list[tuple[int, bytes]] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    future: asyncio.Future[int] | None = None


def ok_reply(event_id: str) -> bytes:
    return b'{"ok":true,"id":"%s"}\n' % event_id.encode()


def error_reply(message: str) -> bytes:
    return json.dumps({"ok": False, "error": message}, ensure_ascii=False).encode() + b"\n"


class SocketServer:
    """`prepare(lines)` turns request lines into, per line, the rows to write and the reply's
    event id, or an error message; `submit(rows)` hands rows to the group-commit writer."""

    def __init__(
        self,
        path: Path,
        *,
        prepare: Callable[[list[bytes]], list[tuple[list[Row], str] | str]],
        submit: Callable[[list[Row]], asyncio.Future[int]],
        mode: int = 0o660,
        max_line: int = 64 * 1024,
        max_clients: int = 256,
        max_submission_bytes: int = 1 << 20,
    ) -> None:
        self.path = path
        self._prepare = prepare
        self._submit = submit
        self._mode = mode
        self._max_line = max_line
        self._max_clients = max_clients
        self._max_submission_bytes = max_submission_bytes
        self._server: asyncio.Server | None = None
        self._readers: set[asyncio.StreamReader] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self.stats = SocketStats()

    async def start(self) -> None:
        self._remove_stale()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._server = await asyncio.start_unix_server(
            self._handle, path=str(self.path), limit=READ_BYTES
        )
        os.chmod(self.path, self._mode)

    def _remove_stale(self) -> None:
        """A socket file left by a killed agent is removed; a live agent's is not touched."""
        if not self.path.exists() and not self.path.is_symlink():
            return
        if not self.path.is_socket():
            raise AgentError(f"{self.path} exists and is not a socket: not removing it")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.settimeout(1.0)
            probe.connect(str(self.path))
        except OSError:
            self.path.unlink(missing_ok=True)  # nobody listening: stale
        else:
            raise AgentError(f"another agent is listening on {self.path}")
        finally:
            probe.close()

    async def stop(self, grace: float = 5.0) -> None:
        """Stop accepting; let each client's lines already received be answered; close."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for reader in list(self._readers):
            reader.feed_eof()  # the read loop ends after what is buffered
        if self._handlers:
            _, late = await asyncio.wait(set(self._handlers), timeout=grace)
            for t in late:
                t.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        with contextlib.suppress(OSError):
            await asyncio.wait_for(server.wait_closed(), grace)
        with contextlib.suppress(OSError):
            self.path.unlink()

    # -- one client ---------------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self.stats.connections += 1
        try:
            if self.stats.clients >= self._max_clients or self._server is None:
                self.stats.refused += 1
                writer.write(error_reply("too many clients"))
                return
            self.stats.clients += 1
            self._readers.add(reader)
            try:
                await self._converse(reader, writer)
            finally:
                self._readers.discard(reader)
                self.stats.clients -= 1
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._handlers.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        chunks: asyncio.Queue[_Chunk | None] = asyncio.Queue(MAX_QUEUED_CHUNKS)
        replier = asyncio.create_task(self._reply(chunks, writer))
        try:
            buf = b""
            discarding = False  # inside a line that is too long: skip to its end
            while not writer.is_closing():
                data = await reader.read(READ_BYTES)
                if not data:
                    break
                buf += data
                chunk = _Chunk()
                if discarding:
                    nl = buf.find(b"\n")
                    if nl < 0:
                        buf = b""
                        continue
                    buf, discarding = buf[nl + 1 :], False
                lines = buf.split(b"\n")
                buf = lines.pop()
                if len(buf) > self._max_line:
                    lines.append(b"")  # placeholder, answered as too long below
                    buf, discarding = b"", True
                    self._add(chunk, lines, too_long_last=True)
                else:
                    self._add(chunk, lines)
                await self._queue_chunk(chunk, chunks)
            if buf.strip() and not discarding:  # a last line without its newline
                chunk = _Chunk()
                self._add(chunk, [buf])
                await self._queue_chunk(chunk, chunks)
        finally:
            await chunks.put(None)  # never blocks for long: the replier always consumes
            await replier

    def _add(self, chunk: _Chunk, lines: list[bytes], *, too_long_last: bool = False) -> None:
        # Per line, in order: an error reply, or the index of the line in `todo`.
        plan: list[bytes | int] = []
        todo: list[bytes] = []
        too_long = error_reply(f"line longer than {self._max_line} bytes")
        last = len(lines) - 1
        for k, line in enumerate(lines):
            if (too_long_last and k == last) or len(line) > self._max_line:
                plan.append(too_long)
            elif len(line) < 8 and not line.strip():
                continue  # a blank line (a complete event is longer than this)
            else:
                plan.append(len(todo))
                todo.append(line)
        results = self._prepare(todo) if todo else []
        for step in plan:
            if isinstance(step, bytes):
                chunk.entries.append((-1, step))
                continue
            res = results[step]
            if isinstance(res, str):
                chunk.entries.append((-1, error_reply(res)))
                continue
            rows, event_id = res
            chunk.rows.extend(rows)
            chunk.entries.append((len(chunk.rows) - 1, event_id.encode()))

    async def _queue_chunk(self, chunk: _Chunk, chunks: asyncio.Queue[_Chunk | None]) -> None:
        # Submitted in slices, so no single submission exceeds a transaction's bounds.
        parts = _split(chunk, MAX_LINES_PER_SUBMISSION, self._max_submission_bytes)
        for part in parts:
            if part.rows:
                try:
                    part.future = self._submit(part.rows)
                except PesError as exc:
                    part.rows = []
                    part.entries = [
                        (i if i < 0 else -1, e if i < 0 else error_reply(str(exc)))
                        for i, e in part.entries
                    ]
            await chunks.put(part)  # waits when this client is far ahead of its replies

    async def _reply(self, chunks: asyncio.Queue[_Chunk | None], w: asyncio.StreamWriter) -> None:
        while (chunk := await chunks.get()) is not None:
            stored, failure = len(chunk.rows), None
            if chunk.future is not None:
                try:
                    stored = await chunk.future
                except PesError as exc:
                    stored, failure = 0, str(exc)
            out = []
            for idx, payload in chunk.entries:
                if idx < 0:
                    out.append(payload)
                    self.stats.errors += 1
                elif idx < stored:
                    out.append(b'{"ok":true,"id":"%s"}\n' % payload)
                    self.stats.ok += 1
                else:
                    out.append(error_reply(failure or "buffer full: event not stored"))
                    self.stats.errors += 1
            if out and not w.is_closing():
                try:
                    w.write(b"".join(out))
                    await w.drain()
                except (ConnectionError, OSError):
                    # The client went away: keep consuming (its events are stored anyway)
                    # so that the reader never waits on a queue nobody empties.
                    w.close()


def _split(chunk: _Chunk, max_rows: int, max_bytes: int) -> list[_Chunk]:
    """Cut a chunk into parts of at most `max_rows` rows and about `max_bytes` bytes, at line
    boundaries (the session rows written for a line stay with it: they precede its own row)."""
    parts: list[_Chunk] = []
    cur = _Chunk()
    start = end = size = 0  # cur's rows are chunk.rows[start:end]
    for idx, payload in chunk.entries:
        if idx < 0:
            cur.entries.append((idx, payload))
            continue
        line_size = sum(len(i) + len(body) for i, body in chunk.rows[end : idx + 1])
        if end > start and (idx + 1 - start > max_rows or size + line_size > max_bytes):
            cur.rows = chunk.rows[start:end]
            parts.append(cur)
            cur, start, size = _Chunk(), end, 0
        cur.entries.append((idx - start, payload))
        size += line_size
        end = idx + 1
    cur.rows = chunk.rows[start:end]
    parts.append(cur)
    return parts
