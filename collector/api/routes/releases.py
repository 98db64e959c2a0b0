"""Release impact under /v1 (specs/releases.md): `GET /v1/releases` (one row per release and
metric, JSON or `?format=csv`) and `GET /v1/rollout` (versions active per day and device type,
first and last day of each version). The same parameters and rows as `pes-collector releases`
(collector/reports/releases.py); mounted by `create_app` behind its token dependency."""

# No `from __future__ import annotations`: FastAPI must see the Annotated aliases as objects.
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.params import Depends as DependsParam
from fastapi.responses import Response

from collector.analytics.releases import ReleaseRow
from collector.analytics.releases_rollout import Rollout
from collector.api.state import AppState
from collector.reports import releases as rr

Window = Annotated[int | None, Query(ge=1, le=rr.MAX_WINDOW, description="days, default 14")]
DeviceType = Annotated[str | None, Query(min_length=1, max_length=64)]
Metric = Annotated[
    Literal["active_share", "breadth", "uses_per_day"] | None, Query(description="one metric")
]


def router(state: AppState, auth: DependsParam) -> APIRouter:
    api = APIRouter(prefix="/v1", dependencies=[auth], tags=["releases"])
    settings = state.settings

    @api.get("/releases", response_model=None)
    async def releases(
        start: date | None = None,
        end: date | None = None,
        window: Window = None,
        as_of: date | None = None,
        device_type: DeviceType = None,
        metric: Metric = None,
        format: Literal["json", "csv"] = "json",
    ) -> list[ReleaseRow] | Response:
        """Before/after and difference-in-differences per firmware release (device type, from,
        to) with a transition in [start, end] (default: the last 90 days)."""
        q = rr.make_release_query(
            settings.pes, start=start, end=end, window=window, as_of=as_of,
            device_type=device_type, metric=metric,
        )  # fmt: skip
        rows = await rr.release_rows(state.store, settings.pes, q)
        if format == "csv":
            headers = {"Content-Disposition": 'attachment; filename="releases.csv"'}
            return Response(
                rr.release_csv(rows), media_type="text/csv; charset=utf-8", headers=headers
            )
        return rows

    @api.get("/rollout")
    async def rollout(
        start: date | None = None,
        end: date | None = None,
        device_type: DeviceType = None,
    ) -> Any:
        """Per day of [start, end] (default: the last 90 days) and device type, the devices
        active on each firmware version and their share; each version's first and last day."""
        q = rr.make_release_query(settings.pes, start=start, end=end, device_type=device_type)
        out: Rollout = await rr.rollout_table(state.store, q)
        return out

    return api
