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
import itertools
import json
import logging
import operator
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from agent.errors import AgentPermanentError, AgentRetryableError
from shared.errors import PesError

log = logging.getLogger(__name__)

Row = tuple[str, str]
# 16 KiB (~200 typical lines) a read and one chunk queued per client: the peak memory under
# load fell by ~3 MB from 32 KiB and two, at the same rate (docs/performance.md, Agent).
READ_BYTES = 16 * 1024
MAX_LINES_PER_SUBMISSION = 512
# Per client: chunks read and not yet answered before we stop reading (memory stays bounded
# however far ahead a pipelining client is; the socket buffer then pushes back on it). One
# waits here while the one before waits for its commit.
MAX_QUEUED_CHUNKS = 1


@dataclass(slots=True)
class SocketStats:
    clients: int = 0
    connections: int = 0
    refused: int = 0
    ok: int = 0
    errors: int = 0


class Plain(NamedTuple):
    """What prepare() returns when every line is one event stored as one row (the common
    case): the rows, and the event ids in line order (row k is line k's). No per-line
    results to build and read back: ~0.2-0.4 us a line less (timeit)."""

    rows: list[Row]
    ids: list[str]


# prepare()'s answer: Plain, or per line, (rows to write, event id) or an error message.
Prepared = Plain | list[tuple[list[Row], str] | str]


@dataclass(slots=True)
class _Chunk:
    # Per line: (index of its row in `rows`, event id) or (-1, error reply line).
    entries: list[tuple[int, bytes]] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    future: asyncio.Future[int] | None = None
    nbytes: int = 0  # of the rows' ids and bodies, once known (_split)
    # A Plain chunk: the event ids, row k line k's, instead of entries (see _entries()).
    ids: list[str] | None = None


_FIRST = operator.itemgetter(0)
_OK_HEAD, _OK_SEP, _OK_TAIL = b'{"ok":true,"id":"', b'"}\n{"ok":true,"id":"', b'"}\n'
_OK_SEP_STR = _OK_SEP.decode()


def ok_reply(event_id: str) -> bytes:
    return b'{"ok":true,"id":"%s"}\n' % event_id.encode()


def error_reply(message: str) -> bytes:
    return json.dumps({"ok": False, "error": message}, ensure_ascii=False).encode() + b"\n"


SAMPLED = -2  # an entry's row index for a line answered ok with nothing to store


