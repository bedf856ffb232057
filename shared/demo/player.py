"""Plays the demo world (`shared.demo.world`) through the services' public APIs.

Customers go to the customer service, contacts and orders to the interaction service's
`/v1/batch` (contact-center hotline calls onto the Kafka ingest topic when a Kafka address is
given), complaints and their workflow steps to the complaint service. Every request carries the
caller's headers (e.g. `Authorization: Bearer …`).

Bounded: a fixed number of workers take customer stories from a small queue fed by the world's
generator, so memory stays flat for any size. Polite: 429 and 503 (and lost connections) are
retried after `Retry-After` or a growing back-off. Idempotent: every record carries the id the
API dedupes by (the ERP code of a customer, the source id of a contact, the order id, the
external id of a complaint), and a complaint found again resumes after the steps it already
went through — so playing the same seed twice adds nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import email.utils
import random
import sys
import time
import uuid
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Mapping,
    Sequence,
)
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TextIO

import httpx

from shared.demo.world import (
    TRANSITIONS,
    Activity,
    Behaviour,
    ComplaintPlan,
    ComplaintStep,
    CustomerStory,
)
from shared.events import new_event
from shared.events.codec import KafkaRecord, encode
from shared.events.interaction import InteractionRecorded
from shared.events.vocabulary import Channel, Direction
from shared.topics import CONTACT_CENTER_INGEST

ACTOR = "demo-seed"
BATCH_ITEMS = 500  # the API takes up to 1000; half keeps each request well under a second
MAX_ATTEMPTS = 8
MAX_WAIT_S = 30.0
_RETRYABLE = frozenset({429, 502, 503, 504})


class PlayError(Exception):
    """A request the player could not get through (after retries), with what it answered."""


class AccessRefused(PlayError):
    """401/403: no valid token, or one without the scopes the demo needs. Nothing else would
    get through either, so the play stops instead of failing every remaining customer."""


@dataclass(frozen=True)
class Targets:
    """Base URLs of the services the world is played into."""

    customer: str = "http://127.0.0.1:8001"
    interaction: str = "http://127.0.0.1:8002"
    complaint: str = "http://127.0.0.1:8003"


@dataclass
class Clients:
    """One HTTP client per service, each sending the caller's headers on every request."""

    customer: httpx.AsyncClient
    interaction: httpx.AsyncClient
    complaint: httpx.AsyncClient


class RenewingBearer(httpx.Auth):
    """`Authorization: Bearer <token>` from `renew()`, renewed once when a request gets 401.

    Access tokens are short-lived (minutes), while a big world or the live trickle runs much
    longer: on a 401 the token is fetched again (once for all requests that hit it together)
    and the request is sent once more.
    """

    def __init__(self, renew: Callable[[], Awaitable[str]]) -> None:
        self._renew = renew
        self._token: str | None = None
        self._lock = asyncio.Lock()

    async def _current(self, stale: str | None = None) -> str:
        async with self._lock:
            if self._token is None or self._token == stale:
                self._token = await self._renew()
            return self._token

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self._current()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            request.headers["Authorization"] = f"Bearer {await self._current(stale=token)}"
            yield request


@contextlib.asynccontextmanager
async def open_clients(
    targets: Targets,
    headers: Mapping[str, str],
    *,
    auth: httpx.Auth | None = None,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    timeout_s: float = 30.0,
) -> AsyncIterator[Clients]:
    """Clients for `targets`, sending `headers` (and `auth`, e.g. a `RenewingBearer`) with
    every request; `transports` (by service name) lets tests play into ASGI apps."""
    sent = {"X-Actor": ACTOR, **headers}
    transports = transports or {}
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)

    def client(name: str, base_url: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=base_url,
            headers=sent,
            timeout=timeout_s,
            limits=limits,
            auth=auth,
            transport=transports.get(name),
        )

    async with (
        client("customer", targets.customer) as customer,
        client("interaction", targets.interaction) as interaction,
        client("complaint", targets.complaint) as complaint,
    ):
        yield Clients(customer, interaction, complaint)


class IngestSink:
    """Where contact-center calls go instead of HTTP: the Kafka ingest topic."""

    async def publish(self, records: Sequence[KafkaRecord]) -> None:  # pragma: no cover
        raise NotImplementedError


