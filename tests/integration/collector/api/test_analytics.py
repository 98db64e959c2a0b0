"""Every analytics endpoint through the product's doors: events imported with
`pes-collector import` into a real SQLite file, then the HTTP API and the CLI, compared with the
brute-force reference over the raw events (late events and duplicate deliveries included)."""

from __future__ import annotations

import csv
import io
import json
import math
import random
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from collector.analytics.params import PesParams, PesResult
from collector.analytics.trend import for_period, periods
from collector.api import AppState, create_app
from collector.settings import load_settings
from collector.storage import open_store
from tests.kits.analytics import (
    Event,
    activity_of,
    random_fleet,
    reference_funnel,
    reference_health,
    reference_pes,
    reference_series,
)
from tests.oracles.retention_reference import reference_retention

CORE = {"press-x": ["calibrate", "export", "recipes"], "lathe-9": ["jog", "spindle"]}
AUTH = {"Authorization": "Bearer t0k"}
START, END = date(2026, 2, 1), date(2026, 2, 21)
P = PesParams(START, END, core_features=CORE)
PATHS = [
    "/v1/pes",
    "/v1/compare?a=firmware_version:1.0&b=firmware_version:2.0",
    "/v1/trend",
    "/v1/overview",
    "/v1/health",
    "/v1/funnel",
    "/v1/retention",
    "/v1/alerts",
]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "collector.cli", *args], capture_output=True, text=True, timeout=120
    )


def write_jsonl(path: Path, events: list[Event]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


@pytest.fixture
def fleet(tmp_path: Path) -> tuple[Path, list[Event]]:
    events = random_fleet(random.Random(42), history=60, devices=14)
    conf = tmp_path / "collector.toml"
    core = "\n".join(f'"{k}" = {json.dumps(v)}' for k, v in CORE.items())
    conf.write_text(
        f'[storage]\nurl = "sqlite:///{tmp_path}/c.db"\n[pes]\ntimezone = "UTC"\n'
        f'[pes.core_features]\n{core}\n[api]\ntokens = ["t0k"]\n'
    )
    res = cli("import", str(write_jsonl(tmp_path / "e.jsonl", events)), "--config", str(conf))
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["duplicates"] > 0  # the fleet has second deliveries
    return conf, events


@pytest.fixture
async def client(fleet: tuple[Path, list[Event]]) -> AsyncIterator[httpx.AsyncClient]:
    settings = load_settings(fleet[0])
    async with open_store(settings.storage.url) as store:
        app = create_app(AppState(settings, store))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=AUTH) as c:
            yield c


async def get(client: httpx.AsyncClient, path: str, **params: Any) -> Any:
    r = await client.get(path, params=params)
    assert r.status_code == 200, r.text
    return r.json() if params.get("format") != "csv" else r.text


def same_row(got: dict[str, Any], want: PesResult, group_by: list[str]) -> None:
    assert tuple(got[a] for a in group_by) == want.segment
    for f in (
        "active",
        "new",
        "recovered",
        "dropped",
        "dau",
        "wau",
        "mau",
        "low_sample",
        "core_features",
    ):
        assert got[f] == getattr(want, f), f
    for f in ("adoption", "stickiness", "growth", "pes", "quick_ratio"):
        w = getattr(want, f)
        assert got[f] == (None if w is None else pytest.approx(w, abs=1e-9)), f
    assert got["feature_adoption"] == pytest.approx(want.feature_adoption)


async def test_every_endpoint_needs_a_token_and_is_documented(client: httpx.AsyncClient) -> None:
    for path in PATHS:
        r = await client.get(path, headers={"Authorization": "Bearer nope"})
        assert r.status_code == 401, path
    spec = (await client.get("/openapi.json")).json()
    for path in PATHS:
        assert path.split("?")[0] in spec["paths"]
    params = {p["name"] for p in spec["paths"]["/v1/compare"]["get"]["parameters"]}
    assert {"a", "b", "c", "baseline", "resamples", "seed", "device_type"} <= params
    assert (await client.get("/healthz", headers={})).status_code == 200


async def test_pes_with_weights_filters_and_csv(
    client: httpx.AsyncClient, fleet: tuple[Path, list[Event]]
) -> None:
    events = fleet[1]
    q = {"start": START.isoformat(), "end": END.isoformat()}
    rows = await get(client, "/v1/pes", **q)
    want = reference_pes(events, ["device_type", "firmware_version"], "device", P)
    assert len(rows) == len(want)
    for g, w in zip(rows, want, strict=True):
        same_row(g, w, ["device_type", "firmware_version"])
    weighted = PesParams(START, END, weights=(0.5, 0.25, 0.25), core_features=CORE)
    rows = await get(
        client,
        "/v1/pes",
        **q,
        weights="0.5,0.25,0.25",
        group_by="label:site",
        entity="account",
        device_type="press-x",
    )
    want = reference_pes(
        events, ["label:site"], "account", weighted, filters={"device_type": "press-x"}
    )
    for g, w in zip(rows, want, strict=True):
        same_row(g, w, ["label:site"])
    text = await get(client, "/v1/pes", **q, format="csv")
    table = list(csv.DictReader(io.StringIO(text)))
    json_rows = await get(client, "/v1/pes", **q)
    assert [r["pes"] for r in table] == [
        "" if r["pes"] is None else repr(r["pes"]) for r in json_rows
    ]
    bad = await client.get("/v1/pes", params={**q, "weights": "1,1,1"})
    assert bad.status_code == 422 and "sum to 1" in bad.json()["detail"]


