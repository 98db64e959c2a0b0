"""The agent's intake with a real buffer and no broker: the local socket protocol, concurrent
clients, overflow policies, automatic sessions (incl. crash recovery), metrics."""

from __future__ import annotations

import asyncio
import json
import socket as pysocket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from agent.agent import Agent
from agent.buffer import Buffer
from agent.errors import BufferFull, InvalidEvent
from agent.sessions import META_KEY, Sessions
from agent.settings import AgentSettings, MqttSettings
from devkit.broker import free_port
from shared.models import WireEvent

pytestmark = pytest.mark.timeout(60)
LINE = b'{"kind":"feature_use","feature":"calibrate","session_id":"s1"}\n'


def settings(tmp_path: Path, **kw: Any) -> AgentSettings:
    values: dict[str, Any] = {
        "device_id": "gw-1",
        "device_type": "t",
        "firmware_version": "1",
        "account_id": "a",
        "buffer_path": tmp_path / "b.db",
        # Nothing listens there: the agent keeps trying, intake does not care.
        "mqtt": MqttSettings(port=free_port(), reconnect_initial_s=0.5, reconnect_max_s=1),
    }
    return AgentSettings(**(values | kw))


MakeAgent = Callable[..., Awaitable[Agent]]


@pytest.fixture
async def make_agent(tmp_path: Path) -> AsyncIterator[MakeAgent]:
    agents: list[Agent] = []

    async def make(**kw: Any) -> Agent:
        agent = await Agent(settings(tmp_path, **kw)).__aenter__()
        agents.append(agent)
        return agent

    yield make
    for a in agents:
        await a.close()


async def talk(path: Path, payload: bytes, replies: int) -> list[dict[str, Any]]:
    reader, writer = await asyncio.open_unix_connection(str(path))
    writer.write(payload)
    await writer.drain()
    out = [json.loads(await reader.readline()) for _ in range(replies)]
    writer.close()
    await writer.wait_closed()
    return out


async def until(cond: Callable[[], bool], timeout: float = 10) -> None:
    """Wait for the condition itself, not for a guess at how long it takes."""
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def rows(path: Path) -> list[dict[str, Any]]:
    with Buffer(path) as buf:
        return [json.loads(body) | {"seq": s} for s, body in buf.read_after(0, 10**6, 10**9)]


async def test_socket_answers_every_line_in_order(make_agent: MakeAgent, tmp_path: Path) -> None:
    agent = await make_agent()
    sock = agent.settings.socket_file
    assert sock.is_socket() and sock.stat().st_mode & 0o777 == 0o660
    payload = (
        LINE
        + b"\n  \n"  # blank lines: no reply
        + b'{"kind":"feature_use"}\n'
        + b"not json\n"
        + b'{"kind":"x","props":{"n":1}}\r\n'
        + b'{"kind":"x","labels":{"p":"'
        + b"y" * 70_000
        + b'"}}\n'  # too long
        + b"\xff\xfe\n"
        + b'{"kind":"x"},{"kind":"y"}\n'  # two objects on one line
        + b'{"kind":"session_start","session_id":"s2"}'  # last line, no newline
    )
    reader, writer = await asyncio.open_unix_connection(str(sock))
    writer.write(payload)
    writer.write_eof()
    replies = [json.loads(line) for line in (await reader.read()).splitlines()]
    writer.close()
    await writer.wait_closed()
    assert [r["ok"] for r in replies] == [True, False, False, True, False, False, False, True]
    assert "feature_use needs a feature" in replies[1]["error"]
    assert "Invalid JSON" in replies[2]["error"]
    assert "longer than 65536 bytes" in replies[4]["error"]
    stored = rows(agent.settings.buffer_path)
    assert [r["id"] for r in stored] == [replies[i]["id"] for i in (0, 3, 7)]
    for r in stored:
        WireEvent.model_validate(r)


async def test_socket_lines_all_common_are_prepared_plain_else_line_by_line(
    make_agent: MakeAgent,
) -> None:
    from agent.sock import Plain

    agent = await make_agent()
    common = b'{"kind":"feature_use","feature":"calibrate","user_id":"op-7"}'
    first = agent._prepare_lines([common])  # opens op-7's automatic session: two rows
    assert not isinstance(first, Plain) and len(first[0][0]) == 2
    plain = agent._prepare_lines([common] * 3)
    assert isinstance(plain, Plain) and len(plain.rows) == len(plain.ids) == 3
    assert [r[0] for r in plain.rows] == plain.ids
    mixed = agent._prepare_lines([common, common, b'{"kind":"feature_use"}', common])
    assert not isinstance(mixed, Plain)
    assert isinstance(mixed[2], str) and "needs a feature" in mixed[2]
    for res in (mixed[0], mixed[1], mixed[3]):
        assert not isinstance(res, str)
        [(row_id, body)] = res[0]
        assert row_id == res[1] == json.loads(body)["id"]
    assert len({r[1] for r in (mixed[0], mixed[1], mixed[3]) if not isinstance(r, str)}) == 3