class KafkaIngest(IngestSink):
    """Publishes to `crm.ingest.contact-center.v1` with the project's idempotent producer."""

    def __init__(self, bootstrap_servers: str) -> None:
        from shared.producer import EventProducer
        from shared.settings import ConnectionSettings

        settings = ConnectionSettings(kafka_bootstrap_servers=bootstrap_servers)
        self.producer = EventProducer(settings, client_id="demo-seed", linger_ms=20)

    async def __aenter__(self) -> KafkaIngest:
        await self.producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.producer.stop()

    async def publish(self, records: Sequence[KafkaRecord]) -> None:
        await self.producer.publish_records(records)


def ingest_record(customer_id: str, activity: Activity) -> KafkaRecord:
    """A hotline call as the contact-center system would publish it: a binary-mode
    CloudEvent on the ingest topic, keyed by the customer, with an event id derived from the
    call's own id (so a re-run is deduped) and the same source id the HTTP path would use."""
    body = activity.body
    data = InteractionRecorded(
        interaction_id=body["external_id"],
        channel=Channel(body["channel"]),
        direction=Direction(body["direction"]),
        agent=body.get("agent"),
        duration_s=body.get("duration_s"),
        subject=body.get("subject"),
        outcome=body.get("outcome"),
        sentiment=body.get("sentiment"),
        source_system=body["source_system"],
    )
    event = new_event(
        data,
        subject=customer_id,
        source=f"/contact-center/{body['source_system']}",
        time=activity.at,
        actor=body.get("agent"),
        event_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"demo-ingest:{body['external_id']}")),
    )
    return dataclasses.replace(encode(event), topic=CONTACT_CENTER_INGEST.name)


