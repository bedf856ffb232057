"""The whole system as real processes, a few accounts and customers, and headless Chromium.

The services run with ports shifted next to the demo's and a database prefix of their own; the
console (in the customer service) calls the others over HTTP on those ports. Chromium is
Debian's (`scripts/debian-packages` installs it), driven by Playwright through `executable_path`:
no browser is ever downloaded. Without chromium the browser tests skip, saying so.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import secrets
import shutil
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.demo.processes import SERVICES, ServiceRunner
from shared.settings import ConnectionSettings
from shared.stack import Stack
from tests.conftest import own_databases, unique
from tests.integration.messaging_support import wait_until_assigned

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / ".artifacts" / "screenshots"
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser")
PASSWORDS = {role: f"{role}-{secrets.token_urlsafe(9)}" for role in ("admin", "agent", "viewer")}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def chromium_path() -> str | None:
    for candidate in CHROMIUM_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


@dataclass(frozen=True)
class System:
    urls: dict[str, str]

    @property
    def console(self) -> str:
        return self.urls["customer"] + "/console"


@dataclass(frozen=True)
class Account:
    username: str
    password: str


@pytest.fixture(scope="session")
def chromium() -> str:
    path = chromium_path()
    if path is None:
        pytest.skip(
            "chromium is not installed: run scripts/debian-packages (apt-get install chromium)"
        )
    return path


# Module scope: the processes must not outlive the browser tests (their consumers and relays
# would go on working in the test stack while other tests run).
@pytest.fixture(scope="module")
def system(chromium: str, stack: Stack, connection: ConnectionSettings) -> Iterator[System]:
    # Free ports of the moment: the demo, the system test and other runs may hold theirs.
    services = [dataclasses.replace(s, port=free_port()) for s in SERVICES]
    urls = {s.name: s.url for s in services}
    runner = ServiceRunner(
        stack.settings,
        services=services,
        extra_env={
            "CRM_MONGO_DATABASE_PREFIX": own_databases(connection, "browser").mongo_database_prefix,
            "CRM_AUTH_JWT_SECRET": secrets.token_urlsafe(48),
            "CRM_AUTH_BOOTSTRAP_ADMIN_USERNAME": "admin",
            "CRM_AUTH_BOOTSTRAP_ADMIN_PASSWORD": PASSWORDS["admin"],
            # Only this run's events: the test stack's topics hold every earlier test's too.
            "CRM_FAUST_APP_ID": unique("browser-scorer"),
            "CRM_FAUST_OFFSET_RESET": "latest",
            "CRM_VIEW360_ENABLED": "false",
            "CRM_INGEST_ENABLED": "false",
            "CRM_SWEEP_INTERVAL_S": "3600",
            "CRM_CONSOLE_INTERACTION_URL": urls["interaction"],
            "CRM_CONSOLE_COMPLAINT_URL": urls["complaint"],
            "CRM_CONSOLE_SCORING_URL": urls["scoring"],
            "CRM_CONSOLE_POLL_S": "1",
        },
    )
    # Pid files and logs of their own: the system test runs processes of the same names.
    runner.run_dir = stack.settings.state_dir / "run-browser"
    runner.down()
    try:
        runner.up()
        # The scorer starts at the end of the topics: wait until it owns its partitions, or
        # the first events would land before its offsets are fixed and be skipped.
        # In a thread of its own: Playwright's sync API keeps an event loop running here.
        group = runner.extra_env["CRM_FAUST_APP_ID"]
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, wait_until_assigned(connection, group)).result()
        yield System(urls)
    finally:
        runner.down()


def login(system: System, account: Account) -> dict[str, str]:
    answer = httpx.post(
        f"{system.urls['customer']}/v1/auth/login",
        json={"username": account.username, "password": account.password},
        timeout=10,
    )
    answer.raise_for_status()
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


@pytest.fixture(scope="module")
def accounts(system: System) -> dict[str, Account]:
    """One account per role, made by the bootstrap administrator through the API."""
    made = {"admin": Account("admin", PASSWORDS["admin"])}
    admin = login(system, made["admin"])
    for role in ("agent", "viewer"):
        username = f"{role}-{secrets.token_hex(3)}"
        created = httpx.post(
            f"{system.urls['customer']}/v1/accounts",
            json={"username": username, "role": role, "password": PASSWORDS[role]},
            headers=admin,
            timeout=10,
        )
        assert created.status_code == 201, created.text
        made[role] = Account(username, PASSWORDS[role])
    return made


@pytest.fixture(scope="module")
def api(system: System, accounts: dict[str, Account]) -> Iterator[httpx.Client]:
    """An HTTP client logged in as the agent (the one who records facts)."""
    with httpx.Client(headers=login(system, accounts["agent"]), timeout=10) as client:
        yield client


def post(client: httpx.Client, url: str, body: dict[str, Any]) -> httpx.Response:
    answer = client.post(url, json=body)
    assert answer.status_code in (200, 201), answer.text
    return answer
