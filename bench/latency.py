"""Shared by the latency and recovery benchmarks: the scorer worker as a process, and a watcher
of `crm.scores.v1` that tells when each event sent was reflected in its customer's score.

Matching: every event of a customer carries a strictly later event time (whole milliseconds,
as the interaction service stores them) than the one before; the scorer publishes a score
whose `as_of` is the event time of the last event it folded for that customer. A score with
`as_of` ≥ an event's time therefore reflects that event (a customer's events share a
partition, so they are folded in order). Scores are published after they are stored in
Mongo, so the time a score is seen on the topic is an upper bound of "stored".
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sys
import time
import urllib.request
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, ConsumerRecord

from bench.baseline import free_port
from bench.common import watch_from_end
from shared.demo.processes import SERVICES, LocalService, ServiceRunner
from shared.settings import ConnectionSettings
from shared.stack import StackSettings
from shared.stack.processes import ManagedProcess
from shared.topics import SCORES

_READY = "[^---Recovery]: Worker ready"


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def millis(at: datetime) -> int:
    return round(at.timestamp() * 1000)


def from_millis(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


class EventClock:
    """Event times in whole milliseconds, strictly increasing per customer."""

    def __init__(self) -> None:
        self.last: dict[str, int] = {}

    def next(self, customer: str) -> int:
        now = round(time.time() * 1000)
        at = max(now, self.last.get(customer, 0) + 1)
        self.last[customer] = at
        return at


def rss_kib(pid: int) -> int:
    """VmRSS of a process, in KiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


@dataclass
class ScorerWorker:
    """`python -m services.scoring.worker` on the bench's stack and databases, under `app_id`
    (its consumer group and changelog prefix), on a free web port."""

    settings: ConnectionSettings
    app_id: str
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    _log_offset: int = 0
    _started_at: float = 0.0
    _started_wall: float = 0.0

    @property
    def service(self) -> LocalService:
        template = next(s for s in SERVICES if s.name == "scorer")
        return LocalService(
            f"bench-scorer-{self.app_id}", self.port, template.module, template.args
        )

    @property
    def runner(self) -> ServiceRunner:
        return ServiceRunner(
            StackSettings(),
            services=[self.service],
            extra_env={
                "CRM_MONGO_DATABASE_PREFIX": self.settings.mongo_database_prefix,
                "CRM_FAUST_APP_ID": self.app_id,
                "CRM_FAUST_OFFSET_RESET": "latest",
                "CRM_SWEEP_INTERVAL_S": "3600",
                **self.extra_env,
            },
        )

    @property
    def process(self) -> ManagedProcess:
        return self.runner.process(self.service)

    @property
    def metrics_url(self) -> str:
        return f"{self.service.url}/metrics"

    def start(self) -> float:
        """Start the worker (not waiting); the perf_counter time it was started at."""
        runner, service = self.runner, self.service
        process = runner.process(service)
        log = process.log_file
        self._log_offset = log.stat().st_size if log.exists() else 0
        self._started_at = time.perf_counter()
        self._started_wall = time.time()
        process.start(
            [sys.executable, "-m", service.module, *service.args],
            env=runner.environment(service),
        )
        return self._started_at

    async def wait_ready(self, timeout_s: float = 1800.0) -> float:
        """Seconds from start until Faust logs that recovery is done and streams run."""
        process = self.process
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if process.pid() is None:
                raise RuntimeError(f"the scorer exited during start-up; see {process.log_file}")
            with process.log_file.open("rb") as log:
                log.seek(self._log_offset)
                if _READY.encode() in log.read():
                    return time.perf_counter() - self._started_at
            await asyncio.sleep(0.2)
        raise TimeoutError(f"the scorer was not ready within {timeout_s:.0f}s")

    def recovery_phases(self) -> tuple[float | None, float | None]:
        """From the worker's log since its last start: seconds from start until Faust had its
        partitions (the table recovery begins), and seconds spent reading changelogs."""
        assigned = restoring = done = None
        with self.process.log_file.open("rb") as log:
            log.seek(self._log_offset)
            lines = log.read().decode(errors="replace").splitlines()
        for line in lines:
            if not line.startswith("{"):
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            message = str(entry.get("message", ""))
            at = datetime.fromisoformat(entry["time"]).timestamp()
            if assigned is None and "Highwater for active changelog" in message:
                assigned = at
            elif restoring is None and "Restoring state from changelog" in message:
                restoring = at
            elif done is None and "Done reading from changelog" in message:
                done = at
        return (
            None if assigned is None else assigned - self._started_wall,
            None if restoring is None or done is None else done - restoring,
        )

    def pid(self) -> int:
        pid = self.process.pid()
        if pid is None:
            raise RuntimeError("the scorer is not running")
        return pid

    def rss_kib(self) -> int:
        return rss_kib(self.pid())

    def stop(self) -> None:
        self.process.stop(timeout=30)

    def kill(self) -> None:
        pid = self.process.pid()
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
        self.process.kill()