class SocketServer:
    """`prepare(lines)` turns request lines into, per line, the rows to write and the reply's
    event id, or an error message (or Plain: all lines one row each); `submit(rows, nbytes)`
    hands rows (with the bytes of their ids and bodies) to the group-commit writer."""

    def __init__(
        self,
        path: Path,
        *,
        prepare: Callable[[list[bytes]], Prepared],
        submit: Callable[[list[Row], int], asyncio.Future[int]],
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
            raise AgentPermanentError(f"{self.path} exists and is not a socket: not removing it")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.settimeout(1.0)
            probe.connect(str(self.path))
        except OSError:
            self.path.unlink(missing_ok=True)  # nobody listening: stale
        else:
            raise AgentRetryableError(f"another agent is listening on {self.path}")
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
        ok = not too_long_last and lines and min(map(len, lines)) >= 8
        if ok and max(map(len, lines)) <= self._max_line:
            # The common case, no line too long or blank: one prepare call, no plan.
            prepared = self._prepare(lines)
            if isinstance(prepared, Plain):
                chunk.rows, chunk.ids = prepared
            else:
                self._collect(chunk, prepared)
            return
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
        results = _per_line(self._prepare(todo)) if todo else []
        for step in plan:
            if isinstance(step, bytes):
                chunk.entries.append((-1, step))
            else:
                self._collect(chunk, results[step : step + 1])

    @staticmethod
    def _collect(chunk: _Chunk, results: list[tuple[list[Row], str] | str]) -> None:
        entries, rows = chunk.entries, chunk.rows
        for res in results:
            if isinstance(res, str):
                entries.append((-1, error_reply(res)))
            elif not res[0]:  # nothing to store (a sampled-out event): answered ok at once
                entries.append((SAMPLED, ok_reply(res[1])))
            else:
                rows += res[0]
                entries.append((len(rows) - 1, res[1].encode()))

    async def _queue_chunk(self, chunk: _Chunk, chunks: asyncio.Queue[_Chunk | None]) -> None:
        # Submitted in slices, so no single submission exceeds a transaction's bounds.
        parts = _split(chunk, MAX_LINES_PER_SUBMISSION, self._max_submission_bytes)
        for part in parts:
            if part.rows:
                try:
                    part.future = self._submit(part.rows, part.nbytes)
                except PesError as exc:
                    part.rows = []
                    part.entries = [
                        (i if i < 0 else -1, e if i < 0 else error_reply(str(exc)))
                        for i, e in _entries(part)
                    ]
                    part.ids = None
            await chunks.put(part)  # waits when this client is far ahead of its replies

    async def _reply(self, chunks: asyncio.Queue[_Chunk | None], w: asyncio.StreamWriter) -> None:
        while (chunk := await chunks.get()) is not None:
            stored, failure = len(chunk.rows), None
            if chunk.future is not None:
                try:
                    stored = await chunk.future
                except PesError as exc:
                    stored, failure = 0, str(exc)
            if chunk.ids is not None and stored == len(chunk.rows):
                # A Plain chunk, every line stored: the same replies as the join below.
                if stored:
                    out = [_OK_HEAD, _OK_SEP_STR.join(chunk.ids).encode(), _OK_TAIL]
                    self.stats.ok += stored
                    await self._send(w, out)
                continue
            entries = _entries(chunk)
            if stored == len(chunk.rows) == len(entries) and _plain(entries):
                # Every line stored, one row each (no errors, no session rows): one join.
                out = [_OK_HEAD, _OK_SEP.join(p for _, p in entries), _OK_TAIL] if stored else []
                self.stats.ok += stored
                entries = []
            else:
                out = []
            for idx, payload in entries:
                if idx == SAMPLED:
                    out.append(payload)
                    self.stats.ok += 1
                elif idx < 0:
                    out.append(payload)
                    self.stats.errors += 1
                elif idx < stored:
                    out.append(b'{"ok":true,"id":"%s"}\n' % payload)
                    self.stats.ok += 1
                else:
                    out.append(error_reply(failure or "buffer full: event not stored"))
                    self.stats.errors += 1
            await self._send(w, out)

    @staticmethod
    async def _send(w: asyncio.StreamWriter, out: list[bytes]) -> None:
        if out and not w.is_closing():
            try:
                w.write(b"".join(out))
                await w.drain()
            except (ConnectionError, OSError):
                # The client went away: keep consuming (its events are stored anyway) so
                # that the reader never waits on a queue nobody empties.
                w.close()


def _entries(chunk: _Chunk) -> list[tuple[int, bytes]]:
    """A chunk's per-line entries (a Plain chunk's made from its ids: line k is row k)."""
    if chunk.ids is None:
        return chunk.entries
    return [(k, i.encode()) for k, i in enumerate(chunk.ids)]


def _per_line(prepared: Prepared) -> list[tuple[list[Row], str] | str]:
    if isinstance(prepared, Plain):
        return [([row], i) for row, i in zip(prepared.rows, prepared.ids, strict=True)]
    return prepared


def _plain(entries: list[tuple[int, bytes]]) -> bool:
    """Whether entry k is row k for every k: no error lines, no lines with session rows."""
    return list(map(_FIRST, entries)) == list(range(len(entries)))


def _split(chunk: _Chunk, max_rows: int, max_bytes: int) -> list[_Chunk]:
    """Cut a chunk into parts of at most `max_rows` rows and about `max_bytes` bytes, at line
    boundaries (the session rows written for a line stay with it: they precede its own row)."""
    rows = chunk.rows
    total = sum(map(len, itertools.chain.from_iterable(rows)))
    if len(rows) <= max_rows and total <= max_bytes:
        chunk.nbytes = total  # the common case: one part, sized without a per-row loop
        return [chunk]
    chunk.entries, chunk.ids = _entries(chunk), None
    parts: list[_Chunk] = []
    cur = _Chunk()
    start = end = size = 0  # cur's rows are chunk.rows[start:end]
    for idx, payload in chunk.entries:
        if idx < 0:
            cur.entries.append((idx, payload))
            continue
        line_size = sum(len(i) + len(body) for i, body in chunk.rows[end : idx + 1])
        if end > start and (idx + 1 - start > max_rows or size + line_size > max_bytes):
            cur.rows, cur.nbytes = chunk.rows[start:end], size
            parts.append(cur)
            cur, start, size = _Chunk(), end, 0
        cur.entries.append((idx - start, payload))
        size += line_size
        end = idx + 1
    cur.rows, cur.nbytes = chunk.rows[start:end], size
    parts.append(cur)
    return parts
