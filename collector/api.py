"""The HTTP API (FastAPI). Read endpoints need a bearer token when tokens are configured."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict

from collector import __version__
from collector.api_analytics import analytics_router
from collector.api_dashboard import mount_dashboard
from collector.errors import QueryError, StoreUnavailable
from collector.metrics import IngestMetrics
from collector.service import IngestLoop
from collector.settings import CollectorSettings
from collector.store import Store


@dataclass
class AppState:
    settings: CollectorSettings
    store: Store
    ingest: IngestLoop | None = None


class PesRow(BaseModel):
    """One segment. Group-by attributes (device_type, firmware_version, label:<key>) come first."""

    model_config = ConfigDict(extra="allow")

    active: int
    adoption: float | None
    stickiness: float | None
    growth: float
    pes: float | None
    new: int
    recovered: int
    dropped: int
    quick_ratio: float | None
    dau: int
    wau: int
    mau: int
    low_sample: bool
    core_features: dict[str, list[str]]
    feature_adoption: dict[str, float]


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

    Auth = Depends(require_token)

    @app.exception_handler(QueryError)
    async def _bad_query(_r: Request, exc: QueryError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(StoreUnavailable)
    async def _busy(_r: Request, exc: StoreUnavailable) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": "1"})

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        mqtt = state.ingest.mqtt if state.ingest else None
        broker = mqtt is not None and mqtt.connected.is_set()
        body = {"store": "ok", "broker": "connected" if broker else "disconnected"}
        try:
            await state.store.stats()
        except StoreUnavailable as exc:
            body["store"] = str(exc)
        ready = body["store"] == "ok" and (broker or not state.settings.ingest.enabled)
        return JSONResponse(body, status_code=200 if ready else 503)

    # /v1/pes, /v1/compare, /v1/trend, /v1/overview, /v1/health, /v1/funnel, /v1/alerts
    app.include_router(analytics_router(state, Auth))
    # The dashboard's pages and assets, and /v1/fleet, /v1/entity
    mount_dashboard(app, state, Auth)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        ingest = state.ingest
        metrics = ingest.metrics if ingest else IngestMetrics()
        body = metrics.render(ingest.counters if ingest else None, await state.store.stats())
        return Response(body, media_type="text/plain; version=0.0.4")

    @app.get("/v1/devices", dependencies=[Auth])
    async def get_devices(
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
        offset: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,  # SQL's bigint (else a 500)
    ) -> list[dict[str, Any]]:
        """Device registry: last seen, type, firmware, account, agent status, stream loss."""
        return await state.store.devices(limit, offset)

    @app.get("/v1/stats", dependencies=[Auth])
    async def get_stats() -> dict[str, Any]:
        out = await state.store.stats()
        if state.ingest is not None:
            c = state.ingest.counters
            out["ingest"] = {
                "messages": c.messages,
                "stored": c.stored,
                "duplicates": c.duplicates,
                "quarantined": c.quarantined,
                "commits": c.commits,
                "acks_failed": c.acks_failed,
                "store_errors": c.store_errors,
                "last_commit_s": c.last_commit_s,
            }
        return out

    return app
