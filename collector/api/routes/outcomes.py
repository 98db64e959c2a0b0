"""The outcomes routes under /v1 (specs/outcomes.md): `POST /v1/outcomes` imports JSON lines
(the request body, all or nothing), `GET /v1/outcomes/report` checks whether entity health
predicts them. Same code path and parameters as `pes-collector outcomes import|report`."""

# No `from __future__ import annotations`: FastAPI must see the Annotated aliases as objects.
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Query, Request
from fastapi.params import Depends as DependsParam
from fastapi.responses import JSONResponse, Response

from collector.api.state import AppState
from collector.reports import (
    OutcomeLineError,
    import_outcomes,
    make_outcome_query,
    outcome_band_rows,
    outcome_report,
    to_csv,
)
from collector.reports.outcomes import MAX_LEAD_DAYS, MAX_PERIOD_DAYS

MAX_BODY_BYTES: Final = 10 * 1024 * 1024
_FILTER_DOC = "only outcomes of entities active in P with this {}"


def _too_large() -> JSONResponse:
    return JSONResponse(
        {"detail": f"request body larger than {MAX_BODY_BYTES} bytes"}, status_code=413
    )


def router(state: AppState, auth: DependsParam) -> APIRouter:
    api = APIRouter(prefix="/v1", dependencies=[auth], tags=["outcomes"])

    async def post_outcomes(request: Request) -> Any:
        """Outcomes as JSON lines, e.g. `{"account_id": "a-7", "outcome": "renewed", "date":
        "2026-06-30"}`; a bad line refuses the whole request (422, its line and reason)."""
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            return _too_large()
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                return _too_large()
        try:
            stored = await import_outcomes(state.store, bytes(body).split(b"\n"))
        except OutcomeLineError as exc:
            return JSONResponse(
                {"detail": str(exc), "line": exc.line, "reason": exc.reason}, status_code=422
            )
        return {"stored": stored}

    async def get_outcomes_report(
        entity: Literal["account", "device"] = "account",
        lead: Annotated[int, Query(ge=0, le=MAX_LEAD_DAYS, description="days")] = 30,
        period_days: Annotated[int, Query(ge=1, le=MAX_PERIOD_DAYS)] = 30,
        bands: Annotated[str | None, Query(max_length=300, description="0,30,60,70,100")] = None,
        device_type: Annotated[
            str | None, Query(max_length=64, description=_FILTER_DOC.format("device type"))
        ] = None,
        firmware_version: Annotated[
            str | None, Query(max_length=64, description=_FILTER_DOC.format("firmware"))
        ] = None,
        seed: Annotated[int, Query(ge=0, le=2**32 - 1)] = 0,
        format: Literal["json", "csv"] = "json",
    ) -> Any:
        """Per outcome the entity's health over P = [t - lead - L + 1, t - lead]; bands, top
        quartile, AUCs and suggested weights (the report of specs/outcomes.md)."""
        q = make_outcome_query(
            entity=entity,
            lead=lead,
            length=period_days,
            bands=bands,
            device_type=device_type,
            firmware_version=firmware_version,
        )
        result = await outcome_report(state.store, state.settings.pes, q, seed=seed)
        if format == "csv":
            rows = outcome_band_rows(result)
            headers = {"Content-Disposition": 'attachment; filename="outcomes.csv"'}
            return Response(to_csv(rows), media_type="text/csv; charset=utf-8", headers=headers)
        return result

    if state.writes:
        api.post("/outcomes")(post_outcomes)
    if state.reads:
        api.get("/outcomes/report")(get_outcomes_report)
    return api
