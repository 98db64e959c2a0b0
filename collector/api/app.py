"""`create_app`: the collector's HTTP API (FastAPI). Every `/v1` route needs a bearer token when
tokens are configured; errors map to status codes here, once: QueryError -> 422,
StoreUnavailable -> 503 with Retry-After."""

from __future__ import annotations

import hmac

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse

from collector import __version__
from collector.api.routes import analytics, dashboard, fleet, ops, outcomes
from collector.api.state import AppState
from collector.errors import QueryError, StoreUnavailable


def create_app(state: AppState) -> FastAPI:
    app = FastAPI(title="PES Telemetry collector", version=__version__)
    tokens = [t.encode() for t in state.settings.api.tokens]

    def require_token(request: Request) -> None:
        if not tokens:
            return
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        ok = scheme.lower() == "bearer" and any(
            hmac.compare_digest(token.encode(), t) for t in tokens
        )
        if not ok:
            raise HTTPException(401, "missing or invalid API token", {"WWW-Authenticate": "Bearer"})

    auth = Depends(require_token)

    @app.exception_handler(QueryError)
    async def _bad_query(_r: Request, exc: QueryError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(StoreUnavailable)
    async def _busy(_r: Request, exc: StoreUnavailable) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": "1"})

    # /healthz, /readyz, /metrics, /v1/devices, /v1/stats
    ops.mount(app, state, auth)
    # /v1/pes, /v1/compare, /v1/trend, /v1/overview, /v1/health, /v1/funnel, /v1/alerts
    app.include_router(analytics.router(state, auth))
    # /v1/outcomes (import), /v1/outcomes/report
    app.include_router(outcomes.router(state, auth))
    # /v1/fleet, /v1/entity: what only the dashboard's pages need
    app.include_router(fleet.router(state, auth))
    # The dashboard's pages and static assets (public: they hold no data)
    dashboard.mount(app)
    return app
