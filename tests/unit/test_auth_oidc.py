"""Tokens of an external OIDC provider, verified against its published keys (JWKS over HTTP)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from shared.auth import AuthSettings, Role, TokenVerifier, Unauthenticated

ISSUER = "https://idp.example.cn/realms/crm"
AUDIENCE = "customer-signals"


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def provider_key() -> rsa.RSAPrivateKey:
    return new_key()


@pytest.fixture(scope="module")
def jwks_url(provider_key: rsa.RSAPrivateKey) -> Iterator[str]:
    jwk = json.loads(RSAAlgorithm.to_jwk(provider_key.public_key()))
    body = json.dumps({"keys": [jwk | {"kid": "k1", "use": "sig", "alg": "RS256"}]}).encode()

    class Keys(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Keys)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/certs"
    server.shutdown()


@pytest.fixture
def verifier(jwks_url: str) -> TokenVerifier:
    return TokenVerifier(
        AuthSettings(
            auth_oidc_jwks_url=jwks_url, auth_oidc_issuer=ISSUER, auth_oidc_audience=AUDIENCE
        )
    )


def token(key: rsa.RSAPrivateKey, **claims: Any) -> str:
    now = int(time.time())
    payload = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "f3a1-77",
        "preferred_username": "zhang.wei",
        "role": "agent",
        "iat": now,
        "exp": now + 300,
    } | claims
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": "k1"})


async def test_a_provider_token_names_the_account_and_its_role(
    verifier: TokenVerifier, provider_key: rsa.RSAPrivateKey
) -> None:
    principal = await verifier.verify(token(provider_key))
    assert principal.subject == "account:zhang.wei"
    assert principal.role is Role.AGENT


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"aud": "another-app"}, "(?i)audience"),
        ({"iss": "https://evil.example"}, "(?i)issuer"),
        ({"exp": int(time.time()) - 60}, "expired"),
        ({"role": "superuser"}, "no CRM role"),
    ],
)
async def test_provider_tokens_that_do_not_fit_are_refused(
    verifier: TokenVerifier,
    provider_key: rsa.RSAPrivateKey,
    claims: dict[str, Any],
    reason: str,
) -> None:
    with pytest.raises(Unauthenticated, match=reason):
        await verifier.verify(token(provider_key, **claims))


async def test_a_token_signed_by_another_key_is_refused(verifier: TokenVerifier) -> None:
    with pytest.raises(Unauthenticated):
        await verifier.verify(token(new_key()))


async def test_our_own_shared_key_tokens_are_not_accepted_in_oidc_mode(
    verifier: TokenVerifier,
) -> None:
    shared = jwt.encode(
        {"sub": "account:admin", "kind": "account", "role": "admin", "typ": "access"},
        AuthSettings().auth_jwt_secret.get_secret_value(),
        algorithm="HS256",
    )
    with pytest.raises(Unauthenticated):
        await verifier.verify(shared)
