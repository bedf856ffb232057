"""Access control across every service, on the real stack.

The route table walks every operation of every service's OpenAPI description with each kind
of caller and checks the status: a route added without a declared requirement fails here,
and so does one whose requirement lets the wrong role in.
"""

from __future__ import annotations

import asyncio
import importlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI

from shared.auth import (
    ROLE_SCOPES,
    AuthSettings,
    Role,
    Scope,
    TokenIssuer,
    account_principal,
    api_key_principal,
)
from shared.events import utc_now
from shared.settings import ConnectionSettings
from shared.topics import CUSTOMER
from tests.conftest import bearer, own_databases, unique
from tests.integration.messaging_support import TopicTail, header

ADMIN_PASSWORD = "bootstrap-secret-123"
# Routes anyone may call: probes, and the ways to get a token in the first place.
PUBLIC = {
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("post", "/v1/auth/login"),
    ("post", "/v1/auth/refresh"),
    ("post", "/v1/auth/token"),
    # The customer's survey page: the random token in the path is the credential.
    ("get", "/v1/surveys/{token}"),
    ("post", "/v1/surveys/{token}"),
    ("post", "/v1/surveys/{token}/skip"),
}
FOREIGN_KEY = "someone-elses-signing-key-of-32-bytes-or-more"
SERVICES = ["customer", "interaction", "complaint", "scoring"]


@dataclass
class Service:
    name: str
    app: FastAPI
    client: httpx.AsyncClient


def _settings(service: str, connection: ConnectionSettings) -> Any:
    module = importlib.import_module(f"services.{service}.settings")
    extra: dict[str, Any] = {}
    if service == "customer":
        extra = {
            "audit_move_interval_s": 0,
            "view360_enabled": False,
            "auth_bootstrap_admin_password": ADMIN_PASSWORD,
            "auth_max_failed_logins": 3,
            "auth_lockout_s": 60,
        }
    if service == "complaint":
        extra = {"sla_check_interval_s": 0, "customers_enabled": False}
    if service == "interaction":
        extra = {"ingest_enabled": False}
    return module.Settings(**connection.model_dump(), **extra)


@pytest.fixture(scope="module")
async def services(connection: ConnectionSettings) -> AsyncIterator[dict[str, Service]]:
    # Databases of their own: the bootstrap admin is only created where there is no account.
    connection = own_databases(connection, "access")
    started: dict[str, Service] = {}
    contexts = []
    for name in SERVICES:
        app = importlib.import_module(f"services.{name}.app").create_app(
            _settings(name, connection)
        )
        context = app.router.lifespan_context(app)
        await context.__aenter__()
        contexts.append(context)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc")
        started[name] = Service(name, app, client)
    yield started
    for service in started.values():
        await service.client.aclose()
    for context in reversed(contexts):
        await context.__aexit__(None, None, None)


def operations(app: FastAPI) -> list[tuple[str, str, list[str] | None]]:
    """(method, path, required scopes or None when the operation declares no security)."""
    found = []
    for path, item in app.openapi()["paths"].items():
        for method, operation in item.items():
            security = operation.get("security")
            scopes = (
                None if not security else sorted({s for req in security for s in req["HTTPBearer"]})
            )
            found.append((method, path, scopes))
    return found


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "no-such-thing", path)


async def call(client: httpx.AsyncClient, method: str, path: str, headers: dict[str, str]) -> int:
    body: dict[str, Any] | None = {} if method in {"post", "put", "patch"} else None
    response = await client.request(method.upper(), concrete(path), json=body, headers=headers)
    return response.status_code


def _token(claims_principal: Any, *, secret: str | None = None, expired: bool = False) -> str:
    settings = AuthSettings() if secret is None else AuthSettings(auth_jwt_secret=secret)
    now = utc_now() - (timedelta(hours=2) if expired else timedelta())
    token, _ = TokenIssuer(settings).access_token(claims_principal, now=now)
    return token


async def test_every_route_declares_a_requirement_or_is_public(
    services: dict[str, Service],
) -> None:
    undeclared = [
        (service.name, method, path)
        for service in services.values()
        for method, path, scopes in operations(service.app)
        if scopes is None and (method, path) not in PUBLIC
    ]
    assert undeclared == []


