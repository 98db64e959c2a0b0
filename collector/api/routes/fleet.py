"""The two `/v1` routes only the dashboard needs: `/v1/fleet` (the Fleet page) and `/v1/entity`
(one device's or account's page). Token required like every `/v1` route."""

# No `from __future__ import annotations`: FastAPI must see the Annotated aliases as objects.
import time
from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.params import Depends as DependsParam

from collector.api.state import AppState
from collector.errors import QueryError
from collector.ingest import RateWindow
from collector.reports import make_query
from collector.reports import tables as aq
from collector.storage import Entity
from collector.storage.fleet import ATTENTION_LIMIT

_ID = Annotated[str, Query(min_length=1, max_length=64, description="device or account id")]
_FILTER = Annotated[str | None, Query(max_length=64)]


def router(state: AppState, auth: DependsParam) -> APIRouter:
    api = APIRouter(prefix="/v1", dependencies=[auth], tags=["dashboard"])
    settings = state.settings
    started = time.monotonic()
    rates = RateWindow()

    @api.get("/fleet")
    async def get_fleet(
        limit: Annotated[int, Query(ge=1, le=1000)] = ATTENTION_LIMIT,
    ) -> dict[str, Any]:
        """Devices online/offline (agent status) and silent (no event for 24 h), buffered
        backlog, stream gaps and drops, the remote configuration versions the agents applied
        (`configs`; per device in `attention`, with a refusal's reason), quarantine by
        reason, and this process's ingest
        counters and rate (events stored per second over the last samples; each call to this
        route takes a sample, so the rate appears from the second call)."""
        store = state.store
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

    @api.get("/entity")
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
        store = state.store
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

    return api
