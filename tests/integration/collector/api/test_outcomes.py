"""Outcomes through the product's doors (specs/outcomes.md): imported with `POST /v1/outcomes` or
`pes-collector outcomes import`, reported by `GET /v1/outcomes/report` and `pes-collector outcomes
report`, compared with `report()` fed with health from the brute-force reference over the raw
events (tests/kits/analytics.reference_health), one outcome at a time."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest

from collector.analytics.outcomes import DEFAULT_BANDS, ScoredOutcome, report, score_period
from collector.analytics.params import PesParams
from collector.api import AppState, create_app
from collector.reports import make_outcome_query, outcome_report
from collector.settings import load_settings
from collector.storage import Store
from tests.kits.analytics import (
    BASE,
    activity_of,
    entity_of,
    random_fleet,
    reference_health,
    write_events,
)

CORE = {"press-x": ["calibrate", "export", "recipes"], "lathe-9": ["jog", "spindle"]}
AUTH = {"Authorization": "Bearer t0k"}
EVENTS = random_fleet(random.Random(42), history=60, devices=14)
Outcome = tuple[str, str, str, date]  # entity, id, outcome, day


def random_outcomes(rng: random.Random) -> list[Outcome]:
    ids = {
        "account": [*sorted({e["account_id"] for e in EVENTS}), "ghost"],
        "device": [*sorted({e["device_id"] for e in EVENTS}), "dev-ghost"],
    }
    out: dict[tuple[str, str, date], Outcome] = {}
    for entity, names in ids.items():
        for name in names:
            for _ in range(rng.randint(4, 8) if entity == "account" else rng.randint(2, 5)):
                day = BASE + timedelta(days=rng.randrange(10, 95))
                kind = rng.choice(["renewed", "expanded", "churned", "churned"])
                out[(entity, name, day)] = (entity, name, kind, day)
    return list(out.values())


OUTCOMES = random_outcomes(random.Random(7))


def jsonl(outcomes: list[Outcome]) -> str:
    key = {"account": "account_id", "device": "device_id"}
    return "".join(
        json.dumps({key[e]: i, "outcome": o, "date": d.isoformat()}) + "\n"
        for e, i, o, d in outcomes
    )


@cache
def _health(entity: str, start: date, end: date, core: bool) -> dict[str, dict[str, Any]]:
    params = PesParams(start, end, core_features=CORE if core else {})
    return reference_health(EVENTS, entity, params)


@cache
def _acts() -> list[Any]:
    return activity_of(EVENTS)


def active_with(
    entity: str, ident: str, start: date, end: date, filters: Mapping[str, str]
) -> bool:
    return any(
        entity_of(a, entity) == ident
        and start <= a["day"] <= end
        and all(a[k] == v for k, v in filters.items())
        for a in _acts()
    )


def expected(
    outcomes: list[Outcome],
    entity: str = "account",
    lead: int = 30,
    length: int = 30,
    bands: tuple[float, ...] = DEFAULT_BANDS,
    filters: Mapping[str, str] | None = None,
    core: bool = True,
) -> dict[str, Any]:
    items = []
    for e, ident, kind, day in sorted(outcomes, key=lambda o: (o[3], o[1])):
        if e != entity:
            continue
        start, end = score_period(day, lead, length)
        if filters and not active_with(entity, ident, start, end, filters):
            continue
        row = _health(entity, start, end, core).get(ident)
        items.append(ScoredOutcome.from_health_row(kind in ("renewed", "expanded"), row))
    return report(items, bands)


def assert_close(got: Any, want: Any, where: str = "") -> None:
    if isinstance(want, dict):
        assert isinstance(got, dict) and set(got) == set(want), where
        for k in want:
            assert_close(got[k], want[k], f"{where}.{k}")
    elif isinstance(want, list | tuple):
        assert isinstance(got, list) and len(got) == len(want), where
        for k, (g, w) in enumerate(zip(got, want, strict=True)):
            assert_close(g, w, f"{where}[{k}]")
    elif isinstance(want, float):
        assert got == pytest.approx(want, abs=1e-9), where
    else:
        assert got == want, where


def write_config(tmp_path: Path, url: str, core_features: Mapping[str, Any] = CORE) -> Path:
    conf = tmp_path / "collector.toml"
    core = "\n".join(f'"{k}" = {json.dumps(v)}' for k, v in core_features.items())
    conf.write_text(
        f'[storage]\nurl = "{url}"\n[pes]\ntimezone = "UTC"\n'
        f'[pes.core_features]\n{core}\n[api]\ntokens = ["t0k"]\n'
    )
    return conf


@pytest.fixture
async def client(store: Store, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The fleet's events in `store` (both backends), the API on it."""
    await write_events(store, EVENTS)
    settings = load_settings(write_config(tmp_path, "sqlite:///unused.db"))
    transport = httpx.ASGITransport(app=create_app(AppState(settings, store)))
    async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=AUTH) as c:
        yield c


async def post(client: httpx.AsyncClient, outcomes: list[Outcome]) -> int:
    r = await client.post("/v1/outcomes", content=jsonl(outcomes).encode())
    assert r.status_code == 200, r.text
    stored: int = r.json()["stored"]
    return stored


async def get_report(client: httpx.AsyncClient, **params: Any) -> Any:
    r = await client.get("/v1/outcomes/report", params=params)
    assert r.status_code == 200, r.text
    return r.json()


