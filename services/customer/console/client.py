"""The console's only way to CRM data: the services' public HTTP APIs, with the person's token.

The console reads and changes nothing directly — not even this service's own database — so it
sees exactly what the logged-in person may see (viewers get masked contacts, a missing scope
is a 403) and could be moved into its own process without change.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import httpx

ServiceName = Literal["customer", "interaction", "complaint", "scoring"]
Json = dict[str, Any]

# Complaint states still on somebody's desk (the board's default view).
OPEN_STATES = ("new", "acknowledged", "in_progress", "waiting_customer", "reopened")


class ApiError(Exception):
    """A service answered with an error (or could not be reached: status 503)."""

    def __init__(self, service: ServiceName, status: int, detail: Any) -> None:
        super().__init__(f"{service}: {status} {detail}")
        self.service = service
        self.status = status
        self.detail = detail


class NotAuthenticated(ApiError):
    """401: the token is missing, expired or no longer accepted; the person logs in again."""


@dataclass(frozen=True)
class ServiceUrls:
    customer: str
    interaction: str
    complaint: str
    scoring: str

    def of(self, service: ServiceName) -> str:
        base: str = getattr(self, service)
        return base.rstrip("/")


@dataclass(frozen=True)
class Answer:
    body: Any
    etag: str | None


class ConsoleApi:
    """Typed-enough calls of the four services' public APIs for one request of one person."""

    def __init__(self, http: httpx.AsyncClient, urls: ServiceUrls, token: str | None) -> None:
        self._http = http
        self._urls = urls
        self.token = token

    async def _call(
        self,
        service: ServiceName,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        authenticated: bool = True,
    ) -> Answer:
        sent = dict(headers or {})
        if authenticated and self.token:
            sent["Authorization"] = f"Bearer {self.token}"
        query = {k: v for k, v in (params or {}).items() if v is not None and v != ""}
        try:
            response = await self._http.request(
                method, self._urls.of(service) + path, params=query, json=json, headers=sent
            )
        except httpx.HTTPError as error:
            raise ApiError(service, 503, f"unreachable: {type(error).__name__}") from error
        if response.status_code == 401 and authenticated:
            raise NotAuthenticated(service, 401, _detail(response))
        if response.status_code >= 400:
            raise ApiError(service, response.status_code, _detail(response))
        body = response.json() if response.content else None
        return Answer(body, response.headers.get("ETag"))

    async def _get(
        self, service: ServiceName, path: str, params: Mapping[str, Any] | None = None
    ) -> Any:
        return (await self._call(service, "GET", path, params=params)).body

    # -- the customer service: log-in and tokens --------------------------------------------

    async def login(self, username: str, password: str) -> Json:
        body = {"username": username, "password": password}
        answer = await self._call(
            "customer", "POST", "/v1/auth/login", json=body, authenticated=False
        )
        tokens: Json = answer.body
        return tokens

    async def refresh(self, refresh_token: str) -> Json:
        body = {"refresh_token": refresh_token}
        try:
            answer = await self._call(
                "customer", "POST", "/v1/auth/refresh", json=body, authenticated=False
            )
        except ApiError as error:
            if error.status == 401:
                raise NotAuthenticated("customer", 401, error.detail) from error
            raise
        tokens: Json = answer.body
        return tokens

    # -- customers ---------------------------------------------------------------------------

    async def customers(self, *, q: str | None, limit: int = 50) -> list[Json]:
        page = await self._get("customer", "/v1/customers", {"q": q, "limit": limit})
        items: list[Json] = page["items"]
        return items

    async def customer(self, customer_id: str) -> Json:
        found: Json = await self._get("customer", f"/v1/customers/{customer_id}")
        return found

    async def customer_names(self, customer_ids: Iterable[str]) -> dict[str, Json]:
        """Each customer's record by id (at most 8 requests at once); missing ones left out."""
        gate = asyncio.Semaphore(8)

        async def one(customer_id: str) -> tuple[str, Json | None]:
            async with gate:
                try:
                    return customer_id, await self.customer(customer_id)
                except NotAuthenticated:
                    raise
                except ApiError:
                    return customer_id, None

        found = await asyncio.gather(*(one(i) for i in dict.fromkeys(customer_ids)))
        return {customer_id: doc for customer_id, doc in found if doc is not None}

    # -- interactions ------------------------------------------------------------------------

    async def timeline(self, customer_id: str, *, limit: int = 30) -> list[Json]:
        page = await self._get(
            "interaction", f"/v1/customers/{customer_id}/timeline", {"limit": limit}
        )
        items: list[Json] = page["items"]
        return items

    # -- complaints --------------------------------------------------------------------------

    async def complaints(
        self, *, customer_id: str | None = None, state: str | None = None, limit: int = 200
    ) -> list[Json]:
        page = await self._get(
            "complaint",
            "/v1/complaints",
            {"customer_id": customer_id, "state": state, "limit": limit},
        )
        items: list[Json] = page["items"]
        return items

    async def complaints_in(self, states: Iterable[str]) -> list[Json]:
        """Complaints in any of `states` (one request per state, side by side)."""
        pages = await asyncio.gather(*(self.complaints(state=state) for state in states))
        return [item for page in pages for item in page]

    async def complaint(self, complaint_id: str) -> Answer:
        return await self._call("complaint", "GET", f"/v1/complaints/{complaint_id}")

    async def act(self, complaint_id: str, action: str, *, etag: str, body: Json | None) -> Answer:
        """A workflow action (`acknowledge`, `start`, `resolve`, …) guarded by the ETag."""
        return await self._call(
            "complaint",
            "POST",
            f"/v1/complaints/{complaint_id}/{action}",
            json=body,
            headers={"If-Match": etag},
        )

    async def complaint_stats(self) -> Json:
        stats: Json = await self._get("complaint", "/v1/complaints/stats")
        return stats

    # -- scores ------------------------------------------------------------------------------

    async def at_risk(self, *, bands: str, tiers: str, limit: int = 50) -> list[Json]:
        page = await self._get(
            "scoring", "/v1/scores/at-risk", {"band": bands, "value_tier": tiers, "limit": limit}
        )
        items: list[Json] = page["items"]
        return items

    async def score(self, customer_id: str) -> Json | None:
        try:
            found: Json = await self._get("scoring", f"/v1/scores/{customer_id}")
        except ApiError as error:
            if error.status == 404:
                return None
            raise
        return found

    async def score_history(self, customer_id: str, *, limit: int = 100) -> list[Json]:
        page = await self._get("scoring", f"/v1/scores/{customer_id}/history", {"limit": limit})
        items: list[Json] = page["items"]
        return items

    async def distribution(self) -> Json:
        found: Json = await self._get("scoring", "/v1/scores/distribution")
        return found


def _detail(response: httpx.Response) -> Any:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    return body.get("detail", body) if isinstance(body, dict) else body
