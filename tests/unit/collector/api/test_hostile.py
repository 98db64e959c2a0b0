"""The collector's HTTP API fuzzed from its own OpenAPI schema (schemathesis): valid and
invalid requests to every operation, with the token, on a store holding a small fleet. No
request may get a 5xx. New endpoints are covered as soon as they are in /openapi.json."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any, TypeVar

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, reject, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core.result import Err, Ok

from collector.api import AppState, create_app
from collector.settings import load_settings
from collector.storage import open_store
from tests.kits.hostile import AUTH, ApiHarness, db_snapshot

NOW = time.time_ns() // 1_000_000
# Operations, read from the app's own schema (no store needed for that).
_SPEC_APP = create_app(
    AppState(load_settings(None, storage={"url": "sqlite::memory:"}), open_store("sqlite::memory:"))
)
SCHEMA = schemathesis.openapi.from_dict(_SPEC_APP.openapi())


T = TypeVar("T")
E = TypeVar("E", bound=Exception)


def _parsed(result: Ok[T] | Err[E]) -> T:
    if isinstance(result, Err):  # the app's own schema must parse: fail loudly if it does not
        raise result.err()
    return result.ok()


OPERATIONS = {op.label: op for op in map(_parsed, SCHEMA.get_all_operations())}
# About 40 requests per operation and mode: the whole module stays well under a minute.
FUZZ = settings(
    max_examples=40,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],  # a failure shows the request; no slow shrinking
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiHarness]:
    harness = ApiHarness(tmp_path_factory.mktemp("api") / "c.db", NOW)
    try:
        yield harness
    finally:
        harness.close()


# The API's operations, written out by hand rather than read back from the schema under test:
# an endpoint that drops out of /openapi.json (e.g. include_in_schema=False) would silently stop
# being fuzzed, and one added must be added here on purpose. The dashboard's HTML pages and
# /metrics (Prometheus text) are deliberately outside the schema.
EXPECTED_OPERATIONS = {
    "GET /healthz",
    "GET /readyz",
    "GET /v1/alerts",
    "GET /v1/compare",
    "GET /v1/devices",
    "GET /v1/entity",
    "GET /v1/fleet",
    "GET /v1/funnel",
    "GET /v1/health",
    "GET /v1/outcomes/report",
    "GET /v1/overview",
    "GET /v1/pes",
    "GET /v1/releases",
    "GET /v1/retention",
    "GET /v1/rollout",
    "GET /v1/stats",
    "GET /v1/trend",
    "POST /v1/outcomes",
}


def test_every_operation_is_fuzzed() -> None:
    assert set(OPERATIONS) == EXPECTED_OPERATIONS
    assert {label for label, _ in CASES} == EXPECTED_OPERATIONS


def send(api: ApiHarness, kwargs: dict[str, Any]) -> httpx.Response:
    try:
        return api.request(
            kwargs["method"],
            kwargs["url"],
            params=kwargs.get("params"),
            headers={**kwargs.get("headers", {}), **AUTH},
            json=kwargs.get("json"),
        )
    except (httpx.InvalidURL, httpx.LocalProtocolError, UnicodeEncodeError):
        reject()  # a request no HTTP client can send (e.g. a NUL in a header)
        raise


# Invalid requests need something to make invalid: operations without parameters get valid
# ones only.
CASES = [
    (label, mode)
    for label in sorted(OPERATIONS)
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode is GenerationMode.POSITIVE or OPERATIONS[label].definition.raw.get("parameters")
]


@pytest.mark.parametrize(("label", "mode"), CASES)
def test_no_server_errors(api: ApiHarness, label: str, mode: GenerationMode) -> None:
    op = OPERATIONS[label]

    @FUZZ
    @given(case=op.as_strategy(generation_mode=mode))
    def fuzz(case: Any) -> None:
        r = send(api, case.as_transport_kwargs(base_url="http://collector"))
        assert r.status_code < 500, (label, case.query, r.status_code, r.text[:500])
        if mode is GenerationMode.POSITIVE and r.status_code == 200:
            if r.headers.get("content-type", "").startswith("application/json"):
                r.json()

    before = db_snapshot(api.db)
    fuzz()
    assert db_snapshot(api.db) == before  # reads only: nothing a request did changed it


@settings(FUZZ, max_examples=60)
@given(
    path=st.sampled_from(sorted({op.path for op in OPERATIONS.values()})),
    params=st.dictionaries(
        st.sampled_from(["start", "end", "group_by", "limit", "offset", "weights", "format",
                         "device_type", "entity", "a", "b", "interval", "days", "zz"]),
        st.one_of(st.text(max_size=30), st.integers().map(str), st.sampled_from(
            ["", "0", "-1", "9" * 40, "2026-02-30", "0001-01-01", "9999-12-31", "NaN", "1e999",
             "label:", "label:" + "x" * 40, ",,,", "device_type," * 10])),
        max_size=4,
    ),
)  # fmt: skip
def test_odd_query_strings_never_500(api: ApiHarness, path: str, params: dict[str, str]) -> None:
    try:
        r = api.request("GET", path, params=params, headers=AUTH)
    except (httpx.InvalidURL, UnicodeEncodeError):
        reject()
    assert r.status_code < 500, (path, params, r.text[:500])


def test_routes_outside_the_schema_are_known() -> None:
    """Routes hidden from /openapi.json escape the token test (it reads the schema): only these
    may exist, none serving data beyond counts (docs/security.md)."""
    from fastapi.routing import APIRoute

    routes = list(_SPEC_APP.routes)
    for r in routes:  # routers included in the app (FastAPI >= 0.165 keeps them nested)
        routes += getattr(getattr(r, "original_router", None), "routes", [])
    hidden = {
        r.path
        for r in routes
        if hasattr(r, "path") and not (isinstance(r, APIRoute) and r.include_in_schema)
    }
    from collector.api.routes.dashboard import PAGES  # the dashboard: static pages and assets

    known = {"/metrics", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "/static"}
    assert hidden <= known | set(PAGES)
