"""`python -m shared.demo.seed` — fill the running services with the demo world.

    python -m shared.demo.seed --customers 200 --seed 42 [--trickle] [--token …]

Plays `shared.demo.world` through the services' public APIs (`shared.demo.player`): customers,
contacts and orders, complaints through their workflow, hotline calls onto the Kafka ingest
topic. Running it again with the same seed adds nothing. `--trickle` then keeps new contacts,
orders and the odd complaint coming every few seconds (Ctrl-C stops it), so scores keep moving.

Every request carries `Authorization: Bearer <token>`: a fixed token (`--token`, env
`CRM_DEMO_TOKEN`), or — better for long runs, since access tokens live minutes — one obtained
and renewed from an API key (`--api-key`, env `CRM_DEMO_API_KEY`) or an account
(`--username`/`--password`, env `CRM_DEMO_USERNAME`/`CRM_DEMO_PASSWORD`) at the customer
service's `/v1/auth` endpoints. From code, `shared.demo up` calls `seed_demo(...)`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TextIO

import httpx

from shared.demo.credentials import DemoCredentials
from shared.demo.player import (
    Clients,
    IngestSink,
    KafkaIngest,
    Player,
    PlayError,
    PlayReport,
    Progress,
    RenewingBearer,
    Targets,
    open_clients,
    trickle,
)
from shared.demo.processes import SERVICES
from shared.demo.world import WorldConfig, generate
from shared.stack.settings import StackSettings

TOKEN_ENV = "CRM_DEMO_TOKEN"
API_KEY_ENV = "CRM_DEMO_API_KEY"
USERNAME_ENV = "CRM_DEMO_USERNAME"
PASSWORD_ENV = "CRM_DEMO_PASSWORD"
_PORTS = {service.name: service.url for service in SERVICES}


def default_targets() -> Targets:
    """The services where `python -m shared.demo up` runs them."""
    return Targets(
        customer=_PORTS["customer"],
        interaction=_PORTS["interaction"],
        complaint=_PORTS["complaint"],
    )


def auth_headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def credentials_auth(
    customer_url: str,
    *,
    api_key: str | None = None,
    username: str | None = None,
    password: str | None = None,
) -> RenewingBearer | None:
    """Bearer tokens fetched (and fetched again when they expire) from the customer service:
    by exchanging an API key (`POST /v1/auth/token`) or by logging in (`/v1/auth/login`)."""
    if api_key:
        path, body = "/v1/auth/token", {"api_key": api_key}
    elif username and password:
        path, body = "/v1/auth/login", {"username": username, "password": password}
    else:
        return None

    async def renew() -> str:
        async with httpx.AsyncClient(base_url=customer_url, timeout=15) as http:
            answer = await http.post(path, json=body)
        if answer.status_code != 200:
            raise PlayError(f"{path}: {answer.status_code} {answer.text[:200]}")
        return str(answer.json()["access_token"])

    return RenewingBearer(renew)


def default_as_of() -> datetime:
    """Now, to the hour: the history ends just before now, and a re-run within the same hour
    replays the identical world (ids never depend on it, so later re-runs add nothing either)."""
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


async def seed_world(
    config: WorldConfig,
    *,
    targets: Targets,
    headers: Mapping[str, str],
    auth: httpx.Auth | None = None,
    kafka_bootstrap: str | None = None,
    concurrency: int = 16,
    progress: bool = True,
    trickle_interval_s: float | None = None,
    trickle_for_s: float | None = None,
    stop: asyncio.Event | None = None,
    out: TextIO | None = None,
) -> PlayReport:
    """Play the world of `config` into the services at `targets`; optionally trickle on."""
    async with contextlib.AsyncExitStack() as stack:
        clients: Clients = await stack.enter_async_context(
            open_clients(targets, headers, auth=auth)
        )
        ingest: IngestSink | None = None
        if kafka_bootstrap:
            ingest = await stack.enter_async_context(KafkaIngest(kafka_bootstrap))
        player = Player(
            clients,
            ingest=ingest,
            concurrency=concurrency,
            progress=Progress(config.customers, stream=out, enabled=progress),
        )
        report = await player.play(generate(config))
        if trickle_interval_s is not None:
            await trickle(
                player,
                seed=config.seed,
                interval_s=trickle_interval_s,
                duration_s=trickle_for_s,
                stop=stop,
                out=out,
            )
        return report


def seed_demo(
    stack: StackSettings | None = None,
    *,
    customers: int = 200,
    seed: int = 42,
    headers: Mapping[str, str] | None = None,
    auth: httpx.Auth | None = None,
    progress: bool = True,
) -> PlayReport:
    """Seed the demo services (the ports of `shared.demo.processes`) with the default world;
    what `python -m shared.demo up` calls once the services are ready. Idempotent.

    Credentials: `headers` (e.g. `auth_headers(token)`) and/or `auth` (e.g. `credentials_auth(
    url, username=…, password=…)`); by default the `CRM_DEMO_*` environment variables, else
    the demo administrator kept in the stack's state dir (`shared.demo.credentials`)."""
    stack = stack or StackSettings()
    config = WorldConfig(customers=customers, seed=seed, as_of=default_as_of())
    return asyncio.run(
        seed_world(
            config,
            targets=default_targets(),
            headers=headers if headers is not None else auth_headers(os.environ.get(TOKEN_ENV)),
            auth=auth
            or _env_auth(default_targets().customer)
            or stack_admin_auth(stack, default_targets().customer),
            kafka_bootstrap=stack.bootstrap_servers,
            progress=progress,
        )
    )


