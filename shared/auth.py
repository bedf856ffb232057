"""Who is calling, and may they: the one verification path every service uses.

Every request that reads or changes CRM data carries `Authorization: Bearer <JWT>`. People get
their token by logging in at the customer service (`POST /v1/auth/login`), where the accounts
live; machines (contact-center systems, BI) exchange their API key for a short-lived token
(`POST /v1/auth/token`) carrying the key's scopes. Every service verifies tokens here, with the
shared signing key or — when `CRM_AUTH_OIDC_JWKS_URL` is set — an external identity provider's
published keys, so no service needs another service's database to authorise a request.

Routes declare what they need next to their definition, `dependencies=[requires(Scope.X)]`;
FastAPI writes the requirement into the OpenAPI description (`security`), which is also how the
route-table test finds a route that declares nothing. 401 means "we do not know who you are"
(no, expired, forged or revoked credentials); 403 means "we know you, and your role or key
lacks this scope" — the body says which.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

import jwt
from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, SecurityScopes
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.settings import ENV_PREFIX

log = logging.getLogger(__name__)

# Only for a laptop: the services warn loudly at start-up when it is in use.
DEVELOPMENT_SIGNING_KEY = "customer-signals-development-key-never-use-in-production"
_ALGORITHM = "HS256"


class Role(StrEnum):
    """One role per account (requirements §2.8: "一人暂时只能有一个角色")."""

    ADMIN = "admin"
    AGENT = "agent"
    VIEWER = "viewer"


class Scope(StrEnum):
    """What a route needs. Roles grant sets of scopes; API keys carry some explicitly."""

    CUSTOMERS_READ = "customers:read"
    CUSTOMERS_WRITE = "customers:write"
    # Deleting, merging and erasing lose or rewrite history: admins only (seeds: agents get
    # no delete permission so the data persists).
    CUSTOMERS_DELETE = "customers:delete"
    INTERACTIONS_READ = "interactions:read"
    INGEST_WRITE = "ingest:write"
    COMPLAINTS_READ = "complaints:read"
    COMPLAINTS_WRITE = "complaints:write"
    SCORES_READ = "scores:read"
    ACCOUNTS_MANAGE = "accounts:manage"


_READ = frozenset(
    {Scope.CUSTOMERS_READ, Scope.INTERACTIONS_READ, Scope.COMPLAINTS_READ, Scope.SCORES_READ}
)
ROLE_SCOPES: dict[Role, frozenset[Scope]] = {
    Role.VIEWER: _READ,
    Role.AGENT: _READ | {Scope.CUSTOMERS_WRITE, Scope.INGEST_WRITE, Scope.COMPLAINTS_WRITE},
    Role.ADMIN: frozenset(Scope),
}
# Machines never manage accounts nor destroy data, whatever key an admin creates.
API_KEY_SCOPES = frozenset(Scope) - {Scope.ACCOUNTS_MANAGE, Scope.CUSTOMERS_DELETE}


class AuthSettings(BaseSettings):
    """How tokens are signed and verified; the same in every service (CRM_AUTH_*)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    auth_jwt_secret: SecretStr = Field(
        default=SecretStr(DEVELOPMENT_SIGNING_KEY),
        min_length=32,
        description="Shared HS256 signing key of access tokens (a Secret in Kubernetes)",
    )
    auth_jwt_issuer: str = Field(default="customer-signals", description="Token issuer (iss)")
    auth_access_token_ttl_s: int = Field(
        default=900, ge=30, description="Lifetime of a person's access token"
    )
    auth_refresh_token_ttl_s: int = Field(
        default=8 * 3600, ge=60, description="Lifetime of a refresh token (one working day)"
    )
    auth_api_key_token_ttl_s: int = Field(
        default=300,
        ge=30,
        description="Lifetime of a token exchanged for an API key: a revoked key stops working "
        "at the latest this long after revocation",
    )
    auth_oidc_jwks_url: str | None = Field(
        default=None,
        description="Verify tokens with an external OIDC provider's JWKS instead of the shared key",
    )
    auth_oidc_issuer: str | None = Field(default=None, description="Expected iss of OIDC tokens")
    auth_oidc_audience: str | None = Field(default=None, description="Expected aud of OIDC tokens")
    auth_oidc_role_claim: str = Field(
        default="role", description="Claim of an OIDC token that names the CRM role"
    )
    auth_show_contacts_to_viewers: bool = Field(
        default=False, description="Viewers see phone numbers and e-mail addresses unmasked"
    )

    @property
    def uses_development_key(self) -> bool:
        return self.auth_jwt_secret.get_secret_value() == DEVELOPMENT_SIGNING_KEY


