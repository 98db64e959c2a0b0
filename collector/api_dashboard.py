"""The web dashboard: its pages and static assets (public: they hold no data), and the two
`/v1` routes only it needs, `/v1/fleet` and `/v1/entity` (token required like every `/v1`
route). Everything else the pages show comes from the analytics API (api_analytics.py)."""

# No `from __future__ import annotations`: FastAPI must see the Annotated aliases as objects.
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Protocol

from fastapi import APIRouter, FastAPI, Query
from fastapi.params import Depends as DependsParam
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from collector import analytics_queries as aq
from collector.errors import QueryError
from collector.fleet import ATTENTION_LIMIT, RateWindow
from collector.queries import make_query
from collector.store import Entity, Filters

if TYPE_CHECKING:
    from collector.api import AppState

WEB = Path(__file__).with_name("web")
PAGES = ("/", "/compare", "/accounts", "/fleet")
_ID = Annotated[str, Query(min_length=1, max_length=64, description="device or account id")]
_FILTER = Annotated[str | None, Query(max_length=64)]


class FleetStore(Protocol):
    async def fleet(self, now_ms: int, limit: int) -> dict[str, Any]: ...

    async def stats(self) -> dict[str, Any]: ...

    async def activity(
        self, entity: Entity, until: date, filters: Filters | None = None
    ) -> list[tuple[str, str, str, str, str]]: ...

    async def features(
        self, entity: Entity, since: date, until: date, filters: Filters | None = None
    ) -> list[tuple[str, str, str, str, str, str, int]]: ...

    async def sessions(
        self, entity: Entity, since: date, until: date, filters: Filters | None = None
    ) -> list[tuple[str, str, str, str, str, int, float]]: ...


def mount_dashboard(app: FastAPI, state: "AppState", auth: DependsParam) -> None:
    index = WEB / "index.html"
    for path in PAGES:  # one page app: every page is the same document, routed in the browser
        app.add_api_route(
            path, lambda: FileResponse(index, media_type="text/html"), include_in_schema=False
        )
    app.mount("/static", StaticFiles(directory=WEB / "static"), name="static")
    app.include_router(_router(state, auth))


def _router(state: "AppState", auth: DependsParam) -> APIRouter:
    router = APIRouter(prefix="/v1", dependencies=[auth], tags=["dashboard"])
    settings = state.settings
    started = time.monotonic()
    rates = RateWindow()

    @router.get("/fleet")
    async def get_fleet(
        limit: Annotated[int, Query(ge=1, le=1000)] = ATTENTION_LIMIT,
    ) -> dict[str, Any]:
        """Devices online/offline (agent status) and silent (no event for 24 h), buffered
        backlog, stream gaps and drops, quarantine by reason, and this process's ingest
        counters and rate (events stored per second over the last samples; each call to this
        route takes a sample, so the rate appears from the second call)."""
        store: FleetStore = state.store  # type: ignore[assignment]
        out = await store.fleet(int(time.time() * 1000), limit)
        stats = await store.stats()
        for key in ("events", "quarantined", "gap_events", "dropped_events"):
            out[key] = int(stats[key])
        out["quarantine_by_reason"] = stats["quarantine_by_reason"]
        ingest = state.ingest
        if ingest is None:
            out["ingest"] = None
        else:
            c = ingest.counters
            now = time.monotonic()
            rates.add(now, c.stored)
            out["ingest"] = {
                "uptime_s": now - started,
                "messages": c.messages,
                "stored": c.stored,
                "duplicates": c.duplicates,
                "quarantined": c.quarantined,
                "rate": rates.rate(),
                "rate_points": rates.points(),
                "last_lag_s": c.last_lag_s,
            }
        return out

    @router.get("/entity")
    async def get_entity(
        id: _ID,
        entity: Entity = "device",
        start: date | None = None,
        end: date | None = None,
        device_type: _FILTER = None,
        firmware_version: _FILTER = None,
    ) -> dict[str, Any]:
        """One device's or account's health over P (as in /v1/health, among the whole
        filtered fleet) and its activity per day of P: active, feature uses, sessions."""
        end = end or datetime.now(settings.pes.tz).date()
        start = start or end - timedelta(days=29)
        filters = {"device_type": device_type, "firmware_version": firmware_version}
        q = make_query(settings.pes, start=start, end=end, group_by="", entity=entity,
                       filters=filters)  # fmt: skip
        if q.end - q.start > timedelta(days=400):
            raise QueryError("an entity's activity covers at most 400 days")
        rows = await aq.health_rows(state.store, settings.pes, q, "all")
        health = next((r for r in rows if r["entity"] == id), None)
        store: FleetStore = state.store  # type: ignore[assignment]
        own = {**dict(q.filters), f"{entity}_id": id}
        acts = await store.activity(entity, q.end, own)
        feats = await store.features(entity, q.start, q.end, own)
        sess = await store.sessions(entity, q.start, q.end, own)
        days: dict[str, dict[str, Any]] = {}
        for k in range((q.end - q.start).days + 1):
            d = (q.start + timedelta(days=k)).isoformat()
            days[d] = {"day": d, "active": False, "uses": {}, "sessions": 0, "minutes": 0.0}
        attrs: set[tuple[str, str]] = set()
        for _e, dtype, fw, _labels, d in acts:
            attrs.add((dtype, fw))
            if d in days:
                days[d]["active"] = True
        for *_, d, feature, uses in feats:
            u = days[d]["uses"]
            u[feature] = u.get(feature, 0) + int(uses)
        for *_, d, n, seconds in sess:
            days[d]["sessions"] += int(n)
            days[d]["minutes"] += float(seconds) / 60
        return {
            "entity": entity,
            "id": id,
            "start": q.start.isoformat(),
            "end": q.end.isoformat(),
            "health": health,
            "configurations": [{"device_type": t, "firmware_version": f} for t, f in sorted(attrs)],
            "days": list(days.values()),
        }

    return router


__all__ = ["PAGES", "mount_dashboard"]
