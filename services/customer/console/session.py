"""The logged-in person of one console request: tokens in cookies, refreshed when they expire.

The access and refresh tokens from `POST /v1/auth/login` live in HttpOnly, SameSite=Strict
cookies scoped to `/console`: scripts cannot read them, and no other site can make the browser
send them (which is also the console's CSRF defence). When the access token has expired, the
refresh token buys new ones through `POST /v1/auth/refresh`; when that fails too, the person
goes back to the log-in form.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request, Response

from services.customer.console.client import ConsoleApi, Json, NotAuthenticated
from services.customer.console.i18n import Language, Messages, language_of
from shared.auth import Principal, Scope, TokenVerifier, Unauthenticated

ACCESS_COOKIE = "crm_console_access"
REFRESH_COOKIE = "crm_console_refresh"
LANG_COOKIE = "lang"
COOKIE_PATH = "/console"


class LoginRequired(Exception):
    """Nobody is logged in (or the session ended): show the log-in form."""

    def __init__(self, reason: str = "expired") -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class ConsoleSession:
    """Who is looking, in which language, and the tokens to set if they were refreshed."""

    principal: Principal
    api: ConsoleApi
    language: Language
    refreshed: Json | None = field(default=None)

    @property
    def t(self) -> Messages:
        return Messages(self.language)

    @property
    def may_act_on_complaints(self) -> bool:
        return self.principal.may(Scope.COMPLAINTS_WRITE)


def request_language(request: Request) -> Language:
    return language_of(request.cookies.get(LANG_COOKIE))


async def open_session(request: Request, api: ConsoleApi) -> ConsoleSession:
    """The session of this request; LoginRequired when there is none to be had."""
    verifier: TokenVerifier = request.app.state.token_verifier
    access = request.cookies.get(ACCESS_COOKIE)
    refresh = request.cookies.get(REFRESH_COOKIE)
    if not access and not refresh:
        raise LoginRequired("none")
    refreshed: Json | None = None
    principal: Principal | None = None
    if access:
        try:
            principal = await verifier.verify(access)
        except Unauthenticated:
            principal = None
    if principal is None:
        if not refresh:
            raise LoginRequired()
        try:
            refreshed = await api.refresh(refresh)
        except NotAuthenticated as error:
            raise LoginRequired() from error
        access = str(refreshed["access_token"])
        try:
            principal = await verifier.verify(access)
        except Unauthenticated as error:
            raise LoginRequired() from error
    api.token = access
    return ConsoleSession(principal, api, request_language(request), refreshed)


def set_token_cookies(response: Response, tokens: Json, *, secure: bool) -> None:
    """Keep a fresh pair of tokens in the person's browser."""
    response.set_cookie(
        ACCESS_COOKIE,
        str(tokens["access_token"]),
        max_age=int(tokens.get("expires_in", 900)),
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=secure,
    )
    if tokens.get("refresh_token"):
        response.set_cookie(
            REFRESH_COOKIE,
            str(tokens["refresh_token"]),
            path=COOKIE_PATH,
            httponly=True,
            samesite="strict",
            secure=secure,
        )


def clear_token_cookies(response: Response) -> None:
    response.delete_cookie(ACCESS_COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")
    response.delete_cookie(REFRESH_COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")
