"""Accounts and API keys: the rules, with no I/O.

Passwords are hashed with Argon2id (argon2-cffi's defaults, RFC 9106's second recommended
profile); API keys are long random secrets, so a plain SHA-256 of them is enough and keeps the
token exchange fast. Repeated wrong passwords lock an account for a while: an online attacker
gets `max_failures` guesses per lock-out period instead of thousands per second.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from shared.mongo import Document

USERNAME_PATTERN = r"^[a-z0-9][a-z0-9._@-]{2,63}$"
MIN_PASSWORD_LENGTH = 10
API_KEY_PREFIX = "csk"

_hasher = PasswordHasher()
# Verified against when the username is unknown, so that both answers take as long.
_DECOY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def valid_username(username: str) -> bool:
    return re.fullmatch(USERNAME_PATTERN, username) is not None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(password_hash: str | None, password: str) -> bool:
    """Whether `password` is the account's; CPU-heavy on purpose (run it off the loop)."""
    try:
        return _hasher.verify(password_hash or _DECOY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class LoginPolicy:
    max_failures: int
    lockout: timedelta


def locked_until(account: Document, *, now: datetime) -> datetime | None:
    """When the lock-out ends, if the account is locked out now."""
    until: datetime | None = account.get("locked_until")
    return until if until is not None and until > now else None


def after_failed_login(account: Document, policy: LoginPolicy, *, now: datetime) -> dict[str, Any]:
    """The `$set` that records one more wrong password (and locks when there were too many)."""
    failures = int(account.get("failed_logins", 0)) + 1
    change: dict[str, Any] = {"failed_logins": failures, "last_failed_login_at": now}
    if failures >= policy.max_failures:
        change |= {"failed_logins": 0, "locked_until": now + policy.lockout}
    return change


def after_login(*, now: datetime) -> dict[str, Any]:
    return {"failed_logins": 0, "locked_until": None, "last_login_at": now}


@dataclass(frozen=True)
class NewApiKey:
    key_id: str
    secret_hash: str
    plaintext: str  # shown once to whoever created it, never stored


def new_api_key() -> NewApiKey:
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return NewApiKey(key_id, _digest(secret), f"{API_KEY_PREFIX}_{key_id}_{secret}")


def split_api_key(presented: str) -> tuple[str, str] | None:
    """The key id and secret of a well-formed key, else None."""
    prefix, _, rest = presented.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != API_KEY_PREFIX or not key_id or not secret:
        return None
    return key_id, secret


def api_key_matches(key: Document, secret: str) -> bool:
    return hmac.compare_digest(str(key.get("secret_hash", "")), _digest(secret))


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
