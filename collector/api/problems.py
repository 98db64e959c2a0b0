"""Every error the API answers, in one shape: RFC 9457 problem details
(`application/problem+json`): `type` (about:blank), `title` (the status phrase), `status`,
`detail` (always one readable string), and for invalid parameters `errors`, one
`{"loc": "query.start", "msg": ...}` per problem. Before, FastAPI's validation errors came as a
list under `detail` and the collector's own as a string."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from collector.errors import QueryError, StoreUnavailable

MEDIA_TYPE = "application/problem+json"


def problem(
    status: int,
    detail: str,
    *,
    headers: Mapping[str, str] | None = None,
    errors: list[dict[str, str]] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(
        body, status_code=status, headers=dict(headers or {}), media_type=MEDIA_TYPE
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(QueryError)
    async def _bad_query(_r: Request, exc: QueryError) -> JSONResponse:
        return problem(422, str(exc))

    @app.exception_handler(StoreUnavailable)
    async def _busy(_r: Request, exc: StoreUnavailable) -> JSONResponse:
        return problem(503, str(exc), headers={"Retry-After": "1"})

    @app.exception_handler(RequestValidationError)
    async def _invalid(_r: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": ".".join(str(p) for p in e.get("loc", ())), "msg": str(e.get("msg", ""))}
            for e in exc.errors()
        ]
        detail = "; ".join(f"{e['loc']}: {e['msg']}" for e in errors) or "invalid request"
        return problem(422, detail[:1000], errors=errors[:20])

    @app.exception_handler(StarletteHTTPException)
    async def _http(_r: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail), headers=exc.headers)