async def test_trend_overview_health_funnel_match_reference(
    client: httpx.AsyncClient, fleet: tuple[Path, list[Event]]
) -> None:
    events = fleet[1]
    q = {"start": START.isoformat(), "end": END.isoformat()}
    rows = await get(client, "/v1/trend", **q, group_by="device_type", interval="week")
    for a, b in periods(START, END, "week"):
        got = [r for r in rows if r["period_start"] == a.isoformat()]
        want = reference_pes(events, ["device_type"], "device", for_period(P, a, b))
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            assert g["period_end"] == b.isoformat()
            same_row(g, w, ["device_type"])
    overview = await get(client, "/v1/overview", **q, entity="account")
    assert [(r["day"], r["dau"], r["wau"], r["mau"]) for r in overview["series"]] == [
        (d.isoformat(), *c) for d, *c in reference_series(events, "account", START, END)
    ]
    [whole] = reference_pes(events, [], "account", P)
    assert {r["feature"]: r["adoption"] for r in overview["features"]} == pytest.approx(
        whole.feature_adoption
    )
    assert overview["lifecycle"][0]["period_start"] == "2026-01-26"
    health = await get(client, "/v1/health", **q, entity="account")
    want_h = reference_health(events, "account", P)
    assert [r["entity"] for r in health] == sorted(want_h)
    for r in health:
        assert math.isclose(r["health"], want_h[r["entity"]]["health"], abs_tol=1e-9)
    # A device's row names the account(s) of its activity in P and the period before.
    since = START - timedelta(days=(END - START).days + 1)
    owners: dict[str, set[str]] = {}
    for act in activity_of(events):
        if since <= act["day"] <= END:
            owners.setdefault(act["device_id"], set()).add(act["account_id"])
    devices = await get(client, "/v1/health", **q)
    assert devices and all(
        r["account_id"] == ",".join(sorted(owners[r["entity"]])) for r in devices
    )
    at_risk = await get(client, "/v1/health", **q, entity="account", list="at_risk")
    assert {r["entity"] for r in at_risk} == {
        e for e, w in want_h.items() if w["health"] < 30 or w["dropped"]
    }
    assert [r["health"] for r in at_risk] == sorted(r["health"] for r in at_risk)
    funnel = await get(client, "/v1/funnel", **q, group_by="", days=5)
    assert {r["feature"]: (r["eligible"], r["used"]) for r in funnel} == reference_funnel(
        events, "device", P, 5
    )
    # Cohorts from the start of history (2026-01-01): weeks of return, per first firmware.
    retention = await get(client, "/v1/retention", start="2025-12-29", end=END.isoformat(),
                          group_by="firmware_version", entity="account", weeks=4)  # fmt: skip
    assert retention and any(r["week"] == 4 for r in retention)
    want_r = reference_retention(
        events, ("firmware_version",), "account", date(2025, 12, 29), END, 4
    )
    got_r = {
        ((r["firmware_version"],), r["cohort"], r["week"]): (r["entities"], r["retained"])
        for r in retention
    }
    assert got_r == want_r


