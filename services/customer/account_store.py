"""Accounts, API keys and their audit trail in the customer service's database.

Accounts are keyed by username and keys by key id (`_id`), the only lookups FerretDB indexes.
Failed-login counters are written under the collection's write lock: FerretDB can lose one of
two concurrent updates of a document, and a brute-force attack is exactly many concurrent
updates of one account.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pymongo.errors import DuplicateKeyError

from shared.auth import Role, Scope
from shared.mongo import Database, Document
from shared.outbox import write_lock

ACCOUNTS = "accounts"
API_KEYS = "api_keys"
ACCOUNT_AUDIT = "account_audit"


class AccountExists(Exception):
    pass


class AccountStore:
    def __init__(self, database: Database) -> None:
        self.accounts = database[ACCOUNTS]
        self.api_keys = database[API_KEYS]
        self.audit = database[ACCOUNT_AUDIT]

    async def ensure_indexes(self) -> None:
        await self.audit.create_index([("target", 1), ("at", 1)])

    async def count(self) -> int:
        return await self.accounts.count_documents({})

    async def get(self, username: str) -> Document | None:
        return await self.accounts.find_one({"_id": username})

    async def create(
        self, username: str, *, role: Role, password_hash: str, actor: str, now: datetime
    ) -> Document:
        doc: Document = {
            "_id": username,
            "role": role.value,
            "password_hash": password_hash,
            "disabled": False,
            "token_version": 1,
            "failed_logins": 0,
            "locked_until": None,
            "created_at": now,
            "created_by": actor,
            "updated_at": now,
            "updated_by": actor,
            "last_login_at": None,
        }
        try:
            await self.accounts.insert_one(doc)
        except DuplicateKeyError as error:
            raise AccountExists(username) from error
        await self.record(actor, "account_created", username, {"role": role.value}, now=now)
        return doc

    async def all_accounts(self) -> list[Document]:
        return [doc async for doc in self.accounts.find({}).sort("_id", 1)]

    async def change(
        self,
        username: str,
        changes: dict[str, Any],
        *,
        actor: str,
        action: str,
        now: datetime,
        void_tokens: bool,
    ) -> Document | None:
        """Apply an administrator's change; `void_tokens` ends the account's refresh tokens."""
        update: dict[str, Any] = {"$set": changes | {"updated_at": now, "updated_by": actor}}
        if void_tokens:
            update["$inc"] = {"token_version": 1}
        async with write_lock(self.accounts):
            result = await self.accounts.update_one({"_id": username}, update)
        if result.matched_count == 0:
            return None
        shown = {key: value for key, value in changes.items() if key != "password_hash"}
        await self.record(actor, action, username, shown, now=now)
        return await self.get(username)

    async def note_login(self, username: str, changes: dict[str, Any]) -> None:
        """Record a login's outcome (failure counter, lock-out, last login)."""
        async with write_lock(self.accounts):
            await self.accounts.update_one({"_id": username}, {"$set": changes})

    async def record(
        self, actor: str, action: str, target: str, details: dict[str, Any], *, now: datetime
    ) -> None:
        await self.audit.insert_one(
            {"actor": actor, "action": action, "target": target, "details": details, "at": now}
        )

    # -- API keys --------------------------------------------------------------------------

    async def add_key(
        self,
        key_id: str,
        *,
        name: str,
        scopes: Iterable[Scope],
        secret_hash: str,
        actor: str,
        now: datetime,
    ) -> Document:
        doc: Document = {
            "_id": key_id,
            "name": name,
            "scopes": sorted(scope.value for scope in scopes),
            "secret_hash": secret_hash,
            "created_at": now,
            "created_by": actor,
            "revoked_at": None,
            "last_used_at": None,
        }
        await self.api_keys.insert_one(doc)
        await self.record(actor, "api_key_created", key_id, {"name": name}, now=now)
        return doc

    async def key(self, key_id: str) -> Document | None:
        return await self.api_keys.find_one({"_id": key_id})

    async def keys(self) -> list[Document]:
        return [doc async for doc in self.api_keys.find({}).sort("created_at", 1)]

    async def revoke_key(self, key_id: str, *, actor: str, now: datetime) -> Document | None:
        async with write_lock(self.api_keys):
            result = await self.api_keys.update_one(
                {"_id": key_id, "revoked_at": None}, {"$set": {"revoked_at": now}}
            )
        if result.matched_count:
            await self.record(actor, "api_key_revoked", key_id, {}, now=now)
        return await self.key(key_id)

    async def key_used(self, key_id: str, *, now: datetime) -> None:
        async with write_lock(self.api_keys):
            await self.api_keys.update_one({"_id": key_id}, {"$set": {"last_used_at": now}})