@dataclass
class PlayReport:
    """What a play did, counted by what the APIs answered."""

    customers_created: int = 0
    customers_existing: int = 0
    activities_accepted: int = 0
    activities_duplicate: int = 0
    activities_rejected: int = 0
    ingest_published: int = 0
    follow_ups: int = 0
    complaints_created: int = 0
    complaints_existing: int = 0
    stories_done: int = 0
    complaint_steps: int = 0
    steps_skipped: int = 0
    retries: int = 0
    errors: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None

    @property
    def customers(self) -> int:
        return self.customers_created + self.customers_existing

    @property
    def elapsed_s(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    def error(self, message: str) -> None:
        if len(self.errors) < 200:  # enough to diagnose; a broken run must not eat memory
            self.errors.append(message)

    def summary(self) -> str:
        """One line for people: what the world holds now and how long playing it took."""
        return (
            f"{self.customers} customers ({self.customers_created} new), "
            f"{self.activities_accepted + self.activities_duplicate + self.ingest_published} "
            f"contacts and orders, {self.complaints_created + self.complaints_existing} "
            f"complaints, {len(self.errors)} errors, in {self.elapsed_s:.0f} s"
        )

    def as_dict(self) -> dict[str, Any]:
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        fields.pop("started")
        fields.pop("finished")
        fields["errors"] = len(self.errors)
        fields["elapsed_s"] = round(self.elapsed_s, 1)
        return fields


class Progress:
    """A progress line on stderr: redrawn in place on a terminal, every few seconds otherwise."""

    def __init__(self, total: int, *, stream: TextIO | None = None, enabled: bool = True) -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = self.stream.isatty()
        self.every_s = 0.25 if self.tty else 5.0
        self.last = 0.0

    def update(self, report: PlayReport, *, final: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not final and now - self.last < self.every_s:
            return
        self.last = now
        done = report.stories_done
        share = done / self.total if self.total else 1.0
        width = 24
        bar = "#" * int(share * width) + "-" * (width - int(share * width))
        elapsed = report.elapsed_s
        contacts = (
            report.activities_accepted + report.activities_duplicate + report.ingest_published
        )
        complaints = report.complaints_created + report.complaints_existing
        left = f", ~{elapsed / share - elapsed:.0f} s left" if 0 < share < 1 else ""
        line = (
            f"seeding [{bar}] {done:,}/{self.total:,} customers ({share:.0%}) · "
            f"{contacts:,} contacts+orders · {complaints:,} complaints · {elapsed:.0f} s{left}"
        )
        if self.tty:
            self.stream.write("\r" + line + ("\n" if final else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


@dataclass(frozen=True)
class TrickleTarget:
    """What the live trickle needs to know about a played customer."""

    customer_id: str
    erp: str
    behaviour: Behaviour
    segment: str
    owner: str
    order_amount: Decimal | None


class Player:
    """Plays customer stories through the APIs with `concurrency` customers at a time."""

    def __init__(
        self,
        clients: Clients,
        *,
        ingest: IngestSink | None = None,
        concurrency: int = 8,
        progress: Progress | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        keep_targets: int = 500,
    ) -> None:
        self.clients = clients
        self.ingest = ingest
        self.concurrency = max(1, concurrency)
        self.progress = progress
        self.sleep = sleep
        self.report = PlayReport()
        self.keep_targets = keep_targets
        # A bounded, deterministic sample of played customers for the live trickle.
        self.targets: list[TrickleTarget] = []
        self._sample = random.Random(0)

    async def play(self, stories: Iterable[CustomerStory]) -> PlayReport:
        """Play every story; returns the report (errors are counted, not raised)."""
        queue: asyncio.Queue[CustomerStory | None] = asyncio.Queue(maxsize=self.concurrency * 2)

        refused = asyncio.Event()

        async def worker() -> None:
            while (story := await queue.get()) is not None:
                if refused.is_set():
                    continue  # drain the queue so the feeder can finish
                try:
                    await self.play_story(story)
                except AccessRefused as error:
                    if not refused.is_set():  # the workers in flight all hear it: say it once
                        self.report.error(f"stopped: {error}")
                    refused.set()
                except PlayError as error:
                    self.report.error(f"customer {story.erp}: {error}")
                self.report.stories_done += 1
                if self.progress:
                    self.progress.update(self.report)

        workers = [asyncio.create_task(worker()) for _ in range(self.concurrency)]
        try:
            for story in stories:
                if refused.is_set():
                    break
                await queue.put(story)
            for _ in workers:
                await queue.put(None)
            await asyncio.gather(*workers)
        finally:
            for task in workers:
                task.cancel()
        self.report.finished = time.monotonic()
        if self.progress:
            self.progress.update(self.report, final=True)
        return self.report

    # -- requests ----------------------------------------------------------------------------

    async def request(
        self,
        client: httpx.AsyncClient,
        method: str,
        url: str,
        *,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """The response to a request, retried on 429/502/503/504 and on lost connections."""
        delay = 0.2
        last = "no attempt"
        for _ in range(MAX_ATTEMPTS):
            try:
                response = await client.request(method, url, json=json, headers=headers)
            except httpx.TransportError as error:
                last = f"{type(error).__name__}: {error}"
            else:
                if response.status_code in (401, 403):
                    raise AccessRefused(
                        f"{method} {url}: {response.status_code} {response.text[:200]}"
                    )
                if response.status_code not in _RETRYABLE:
                    return response
                last = f"{response.status_code} {response.text[:200]}"
                delay = max(delay, retry_after(response) or 0.0)
            self.report.retries += 1
            await self.sleep(min(delay, MAX_WAIT_S))
            delay = min(delay * 2, MAX_WAIT_S)
        raise PlayError(f"{method} {url}: gave up after {MAX_ATTEMPTS} attempts ({last})")

    # -- one customer --------------------------------------------------------------------------

    async def play_story(self, story: CustomerStory) -> str:
        customer_id = await self.create_customer(story)
        await self.play_activities(customer_id, story.activities)
        for follow_up in story.follow_ups:
            path = f"/v1/orders/{follow_up.order_id}/{follow_up.kind}"
            response = await self.request(
                self.clients.interaction, "POST", path, json=follow_up.body
            )
            if response.status_code in (200, 201):
                self.report.follow_ups += 1
            else:
                self.report.error(f"{path}: {response.status_code} {response.text[:200]}")
        for complaint in story.complaints:
            await self.play_complaint(customer_id, complaint)
        self._remember(customer_id, story)
        return customer_id

    async def create_customer(self, story: CustomerStory) -> str:
        """The customer's id: created now, or found by its ERP code from an earlier run."""
        response = await self.request(
            self.clients.customer, "POST", "/v1/customers", json=story.body
        )
        if response.status_code == 201:
            self.report.customers_created += 1
            return str(response.json()["id"])
        if response.status_code == 409:
            detail = response.json().get("detail")
            if isinstance(detail, dict) and detail.get("field") == "external_ids.erp":
                self.report.customers_existing += 1
                return str(detail["customer_id"])
        raise PlayError(f"create customer: {response.status_code} {response.text[:300]}")

    async def play_activities(self, customer_id: str, activities: Sequence[Activity]) -> None:
        http_items: list[dict[str, Any]] = []
        ingest: list[KafkaRecord] = []
        for activity in activities:
            if activity.via_ingest and self.ingest is not None:
                ingest.append(ingest_record(customer_id, activity))
            else:
                http_items.append(
                    {"kind": activity.kind, "customer_id": customer_id, **activity.body}
                )
        for start in range(0, len(http_items), BATCH_ITEMS):
            chunk = http_items[start : start + BATCH_ITEMS]
            response = await self.request(
                self.clients.interaction, "POST", "/v1/batch", json={"items": chunk}
            )
            if response.status_code != 200:
                raise PlayError(f"batch: {response.status_code} {response.text[:300]}")
            result = response.json()
            self.report.activities_accepted += result["accepted"]
            self.report.activities_duplicate += result["duplicate"]
            self.report.activities_rejected += result["rejected"]
            for item in result["results"]:
                if item["status"] == "rejected":
                    sent = chunk[item["index"]]
                    what = sent.get("external_id") or sent.get("order_id")
                    self.report.error(f"batch item {what}: {item['reason']}")
        if ingest and self.ingest is not None:
            await self.ingest.publish(ingest)
            self.report.ingest_published += len(ingest)

    # -- complaints ----------------------------------------------------------------------------

    async def play_complaint(self, customer_id: str, plan: ComplaintPlan) -> None:
        client = self.clients.complaint
        response = await self.request(
            client, "POST", "/v1/complaints", json={"customer_id": customer_id, **plan.body}
        )
        if response.status_code not in (200, 201):
            self.report.error(
                f"complaint {plan.external_id}: {response.status_code} {response.text[:300]}"
            )
            return
        complaint = response.json()
        etag = response.headers.get("ETag", "")
        if response.status_code == 201:
            self.report.complaints_created += 1
            steps: Sequence[ComplaintStep] = plan.steps
        else:
            self.report.complaints_existing += 1
            steps = remaining_steps(plan.steps, complaint)
        complaint_id = complaint["id"]
        for step in steps:
            if already_done(step, complaint):
                self.report.steps_skipped += 1
                continue
            answer = await self._step(complaint_id, step, etag)
            if answer is None:
                return
            complaint, etag = answer

    async def _step(
        self, complaint_id: str, step: ComplaintStep, etag: str
    ) -> tuple[dict[str, Any], str] | None:
        """Play one step (refreshing a stale ETag: the SLA check writes too); the complaint
        after it, or None when the workflow refused it and the rest cannot follow."""
        client = self.clients.complaint
        path = f"/v1/complaints/{complaint_id}/{step.action}"
        for _ in range(4):
            response = await self.request(
                client, "POST", path, json=step.body, headers={"If-Match": etag}
            )
            if response.status_code in (200, 201):
                self.report.complaint_steps += 1
                return response.json(), response.headers.get("ETag", "")
            if response.status_code == 412:
                fresh = await self.request(client, "GET", f"/v1/complaints/{complaint_id}")
                etag = fresh.headers.get("ETag", "")
                continue
            if response.status_code == 409 and step.action not in TRANSITIONS:
                # e.g. the SLA check escalated to the top already, or the survey was answered
                self.report.steps_skipped += 1
                fresh = await self.request(client, "GET", f"/v1/complaints/{complaint_id}")
                return fresh.json(), fresh.headers.get("ETag", "")
            self.report.error(f"{path}: {response.status_code} {response.text[:300]}")
            return None
        self.report.error(f"{path}: the complaint kept changing")
        return None

    def _remember(self, customer_id: str, story: CustomerStory) -> None:
        orders = story.orders
        target = TrickleTarget(
            customer_id=customer_id,
            erp=story.erp,
            behaviour=story.behaviour,
            segment=story.segment,
            owner=str(story.body.get("owner") or ACTOR),
            order_amount=Decimal(orders[-1].body["amount"]) if orders else None,
        )
        # Reservoir sampling keeps an unbiased sample in constant memory for any world size.
        seen = self.report.customers
        if len(self.targets) < self.keep_targets:
            self.targets.append(target)
        else:
            slot = self._sample.randrange(seen)
            if slot < self.keep_targets:
                self.targets[slot] = target


def remaining_steps(
    steps: Sequence[ComplaintStep], complaint: Mapping[str, Any]
) -> list[ComplaintStep]:
    """The steps an earlier run did not play: those after the last transition that left the
    complaint where it stands now (state and reopen count); all of them if it is still new."""
    state = complaint.get("state")
    reopens = complaint.get("reopen_count", 0)
    if state == "new":
        return list(steps)
    for index in range(len(steps) - 1, -1, -1):
        step = steps[index]
        if step.action in TRANSITIONS and (step.state_after, step.reopens_after) == (
            state,
            reopens,
        ):
            return list(steps[index + 1 :])
    return []  # moved on by someone else: leave it alone


def already_done(step: ComplaintStep, complaint: Mapping[str, Any]) -> bool:
    """Whether a step that changes no state is visible on the complaint already (a re-run
    resuming after an interruption would otherwise assign, comment or escalate twice)."""
    if step.action == "assign":
        return bool(complaint.get("assignee") == step.body.get("assignee"))
    if step.action == "comments":
        return any(c.get("body") == step.body.get("body") for c in complaint.get("comments", []))
    if step.action == "survey":
        return complaint.get("survey") is not None
    if step.action == "escalate":
        return int(complaint.get("escalation_level", 0)) >= step.escalations_after
    return False


def retry_after(response: httpx.Response) -> float | None:
    """Seconds to wait from a `Retry-After` header (seconds or an HTTP date), if any."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    with contextlib.suppress(ValueError):
        return max(0.0, float(value))
    with contextlib.suppress(TypeError, ValueError):
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, (when - datetime.now(UTC)).total_seconds())
    return None


# --- live trickle -----------------------------------------------------------------------------

_TRICKLE_CONTACTS: tuple[tuple[str, str, str], ...] = (
    ("phone", "outbound", "订单跟进"),
    ("wechat", "inbound", "补货询问"),
    ("email", "inbound", "询价：下季度用量"),
    ("phone", "inbound", "交期确认"),
    ("visit", "outbound", "客户拜访：季度业务回顾"),
)


async def trickle(
    player: Player,
    *,
    seed: int,
    interval_s: float = 5.0,
    duration_s: float | None = None,
    stop: asyncio.Event | None = None,
    out: TextIO | None = None,
) -> int:
    """Keep the world alive: every `interval_s` a few sampled customers get contacts and
    orders timed now (drifting and churned ones stay quiet on orders, so their risk keeps
    rising), and now and then a complaint opens. Runs until `stop` is set or `duration_s`
    passed; returns the number of records sent. Ids carry the start time, so every trickle
    run adds new facts while each single fact is still sent idempotently."""
    targets = list(player.targets)
    if not targets:
        return 0
    rng = random.Random(f"demo-trickle:{seed}")
    run = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    stream = out or sys.stderr
    began = time.monotonic()
    sent = 0
    tick = 0
    while not (stop is not None and stop.is_set()):
        if duration_s is not None and time.monotonic() - began >= duration_s:
            break
        tick += 1
        now = datetime.now(UTC)
        at = now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        items: list[dict[str, Any]] = []
        for number, target in enumerate(rng.sample(targets, min(len(targets), 4))):
            channel, direction, subject = rng.choice(_TRICKLE_CONTACTS)
            items.append(
                {
                    "kind": "interaction",
                    "customer_id": target.customer_id,
                    "channel": channel,
                    "direction": direction,
                    "agent": target.owner,
                    "subject": subject,
                    "sentiment": round(rng.uniform(-0.3, 0.8), 2),
                    "occurred_at": at,
                    "source_system": "demo-trickle",
                    "external_id": f"TR-{target.erp}-{run}-{tick}-{number}",
                }
            )
            ordering = target.behaviour not in (Behaviour.DRIFTING, Behaviour.CHURNED)
            if ordering and target.order_amount is not None and rng.random() < 0.5:
                amount = target.order_amount * Decimal(str(round(rng.uniform(0.7, 1.3), 2)))
                items.append(
                    {
                        "kind": "order",
                        "customer_id": target.customer_id,
                        "order_id": f"SO-TR-{target.erp}-{run}-{tick}",
                        "amount": str(amount.quantize(Decimal("0.01"))),
                        "currency": "CNY",
                        "ordered_at": at,
                        "source_system": "demo-trickle",
                    }
                )
        try:
            response = await player.request(
                player.clients.interaction, "POST", "/v1/batch", json={"items": items}
            )
            if response.status_code == 200:
                sent += int(response.json()["accepted"])
            if tick % 12 == 0:
                target = rng.choice(targets)
                opened = await player.request(
                    player.clients.complaint,
                    "POST",
                    "/v1/complaints",
                    json={
                        "customer_id": target.customer_id,
                        "category": "delivery",
                        "subcategory": "late",
                        "severity": rng.choice(("medium", "high")),
                        "channel": "phone",
                        "title": "到货延迟，客户灌装线待料",
                        "external_id": f"CMP-TR-{target.erp}-{run}-{tick}",
                        "reported_at": at,
                    },
                )
                sent += opened.status_code == 201
        except AccessRefused as error:
            stream.write(f"trickle stopped: {error}\n")
            break
        except PlayError as error:
            stream.write(f"trickle: {error}\n")
        if tick % 12 == 0:
            stream.write(f"trickle: {sent:,} records sent so far\n")
        if stop is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval_s)
        else:
            await player.sleep(interval_s)
    return sent
