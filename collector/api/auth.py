"""Who may call what: the one place the API checks tokens. `create_app` makes one `TokenGuard`
and every `/v1` route depends on it, so no route checks anything itself (docs/security.md).

- A full token (`[api] tokens`) may call every route, as before.
- A read-only scoped token gets 403 on every method but GET and HEAD.
- An account-scoped token sees only its accounts' data. Routes whose answer can be limited to
  an account (ACCOUNT_ROUTES) must be asked for one of its accounts, and they filter by it;
  every other route, including any route added later and not listed here, answers 403: the
  safe default.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Final, Literal

from fastapi import HTTPException, Request
from fastapi.routing import APIRoute

from collector.settings import ApiSettings

READ_METHODS: Final = frozenset({"GET", "HEAD"})
# "filter": the route takes the `account_id` filter and applies it to everything it reads.
# "entity": the route answers about one entity: an account-scoped token may ask for its
# accounts (entity=account, id=<its account>), not for devices (whose account the request does
# not show).
ACCOUNT_ROUTES: Final[dict[str, Literal["filter", "entity"]]] = {
    "/v1/pes": "filter",
    "/v1/compare": "filter",
    "/v1/trend": "filter",
    "/v1/overview": "filter",
    "/v1/health": "filter",
    "/v1/funnel": "filter",
    "/v1/retention": "filter",
    "/v1/entity": "entity",
}


@dataclass(frozen=True, slots=True)
class Grant:
    """What the caller's token allows."""

    name: str
    read_only: bool = False
    accounts: frozenset[str] | None = None  # None: every account


FULL: Final = Grant("full")


class TokenGuard:
    """The dependency of every `/v1` route: authenticates, then authorises the request."""

    def __init__(self, api: ApiSettings) -> None:
        self._grants = [(t.encode(), FULL) for t in api.tokens] + [
            (
                t.token.encode(),
                Grant(t.name, t.read_only, None if t.accounts is None else frozenset(t.accounts)),
            )
            for t in api.scoped_tokens
        ]

    async def __call__(self, request: Request) -> Grant:
        # Async although it never awaits: FastAPI would run a plain method in its thread pool
        # (a hand-off to a worker thread and back on every /v1 request).
        grant = self._authenticate(request)
        # Every /v1 route: no stored text can hold NUL (PostgreSQL refuses it), so a filter
        # holding one is refused, never answered with an empty result (security.md).
        if any("\x00" in k or "\x00" in v for k, v in request.query_params.multi_items()):
            raise HTTPException(422, "query parameters cannot contain NUL")
        if grant.read_only and request.method not in READ_METHODS:
            raise HTTPException(403, f"token {grant.name!r} is read-only")
        if grant.accounts is not None:
            _check_accounts(request, grant, grant.accounts)
        return grant

    def _authenticate(self, request: Request) -> Grant:
        if not self._grants:
            return FULL  # no token configured: open API (start-up warns)
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        given = token.encode()
        found = None
        for known, grant in self._grants:  # compare with every token: no early exit
            if hmac.compare_digest(given, known) and found is None:
                found = grant
        if scheme.lower() != "bearer" or found is None:
            raise HTTPException(401, "missing or invalid API token", {"WWW-Authenticate": "Bearer"})
        return found


def _check_accounts(request: Request, grant: Grant, accounts: frozenset[str]) -> None:
    route = request.scope.get("route")
    kind = ACCOUNT_ROUTES.get(route.path) if isinstance(route, APIRoute) else None
    params = request.query_params
    if kind == "filter":
        asked = params.getlist("account_id")
        if not asked:
            raise HTTPException(
                403, f"token {grant.name!r} sees only its accounts: pass account_id=<one of them>"
            )
        if all(a in accounts for a in asked):
            return
    elif kind == "entity":
        kinds, ids = params.getlist("entity"), params.getlist("id")
        if kinds and all(k == "account" for k in kinds) and ids and all(i in accounts for i in ids):
            return
    if kind is None:
        raise HTTPException(403, f"token {grant.name!r} is limited to accounts: not on this route")
    raise HTTPException(403, f"token {grant.name!r} may not see that account or device")
