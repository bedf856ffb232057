"""`/healthz` (process alive) and `/readyz` (its Kafka and Mongo reachable) for every service."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiokafka.admin import AIOKafkaAdminClient
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from shared.mongo import MongoClient, reachable

Check = Callable[[], Awaitable[bool]]
_CHECK_TIMEOUT_S = 2.0


@dataclass
class Readiness:
    """Named dependency checks; a service adds its own (e.g. 'consumers assigned')."""

    checks: dict[str, Check] = field(default_factory=dict)

    def add(self, name: str, check: Check) -> None:
        self.checks[name] = check

    async def report(self) -> dict[str, bool]:
        async def run(check: Check) -> bool:
            try:
                return await asyncio.wait_for(check(), _CHECK_TIMEOUT_S)
            except Exception:  # a failing check is an answer ("not ready"), not an error
                return False

        results = await asyncio.gather(*(run(check) for check in self.checks.values()))
        return dict(zip(self.checks, results, strict=True))


def mongo_check(client: MongoClient) -> Check:
    async def check() -> bool:
        return await reachable(client)

    return check


class KafkaCheck:
    """Asks the cluster for metadata through one long-lived admin client."""

    def __init__(self, bootstrap_servers: str) -> None:
        self._admin = AIOKafkaAdminClient(
            bootstrap_servers=bootstrap_servers, request_timeout_ms=2000
        )
        self._started = False

    async def __call__(self) -> bool:
        if not self._started:
            await self._admin.start()
            self._started = True
        await self._admin.list_topics()
        return True

    async def close(self) -> None:
        if self._started:
            # Closing an admin whose broker is gone may itself complain; nothing to do then.
            logging.getLogger("aiokafka").debug("closing readiness admin client")
            await self._admin.close()


router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Kafka and MongoDB are reachable",
    responses={503: {"description": "A dependency is unreachable; the body names it"}},
)
async def readyz(request: Request) -> JSONResponse:
    readiness: Readiness = request.app.state.readiness
    report = await readiness.report()
    ready = all(report.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": report},
        status_code=200 if ready else 503,
    )
