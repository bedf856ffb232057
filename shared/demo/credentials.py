"""The demo's signing key and administrator password: made once per stack, kept in its state dir.

They are random per machine (never a password in the repository) and stable across restarts,
so the README's run command can print them and a second run still logs in with them.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

import httpx

ADMIN_USERNAME = "admin"
AGENT_USERNAME = "agent"
VIEWER_USERNAME = "viewer"


@dataclass(frozen=True)
class DemoCredentials:
    signing_key: str
    admin_password: str
    agent_password: str
    viewer_password: str
    admin_username: str = ADMIN_USERNAME

    @classmethod
    def load_or_create(cls, state_dir: Path) -> DemoCredentials:
        folder = state_dir / "auth"
        folder.mkdir(parents=True, exist_ok=True)
        return cls(
            signing_key=_secret(folder / "signing-key", 48),
            admin_password=_secret(folder / "admin-password", 9),
            agent_password=_secret(folder / "agent-password", 9),
            viewer_password=_secret(folder / "viewer-password", 9),
        )

    def accounts(self) -> list[tuple[str, str, str]]:
        """(username, role, password) of the demo's three accounts, one per role."""
        return [
            (self.admin_username, "admin", self.admin_password),
            (AGENT_USERNAME, "agent", self.agent_password),
            (VIEWER_USERNAME, "viewer", self.viewer_password),
        ]

    def service_env(self) -> dict[str, str]:
        """What the services need to share one key and create the first administrator."""
        return {
            "CRM_AUTH_JWT_SECRET": self.signing_key,
            "CRM_AUTH_BOOTSTRAP_ADMIN_USERNAME": self.admin_username,
            "CRM_AUTH_BOOTSTRAP_ADMIN_PASSWORD": self.admin_password,
        }


def _secret(path: Path, nbytes: int) -> str:
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(nbytes))
    return path.read_text().strip()


def ensure_demo_accounts(credentials: DemoCredentials, customer_url: str) -> None:
    """Create the agent and viewer accounts (the admin is the services' bootstrap account);
    an account that exists is left as it is."""
    with httpx.Client(base_url=customer_url, timeout=30) as client:
        login = client.post(
            "/v1/auth/login",
            json={"username": credentials.admin_username, "password": credentials.admin_password},
        )
        login.raise_for_status()
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        for username, role, password in credentials.accounts()[1:]:
            created = client.post(
                "/v1/accounts",
                json={"username": username, "role": role, "password": password},
                headers=headers,
            )
            if created.status_code not in (201, 409):
                created.raise_for_status()