async def test_route_table_for_every_caller(services: dict[str, Service]) -> None:
    admin = account_principal("table-admin", Role.ADMIN)
    machine = api_key_principal("k-table", "dialer", [Scope.INGEST_WRITE, Scope.SCORES_READ])
    callers: dict[str, tuple[dict[str, str], frozenset[Scope] | None]] = {
        "no credentials": ({}, None),
        "expired token": ({"Authorization": f"Bearer {_token(admin, expired=True)}"}, None),
        "foreign key": (
            {"Authorization": f"Bearer {_token(admin, secret=FOREIGN_KEY)}"},
            None,
        ),
        "revoked API key as bearer": ({"Authorization": "Bearer csk_revoked_abc"}, None),
        "api key dialer": (
            {"Authorization": f"Bearer {_token(machine)}"},
            machine.scopes,
        ),
    } | {f"role {role}": (bearer(role), ROLE_SCOPES[role]) for role in Role}
    wrong: list[str] = []
    checked = 0
    for service in services.values():
        for method, path, scopes in operations(service.app):
            if scopes is None:
                continue
            for caller, (headers, granted) in callers.items():
                status = await call(service.client, method, path, headers)
                checked += 1
                if granted is None:
                    expected_ok = status == 401
                elif set(scopes) <= granted:
                    expected_ok = status not in {401, 403}
                else:
                    expected_ok = status == 403
                if not expected_ok:
                    wrong.append(f"{service.name} {method.upper()} {path} as {caller}: {status}")
    assert wrong == []
    assert checked > 200