def _env_auth(customer_url: str) -> RenewingBearer | None:
    return credentials_auth(
        customer_url,
        api_key=os.environ.get(API_KEY_ENV),
        username=os.environ.get(USERNAME_ENV),
        password=os.environ.get(PASSWORD_ENV),
    )


def stack_admin_auth(stack: StackSettings, customer_url: str) -> RenewingBearer | None:
    """The demo administrator `python -m shared.demo up` created (its password is kept in the
    stack's state dir), if there is one: what the seed logs in as when given nothing else."""
    if not (stack.state_dir / "auth" / "admin-password").exists():
        return None  # never create credentials here: the services would not know them
    credentials = DemoCredentials.load_or_create(stack.state_dir)
    return credentials_auth(
        customer_url,
        username=credentials.admin_username,
        password=credentials.admin_password,
    )


def _wait_ready(targets: Targets, timeout_s: float = 30.0) -> str | None:
    """None when every service answers /readyz, else which one does not."""
    import time

    deadline = time.monotonic() + timeout_s
    for name in ("customer", "interaction", "complaint"):
        url = getattr(targets, name) + "/readyz"
        while True:
            try:
                with urllib.request.urlopen(url, timeout=3) as answer:
                    if answer.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                return f"the {name} service at {url} is not ready"
            time.sleep(0.5)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m shared.demo.seed",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument("--customers", type=int, default=200, help="world size (default 200)")
    parser.add_argument("--seed", type=int, default=42, help="the world's seed (default 42)")
    parser.add_argument(
        "--as-of",
        type=datetime.fromisoformat,
        default=None,
        help="end of the history, ISO 8601 with zone (default: now, to the hour)",
    )
    parser.add_argument(
        "--history-days",
        type=int,
        default=WorldConfig.history_days,
        help=f"days of history before --as-of (default {WorldConfig.history_days})",
    )
    parser.add_argument(
        "--token", default=os.environ.get(TOKEN_ENV), help=f"bearer token (env {TOKEN_ENV})"
    )
    parser.add_argument(
        "--api-key",
        default=os.environ.get(API_KEY_ENV),
        help=f"API key exchanged for renewed tokens (env {API_KEY_ENV})",
    )
    parser.add_argument(
        "--username", default=os.environ.get(USERNAME_ENV), help=f"account (env {USERNAME_ENV})"
    )
    parser.add_argument(
        "--password",
        default=os.environ.get(PASSWORD_ENV),
        help=f"password (env {PASSWORD_ENV})",
    )
    parser.add_argument("--customer-url", default=_PORTS["customer"])
    parser.add_argument("--interaction-url", default=_PORTS["interaction"])
    parser.add_argument("--complaint-url", default=_PORTS["complaint"])
    parser.add_argument(
        "--kafka",
        default=None,
        help="Kafka bootstrap for the contact-center ingest topic (default: the local stack's)",
    )
    parser.add_argument(
        "--no-kafka", action="store_true", help="send hotline calls over HTTP instead of Kafka"
    )
    parser.add_argument("--concurrency", type=int, default=16, help="customers played at once")
    parser.add_argument("--trickle", action="store_true", help="keep producing until Ctrl-C")
    parser.add_argument("--trickle-interval", type=float, default=5.0, help="seconds per tick")
    parser.add_argument("--trickle-for", type=float, default=None, help="stop trickling after s")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    as_of = args.as_of or default_as_of()
    if as_of.tzinfo is None:
        parser.error("--as-of needs a time zone, e.g. 2026-11-23T00:00:00Z")
    if as_of > datetime.now(UTC):
        parser.error("--as-of lies in the future: the services refuse future event times")
    config = WorldConfig(
        customers=args.customers, seed=args.seed, as_of=as_of, history_days=args.history_days
    )
    targets = Targets(args.customer_url, args.interaction_url, args.complaint_url)
    not_ready = _wait_ready(targets)
    if not_ready:
        sys.stderr.write(f"error: {not_ready}; start them with `python -m shared.demo up`\n")
        return 2
    kafka = None if args.no_kafka else (args.kafka or StackSettings().bootstrap_servers)
    try:
        report = asyncio.run(
            seed_world(
                config,
                targets=targets,
                headers=auth_headers(args.token),
                auth=credentials_auth(
                    args.customer_url,
                    api_key=args.api_key,
                    username=args.username,
                    password=args.password,
                )
                or (None if args.token else stack_admin_auth(StackSettings(), args.customer_url)),
                kafka_bootstrap=kafka,
                concurrency=args.concurrency,
                progress=not args.quiet,
                trickle_interval_s=args.trickle_interval if args.trickle else None,
                trickle_for_s=args.trickle_for,
            )
        )
    except KeyboardInterrupt:
        sys.stderr.write("\nstopped\n")
        return 130
    except Exception as failure:  # Kafka away, credentials refused: say so, no traceback
        sys.stderr.write(f"error: {type(failure).__name__}: {failure}\n")
        if kafka:
            sys.stderr.write("(is Kafka running? --no-kafka sends hotline calls over HTTP)\n")
        return 1
    sys.stdout.write(json.dumps(report.as_dict(), ensure_ascii=False) + "\n")
    for message in report.errors[:20]:
        sys.stderr.write(f"error: {message}\n")
    return 1 if report.errors else 0


if __name__ == "__main__":
    sys.exit(main())
