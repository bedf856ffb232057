"""Metrics and logs every service shares: one place for their names, labels and format.

Metric names follow Prometheus conventions (`crm_` namespace, base units, `_total` counters).
Labels are bounded: route templates, topics, event types, consumer groups, partitions,
reasons — never a customer id, name, phone or e-mail (they would leak personal data into a
system without erasure, and explode cardinality).

Logs are JSON, one object per line, with the service name and — inside a request or while an
event is handled — the correlation id and event id, so one customer's story can be followed
across services without logging anything about the customer.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response

correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "correlation_id", default=None
)
event_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("event_id", default=None)

# -- metrics -------------------------------------------------------------------------------

HTTP_REQUESTS = Counter(
    "crm_http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "crm_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
EVENTS_PUBLISHED = Counter(
    "crm_events_published_total", "Events acknowledged by Kafka", ["topic", "type"]
)
EVENTS_CONSUMED = Counter(
    "crm_events_consumed_total",
    "Events read by a consumer group, by outcome (handled, duplicate, ignored, dead_lettered)",
    ["group", "topic", "type", "outcome"],
)
DEAD_LETTERS = Counter(
    "crm_dead_letters_total", "Messages sent to a dead-letter topic", ["group", "topic", "reason"]
)
CONSUMER_LAG = Gauge(
    "crm_consumer_lag_messages",
    "Messages in a partition not yet processed by the group (after its last fetch)",
    ["group", "topic", "partition"],
)
OUTBOX_BACKLOG = Gauge(
    "crm_outbox_backlog_events",
    "Events waiting in a collection's outbox (seen by the relay's last pass, up to its batch)",
    ["collection"],
)
OUTBOX_OLDEST_AGE = Gauge(
    "crm_outbox_oldest_event_age_seconds",
    "Age of the oldest event waiting in a collection's outbox (0 when empty)",
    ["collection"],
)


def unknown_route() -> str:
    return "unmatched"


async def observe_requests(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Middleware: count and time every request by its route template (not its URL, which may
    hold a customer id), and carry its `X-Correlation-Id` into the logs and back out."""
    started = time.perf_counter()
    status = 500
    token = correlation_id.set(request.headers.get("x-correlation-id") or uuid.uuid4().hex)
    try:
        response = await call_next(request)
        status = response.status_code
        response.headers["X-Correlation-Id"] = correlation_id.get() or ""
        return response
    finally:
        correlation_id.reset(token)
        route = request.scope.get("route")
        template = getattr(route, "path", None) or unknown_route()
        HTTP_REQUESTS.labels(request.method, template, str(status)).inc()
        HTTP_LATENCY.labels(request.method, template).observe(time.perf_counter() - started)


def metrics_response() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


# -- logs ----------------------------------------------------------------------------------


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, service, logger, message, ids, exception."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: MutableMapping[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if (correlation := correlation_id.get()) is not None:
            entry["correlation_id"] = correlation
        if (current_event := event_id.get()) is not None:
            entry["event_id"] = current_event
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(service: str, *, level: str = "INFO") -> None:
    """Route every logger (ours, uvicorn's, aiokafka's, Faust's) through one JSON handler."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # Access lines carry full URLs (customer ids in paths); the metrics count requests instead.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)


def logging_config(service: str, *, level: str = "INFO") -> dict[str, Any]:
    """`configure_logging` as a dictConfig, for frameworks that set logging up themselves
    (the Faust worker)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter", "service": service}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json"}},
        "root": {"handlers": ["stderr"], "level": level},
    }
