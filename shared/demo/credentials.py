"""The demo's signing key and administrator password: made once per stack, kept in its state dir.

They are random per machine (never a password in the repository) and stable across restarts,
so the README's run command can print them and a second run still logs in with them.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

ADMIN_USERNAME = "admin"


@dataclass(frozen=True)
class DemoCredentials:
    signing_key: str
    admin_password: str
    admin_username: str = ADMIN_USERNAME

    @classmethod
    def load_or_create(cls, state_dir: Path) -> DemoCredentials:
        folder = state_dir / "auth"
        folder.mkdir(parents=True, exist_ok=True)
        return cls(
            signing_key=_secret(folder / "signing-key", 48),
            admin_password=_secret(folder / "admin-password", 9),
        )

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