@dataclass(frozen=True)
class Principal:
    """The verified caller of one request."""

    subject: str  # "account:<username>" or "api_key:<key id>": what events record as actor
    name: str
    kind: Literal["account", "api_key"]
    role: Role | None
    scopes: frozenset[Scope]

    @property
    def actor(self) -> str:
        return self.subject

    def may(self, scope: Scope) -> bool:
        return scope in self.scopes

    def describe(self) -> str:
        return f"role {self.role}" if self.role else f"API key {self.name!r}"


def account_principal(username: str, role: Role) -> Principal:
    return Principal(f"account:{username}", username, "account", role, ROLE_SCOPES[role])


def api_key_principal(key_id: str, name: str, scopes: Iterable[Scope]) -> Principal:
    return Principal(f"api_key:{key_id}", name, "api_key", None, frozenset(scopes) & API_KEY_SCOPES)


class Unauthenticated(Exception):
    """The credentials prove nothing: missing, expired, forged, or of the wrong kind."""


class TokenIssuer:
    """Signs access and refresh tokens with the shared key (used by the customer service)."""

    def __init__(self, settings: AuthSettings) -> None:
        self._settings = settings

    def access_token(self, principal: Principal, *, now: datetime) -> tuple[str, int]:
        """A signed access token for `principal` and its lifetime in seconds."""
        ttl = (
            self._settings.auth_api_key_token_ttl_s
            if principal.kind == "api_key"
            else self._settings.auth_access_token_ttl_s
        )
        claims: dict[str, Any] = {
            "sub": principal.subject,
            "name": principal.name,
            "kind": principal.kind,
            "scope": " ".join(sorted(principal.scopes)),
            "typ": "access",
        }
        if principal.role is not None:
            claims["role"] = principal.role.value
        return self._sign(claims, now=now, ttl_s=ttl), ttl

    def refresh_token(self, username: str, *, token_version: int, now: datetime) -> str:
        """A refresh token; `token_version` lets a password reset or disable void old ones."""
        claims = {"sub": f"account:{username}", "typ": "refresh", "ver": token_version}
        return self._sign(claims, now=now, ttl_s=self._settings.auth_refresh_token_ttl_s)

    def read_refresh_token(self, token: str) -> tuple[str, int]:
        """The username and token version of a valid refresh token."""
        claims = _decode_shared(token, self._settings, expected_type="refresh")
        subject = str(claims.get("sub", ""))
        if not subject.startswith("account:") or not isinstance(claims.get("ver"), int):
            raise Unauthenticated("not a refresh token")
        return subject.removeprefix("account:"), int(claims["ver"])

    def _sign(self, claims: dict[str, Any], *, now: datetime, ttl_s: int) -> str:
        payload = claims | {
            "iss": self._settings.auth_jwt_issuer,
            "iat": int(now.timestamp()),
            "exp": int((now + timedelta(seconds=ttl_s)).timestamp()),
            "jti": uuid.uuid4().hex,
        }
        secret = self._settings.auth_jwt_secret.get_secret_value()
        return jwt.encode(payload, secret, algorithm=_ALGORITHM)


def _decode_shared(token: str, settings: AuthSettings, *, expected_type: str) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            settings.auth_jwt_secret.get_secret_value(),
            algorithms=[_ALGORITHM],
            issuer=settings.auth_jwt_issuer,
            options={"require": ["exp", "iat", "sub", "iss"]},
        )
    except jwt.ExpiredSignatureError as error:
        raise Unauthenticated("the token has expired; log in again or refresh it") from error
    except jwt.InvalidSignatureError as error:
        raise Unauthenticated("the token's signature does not verify") from error
    except jwt.InvalidTokenError as error:
        raise Unauthenticated(f"not a valid token: {error}") from error
    if claims.get("typ") != expected_type:
        raise Unauthenticated(f"expected an {expected_type} token")
    return claims