async def test_many_pipelining_clients_and_the_api_at_once(make_agent: MakeAgent) -> None:
    agent = await make_agent()
    n, clients = 400, 16
    tasks = [talk(agent.settings.socket_file, LINE * n, n) for _ in range(clients)]
    api = [agent.record("feature_use", "f", session_id="s9") for _ in range(300)]
    results = await asyncio.gather(*tasks, *api)
    ids = [r["id"] for rs in results[:clients] for r in rs if r["ok"]]
    ids += results[clients:]
    assert len(ids) == len(set(ids)) == n * clients + 300
    assert {r["id"] for r in rows(agent.settings.buffer_path)} == set(ids)
    st = agent.stats()
    assert st.commits < len(ids) / 20  # group commit
    assert st.socket.ok == n * clients and st.socket.errors == 0


async def test_record_stores_the_same_whichever_path_it_takes(
    make_agent: MakeAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first record() of new names checks them (the full path); later ones take the lean
    path (names known, no event dict): the same event either way, in the same session."""
    agent = await make_agent(labels={"site": "ü"})
    made: list[int] = []
    make = agent._factory.make

    def counted(*args: Any) -> Any:
        made.append(1)
        return make(*args)

    monkeypatch.setattr(agent._factory, "make", counted)
    props = {"n": 1, "x": 1.5, "s": "ü", "z": None, "b": True}
    feature = f"lean/f +{time.monotonic_ns()}"  # not known yet (the memos outlive tests)
    first = await agent.record("feature_use", feature, user_id="u:1", props=props)
    other = await agent.record("x_done", feature, session_id="u:1")
    assert made == [1, 1]
    second = await agent.record("feature_use", feature, user_id="u:1", props=props)
    other2 = await agent.record("x_done", feature, session_id="u:1")
    assert made == [1, 1]  # both lean
    await agent.record("feature_use", feature, user_id="u:1", props={"big": 2**70})
    assert made == [1, 1, 1]  # beyond 64 bits: the full path makes it a float
    got = {r["id"]: r for r in rows(agent.settings.buffer_path)}
    for full, lean in ((first, second), (other, other2)):
        a, b = got[full].copy(), got[lean].copy()
        for key in ("id", "ts", "mono", "seq"):
            a.pop(key), b.pop(key)
        assert a == b
    assert got[first]["session_id"].startswith("auto-") and got[first]["labels"] == {"site": "ü"}
    assert got[other]["session_id"] == "u:1" and "props" not in got[other]
    for r in got.values():
        WireEvent.model_validate(r)


async def test_record_many(make_agent: MakeAgent) -> None:
    agent = await make_agent()
    events = [{"kind": "feature_use", "feature": f"f{i % 5}", "user_id": "u"} for i in range(700)]
    ids = await agent.record_many(events)
    got = rows(agent.settings.buffer_path)
    assert [r["id"] for r in got if r["kind"] == "feature_use"] == ids
    assert len({r["session_id"] for r in got}) == 1  # one automatic session for user u
    with pytest.raises(InvalidEvent, match=r"event 1: .*feature_use needs a feature"):
        await agent.record_many([{"kind": "x"}, {"kind": "feature_use"}])
    assert len(rows(agent.settings.buffer_path)) == len(got)  # nothing of it stored


async def test_a_client_that_vanishes_disturbs_no_one(make_agent: MakeAgent) -> None:
    agent = await make_agent()
    path = agent.settings.socket_file
    for _ in range(5):
        raw = pysocket.socket(pysocket.AF_UNIX)
        raw.connect(str(path))
        raw.sendall(LINE * 2000 + b'{"kind":"x"')  # and goes away mid-line, unread replies
        raw.close()
    replies = await talk(path, LINE * 50, 50)
    assert all(r["ok"] for r in replies)


async def test_reject_new_refuses_with_a_clear_error(make_agent: MakeAgent) -> None:
    agent = await make_agent(max_buffer_mb=1, overflow="reject_new", auto_sessions=False)
    big = {"blob": "x" * 120}
    event = {"kind": "feature_use", "feature": "f", "props": big}
    with pytest.raises(BufferFull, match=r"reject_new\): \d+ of 100 rows stored"):
        for _ in range(200):  # 1 MiB holds about 2,000 of these
            await agent.record_many([event] * 100)
    with pytest.raises(BufferFull, match="buffer full"):
        for _ in range(200):  # single events may still fit in the last pages
            await agent.record("feature_use", "f", props=big)
    stored = (await agent.snapshot())["buffer_depth"]
    line = json.dumps({"kind": "feature_use", "feature": "f", "props": big}).encode() + b"\n"
    replies = await talk(agent.settings.socket_file, line * 3, 3)
    assert [r["ok"] for r in replies] == [False] * 3
    assert "buffer full" in replies[0]["error"]
    assert agent.settings.buffer_path.stat().st_size <= 1024 * 1024
    snap = await agent.snapshot()
    assert snap["buffer_depth"] == stored and snap["rejected"] >= 4 and snap["dropped"] == 0
    with pytest.raises(InvalidEvent):
        await agent.record("feature_use")


async def test_automatic_sessions_time_out_and_close_on_shutdown(make_agent: MakeAgent) -> None:
    agent = await make_agent(session_idle_s=0.3)
    ids = [await agent.record("feature_use", f"f{i}", user_id="u1") for i in range(3)]
    await asyncio.sleep(0.05)
    await agent.record("feature_use", "other", user_id="u2")
    assert agent.stats().sessions_open == 2
    await until(lambda: agent.stats().sessions_open == 0)  # both idle: ended by the timer
    late = await agent.record("feature_use", "again", user_id="u1")  # a new session
    await agent.close()
    got = rows(agent.settings.buffer_path)
    by_id = {r["id"]: r for r in got}
    sid = by_id[ids[0]]["session_id"]
    assert all(by_id[i]["session_id"] == sid for i in ids)
    kinds = [(r["kind"], r.get("user_id")) for r in got if r["session_id"] == sid]
    assert kinds[0] == ("session_start", "u1") and kinds[-1] == ("session_end", "u1")
    end = [r for r in got if r["session_id"] == sid][-1]
    assert 0 <= end["props"]["duration_s"] < 0.3 and end["props"]["auto"] is True
    second = by_id[late]["session_id"]
    assert second != sid
    assert [r["kind"] for r in got if r.get("session_id") == second][-1] == "session_end"
    assert sum(r["kind"] == "session_start" for r in got) == 3
    assert sum(r["kind"] == "session_end" for r in got) == 3
    with Buffer(agent.settings.buffer_path) as buf:
        assert buf.meta()[META_KEY] == "[]"


async def test_sessions_left_open_by_a_crash_are_closed_on_start(
    make_agent: MakeAgent, tmp_path: Path
) -> None:
    s = Sessions(1800)
    start = {"id": "e", "kind": "feature_use", "feature": "f", "ts": 1_800_000_000_000,
             "mono": 5_000, "boot": "old-boot", "user_id": "u7"}  # fmt: skip
    later = start | {"mono": 9_500, "ts": 1_800_000_004_500}
    s.on_event(start)
    s.on_event(later)
    with Buffer(tmp_path / "b.db") as buf:  # what the crashed run had committed
        buf.set_meta(META_KEY, s.snapshot())
    agent = await make_agent()
    await until(lambda: any(r["kind"] == "session_end" for r in rows(tmp_path / "b.db")))
    (end,) = [r for r in rows(tmp_path / "b.db") if r["kind"] == "session_end"]
    assert end["session_id"] == start["session_id"] and end["user_id"] == "u7"
    assert end["props"]["duration_s"] == 4.5
    assert (end["ts"], end["mono"], end["boot"]) == (1_800_000_004_500, 9_500, "old-boot")
    await agent.close()
    with Buffer(tmp_path / "b.db") as buf:
        assert buf.meta()[META_KEY] == "[]"


async def test_metrics_endpoint_and_a_second_agent_on_the_same_socket(
    make_agent: MakeAgent, tmp_path: Path
) -> None:
    port = free_port()
    agent = await make_agent(metrics_port=port)
    await agent.record("feature_use", "f")
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    text = (await reader.read()).decode()
    writer.close()
    await writer.wait_closed()
    assert text.startswith("HTTP/1.0 200 OK")
    assert 'pes_agent_buffer_events{device_id="gw-1"} 2' in text  # session_start + event
    assert 'pes_agent_connected{device_id="gw-1"} 0' in text
    other = Agent(settings(tmp_path, buffer_path=tmp_path / "other.db",
                           socket_path=agent.settings.socket_file))  # fmt: skip
    with pytest.raises(Exception, match="another agent is listening"):
        await other.__aenter__()
    assert agent.settings.socket_file.is_socket()  # the live agent's socket was left alone
