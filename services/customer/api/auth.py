"""Log-in, token refresh, API-key exchange, and the administration of accounts and API keys.

Accounts live here (ARCHITECTURE §4); every service verifies the tokens issued here through
`shared.auth`. Wrong passwords answer the same 401 whether or not the account exists; after
too many in a row the account is locked for a while (429 with Retry-After).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from services.customer import accounts
from services.customer.account_store import AccountExists, AccountStore
from services.customer.settings import Settings
from shared.auth import (
    API_KEY_SCOPES,
    Actor,
    CurrentPrincipal,
    Role,
    Scope,
    TokenIssuer,
    Unauthenticated,
    account_principal,
    api_key_principal,
    new_secret,
    requires,
)
from shared.events import utc_now
from shared.mongo import Document

auth_router = APIRouter(prefix="/v1/auth", tags=["access"])
accounts_router = APIRouter(prefix="/v1/accounts", tags=["access"])
keys_router = APIRouter(prefix="/v1/api-keys", tags=["access"])

# A key's last-used time is written at most this often: a producer exchanging its key every
# few minutes must not cost a database write each time.
_LAST_USED_RESOLUTION = timedelta(minutes=1)


def get_accounts(request: Request) -> AccountStore:
    store: AccountStore = request.app.state.accounts
    return store


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


AccountsDep = Annotated[AccountStore, Depends(get_accounts)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


# -- bodies and answers --------------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginBody(_Body):
    username: str = Field(max_length=64)
    password: SecretStr = Field(max_length=256)


class RefreshBody(_Body):
    refresh_token: str = Field(max_length=4096)


class ApiKeyExchange(_Body):
    api_key: SecretStr = Field(max_length=256, description="The key as shown once at creation")


class Tokens(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds the access token stays valid")
    refresh_token: str | None = None
    scopes: list[str]
    role: Role | None = None


class Me(BaseModel):
    subject: str
    name: str
    kind: Literal["account", "api_key"]
    role: Role | None
    scopes: list[str]


class AccountCreate(_Body):
    username: str = Field(pattern=accounts.USERNAME_PATTERN, description="Lower-case login name")
    role: Role
    password: SecretStr | None = Field(
        default=None,
        min_length=accounts.MIN_PASSWORD_LENGTH,
        max_length=256,
        description="Omit to have one generated (shown once in the answer)",
    )


class AccountChange(_Body):
    role: Role | None = None
    disabled: bool | None = None


class PasswordReset(_Body):
    password: SecretStr | None = Field(
        default=None, min_length=accounts.MIN_PASSWORD_LENGTH, max_length=256
    )


class PasswordChange(_Body):
    current_password: SecretStr = Field(max_length=256)
    new_password: SecretStr = Field(min_length=accounts.MIN_PASSWORD_LENGTH, max_length=256)


class AccountPublic(BaseModel):
    username: str
    role: Role
    disabled: bool
    locked_until: datetime | None
    created_at: datetime
    created_by: str
    last_login_at: datetime | None
    generated_password: str | None = Field(
        default=None, description="Only in the answer that generated it; never shown again"
    )


class ApiKeyCreate(_Body):
    name: str = Field(min_length=1, max_length=100, description="Which system uses it")
    scopes: list[Scope] = Field(min_length=1)

    @field_validator("scopes")
    @classmethod
    def _machine_scopes(cls, scopes: list[Scope]) -> list[Scope]:
        refused = sorted(set(scopes) - API_KEY_SCOPES)
        if refused:
            raise ValueError(f"API keys cannot carry {', '.join(refused)}")
        return sorted(set(scopes))


class ApiKeyPublic(BaseModel):
    id: str
    name: str
    scopes: list[Scope]
    created_at: datetime
    created_by: str
    revoked_at: datetime | None
    last_used_at: datetime | None
    key: str | None = Field(default=None, description="Only in the creating answer")


def _account_public(doc: Document, generated: str | None = None) -> AccountPublic:
    return AccountPublic(
        username=doc["_id"],
        role=Role(doc["role"]),
        disabled=doc["disabled"],
        locked_until=doc.get("locked_until"),
        created_at=doc["created_at"],
        created_by=doc["created_by"],
        last_login_at=doc.get("last_login_at"),
        generated_password=generated,
    )


def _key_public(doc: Document, plaintext: str | None = None) -> ApiKeyPublic:
    return ApiKeyPublic(
        id=doc["_id"],
        name=doc["name"],
        scopes=[Scope(value) for value in doc["scopes"]],
        created_at=doc["created_at"],
        created_by=doc["created_by"],
        revoked_at=doc.get("revoked_at"),
        last_used_at=doc.get("last_used_at"),
        key=plaintext,
    )


def _issuer(settings: Settings) -> TokenIssuer:
    return TokenIssuer(settings)


def _tokens_for(account: Document, settings: Settings, *, now: datetime) -> Tokens:
    principal = account_principal(account["_id"], Role(account["role"]))
    issuer = _issuer(settings)
    access, ttl = issuer.access_token(principal, now=now)
    refresh = issuer.refresh_token(account["_id"], token_version=account["token_version"], now=now)
    return Tokens(
        access_token=access,
        expires_in=ttl,
        refresh_token=refresh,
        scopes=sorted(principal.scopes),
        role=principal.role,
    )


_WRONG_CREDENTIALS = HTTPException(
    401, "invalid username or password", headers={"WWW-Authenticate": "Bearer"}
)


# -- log-in and tokens ---------------------------------------------------------------------


@auth_router.post(
    "/login",
    response_model=Tokens,
    summary="Log in with username and password",
    responses={
        401: {"description": "Wrong username or password, or the account is disabled"},
        429: {"description": "Locked out after repeated failures; see Retry-After"},
    },
)
async def login(body: LoginBody, store: AccountsDep, settings: SettingsDep) -> Tokens:
    now = utc_now()
    username = body.username.strip().lower()
    account = await store.get(username) if accounts.valid_username(username) else None
    if account is not None:
        until = accounts.locked_until(account, now=now)
        if until is not None:
            retry_after = max(1, int((until - now).total_seconds()))
            raise HTTPException(
                429,
                f"too many failed log-ins; try again in {retry_after} s",
                headers={"Retry-After": str(retry_after)},
            )
    password_hash = account["password_hash"] if account is not None else None
    # Argon2 is deliberately slow: verify off the event loop so other requests go on.
    matches = await asyncio.to_thread(
        accounts.password_matches, password_hash, body.password.get_secret_value()
    )
    if account is None:
        raise _WRONG_CREDENTIALS
    if not matches:
        policy = accounts.LoginPolicy(
            settings.auth_max_failed_logins, timedelta(seconds=settings.auth_lockout_s)
        )
        await store.note_login(username, accounts.after_failed_login(account, policy, now=now))
        raise _WRONG_CREDENTIALS
    if account["disabled"]:
        raise HTTPException(401, "this account is disabled", headers={"WWW-Authenticate": "Bearer"})
    await store.note_login(username, accounts.after_login(now=now))
    return _tokens_for(account, settings, now=now)


@auth_router.post(
    "/refresh",
    response_model=Tokens,
    summary="Trade a refresh token for new tokens",
    responses={401: {"description": "Expired or voided refresh token, or disabled account"}},
)
async def refresh(body: RefreshBody, store: AccountsDep, settings: SettingsDep) -> Tokens:
    try:
        username, version = _issuer(settings).read_refresh_token(body.refresh_token)
    except Unauthenticated as error:
        raise HTTPException(401, str(error), headers={"WWW-Authenticate": "Bearer"}) from error
    account = await store.get(username)
    if account is None or account["disabled"] or account["token_version"] != version:
        raise HTTPException(
            401,
            "this refresh token is no longer valid (password reset, role change or disabled)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return _tokens_for(account, settings, now=utc_now())


@auth_router.post(
    "/token",
    response_model=Tokens,
    summary="Exchange an API key for a short-lived access token",
    description="Machine producers call this every few minutes; a revoked key is refused at "
    "once, and tokens it already obtained expire within `CRM_AUTH_API_KEY_TOKEN_TTL_S`.",
    responses={401: {"description": "Unknown, malformed or revoked API key"}},
)
async def exchange_api_key(
    body: ApiKeyExchange, store: AccountsDep, settings: SettingsDep
) -> Tokens:
    now = utc_now()
    parts = accounts.split_api_key(body.api_key.get_secret_value())
    key = await store.key(parts[0]) if parts is not None else None
    if parts is None or key is None or not accounts.api_key_matches(key, parts[1]):
        raise HTTPException(401, "unknown API key", headers={"WWW-Authenticate": "Bearer"})
    if key.get("revoked_at") is not None:
        raise HTTPException(401, "this API key was revoked", headers={"WWW-Authenticate": "Bearer"})
    last_used: datetime | None = key.get("last_used_at")
    if last_used is None or now - last_used >= _LAST_USED_RESOLUTION:
        await store.key_used(key["_id"], now=now)
    principal = api_key_principal(key["_id"], key["name"], (Scope(s) for s in key["scopes"]))
    access, ttl = _issuer(settings).access_token(principal, now=now)
    return Tokens(access_token=access, expires_in=ttl, scopes=sorted(principal.scopes))


@auth_router.get(
    "/me", response_model=Me, summary="Who the token says I am", dependencies=[requires()]
)
async def me(principal: CurrentPrincipal) -> Me:
    return Me(
        subject=principal.subject,
        name=principal.name,
        kind=principal.kind,
        role=principal.role,
        scopes=sorted(principal.scopes),
    )


@auth_router.post(
    "/password",
    status_code=204,
    summary="Change my own password",
    dependencies=[requires()],
    responses={401: {"description": "The current password is wrong"}},
)
async def change_own_password(
    body: PasswordChange, principal: CurrentPrincipal, store: AccountsDep
) -> None:
    account = await store.get(principal.name) if principal.kind == "account" else None
    if account is None:
        raise HTTPException(403, "only accounts of this service have a password to change")
    matches = await asyncio.to_thread(
        accounts.password_matches,
        account["password_hash"],
        body.current_password.get_secret_value(),
    )
    if not matches:
        raise HTTPException(401, "the current password is wrong")
    new_hash = await asyncio.to_thread(accounts.hash_password, body.new_password.get_secret_value())
    await store.change(
        principal.name,
        {"password_hash": new_hash},
        actor=principal.actor,
        action="password_changed",
        now=utc_now(),
        void_tokens=True,
    )


# -- accounts (admins) ---------------------------------------------------------------------

_MANAGE = [requires(Scope.ACCOUNTS_MANAGE)]


@accounts_router.get(
    "", response_model=list[AccountPublic], summary="List accounts", dependencies=_MANAGE
)
async def list_accounts(store: AccountsDep) -> list[AccountPublic]:
    return [_account_public(doc) for doc in await store.all_accounts()]


@accounts_router.post(
    "",
    response_model=AccountPublic,
    status_code=201,
    summary="Create an account (one role per person)",
    dependencies=_MANAGE,
    responses={409: {"description": "The username is taken"}},
)
async def create_account(body: AccountCreate, store: AccountsDep, actor: Actor) -> AccountPublic:
    generated = None if body.password is not None else new_secret(12)
    password = body.password.get_secret_value() if body.password is not None else generated
    assert password is not None
    password_hash = await asyncio.to_thread(accounts.hash_password, password)
    try:
        doc = await store.create(
            body.username, role=body.role, password_hash=password_hash, actor=actor, now=utc_now()
        )
    except AccountExists as error:
        raise HTTPException(409, f"the username {body.username!r} is taken") from error
    return _account_public(doc, generated)


async def _account(store: AccountStore, username: str) -> Document:
    doc = await store.get(username)
    if doc is None:
        raise HTTPException(404, f"no account {username!r}")
    return doc


@accounts_router.get(
    "/{username}",
    response_model=AccountPublic,
    summary="Get an account",
    dependencies=_MANAGE,
    responses={404: {"description": "No such account"}},
)
async def get_account(username: str, store: AccountsDep) -> AccountPublic:
    return _account_public(await _account(store, username))


@accounts_router.patch(
    "/{username}",
    response_model=AccountPublic,
    summary="Change an account's role, or disable / enable it",
    dependencies=_MANAGE,
    responses={
        404: {"description": "No such account"},
        409: {"description": "It would leave no enabled administrator"},
    },
)
async def change_account(
    username: str, body: AccountChange, store: AccountsDep, actor: Actor
) -> AccountPublic:
    doc = await _account(store, username)
    changes: dict[str, Any] = body.model_dump(exclude_none=True, mode="json")
    if not changes:
        return _account_public(doc)
    stays_admin = changes.get("role", doc["role"]) == Role.ADMIN and not changes.get(
        "disabled", doc["disabled"]
    )
    if doc["role"] == Role.ADMIN and not doc["disabled"] and not stays_admin:
        others = [
            other
            for other in await store.all_accounts()
            if other["_id"] != username and other["role"] == Role.ADMIN and not other["disabled"]
        ]
        if not others:
            raise HTTPException(409, "this is the last enabled administrator")
    changed = await store.change(
        username, changes, actor=actor, action="account_changed", now=utc_now(), void_tokens=True
    )
    if changed is None:
        raise HTTPException(404, f"no account {username!r}")
    return _account_public(changed)


@accounts_router.post(
    "/{username}/reset-password",
    response_model=AccountPublic,
    summary="Set a new password (generated if none is given) and end the account's sessions",
    dependencies=_MANAGE,
    responses={404: {"description": "No such account"}},
)
async def reset_password(
    username: str, store: AccountsDep, actor: Actor, body: PasswordReset | None = None
) -> AccountPublic:
    await _account(store, username)
    given = body.password.get_secret_value() if body and body.password else None
    password = given or new_secret(12)
    password_hash = await asyncio.to_thread(accounts.hash_password, password)
    changed = await store.change(
        username,
        {"password_hash": password_hash, "failed_logins": 0, "locked_until": None},
        actor=actor,
        action="password_reset",
        now=utc_now(),
        void_tokens=True,
    )
    if changed is None:
        raise HTTPException(404, f"no account {username!r}")
    return _account_public(changed, None if given else password)


# -- API keys (admins) ---------------------------------------------------------------------


@keys_router.post(
    "",
    response_model=ApiKeyPublic,
    status_code=201,
    summary="Create an API key for a machine producer or consumer (the key is shown once)",
    dependencies=_MANAGE,
)
async def create_api_key(body: ApiKeyCreate, store: AccountsDep, actor: Actor) -> ApiKeyPublic:
    new = accounts.new_api_key()
    doc = await store.add_key(
        new.key_id,
        name=body.name,
        scopes=body.scopes,
        secret_hash=new.secret_hash,
        actor=actor,
        now=utc_now(),
    )
    return _key_public(doc, new.plaintext)


@keys_router.get(
    "", response_model=list[ApiKeyPublic], summary="List API keys", dependencies=_MANAGE
)
async def list_api_keys(store: AccountsDep) -> list[ApiKeyPublic]:
    return [_key_public(doc) for doc in await store.keys()]


@keys_router.delete(
    "/{key_id}",
    response_model=ApiKeyPublic,
    summary="Revoke an API key",
    dependencies=_MANAGE,
    responses={404: {"description": "No such key"}},
)
async def revoke_api_key(key_id: str, store: AccountsDep, actor: Actor) -> ApiKeyPublic:
    doc = await store.revoke_key(key_id, actor=actor, now=utc_now())
    if doc is None:
        raise HTTPException(404, f"no API key {key_id!r}")
    return _key_public(doc)


async def ensure_bootstrap_admin(store: AccountStore, settings: Settings) -> bool:
    """Create the first administrator from settings when there is no account yet."""
    password = settings.auth_bootstrap_admin_password
    if password is None or await store.count() > 0:
        return False
    password_hash = await asyncio.to_thread(accounts.hash_password, password.get_secret_value())
    try:
        await store.create(
            settings.auth_bootstrap_admin_username,
            role=Role.ADMIN,
            password_hash=password_hash,
            actor="system:bootstrap",
            now=utc_now(),
        )
    except AccountExists:  # another replica won the race
        return False
    return True