class TokenVerifier:
    """Turns a bearer token into a Principal, or says precisely why it cannot."""

    def __init__(self, settings: AuthSettings) -> None:
        self._settings = settings
        self._jwks = (
            jwt.PyJWKClient(settings.auth_oidc_jwks_url, cache_keys=True)
            if settings.auth_oidc_jwks_url
            else None
        )

    async def verify(self, token: str) -> Principal:
        if self._jwks is not None:
            return await self._verify_oidc(token)
        return self._principal(_decode_shared(token, self._settings, expected_type="access"))

    def _principal(self, claims: dict[str, Any]) -> Principal:
        subject = str(claims["sub"])
        kind = claims.get("kind")
        try:
            scopes = frozenset(Scope(value) for value in str(claims.get("scope", "")).split())
            if kind == "account":
                return account_principal(subject.removeprefix("account:"), Role(claims["role"]))
            if kind == "api_key":
                return api_key_principal(
                    subject.removeprefix("api_key:"), str(claims.get("name", "")), scopes
                )
        except (KeyError, ValueError) as error:
            raise Unauthenticated(f"the token's claims are not understood: {error}") from error
        raise Unauthenticated("the token names no account or API key")

    async def _verify_oidc(self, token: str) -> Principal:
        assert self._jwks is not None
        try:
            # PyJWKClient fetches over blocking HTTP on a cache miss: keep the loop free.
            key = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=["RS256", "ES256", "PS256"],
                issuer=self._settings.auth_oidc_issuer,
                audience=self._settings.auth_oidc_audience,
                options={"require": ["exp", "sub"]},
            )
        except jwt.ExpiredSignatureError as error:
            raise Unauthenticated("the token has expired") from error
        except (jwt.InvalidTokenError, jwt.PyJWKClientError) as error:
            raise Unauthenticated(f"not a valid token of the identity provider: {error}") from error
        try:
            role = Role(str(claims.get(self._settings.auth_oidc_role_claim, "")))
        except ValueError as error:
            raise Unauthenticated(
                f"the token's {self._settings.auth_oidc_role_claim!r} claim names no CRM role"
            ) from error
        name = str(claims.get("preferred_username") or claims["sub"])
        return account_principal(name, role)


# -- FastAPI plumbing ----------------------------------------------------------------------

_bearer = HTTPBearer(
    auto_error=False,
    description="An access token from `POST /v1/auth/login` (people) or "
    "`POST /v1/auth/token` (API keys) of the customer service",
)


def _unauthenticated(reason: str) -> HTTPException:
    return HTTPException(
        status_code=401,
        detail=reason,
        headers={"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{reason}"'},
    )


async def authenticate(
    security_scopes: SecurityScopes,
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller, checked against the scopes the route requires."""
    if credentials is None:
        raise HTTPException(
            status_code=401,
            detail="no credentials: send 'Authorization: Bearer <token>' (log in, or exchange "
            "an API key, at the customer service's /v1/auth endpoints)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    verifier: TokenVerifier = request.app.state.token_verifier
    try:
        principal = await verifier.verify(credentials.credentials)
    except Unauthenticated as error:
        raise _unauthenticated(str(error)) from error
    missing = sorted(set(security_scopes.scopes) - principal.scopes)
    if missing:
        raise HTTPException(
            status_code=403,
            detail=f"{principal.describe()} may not do this: it needs {', '.join(missing)}",
        )
    request.state.principal = principal
    return principal


def requires(*scopes: Scope) -> Any:
    """The route-level dependency that declares (and enforces) what a route needs."""
    return Security(authenticate, scopes=[scope.value for scope in scopes])


def current_principal(request: Request) -> Principal:
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:  # a programming error: the route declared no requirement
        raise RuntimeError(f"{request.url.path} reads the caller but declares no requirement")
    return principal


def current_actor(request: Request) -> str:
    return current_principal(request).actor


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
Actor = Annotated[str, Depends(current_actor)]


def new_secret(nbytes: int = 24) -> str:
    """A random, URL-safe secret (API keys, generated passwords)."""
    return secrets.token_urlsafe(nbytes)


def hides_contacts(request: Request) -> bool:
    """Whether this caller sees phones and e-mails masked (viewers, unless the setting allows)."""
    settings: AuthSettings = request.app.state.settings
    principal = current_principal(request)
    return principal.role is Role.VIEWER and not settings.auth_show_contacts_to_viewers


HidesContacts = Annotated[bool, Depends(hides_contacts)]