async def test_login_refresh_and_me(services: dict[str, Service]) -> None:
    customer = services["customer"].client
    login = await customer.post(
        "/v1/auth/login", json={"username": "Admin", "password": ADMIN_PASSWORD}
    )
    assert login.status_code == 200, login.text
    tokens = login.json()
    assert tokens["role"] == "admin"
    me = await customer.get(
        "/v1/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert me.json()["subject"] == "account:admin"
    # The same token works at every other service: one verification path.
    scores = await services["scoring"].client.get(
        "/v1/scores/at-risk", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert scores.status_code == 200
    refreshed = await customer.post(
        "/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert refreshed.status_code == 200
    # An access token is not a refresh token, and vice versa.
    assert (
        await customer.post("/v1/auth/refresh", json={"refresh_token": tokens["access_token"]})
    ).status_code == 401
    assert (
        await customer.get(
            "/v1/auth/me", headers={"Authorization": f"Bearer {tokens['refresh_token']}"}
        )
    ).status_code == 401


async def test_a_forged_token_is_refused_with_the_reason(services: dict[str, Service]) -> None:
    forged = jwt.encode(
        {"sub": "account:mallory", "kind": "account", "role": "admin", "typ": "access"},
        "a-guessed-signing-key-that-is-long-enough",
        algorithm="HS256",
    )
    response = await services["complaint"].client.get(
        "/v1/complaints", headers={"Authorization": f"Bearer {forged}"}
    )
    assert response.status_code == 401
    assert "WWW-Authenticate" in response.headers


async def test_repeated_wrong_passwords_lock_the_account(services: dict[str, Service]) -> None:
    customer = services["customer"].client
    username = unique("agent").lower()
    created = await customer.post(
        "/v1/accounts", json={"username": username, "role": "agent"}, headers=bearer()
    )
    assert created.status_code == 201, created.text
    password = created.json()["generated_password"]
    assert password
    wrong = [
        (
            await customer.post(
                "/v1/auth/login", json={"username": username, "password": f"guess-{n}-xxxx"}
            )
        ).status_code
        for n in range(3)
    ]
    assert wrong == [401, 401, 401]
    locked = await customer.post(
        "/v1/auth/login", json={"username": username, "password": password}
    )
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) > 0
    # Concurrent guesses are all counted, none lost: the account stays locked.
    answers = await asyncio.gather(
        *(
            customer.post("/v1/auth/login", json={"username": username, "password": "x" * 12})
            for _ in range(5)
        )
    )
    assert {answer.status_code for answer in answers} == {429}
    # An administrator's password reset unlocks it.
    reset = await customer.post(
        f"/v1/accounts/{username}/reset-password",
        json={"password": "fresh-password-1"},
        headers=bearer(),
    )
    assert reset.status_code == 200
    again = await customer.post(
        "/v1/auth/login", json={"username": username, "password": "fresh-password-1"}
    )
    assert again.status_code == 200


async def test_unknown_user_and_wrong_password_look_the_same(
    services: dict[str, Service],
) -> None:
    customer = services["customer"].client
    unknown = await customer.post(
        "/v1/auth/login", json={"username": "nobody-here", "password": "whatever-123"}
    )
    wrong = await customer.post(
        "/v1/auth/login", json={"username": "admin", "password": "not-the-password"}
    )
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json()


async def test_disabling_an_account_ends_its_refresh_tokens(services: dict[str, Service]) -> None:
    customer = services["customer"].client
    username = unique("viewer").lower()
    await customer.post(
        "/v1/accounts",
        json={"username": username, "role": "viewer", "password": "viewer-password-1"},
        headers=bearer(),
    )
    tokens = (
        await customer.post(
            "/v1/auth/login", json={"username": username, "password": "viewer-password-1"}
        )
    ).json()
    disabled = await customer.patch(
        f"/v1/accounts/{username}", json={"disabled": True}, headers=bearer()
    )
    assert disabled.json()["disabled"] is True
    refreshed = await customer.post(
        "/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert refreshed.status_code == 401
    login = await customer.post(
        "/v1/auth/login", json={"username": username, "password": "viewer-password-1"}
    )
    assert login.status_code == 401


async def test_the_last_administrator_cannot_be_demoted(services: dict[str, Service]) -> None:
    customer = services["customer"].client
    accounts = (await customer.get("/v1/accounts", headers=bearer())).json()
    admins = [a for a in accounts if a["role"] == "admin" and not a["disabled"]]
    assert [a["username"] for a in admins] == ["admin"]
    demoted = await customer.patch("/v1/accounts/admin", json={"role": "viewer"}, headers=bearer())
    assert demoted.status_code == 409


async def test_api_key_lifecycle(services: dict[str, Service]) -> None:
    customer = services["customer"].client
    created = await customer.post(
        "/v1/api-keys",
        json={"name": "dialer in Foshan", "scopes": ["ingest:write"]},
        headers=bearer(),
    )
    assert created.status_code == 201, created.text
    key = created.json()["key"]
    key_id = created.json()["id"]
    listed = (await customer.get("/v1/api-keys", headers=bearer())).json()
    assert all(entry["key"] is None for entry in listed)  # shown once only
    exchanged = await customer.post("/v1/auth/token", json={"api_key": key})
    assert exchanged.status_code == 200
    assert exchanged.json()["scopes"] == ["ingest:write"]
    token = exchanged.json()["access_token"]
    # Its scope lets it write interactions but not read them.
    reading = await services["interaction"].client.get(
        "/v1/customers/c-1/timeline", headers={"Authorization": f"Bearer {token}"}
    )
    assert reading.status_code == 403
    assert "interactions:read" in reading.json()["detail"]
    used = (await customer.get("/v1/api-keys", headers=bearer())).json()
    assert next(e for e in used if e["id"] == key_id)["last_used_at"] is not None
    revoked = await customer.delete(f"/v1/api-keys/{key_id}", headers=bearer())
    assert revoked.json()["revoked_at"] is not None
    refused = await customer.post("/v1/auth/token", json={"api_key": key})
    assert refused.status_code == 401
    assert "revoked" in refused.json()["detail"]
    wrong_secret = await customer.post("/v1/auth/token", json={"api_key": key[:-3] + "xyz"})
    assert wrong_secret.status_code == 401


async def test_api_keys_cannot_carry_administrative_scopes(services: dict[str, Service]) -> None:
    response = await services["customer"].client.post(
        "/v1/api-keys", json={"name": "too much", "scopes": ["accounts:manage"]}, headers=bearer()
    )
    assert response.status_code == 422
    assert "accounts:manage" in response.text


async def test_events_and_audit_name_the_acting_account(
    services: dict[str, Service], connection: ConnectionSettings
) -> None:
    customer = services["customer"].client
    tail = TopicTail(connection, CUSTOMER.name)
    await tail.mark()
    created = await customer.post(
        "/v1/customers",
        json={"kind": "organisation", "name": unique("佛山喷雾")},
        headers=bearer(Role.AGENT, "li.na"),
    )
    assert created.status_code == 201, created.text
    customer_id = created.json()["id"]
    records = await tail.read(
        lambda got: len(got) >= 1, keep=lambda record: record.key == customer_id.encode()
    )
    assert header(records[0], "ce_actor") == "account:li.na"
    store = services["customer"].app.state.customers
    await store.move_audit()
    history = (await customer.get(f"/v1/customers/{customer_id}/history", headers=bearer())).json()
    assert history["entries"][0]["actor"] == "account:li.na"


async def test_viewers_see_contacts_masked(services: dict[str, Service]) -> None:
    customer = services["customer"].client
    created = await customer.post(
        "/v1/customers",
        json={
            "kind": "organisation",
            "name": unique("中山凯达"),
            "phones": ["0760-8888 1234"],
            "emails": ["purchasing@kaida.example.cn"],
        },
        headers=bearer(Role.AGENT),
    )
    customer_id = created.json()["id"]
    as_viewer = (
        await customer.get(f"/v1/customers/{customer_id}", headers=bearer(Role.VIEWER))
    ).json()
    as_agent = (
        await customer.get(f"/v1/customers/{customer_id}", headers=bearer(Role.AGENT))
    ).json()
    assert as_agent["emails"] == ["purchasing@kaida.example.cn"]
    assert as_viewer["emails"] == ["p****@kaida.example.cn"]
    assert as_viewer["phones"][0].endswith("1234")
    assert "8888" not in as_viewer["phones"][0]