@dataclass
class Reflected:
    """Latencies of the events reflected (with the time each was sent), and those never."""

    samples: list[tuple[float, float]]  # (sent at, latency), perf_counter seconds
    lost: int
    expected: int
    noun: str = "scored"

    @property
    def latencies_s(self) -> list[float]:
        return [latency for _, latency in self.samples]

    @property
    def p50_ms(self) -> float:
        return percentile(self.latencies_s, 0.50) * 1000

    @property
    def p99_ms(self) -> float:
        return percentile(self.latencies_s, 0.99) * 1000

    @property
    def max_ms(self) -> float:
        return max(self.latencies_s, default=float("nan")) * 1000

    def line(self, what: str) -> str:
        return (
            f"{what:<48} p50 {self.p50_ms:8,.0f} ms  p99 {self.p99_ms:8,.0f} ms"
            f"  max {self.max_ms:8,.0f} ms  ({len(self.samples)} of {self.expected} {self.noun},"
            f" lost {self.lost})"
        )

    def windows(self, parts: int = 4) -> str:
        """p50 / p99 of the events sent in each of `parts` equal periods of the run: flat if
        the pipeline keeps up, rising if a backlog builds."""
        if not self.samples:
            return "  (nothing reflected)"
        first = min(sent for sent, _ in self.samples)
        span = max(sent for sent, _ in self.samples) - first or 1.0
        buckets: list[list[float]] = [[] for _ in range(parts)]
        for sent, latency in self.samples:
            buckets[min(parts - 1, int((sent - first) / span * parts))].append(latency)
        return (
            "  by send time: "
            + ", ".join(
                f"{percentile(b, 0.5) * 1000:,.0f}/{percentile(b, 0.99) * 1000:,.0f}"
                for b in buckets
            )
            + " ms (p50/p99 per quarter of the run)"
        )


def score_as_of(record: ConsumerRecord) -> int:
    """The event time (ms) a `crm.scores.v1` record is as of."""
    return millis(datetime.fromisoformat(json.loads(record.value)["as_of"]))


def event_time(record: ConsumerRecord) -> int:
    """The event time (ms) of a binary-mode CloudEvent record (its `ce_time` header)."""
    for key, value in record.headers:
        if key == "ce_time":
            return millis(datetime.fromisoformat(value.decode()))
    return -1


class ScoreWatcher:
    """Reads a topic (default `crm.scores.v1`) from its end and matches its records, by key
    and event time (`as_of`), to the events expected."""

    def __init__(
        self,
        settings: ConnectionSettings,
        topic: str = SCORES.name,
        time_of: Callable[[ConsumerRecord], int] = score_as_of,
        noun: str = "scored",
    ) -> None:
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            enable_auto_commit=False,
            max_partition_fetch_bytes=4 * 1024 * 1024,
        )
        self.topic = topic
        self.time_of = time_of
        self.noun = noun
        self.pending: dict[str, deque[tuple[int, float]]] = {}
        self.samples: list[tuple[float, float]] = []
        self.expected = 0
        self.outstanding = 0
        self.last_match = time.perf_counter()
        self.on_record: Callable[[str, ConsumerRecord], None] | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await watch_from_end(self.consumer, self.topic)
        self._task = asyncio.create_task(self._run())

    def expect(self, customer: str, at_ms: int, sent_at: float) -> None:
        """An event of `customer` with event time `at_ms`, sent (or accepted) at `sent_at`
        (time.perf_counter)."""
        self.pending.setdefault(customer, deque()).append((at_ms, sent_at))
        self.expected += 1
        self.outstanding += 1

    async def _run(self) -> None:
        while True:
            batches = await self.consumer.getmany(timeout_ms=200, max_records=5000)
            now = time.perf_counter()
            for records in batches.values():
                for record in records:
                    if record.key is None or record.value is None:
                        continue
                    customer = record.key.decode()
                    if self.on_record is not None:
                        self.on_record(customer, record)
                    waiting = self.pending.get(customer)
                    if not waiting:
                        continue
                    as_of = self.time_of(record)
                    while waiting and waiting[0][0] <= as_of:
                        _, sent_at = waiting.popleft()
                        self.samples.append((sent_at, now - sent_at))
                        self.outstanding -= 1
                        self.last_match = now

    async def settle(self, *, stall_s: float, max_s: float) -> bool:
        """Wait until every expected event was reflected, no match came for `stall_s`, or
        `max_s` passed; True when matches were still coming in at the end."""
        deadline = time.perf_counter() + max_s
        self.last_match = max(self.last_match, time.perf_counter())
        while self.outstanding > 0:
            now = time.perf_counter()
            if now - self.last_match > stall_s:
                return False
            if now > deadline:
                return True
            await asyncio.sleep(0.5)
        return False

    def result(self) -> Reflected:
        return Reflected(list(self.samples), self.outstanding, self.expected, self.noun)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.consumer.stop()


_METRIC = re.compile(r"^(crm_scorer_[a-z_]+?)(?:\{[^}]*\})? ([0-9.e+-]+)$", re.M)


def scorer_metrics(metrics_url: str) -> dict[str, float]:
    """The worker's own crm_scorer_* metrics, summed over labels."""
    with urllib.request.urlopen(metrics_url, timeout=5) as answer:
        text = answer.read().decode()
    totals: dict[str, float] = {}
    for name, value in _METRIC.findall(text):
        totals[name] = totals.get(name, 0.0) + float(value)
    return totals


def scorer_breakdown(metrics_url: str, before: dict[str, float], seconds: float) -> str:
    """Where the worker's time went between two readings of its metrics, `seconds` apart."""
    after = scorer_metrics(metrics_url)

    def delta(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    slices = delta("crm_scorer_score_write_seconds_count")
    if not slices:
        return "scorer: no score stored"
    events = delta("crm_scorer_events_scored_total")
    writing = delta("crm_scorer_score_write_seconds_sum")
    return (
        f"scorer: {slices:,.0f} output slices (up to 250 customers each) of "
        f"{events / slices:,.0f} events on average, one every {seconds / slices * 1000:,.0f} "
        f"ms; storing + publishing took {writing / slices * 1000:,.0f} ms per slice "
        f"({writing / seconds:.0%} of the time)"
    )
