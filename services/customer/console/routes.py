"""The console's pages and fragments: read the public APIs, render a template. No rules here.

Pages are whole HTML documents; fragments (`…/rows`, `…/score`, a complaint's row) are what
htmx swaps in: the at-risk rows and a customer's scores poll themselves every
`console_poll_s` seconds, and a workflow action replaces only its complaint's row. None of
these routes is in the OpenAPI description: the console is a client of the API, not part of it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, quote, urlsplit
from zoneinfo import ZoneInfo

import httpx
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from services.customer.console import charts, views
from services.customer.console.client import (
    OPEN_STATES,
    ApiError,
    ConsoleApi,
    Json,
    NotAuthenticated,
    ServiceUrls,
)
from services.customer.console.i18n import HTML_LANG, LANGUAGES, Messages, language_of
from services.customer.console.session import (
    LANG_COOKIE,
    ConsoleSession,
    clear_token_cookies,
    open_session,
    request_language,
    set_token_cookies,
)
from services.customer.settings import Settings
from shared.events.vocabulary import ChurnBand, ComplaintState, RootCause, Validity, ValueTier

PREFIX = "/console"
TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


async def same_origin(request: Request) -> None:
    """Refuse a form posted from another site. The SameSite=Strict cookies already keep such
    a post anonymous; this also stops one from logging a browser in (login CSRF)."""
    if request.method != "POST":
        return
    origin = request.headers.get("Origin")
    if origin is not None and urlsplit(origin).netloc != request.headers.get("Host"):
        raise HTTPException(403, "cross-site form post refused")


router = APIRouter(prefix=PREFIX, include_in_schema=False, dependencies=[Depends(same_origin)])

ALL_BANDS = ",".join(band.value for band in ChurnBand)
BAND_CHOICES = {"at_risk": "high,critical", "all": ALL_BANDS} | {
    b.value: b.value for b in ChurnBand
}
_API_TIMEOUT = httpx.Timeout(10.0, connect=3.0)


def console_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(console_settings)]


def _urls(settings: Settings) -> ServiceUrls:
    return ServiceUrls(
        customer=settings.console_customer_base_url,
        interaction=settings.console_interaction_url,
        complaint=settings.console_complaint_url,
        scoring=settings.console_scoring_url,
    )


async def anonymous_api(settings: SettingsDep) -> AsyncIterator[ConsoleApi]:
    async with httpx.AsyncClient(timeout=_API_TIMEOUT) as http:
        yield ConsoleApi(http, _urls(settings), token=None)


ApiDep = Annotated[ConsoleApi, Depends(anonymous_api)]


async def console_session(request: Request, api: ApiDep) -> ConsoleSession:
    return await open_session(request, api)


SessionDep = Annotated[ConsoleSession, Depends(console_session)]


def _zone(settings: Settings) -> ZoneInfo:
    return ZoneInfo(settings.console_time_zone)


def _render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    session: ConsoleSession | None,
    settings: Settings,
    status_code: int = 200,
) -> HTMLResponse:
    """A template with what every page needs; refreshed tokens go back to the browser."""
    language = session.language if session else request_language(request)
    t = Messages(language)
    zone = _zone(settings)
    shared: dict[str, Any] = {
        "t": t,
        "lang": language,
        "html_lang": HTML_LANG[language],
        "other_lang": next(code for code in LANGUAGES if code != language),
        "session": session,
        "poll_s": settings.console_poll_s,
        "here": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        "time": lambda value, with_date=True: views.local_time(value, zone, with_date=with_date),
        "percent": views.percent,
        "label": views.customer_label,
        "trend_arrow": views.TREND_ARROWS,
        "chart": charts.as_attribute,
    }
    response = TEMPLATES.TemplateResponse(
        request, template, shared | context, status_code=status_code
    )
    if session is not None and session.refreshed is not None:
        set_token_cookies(response, session.refreshed, secure=settings.console_cookie_secure)
    return response


def api_error_page(request: Request, error: ApiError) -> Response:
    """A service that failed or refused: say which, in the page's language."""
    settings: Settings = request.app.state.settings
    t = Messages(request_language(request))
    message = t("common.error", service=t(f"service.{error.service}"), status=error.status)
    if error.status == 404:
        message = t("common.not_found")
    status = error.status if error.status in (403, 404) else 502
    if request.headers.get("HX-Request"):
        return HTMLResponse(f'<p class="error">{escape(message)}</p>', status_code=status)
    return _render(
        request,
        "error.html",
        {"message": message},
        session=None,
        settings=settings,
        status_code=status,
    )