async def test_cli_prints_the_same_rows_as_the_api(
    client: httpx.AsyncClient, fleet: tuple[Path, list[Event]]
) -> None:
    conf = str(fleet[0])
    dates = ["--start", START.isoformat(), "--end", END.isoformat()]
    cases: list[tuple[list[str], str, dict[str, Any]]] = [
        (
            ["pes", "--group-by", "device_type", "--weights", "0.2,0.4,0.4"],
            "/v1/pes",
            {"group_by": "device_type", "weights": "0.2,0.4,0.4"},
        ),
        (
            [
                "compare",
                "--a",
                "firmware_version:1.0",
                "--b",
                "firmware_version:2.0",
                "--seed",
                "5",
                "--resamples",
                "300",
                "--account-id",
                "acct0",
            ],
            "/v1/compare",
            {
                "a": "firmware_version:1.0",
                "b": "firmware_version:2.0",
                "seed": 5,
                "resamples": 300,
                "account_id": "acct0",
            },
        ),
        (["trend", "--interval", "month"], "/v1/trend", {"interval": "month"}),
        (["overview", "--table", "lifecycle"], "/v1/overview", {"table": "lifecycle"}),
        (
            ["health", "--entity", "account", "--list", "pql"],
            "/v1/health",
            {"entity": "account", "list": "pql"},
        ),
        (["funnel", "--days", "7"], "/v1/funnel", {"days": 7}),
        (
            ["retention", "--weeks", "3", "--group-by", "firmware_version"],
            "/v1/retention",
            {"weeks": 3, "group_by": "firmware_version"},
        ),
    ]
    for args, path, params in cases:
        res = cli(*args, *dates, "--config", conf, "--format", "json")
        assert res.returncode == 0, res.stderr
        assert json.loads(res.stdout) == await get(
            client, path, **params, start=START.isoformat(), end=END.isoformat()
        ), args
    res = cli("pes", *dates, "--config", conf, "--format", "csv")
    assert res.stdout == await get(
        client, "/v1/pes", start=START.isoformat(), end=END.isoformat(), format="csv"
    )
    res = cli("compare", *dates, "--config", conf, "--a", "colour:red", "--b", "x:y")
    assert res.returncode == 2 and "attribute:value" in res.stderr


async def test_late_events_and_redeliveries_reach_a_running_api(
    client: httpx.AsyncClient, fleet: tuple[Path, list[Event]], tmp_path: Path
) -> None:
    conf, events = fleet
    q = {"start": START.isoformat(), "end": END.isoformat(), "group_by": ""}
    before = await get(client, "/v1/pes", **q)  # the API's in-memory state is now warm
    rng = random.Random(7)
    late = [
        dict(e, id=f"00000000-0000-4000-8000-{k:012d}", ts="2025-12-20T10:00:00Z")
        for k, e in enumerate(rng.sample([e for e in events if e["kind"] == "feature_use"], 5))
    ]  # long before the first events
    late += [dict(e) for e in rng.sample(events, 20)]  # delivered a second time
    late += [
        dict(e, device_id="dev-new", id=f"00000000-0000-4000-9000-{k:012d}")
        for k, e in enumerate(events[:30])
    ]  # a new device, in the middle of history
    res = cli("import", str(write_jsonl(tmp_path / "late.jsonl", late)), "--config", str(conf))
    assert res.returncode == 0, res.stderr
    after = await get(client, "/v1/pes", **q)
    [want] = reference_pes(events + late, [], "device", P)
    same_row(after[0], want, [])
    assert after != before


async def test_bad_parameters_are_refused_with_422(client: httpx.AsyncClient) -> None:
    cases: list[tuple[str, dict[str, str | int]]] = [
        ("/v1/pes", {"end": "0001-01-01"}),
        ("/v1/trend", {"end": "9999-12-31", "interval": "month"}),
        ("/v1/health", {"start": "0001-01-02", "end": "0001-01-30"}),
        ("/v1/pes", {"start": "2026-03-02", "end": "2026-03-01"}),
        ("/v1/trend", {"start": "2000-01-01", "end": "2009-12-01"}),  # more than 400 weeks
        ("/v1/compare", {"a": "firmware_version:1.0", "b": "nonsense"}),
        ("/v1/compare", {"a": "firmware_version:1.0", "b": "device_type:x", "baseline": "c"}),
        ("/v1/compare", {"a": "firmware_version:1.0", "b": "device_type:x", "resamples": 5}),
        ("/v1/overview", {"format": "csv"}),  # several tables: pick one
        ("/v1/funnel", {"days": 0}),
        ("/v1/pes", {"group_by": "label:"}),
        ("/v1/pes", {"weights": "0.5,0.5"}),
    ]
    for path, params in cases:
        r = await client.get(path, params=params)
        assert r.status_code == 422, (path, params, r.status_code, r.text)


async def test_a_configuration_has_the_same_values_on_every_endpoint(
    client: httpx.AsyncClient, fleet: tuple[Path, list[Event]]
) -> None:
    """/v1/compare's point values are the /v1/pes rows of the same configurations, to 1e-9
    (they once went through the bootstrap's float32 products and differed by 3e-6)."""
    q = {"start": START.isoformat(), "end": END.isoformat()}
    pes = {
        r["firmware_version"]: r
        for r in await get(client, "/v1/pes", **q, group_by="firmware_version")
    }
    a, b = sorted(pes)[:2]  # the fleet runs two or three versions
    rows = await get(
        client, "/v1/compare", **q, a=f"firmware_version:{a}", b=f"firmware_version:{b}",
        resamples=100,
    )  # fmt: skip
    assert len(rows) == 8
    for r in rows:
        want = pes[r["definition"].removeprefix("firmware_version:")][r["metric"]]
        assert r["value"] is not None and want is not None
        assert abs(r["value"] - want) <= 1e-9, r
