"""Refuse batch requests beyond a bound with 429 + Retry-After, before their body is read.

A pure ASGI middleware rather than a dependency: a dependency runs only after FastAPI has read
and parsed the (up to 1000-item) body, which is the memory we mean not to spend.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

from services.interaction.domain.overload import InFlightLimit

BATCH_PATHS = frozenset({"/v1/interactions:batch", "/v1/batch"})


class BatchAdmission:
    def __init__(self, app: ASGIApp, *, limit: InFlightLimit, retry_after_s: int) -> None:
        self.app = app
        self.limit = limit
        self.retry_after_s = retry_after_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in BATCH_PATHS:
            await self.app(scope, receive, send)
            return
        if not self.limit.try_acquire():
            await self._refuse(send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.limit.release()

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            {"detail": "too many batches in flight; retry later", "retryable": True}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 429,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"retry-after", str(self.retry_after_s).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
