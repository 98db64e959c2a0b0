"""The web dashboard's pages and static assets: public, they hold no data. Every page is the same
one-page document, routed in the browser; what the pages show comes from the token-protected
`/v1` routes (routes/analytics.py, routes/fleet.py, routes/releases.py, routes/outcomes.py)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

WEB = Path(__file__).resolve().parents[2] / "web"
PAGES = ("/", "/compare", "/releases", "/accounts", "/fleet")


def mount(app: FastAPI) -> None:
    index = WEB / "index.html"
    for path in PAGES:
        app.add_api_route(
            path, lambda: FileResponse(index, media_type="text/html"), include_in_schema=False
        )
    app.mount("/static", StaticFiles(directory=WEB / "static"), name="static")


__all__ = ["PAGES", "WEB", "mount"]
