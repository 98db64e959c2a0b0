"""`create_app`: the collector's HTTP API (FastAPI). Every `/v1` route depends on one
`TokenGuard` (api/auth.py: bearer tokens, read-only and account-scoped tokens); errors map to
status codes in one place (api/problems.py: QueryError -> 422, StoreUnavailable -> 503 with
Retry-After), all as RFC 9457 problem details."""

from __future__ import annotations

from fastapi import Depends, FastAPI
from fastapi.middleware.gzip import GZipMiddleware

from collector import __version__
from collector.api import problems
from collector.api.auth import TokenGuard
from collector.api.routes import analytics, dashboard, fleet, ops, outcomes, releases
from collector.api.state import AppState


def create_app(state: AppState) -> FastAPI:
    app = FastAPI(title="PES Telemetry collector", version=__version__)
    # The one place tokens are checked: authentication, read-only and account scopes.
    auth = Depends(TokenGuard(state.settings.api))

    problems.install(app)  # every error as RFC 9457 problem details
    # Dashboards poll JSON tables and load ~100 KB of scripts over links that may be slow;
    # gzip shrinks the scripts 2.7x (96 -> 35 KB, docs/dashboard.md). Bodies under 1 KB
    # (health checks, small answers) stay plain.
    # Nothing secret is reflected into a compressed body (tokens travel in headers only).
    app.add_middleware(GZipMiddleware, minimum_size=1024)

    # /healthz, /readyz, /metrics, /v1/devices, /v1/stats
    ops.mount(app, state, auth)
    # /v1/outcomes (import; not under role api) and /v1/outcomes/report (not under role ingest)
    app.include_router(outcomes.router(state, auth))
    if not state.reads:  # role ingest: no analytics state in this process
        return app
    # /v1/pes, /v1/compare, /v1/trend, /v1/overview, /v1/health, /v1/funnel, /v1/retention,
    # /v1/alerts
    app.include_router(analytics.router(state, auth))
    # /v1/releases, /v1/rollout: release impact (specs/releases.md)
    app.include_router(releases.router(state, auth))
    # /v1/fleet, /v1/entity: what only the dashboard's pages need
    app.include_router(fleet.router(state, auth))
    # The dashboard's pages and static assets (public: they hold no data)
    dashboard.mount(app)
    return app
