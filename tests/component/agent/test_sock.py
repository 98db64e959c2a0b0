"""The socket server's reply bookkeeping, with a fake prepare/submit on a real Unix socket:
the one-join fast path must answer exactly like the per-line path, and must not be taken
when a line is an error, writes session rows before its own, or was not stored."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from agent.errors import BufferUnavailable
from agent.sock import Plain, Prepared, Row, SocketServer

pytestmark = pytest.mark.timeout(30)


class FakeIntake:
    """bad lines fail; lines with "two" write a session row before their own; `keep` rows of
    each submission are stored (None: all)."""

    def __init__(self, keep: int | None = None) -> None:
        self.keep = keep
        self.submitted: list[list[Row]] = []
        self.sizes: list[int] = []
        self.n = 0

    def prepare(self, lines: list[bytes]) -> Prepared:
        return self.per_line(lines)

    def per_line(self, lines: list[bytes]) -> list[tuple[list[Row], str] | str]:
        out: list[tuple[list[Row], str] | str] = []
        for line in lines:
            doc = json.loads(line)
            if doc.get("bad"):
                out.append("invalid event: bad")
                continue
            self.n += 1
            eid = f"e{self.n}"
            rows = [(f"s{self.n}", "{}")] if doc.get("two") else []
            out.append(([*rows, (eid, json.dumps(doc))], eid))
        return out

    def submit(self, rows: list[Row], nbytes: int) -> asyncio.Future[int]:
        self.submitted.append(rows)
        self.sizes.append(nbytes)
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        fut.set_result(len(rows) if self.keep is None else min(self.keep, len(rows)))
        return fut


class PlainIntake(FakeIntake):
    """FakeIntake answering Plain when every line is one row (as the agent does); `fail`:
    submit() raises it (the writer refusing: agent stopping, a failing disk)."""

    def __init__(self, keep: int | None = None, fail: Exception | None = None) -> None:
        super().__init__(keep)
        self.fail = fail
        self.plain = 0  # prepare() calls answered with Plain

    def prepare(self, lines: list[bytes]) -> Prepared:
        out = self.per_line(lines)
        if any(isinstance(r, str) or len(r[0]) != 1 for r in out):
            return out
        self.plain += 1
        return Plain([r[0][0] for r in out if not isinstance(r, str)],
                     [r[1] for r in out if not isinstance(r, str)])  # fmt: skip

    def submit(self, rows: list[Row], nbytes: int) -> asyncio.Future[int]:
        if self.fail is not None:
            raise self.fail
        return super().submit(rows, nbytes)


async def converse(tmp_path: Path, intake: FakeIntake, lines: list[dict[str, Any]]) -> list[Any]:
    server = SocketServer(tmp_path / "s.sock", prepare=intake.prepare, submit=intake.submit)
    await server.start()
    try:
        reader, writer = await asyncio.open_unix_connection(str(tmp_path / "s.sock"))
        writer.write(b"".join(json.dumps(d).encode() + b"\n" for d in lines))
        writer.write_eof()
        replies = [json.loads(x) for x in (await reader.read()).splitlines()]
        writer.close()
        await writer.wait_closed()
    finally:
        await server.stop()
    return replies


async def test_plain_lines_are_all_answered_ok_in_order(tmp_path: Path) -> None:
    intake = FakeIntake()
    replies = await converse(tmp_path, intake, [{"kind": "x", "i": i} for i in range(300)])
    assert replies == [{"ok": True, "id": f"e{i + 1}"} for i in range(300)]
    rows = [r for sub in intake.submitted for r in sub]
    assert [i for i, _ in rows] == [f"e{i + 1}" for i in range(300)]
    # The submission's size is what the writer would have counted itself.
    assert sum(intake.sizes) == sum(len(i) + len(b) for i, b in rows)


async def test_errors_and_session_rows_keep_each_reply_on_its_line(tmp_path: Path) -> None:
    # Two entries for two rows (an error + a line with a session row): counts alone would
    # wrongly look "plain".
    replies = await converse(tmp_path, FakeIntake(), [{"bad": 1}, {"two": 1}])
    assert replies == [{"ok": False, "error": "invalid event: bad"}, {"ok": True, "id": "e1"}]
    replies = await converse(
        tmp_path, FakeIntake(), [{"kind": "a"}, {"two": 1}, {"bad": 1}, {"kind": "b"}]
    )
    assert [r.get("id") for r in replies] == ["e1", "e2", None, "e3"]
    assert replies[2]["ok"] is False


async def test_rows_not_stored_are_answered_as_not_stored(tmp_path: Path) -> None:
    replies = await converse(tmp_path, FakeIntake(keep=2), [{"kind": "x"} for _ in range(4)])
    assert [r["ok"] for r in replies] == [True, True, False, False]
    assert "not stored" in replies[3]["error"]


async def test_sampled_out_lines_are_answered_ok_in_order(tmp_path: Path) -> None:
    """feature_sample_rate (remote configuration): a line not kept is answered ok with its id,
    in its place among the others, and nothing is stored for it."""
    from agent.agent import Agent
    from agent.settings import AgentSettings, MqttSettings
    from devkit import free_port

    s = AgentSettings(device_id="gw-1", device_type="t", firmware_version="1", account_id="a",
                      buffer_path=tmp_path / "b.db", feature_sample_rate=0.5,
                      mqtt=MqttSettings(port=free_port()))  # fmt: skip
    async with Agent(s) as agent:
        reader, writer = await asyncio.open_unix_connection(str(s.socket_file))
        line = b'{"kind":"feature_use","feature":"f","session_id":"s"}\n'
        writer.write(line * 200 + b'{"kind":"Bad"}\n' + line * 200)
        await writer.drain()
        replies = [json.loads(await reader.readline()) for _ in range(401)]
        writer.close()
        assert [r["ok"] for r in replies].count(False) == 1 and not replies[200]["ok"]
        assert len({r["id"] for r in replies if r["ok"]}) == 400
        assert 0 < agent.sampled_out < 400
        assert agent.stats().recorded == 400 - agent.sampled_out


@pytest.mark.parametrize("keep", [None, 0, 5])
async def test_plain_chunks_are_answered_as_line_by_line_ones(
    tmp_path: Path, keep: int | None
) -> None:
    lines = [{"kind": "x", "i": i} for i in range(300)]
    plain = PlainIntake(keep)
    got = await converse(tmp_path, plain, lines)
    assert plain.plain > 0  # the Plain path was taken
    assert got == await converse(tmp_path, FakeIntake(keep), lines)
    assert [r["ok"] for r in got].count(True) == (300 if keep is None else keep * plain.plain)


async def test_a_plain_chunk_the_writer_refuses_gets_the_error_on_every_line(
    tmp_path: Path,
) -> None:
    plain = PlainIntake(fail=BufferUnavailable("disk gone"))
    got = await converse(tmp_path, plain, [{"kind": "x"} for _ in range(3)])
    assert plain.plain > 0
    assert got == [{"ok": False, "error": "disk gone"}] * 3


async def test_a_plain_chunk_past_the_submission_bounds_is_split(tmp_path: Path) -> None:
    # 700 lines of ~60 bytes arrive in reads of up to 16 KiB; whatever a read holds, no
    # submission may exceed MAX_LINES_PER_SUBMISSION rows, and every line gets its reply.
    from agent import sock

    plain = PlainIntake()
    old = sock.MAX_LINES_PER_SUBMISSION
    sock.MAX_LINES_PER_SUBMISSION = 7
    try:
        got = await converse(tmp_path, plain, [{"kind": "x", "i": i} for i in range(700)])
    finally:
        sock.MAX_LINES_PER_SUBMISSION = old
    assert plain.plain > 0
    assert got == [{"ok": True, "id": f"e{i + 1}"} for i in range(700)]
    assert max(map(len, plain.submitted)) <= 7
