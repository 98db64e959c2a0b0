"""Operations routes: liveness, readiness, Prometheus metrics, the device registry, counts."""

# No `from __future__ import annotations`: FastAPI must see the Annotated aliases as objects.
from typing import Annotated, Any

from fastapi import FastAPI, Query
from fastapi.params import Depends as DependsParam
from fastapi.responses import JSONResponse, Response

from collector.api.state import AppState
from collector.errors import StoreUnavailable
from collector.ingest import IngestMetrics


def mount(app: FastAPI, state: AppState, auth: DependsParam) -> None:
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

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        ingest = state.ingest
        metrics = ingest.metrics if ingest else IngestMetrics()
        body = metrics.render(ingest.counters if ingest else None, await state.store.stats())
        return Response(body, media_type="text/plain; version=0.0.4")

    @app.get("/v1/devices", dependencies=[auth])
    async def get_devices(
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
        offset: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,  # SQL's bigint (else a 500)
    ) -> list[dict[str, Any]]:
        """Device registry: last seen, type, firmware, account, agent status, stream loss."""
        return await state.store.devices(limit, offset)

    @app.get("/v1/stats", dependencies=[auth])
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
