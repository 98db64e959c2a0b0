"""A fault-injecting TCP proxy between the agents and the broker: it forwards, or it cuts the
network. A cut is a blackhole, as when a gateway's uplink goes away: open connections stay open
but every byte is lost both ways, new connections are accepted and never answered. On heal
the connections that lived through the cut are reset (their byte streams have holes, TCP would
have given up on them too) and new ones are forwarded again."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field


@dataclass(eq=False)
class _Conn:
    writers: list[asyncio.StreamWriter] = field(default_factory=list)
    dead: bool = False  # blackholed: bytes are read and thrown away

    def reset(self) -> None:
        for w in self.writers:
            w.transport.abort()  # RST, not a graceful close


class NetCut:
    def __init__(self, target_port: int, host: str = "127.0.0.1") -> None:
        self.target = (host, target_port)
        self.port = 0
        self.up = True
        self._conns: set[_Conn] = set()
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> NetCut:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
        for c in list(self._conns):
            c.reset()
        if self._server is not None:
            await self._server.wait_closed()

    def cut(self) -> None:
        self.up = False
        for c in self._conns:
            c.dead = True

    def heal(self) -> None:
        self.up = True
        for c in [c for c in self._conns if c.dead]:
            c.reset()

    async def _handle(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        conn = _Conn([w], dead=not self.up)
        self._conns.add(conn)
        try:
            if conn.dead:
                await self._pump(r, None, conn)
                return
            try:
                ur, uw = await asyncio.open_connection(*self.target)
            except OSError:  # the broker is down: refuse, as it would
                w.transport.abort()
                return
            conn.writers.append(uw)
            await asyncio.gather(self._pump(r, uw, conn), self._pump(ur, w, conn))
        finally:
            self._conns.discard(conn)
            conn.reset()

    @staticmethod
    async def _pump(r: asyncio.StreamReader, w: asyncio.StreamWriter | None, c: _Conn) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await r.read(1 << 16):
                if c.dead or w is None:
                    continue
                w.write(data)
                await w.drain()
        c.reset()
