"""The analytics routes under /v1: PES table, compare, trend, overview, health, funnel,
retention, alerts.
Every table is JSON by default and CSV with `?format=csv`. Mounted by `create_app`, which passes
its token dependency so that every route here needs a token."""

# No `from __future__ import annotations`: FastAPI must see the local Annotated aliases
# (Common, Weeks, ...) as objects, not as names it cannot resolve later.
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.params import Depends as DependsParam
from fastapi.responses import Response

from collector.analytics.compare import MAX_CONFIGS, parse_config
from collector.api.schemas import PesRow
from collector.api.state import AppState
from collector.errors import QueryError
from collector.jobs.alerts import evaluate
from collector.reports import EARLIEST, PesQuery, make_query, to_csv
from collector.reports import tables as aq

Format = Literal["json", "csv"]
_FILTER_DOC = "only events with this {} (a filter, not a segment)"
_CONFIG_DOC = (
    "configuration {}: attribute:value pairs joined by commas, e.g. "
    "`firmware_version:2.1` or `device_type:press-x,label:site:north`; attributes "
    "device_type, firmware_version, account_id, device_id, label:<key>"
)


def _table(rows: list[dict[str, Any]] | dict[str, Any], fmt: Format, name: str) -> Any:
    if fmt == "csv":
        if not isinstance(rows, list):
            raise QueryError("this response has several tables: pick one with `table`")
        headers = {"Content-Disposition": f'attachment; filename="{name}.csv"'}
        return Response(to_csv(rows), media_type="text/csv; charset=utf-8", headers=headers)
    return rows