async def test_api_report_equals_report_of_reference_health(client: httpx.AsyncClient) -> None:
    assert await post(client, OUTCOMES) == len(OUTCOMES)
    got = await get_report(client)
    assert got["n"] == sum(1 for o in OUTCOMES if o[0] == "account")
    assert_close(got, expected(OUTCOMES))
    assert got["auc"] is not None
    got = await get_report(client, entity="device", lead=7, period_days=14, bands="0,50,100")
    assert_close(got, expected(OUTCOMES, "device", 7, 14, (0.0, 50.0, 100.0)))


async def test_fleet_core_sets_without_configured_core_features(
    store: Store, tmp_path: Path
) -> None:
    """Without configured core features each type's core set is its fleet's features in P:
    health must still be the whole fleet's, though only entities with outcomes are scored."""
    await write_events(store, EVENTS)
    settings = load_settings(write_config(tmp_path, "sqlite:///unused.db", {}))
    await store.put_outcomes(OUTCOMES)
    for entity in ("account", "device"):
        got = await outcome_report(store, settings.pes, make_outcome_query(entity=entity))
        assert_close(got, expected(OUTCOMES, entity, core=False))


async def test_filters_narrow_to_entities_active_in_p(client: httpx.AsyncClient) -> None:
    await post(client, OUTCOMES)
    for entity, filters in [
        ("device", {"device_type": "press-x"}),
        ("account", {"device_type": "lathe-9"}),
        ("account", {"firmware_version": "1.0"}),
    ]:
        got = await get_report(client, entity=entity, lead=5, **filters)
        want = expected(OUTCOMES, entity, 5, filters=filters)
        assert 0 < want["n"] < sum(1 for o in OUTCOMES if o[0] == entity), filters
        assert_close(got, want)


async def test_inactive_entity_scores_zero_and_all_renewed_has_no_auc(
    client: httpx.AsyncClient,
) -> None:
    long_before = BASE - timedelta(days=200)
    await post(
        client,
        [
            ("account", "ghost", "renewed", BASE + timedelta(days=50)),
            ("account", "acct0", "renewed", long_before),  # P far before any activity
        ],
    )
    got = await get_report(client)
    assert got["n"] == 2
    assert got["bands"][0]["n"] == 2 and got["top_quartile"]["threshold"] == 0.0
    assert got["auc"] is None
    assert got["signal_auc"] == dict.fromkeys(("frequency", "breadth", "key_actions", "depth"))
    assert got["weights"]["suggested"] is None


async def test_bad_requests_answer_4xx_and_store_nothing(client: httpx.AsyncClient) -> None:
    good = jsonl(OUTCOMES[:3])
    r = await client.post("/v1/outcomes", content=good + '{"account_id": "x", "outcome": "won"}\n')
    assert r.status_code == 422
    assert r.json()["line"] == 4 and "outcome" in r.json()["reason"]
    assert (await get_report(client))["n"] == 0
    big = b'{"account_id": "a", "outcome": "renewed", "date": "2026-01-01"}\n' * 170_000
    assert (await client.post("/v1/outcomes", content=big)).status_code == 413
    bad: list[dict[str, str | int]] = [
        {"lead": -1}, {"lead": 366}, {"period_days": 0}, {"period_days": 366},
        {"bands": "0,50"}, {"bands": "0,x,100"}, {"bands": "0,60,30,100"}, {"entity": "user"},
    ]  # fmt: skip
    for params in bad:
        r = await client.get("/v1/outcomes/report", params=params)
        assert r.status_code == 422, (params, r.text)
    r = await client.get("/v1/outcomes/report", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401
    r = await client.post("/v1/outcomes", content=good, headers={"Authorization": ""})
    assert r.status_code == 401
    assert (await get_report(client))["n"] == 0


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "collector.cli", *args], capture_output=True, text=True, timeout=180
    )


def test_cli_import_and_report(tmp_path: Path) -> None:
    conf = str(write_config(tmp_path, f"sqlite:///{tmp_path}/c.db"))
    events = tmp_path / "e.jsonl"
    events.write_text("".join(json.dumps(e) + "\n" for e in EVENTS))
    assert cli("import", str(events), "--config", conf).returncode == 0
    bad = tmp_path / "bad.jsonl"
    bad.write_text(jsonl(OUTCOMES[:5]) + "\nnot json\n")
    res = cli("outcomes", "import", str(bad), "--config", conf)
    assert res.returncode == 2 and "line 7" in res.stderr, res.stderr
    good = tmp_path / "o.jsonl"
    good.write_text(jsonl(OUTCOMES))
    for _ in range(2):  # idempotent
        res = cli("outcomes", "import", str(good), "--config", conf)
        assert res.returncode == 0, res.stderr
        assert json.loads(res.stdout) == {"stored": len(OUTCOMES)}
    res = cli("outcomes", "report", "--config", conf, "--lead", "10", "--period-days", "20")
    assert res.returncode == 0, res.stderr
    assert_close(json.loads(res.stdout), expected(OUTCOMES, "account", 10, 20))
    res = cli("outcomes", "report", "--config", conf, "--format", "csv", "--bands", "0,50,100")
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[0] == "lo,hi,n,retained,rate,rate_low,rate_high"
    assert len(res.stdout.splitlines()) == 3
    for args in (["--lead", "400"], ["--period-days", "0"], ["--bands", "10,100"]):
        res = cli("outcomes", "report", "--config", conf, *args)
        assert res.returncode == 2 and res.stderr, args