def _safe_next(target: str | None) -> str:
    """Only a console path: a log-in must never bounce the browser to another site."""
    if target and target.startswith(f"{PREFIX}/") and not target.startswith("//"):
        return target
    return f"{PREFIX}/at-risk"


def login_redirect(request: Request, reason: str) -> Response:
    """Back to the log-in form — for htmx through `HX-Redirect`, since a swap cannot leave."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.headers.get("HX-Request"):  # come back to the page, not to its fragment
        page = urlsplit(request.headers.get("HX-Current-URL", ""))
        here = page.path + (f"?{page.query}" if page.query else "")
    target = f"{PREFIX}/login?reason={quote(reason)}&next={quote(here)}"
    response: Response
    if request.headers.get("HX-Request"):
        response = Response(status_code=200, headers={"HX-Redirect": target})
    else:
        response = RedirectResponse(target, status_code=303)
    clear_token_cookies(response)
    return response


# -- log-in, log-out, language ------------------------------------------------------------


@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
async def home() -> Response:
    return RedirectResponse(f"{PREFIX}/at-risk", status_code=303)


@router.get("/login", response_class=HTMLResponse)
async def login_form(
    request: Request,
    settings: SettingsDep,
    reason: Annotated[str | None, Query(max_length=32)] = None,
    next: Annotated[str | None, Query(max_length=300)] = None,
) -> Response:
    notices = {"expired": "login.expired", "logged_out": "login.logged_out"}
    context = {"notice": notices.get(reason or ""), "error": None, "next": _safe_next(next)}
    return _render(request, "login.html", context, session=None, settings=settings)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, api: ApiDep, settings: SettingsDep) -> Response:
    form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8")).items()}
    target = _safe_next(form.get("next"))
    t = Messages(request_language(request))
    try:
        tokens = await api.login(form.get("username", ""), form.get("password", ""))
    except ApiError as error:
        if error.status == 429:
            seconds = "".join(ch for ch in str(error.detail) if ch.isdigit()) or "?"
            message = t("login.locked", seconds=seconds)
        elif error.status in (401, 422):
            message = t("login.failed")
        else:
            message = t("login.unavailable")
        context = {"notice": None, "error": message, "next": target}
        return _render(
            request, "login.html", context, session=None, settings=settings, status_code=401
        )
    response = RedirectResponse(target, status_code=303)
    set_token_cookies(response, tokens, secure=settings.console_cookie_secure)
    return response


@router.post("/logout")
async def logout() -> Response:
    response = RedirectResponse(f"{PREFIX}/login?reason=logged_out", status_code=303)
    clear_token_cookies(response)
    return response


@router.get("/lang/{code}")
async def switch_language(
    code: str, next: Annotated[str | None, Query(max_length=300)] = None
) -> Response:
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        LANG_COOKIE, language_of(code), max_age=365 * 24 * 3600, path=PREFIX, samesite="lax"
    )
    return response


# -- at-risk list --------------------------------------------------------------------------


def _filters(band: str | None, tier: str | None) -> tuple[str, str, str]:
    chosen_band = band if band in BAND_CHOICES else "at_risk"
    chosen_tier = tier if tier in {t.value for t in ValueTier} else ""
    return chosen_band, chosen_tier, BAND_CHOICES[chosen_band]


async def _at_risk_rows(session: ConsoleSession, bands: str, tier: str) -> list[dict[str, Any]]:
    items = await session.api.at_risk(bands=bands, tiers=tier, limit=50)
    customers = await session.api.customer_names(item["customer_id"] for item in items)
    return [item | {"customer": customers.get(item["customer_id"])} for item in items]


@router.get("/at-risk", response_class=HTMLResponse)
async def at_risk_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    band: Annotated[str | None, Query(max_length=32)] = None,
    tier: Annotated[str | None, Query(max_length=4)] = None,
) -> Response:
    chosen_band, chosen_tier, bands = _filters(band, tier)
    context = {
        "rows": await _at_risk_rows(session, bands, chosen_tier),
        "band": chosen_band,
        "tier": chosen_tier,
        "band_choices": list(BAND_CHOICES),
        "tiers": [t.value for t in ValueTier],
        "updated": datetime.now(UTC),
    }
    return _render(request, "at_risk.html", context, session=session, settings=settings)


@router.get("/at-risk/rows", response_class=HTMLResponse)
async def at_risk_rows(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    band: Annotated[str | None, Query(max_length=32)] = None,
    tier: Annotated[str | None, Query(max_length=4)] = None,
) -> Response:
    _, chosen_tier, bands = _filters(band, tier)
    context = {
        "rows": await _at_risk_rows(session, bands, chosen_tier),
        "updated": datetime.now(UTC),
    }
    return _render(request, "_at_risk_rows.html", context, session=session, settings=settings)


# -- customers and the customer 360 --------------------------------------------------------


@router.get("/customers", response_class=HTMLResponse)
async def customers_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    q: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    found = await session.api.customers(q=q or None, limit=50)
    context = {"customers": found, "q": q or ""}
    return _render(request, "customers.html", context, session=session, settings=settings)


def _score_context(
    session: ConsoleSession, score: Json | None, history: list[Json], zone: ZoneInfo
) -> dict[str, Any]:
    t = session.t
    if score is None:
        return {"score": None}
    churn = score["churn"]
    loyalty = score["loyalty"]
    oldest_first = list(reversed(history))
    return {
        "score": score,
        "churn_gauge": charts.gauge(
            t("c360.churn_gauge"),
            float(churn["risk"]) * 100,
            maximum=100,
            unit="%",
            colour=charts.BAND_COLOURS.get(str(churn["band"]), "#5470c6"),
        ),
        "loyalty_gauge": charts.gauge(
            t("c360.loyalty_gauge"),
            float(loyalty["score"]),
            maximum=100,
            unit="",
            colour=charts.LOYALTY_COLOURS.get(str(loyalty["band"]), "#5470c6"),
        ),
        "history_chart": charts.score_history(
            [
                (
                    views.local_instant(h["as_of"], zone),
                    round(float(h["churn"]["risk"]) * 100, 1),
                    round(float(h["loyalty"]["score"]), 1),
                )
                for h in oldest_first
            ],
            [t("c360.churn_gauge"), t("c360.loyalty_gauge")],
        ),
    }


async def _score_and_history(
    session: ConsoleSession, customer_id: str
) -> tuple[Json | None, list[Json]]:
    score, history = await asyncio.gather(
        session.api.score(customer_id), session.api.score_history(customer_id, limit=60)
    )
    return score, history


@router.get("/customers/{customer_id}", response_class=HTMLResponse)
async def customer_page(
    customer_id: str, request: Request, session: SessionDep, settings: SettingsDep
) -> Response:
    api = session.api
    customer = await api.customer(customer_id)
    real_id = customer["id"]  # a merged id shows its survivor
    (score, history), timeline, complaints = await asyncio.gather(
        _score_and_history(session, real_id),
        _optional(api.timeline(real_id, limit=30)),
        _optional(api.complaints(customer_id=real_id, limit=50)),
    )
    context = {
        "customer": customer,
        "timeline": timeline,
        "complaints": sorted(
            complaints or [], key=lambda c: str(c.get("reported_at", "")), reverse=True
        ),
    } | _score_context(session, score, history, _zone(settings))
    return _render(request, "customer.html", context, session=session, settings=settings)


async def _optional(call: Any) -> Any:
    """A part of a page another service could not give: shown as missing, not as an error."""
    try:
        return await call
    except NotAuthenticated:
        raise
    except ApiError:
        return None


@router.get("/customers/{customer_id}/score", response_class=HTMLResponse)
async def customer_score(
    customer_id: str, request: Request, session: SessionDep, settings: SettingsDep
) -> Response:
    score, history = await _score_and_history(session, customer_id)
    context = {"customer_id": customer_id} | _score_context(
        session, score, history, _zone(settings)
    )
    return _render(request, "_score.html", context, session=session, settings=settings)


# -- complaint board -----------------------------------------------------------------------


def _board_states(state: str | None) -> tuple[str, list[str]]:
    if state in {s.value for s in ComplaintState}:
        return str(state), [str(state)]
    return "open", list(OPEN_STATES)


def _resolve_choices() -> dict[str, list[str]]:
    return {"validity": [v.value for v in Validity], "root_cause": [r.value for r in RootCause]}


@router.get("/complaints", response_class=HTMLResponse)
async def complaint_board(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    state: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    chosen, states = _board_states(state)
    complaints = await session.api.complaints_in(states)
    customers = await session.api.customer_names(c["customer_id"] for c in complaints)
    context = {
        "items": views.board(complaints, customers, now=datetime.now(UTC)),
        "state": chosen,
        "states": ["open", *(s.value for s in ComplaintState)],
        "choices": _resolve_choices(),
        "message": None,
    }
    return _render(request, "complaints.html", context, session=session, settings=settings)


@router.post("/complaints/{complaint_id}/{action}", response_class=HTMLResponse)
async def complaint_action(
    complaint_id: str, action: str, request: Request, session: SessionDep, settings: SettingsDep
) -> Response:
    """Perform one workflow action with the ETag the row was drawn with; answer the new row."""
    form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8")).items()}
    t = session.t
    message: tuple[str, str] | None = None
    complaint: Json | None = None
    if action not in views.ACTIONS:
        message = ("error", t("board.not_allowed"))
    else:
        body: Json | None = None
        if action == "resolve":
            body = {
                "validity": form.get("validity", "upheld"),
                "root_cause": form.get("root_cause", "quality"),
                "corrective_action": form.get("corrective_action", ""),
            }
        try:
            answer = await session.api.act(
                complaint_id, action, etag=form.get("etag", ""), body=body
            )
            complaint = answer.body
            message = ("ok", t("board.done"))
        except NotAuthenticated:
            raise
        except ApiError as error:
            message = ("error", _action_error(t, error))
    if complaint is None:
        complaint = (await session.api.complaint(complaint_id)).body
    assert complaint is not None
    customers = await session.api.customer_names([complaint["customer_id"]])
    item = views.board_item(
        complaint, customers.get(complaint["customer_id"]), now=datetime.now(UTC)
    )
    context = {"item": item, "choices": _resolve_choices(), "message": message}
    return _render(request, "_complaint_row.html", context, session=session, settings=settings)


def _action_error(t: Messages, error: ApiError) -> str:
    if error.status in (412, 428):
        return t("board.conflict")
    if error.status == 409:
        return t("board.not_allowed")
    if error.status == 403:
        return t("board.forbidden")
    if error.status == 422:
        return t("board.invalid", detail=str(error.detail)[:200])
    return t("common.error", service=t(f"service.{error.service}"), status=error.status)


# -- overview ------------------------------------------------------------------------------


@router.get("/overview", response_class=HTMLResponse)
async def overview(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    t = session.t
    distribution, stats = await asyncio.gather(
        _optional(session.api.distribution()), _optional(session.api.complaint_stats())
    )
    context: dict[str, Any] = {
        "distribution": distribution,
        "stats": stats,
        "duration": views.duration,
    }
    if distribution is not None:
        bands = [b.value for b in ChurnBand]
        context["band_chart"] = charts.donut(
            [t.value("band", b) for b in bands],
            [distribution["churn_band"].get(b, 0) for b in bands],
            colours=[charts.BAND_COLOURS[b] for b in bands],
        )
        tiers = [v.value for v in ValueTier]
        context["tier_chart"] = charts.bars(
            [t.value("tier", v) for v in tiers],
            [distribution["value_tier"].get(v, 0) for v in tiers],
            colours=["#5470c6", "#73c0de", "#91cc75"],
        )
        stages = list(distribution["lifecycle"])
        context["lifecycle_chart"] = charts.bars(
            [t.value("lifecycle", s) for s in stages],
            [distribution["lifecycle"][s] for s in stages],
        )
    if stats is not None:
        categories = list(stats["by_category"])
        context["category_chart"] = charts.bars(
            [t.value("category", c) for c in categories],
            [stats["by_category"][c] for c in categories],
        )
        causes = stats["top_root_causes"]
        context["cause_chart"] = charts.bars(
            [t.value("root_cause", c["root_cause"]) for c in causes],
            [c["count"] for c in causes],
            colours=["#ee6666"] * len(causes),
        )
        states = list(stats["by_state"])
        context["state_chart"] = charts.donut(
            [t.value("state", s) for s in states], [stats["by_state"][s] for s in states]
        )
    return _render(request, "overview.html", context, session=session, settings=settings)