def router(state: AppState, auth: DependsParam) -> APIRouter:
    api = APIRouter(prefix="/v1", dependencies=[auth], tags=["analytics"])
    settings = state.settings

    def today() -> date:
        return datetime.now(settings.pes.tz).date()

    def query(days: int = 30, group_by_default: str | None = None) -> Any:
        """A dependency for the shared parameters; `days` and `group_by_default` are the
        defaults of the period length and of group_by (None: device_type,firmware_version).
        Async although it never awaits: FastAPI runs a plain `def` dependency in its thread
        pool, a hand-off to a worker thread and back per request, which waits for the GIL and
        the event loop while ingest keeps both busy."""

        async def dependency(
            start: date | None = None,
            end: date | None = None,
            group_by: Annotated[
                str | None,
                Query(max_length=200, description="device_type,firmware_version,label:<key>"),
            ] = None,
            entity: Literal["device", "account"] = "device",
            stickiness: Literal["dau_mau", "dau_wau", "wau_mau"] = "dau_mau",
            weights: Annotated[
                str | None,
                Query(max_length=60, description="adoption,stickiness,growth: 0.5,0.25,0.25"),
            ] = None,
            device_type: Annotated[
                str | None, Query(max_length=64, description=_FILTER_DOC.format("device type"))
            ] = None,
            firmware_version: Annotated[
                str | None, Query(max_length=64, description=_FILTER_DOC.format("firmware"))
            ] = None,
            account_id: Annotated[
                str | None, Query(max_length=64, description=_FILTER_DOC.format("account"))
            ] = None,
        ) -> PesQuery:
            filters = {
                "device_type": device_type,
                "firmware_version": firmware_version,
                "account_id": account_id,
            }
            end = end or today()
            if start is None and end > EARLIEST + timedelta(days=days):
                start = end - timedelta(days=days - 1)  # else make_query rejects `end`
            group_by = group_by_default if group_by is None else group_by
            return make_query(
                settings.pes,
                start=start,
                end=end,
                group_by=group_by,
                entity=entity,
                stickiness=stickiness,
                filters=filters,
                weights=weights,
            )

        return dependency

    Common = Annotated[PesQuery, Depends(query())]
    Weeks = Annotated[PesQuery, Depends(query(days=84))]
    Whole = Annotated[PesQuery, Depends(query(group_by_default=""))]
    WholeWeeks = Annotated[PesQuery, Depends(query(days=84, group_by_default=""))]

    @api.get("/pes", response_model=list[PesRow])
    async def get_pes(q: Common, format: Format = "json") -> Any:
        """The PES table per segment (pes.md), with filters, weights and CSV export."""
        return _table(await aq.pes_rows(state.store, settings.pes, q), format, "pes")

    @api.get("/compare")
    async def get_compare(
        q: Common,
        a: Annotated[str, Query(max_length=300, description=_CONFIG_DOC.format("a"))],
        b: Annotated[str, Query(max_length=300, description=_CONFIG_DOC.format("b"))],
        c: Annotated[str | None, Query(max_length=300, description=_CONFIG_DOC.format("c"))] = None,
        d: Annotated[str | None, Query(max_length=300, description=_CONFIG_DOC.format("d"))] = None,
        e: Annotated[str | None, Query(max_length=300, description=_CONFIG_DOC.format("e"))] = None,
        f: Annotated[str | None, Query(max_length=300, description=_CONFIG_DOC.format("f"))] = None,
        baseline: Annotated[
            Literal["a", "b", "c", "d", "e", "f"],
            Query(description="the configuration every delta is taken against"),
        ] = "a",
        resamples: Annotated[int, Query(ge=100, le=10_000)] = 1000,
        seed: Annotated[int, Query(ge=0, le=2**32 - 1, description="same seed, same CI")] = 0,
        format: Format = "json",
    ) -> Any:
        """Configurations side by side over P: per configuration and metric (pes, adoption,
        stickiness, growth) the value with a 95% bootstrap CI, and its delta to the baseline
        with a CI; `significant` when that CI excludes 0. group_by is ignored; the filters
        apply to every configuration. See docs/analytics.md for what is resampled."""
        given = {"a": a, "b": b, "c": c, "d": d, "e": e, "f": f}
        try:
            configs = [parse_config(k, v) for k, v in given.items() if v is not None]
        except ValueError as exc:
            raise QueryError(str(exc)) from exc
        assert len(configs) <= MAX_CONFIGS
        if baseline not in {cfg.name for cfg in configs}:
            raise QueryError(f"baseline {baseline} is not given")
        rows = await aq.compare_rows(
            state.store, settings.pes, q, configs, baseline=baseline, resamples=resamples, seed=seed
        )
        return _table(rows, format, "compare")

    @api.get("/trend")
    async def get_trend(
        q: Weeks,
        interval: Literal["week", "month"] = "week",
        format: Format = "json",
    ) -> Any:
        """PES and components per calendar week or month overlapping [start, end] (default:
        the last 12 weeks), per segment."""
        return _table(
            await aq.trend_rows(state.store, settings.pes, q, interval),
            format,
            "trend",
        )

    @api.get("/overview")
    async def get_overview(
        q: WholeWeeks,
        interval: Literal["week", "month"] = "week",
        table: Literal["series", "features", "lifecycle"] | None = None,
        format: Format = "json",
    ) -> Any:
        """Overview chart data (group_by defaults to the whole fleet): `series` DAU/WAU/MAU per
        day, `features` adoption per core feature over the range, `lifecycle` new, recovered,
        dropped, quick ratio and net growth per week or month. One table with `table`."""
        tables = await aq.overview_tables(state.store, settings.pes, q, interval)
        return _table(tables[table] if table else tables, format, f"overview-{table}")

    @api.get("/health")
    async def get_health(
        q: Whole,
        list: Literal["all", "at_risk", "pql"] = "all",
        limit: Annotated[int, Query(ge=1, le=100_000)] = 1000,
        format: Format = "json",
    ) -> Any:
        """Entity health over P per device or account (pes.md); `at_risk` (health below the
        configured threshold, dropped, or falling if configured) lowest first, `pql` (top
        quartile of active entities) highest first. group_by is ignored."""
        rows = await aq.health_rows(state.store, settings.pes, q, list)
        return _table(rows[:limit], format, f"health-{list}")

    @api.get("/funnel")
    async def get_funnel(
        q: Common,
        days: Annotated[int, Query(ge=1, le=365, description="N: days after first activity")] = 14,
        format: Format = "json",
    ) -> Any:
        """Onboarding: of the entities first active in P, the share that used each core
        feature within N days of their first activity, per segment."""
        rows = await aq.funnel_rows(state.store, settings.pes, q, days, today())
        return _table(rows, format, "funnel")

    @api.get("/retention")
    async def get_retention(
        q: WholeWeeks,
        weeks: Annotated[int, Query(ge=1, le=52, description="weeks after the cohort's")] = 12,
        format: Format = "json",
    ) -> Any:
        """Weekly retention by cohort: entities first active in a week (Monday to Sunday)
        between the week of `start` and `end` (default: the last 12 weeks), and the share of
        them active in each later week that has ended, with 95% Wilson intervals, per
        group_by (the segment an entity was first seen in; default the whole fleet). Rows
        with cohort `all` pool the cohorts per week. See docs/analytics.md."""
        return _table(await aq.retention_rows(state.store, q, weeks), format, "retention")

    @api.get("/alerts")
    async def get_alerts(format: Format = "json") -> Any:
        """The configured rules evaluated now (nothing is sent): current breaches and whether
        each was already delivered."""
        breaches = await evaluate(state.store, state.settings, today())
        sent = await state.store.alert_state()
        rows = [{**b.as_row(), "delivered": (b.rule, b.subject) in sent} for b in breaches]
        return _table(rows, format, "alerts")

    return api
