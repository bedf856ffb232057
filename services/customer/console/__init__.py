"""The web console: server-rendered pages for account managers, complaint handlers and viewers.

Served by the customer service under `/console/` (it holds the accounts and the log-in), the
console is a client of the services' public HTTP APIs like any other: it calls them with the
logged-in person's token and never reads a database. Pages are Jinja2 templates, made live with
htmx and drawn with Apache ECharts, both served from `static/vendor/` (installed from the npm
registry by `scripts/console-assets`; no CDN). Chinese first, English on a click. See
docs/console.md.
"""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from services.customer.console.client import ApiError, NotAuthenticated
from services.customer.console.routes import PREFIX, api_error_page, login_redirect, router
from services.customer.console.session import LoginRequired

STATIC = Path(__file__).parent / "static"
VENDOR_FILES = ("htmx.min.js", "echarts.min.js")
log = logging.getLogger(__name__)


def mount_console(app: FastAPI) -> None:
    """Add the console's pages, its static files and its way back to the log-in form."""
    missing = [name for name in VENDOR_FILES if not (STATIC / "vendor" / name).is_file()]
    if missing:
        log.warning(
            "the console's browser libraries are missing (%s): run scripts/console-assets",
            ", ".join(missing),
        )
    app.include_router(router)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC, check_dir=False), name="console")

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, error: LoginRequired) -> Response:
        return login_redirect(request, error.reason if error.reason != "none" else "")

    @app.exception_handler(NotAuthenticated)
    async def api_said_401(request: Request, error: NotAuthenticated) -> Response:
        return login_redirect(request, "expired")

    @app.exception_handler(ApiError)
    async def api_failed(request: Request, error: ApiError) -> Response:
        return api_error_page(request, error)
