"""Operations routes: liveness, readiness, Prometheus metrics, the device registry, counts."""

# No `from __future__ import annotations`: FastAPI must see the Annotated aliases as objects.
import time
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import FastAPI, Query
from fastapi.params import Depends as DependsParam
from fastapi.responses import JSONResponse, Response

from collector.api.state import AppState
from collector.errors import QueryError, StoreUnavailable
from collector.ingest import IngestMetrics, OpsGauges, SegmentScore
from collector.reports import make_query, pes_rows


def mount(app: FastAPI, state: AppState, auth: DependsParam) -> None:
    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        body = {"store": "ok", "broker": "connected" if _broker(state) else "disconnected"}
        try:
            await state.store.stats()
        except StoreUnavailable as exc:
            body["store"] = str(exc)
        if not _ingesting(state):
            body["broker"] = "not used"
        body["analytics"] = _analytics(state)
        ready = body["store"] == "ok" and _broker_ok(state)
        if state.role == "api":  # an API replica takes traffic once its first answers are quick
            ready = ready and body["analytics"] != "warming"
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        ingest = state.ingest
        metrics = ingest.metrics if ingest else IngestMetrics()
        stats = await state.store.stats()  # StoreUnavailable: 503, the scrape fails
        counts = await state.store.ops_gauges(int(time.time() * 1000))
        ops = OpsGauges(
            ready=_broker_ok(state),  # the store answered just now
            broker_connected=_broker(state) if _ingesting(state) else None,
            **counts,
        )
        engagement = await _engagement(state)
        body = metrics.render(ingest.counters if ingest else None, stats, engagement, ops)
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
        # silent_devices_24h, alerts_sent, alert_webhook_failures: as on /metrics
        out.update(await state.store.ops_gauges(int(time.time() * 1000)))
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


def _broker(state: AppState) -> bool:
    mqtt = state.ingest.mqtt if state.ingest else None
    return mqtt is not None and mqtt.connected.is_set()


def _ingesting(state: AppState) -> bool:
    return state.settings.ingest.enabled and state.role != "api"


def _analytics(state: AppState) -> str:
    """The start-up warm-up of the analytics state: "warming" until it is built. A failed one
    (say the store was down) leaves the state cold, and the first request builds it."""
    task = state.warming
    if not state.reads:
        return "not used"
    if task is None or not task.done():
        return "warming" if task is not None else "ok"
    if task.cancelled() or task.exception() is not None:
        return "cold (the warm-up failed; the first request builds the state)"
    return "ok"


def _broker_ok(state: AppState) -> bool:
    """The broker part of readiness: connected, or not needed (no ingest in this process)."""
    return _broker(state) or not _ingesting(state)


async def _engagement(state: AppState) -> list[SegmentScore]:
    """The PES gauges: the `metrics.pes_segments` segments with the most active entities over
    the last `metrics.pes_period_days` (bounded cardinality); "all" names the whole fleet."""
    conf = state.settings.metrics
    if not conf.pes_segments or not state.reads:  # role ingest holds no analytics state
        return []
    end = datetime.now(state.settings.pes.tz).date()
    try:
        q = make_query(state.settings.pes, start=end - timedelta(days=conf.pes_period_days - 1),
                       end=end, group_by=conf.pes_group_by)  # fmt: skip
    except QueryError:  # settings are validated at start; a bad group_by exports no gauges
        return []
    rows = await pes_rows(state.store, state.settings.pes, q)
    rows.sort(key=lambda r: (-r["active"], [str(r.get(a)) for a in q.group_by]))
    return [
        SegmentScore(
            "/".join(str(r.get(a) if r.get(a) is not None else "-") for a in q.group_by) or "all",
            r["pes"],
            {c: r[c] for c in ("adoption", "stickiness", "growth")},
        )
        for r in rows[: conf.pes_segments]
    ]
