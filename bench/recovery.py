"""The scorer's memory and recovery with many customers in its table.

    python -m bench recovery [--customers N] [--quick]

Folding a million customers' events through the scorer would take hours here, so the table is
filled the way a worker's restart finds it: N customer records are written straight into the
table's changelog topic (`<app id>-customer-state-changelog`, what the worker itself writes
on every table update: key = the customer id's UTF-8 bytes, value = `processing.record_bytes`,
partition = the default partitioner on the key bytes). The records are real: a few hundred
customers' histories (1 to 100 orders over the past year) folded and scored by the scorer's
own pure functions (`services.scoring.processing`), reused under N distinct customer ids.

Steps, each with the real worker process (`python -m services.scoring.worker`, in-memory
table store as in the default settings, a fresh app id so a fresh group and changelog):

1. start with an empty table: start-up time and RSS (the baseline);
2. write the N records into the changelog, start again: time until Faust says the worker is
   ready (recovery done, streams running), its RSS minus the baseline per 100k customers;
   then one order for a seeded customer must come out scored from the recovered state;
3. SIGKILL it and start again: the same, after a kill (the group first waits for the dead
   member: `CRM_FAUST_SESSION_TIMEOUT_S`, default 60 s).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient

from bench.common import Rate, Row, connection, drop_databases
from bench.latency import EventClock, ScorerWorker, ScoreWatcher, from_millis, rss_kib
from bench.messaging import sample_event
from services.scoring.adapter import to_input
from services.scoring.processing import CustomerRecord, apply_all, record_bytes, rescore
from services.scoring.tables import TABLE_NAME
from shared.events import encode
from shared.settings import ConnectionSettings
from shared.topics import INTERACTION

# Orders per customer, cycled over the templates: one-off buyers to weekly regulars. The
# record keeps tokens of the last 64 event ids (dedupe), so its size grows up to 64 orders.
ORDERS_MIX = (1, 2, 3, 5, 8, 13, 21, 34, 55, 100)
TEMPLATES = 200
TARGET_BYTES_PER_1M = 1024**3  # issue 8: <= 1 GiB for 1M customers


def customer_id(n: int) -> str:
    return f"R-{n:07d}"


def templates(now: datetime) -> list[tuple[int, bytes]]:
    """(orders, record as the table keeps it) of customers with varied histories, scored as
    of their last order."""
    out: list[tuple[int, bytes]] = []
    for k in range(TEMPLATES):
        orders = ORDERS_MIX[k % len(ORDERS_MIX)]
        first = now - timedelta(days=365 - k % 30)
        step = timedelta(days=360 / orders) * (0.8 + 0.4 * ((k * 7) % 10) / 10)
        events = [
            sample_event(k * 1000 + i).model_copy(
                update={"subject": customer_id(k), "time": min(first + i * step, now)}
            )
            for i in range(orders)
        ]
        folded, _ = apply_all(None, [(e.id, to_input(e)) for e in events])
        assert folded is not None
        record: CustomerRecord = rescore(
            folded.record, customer_id=customer_id(k), as_of=events[-1].time, computed_at=now
        ).record
        out.append((orders, record_bytes(record)))
    return out


async def fill_changelog(settings: ConnectionSettings, topic: str, customers: int) -> Rate:
    """Write `customers` records into the table's changelog, as the worker would have."""
    kinds = templates(datetime.now(UTC))
    size = sum(len(value) for _, value in kinds) / len(kinds)
    print(f"records: {TEMPLATES} scored histories reused, {size:,.0f} bytes per record on average")
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        acks="all",
        linger_ms=20,
        max_batch_size=1024 * 1024,
        max_request_size=4 * 1024 * 1024,
    )
    await producer.start()
    started = time.perf_counter()
    try:
        pending = []
        for n in range(customers):
            key = customer_id(n).encode()  # services/scoring/tables.py: raw keys
            pending.append(await producer.send(topic, kinds[n % TEMPLATES][1], key=key))
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return Rate("changelog records written (aiokafka)", customers, time.perf_counter() - started)


@dataclass
class Start:
    ready_s: float
    rss_kib: int
    hwm_kib: int
    assigned_s: float | None
    reading_s: float | None


async def start(worker: ScorerWorker, what: str, settle_s: float = 5.0) -> Start:
    worker.start()
    ready = await worker.wait_ready()
    await asyncio.sleep(settle_s)  # let the start-up garbage be collected
    pid = worker.pid()
    rss = rss_kib(pid)
    hwm = _hwm_kib(pid)
    assigned, reading = worker.recovery_phases()
    print(
        f"{what:<48} ready in {ready:7.1f}s   RSS {rss / 1024:8,.0f} MiB"
        f"  (peak {hwm / 1024:,.0f} MiB)"
    )
    print(
        f"  of which: until partitions assigned {_seconds(assigned)}, "
        f"reading the changelog {_seconds(reading)}"
    )
    return Start(ready, rss, hwm, assigned, reading)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}s"


def _hwm_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


async def probe(settings: ConnectionSettings, expected_orders: int) -> str:
    """One more order for the first seeded customer: its score must count the recovered ones."""
    watcher = ScoreWatcher(settings)
    seen: list[object] = []
    customer = customer_id(0)

    def on_score(key: str, record: ConsumerRecord) -> None:
        if key == customer:
            seen.append(json.loads(record.value).get("features", {}).get("orders"))

    watcher.on_record = on_score
    await watcher.start()
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    await producer.start()
    try:
        at = EventClock().next(customer)
        event = sample_event(uuid.uuid4().int % 10**9).model_copy(
            update={"subject": customer, "time": from_millis(at)}
        )
        record = encode(event)
        await producer.send_and_wait(
            INTERACTION.name, record.value, key=record.key, headers=list(record.headers)
        )
        watcher.expect(customer, at, time.perf_counter())
        await watcher.settle(stall_s=60, max_s=60)
    finally:
        await producer.stop()
        await watcher.stop()
    result = watcher.result()
    if result.lost:
        return "probe order NOT scored within 60 s"
    orders = seen[-1] if seen else None
    verdict = "state recovered" if orders == expected_orders else "STATE NOT RECOVERED"
    return (
        f"probe order scored in {result.p50_ms:,.0f} ms; orders counted {orders} "
        f"(expected {expected_orders}): {verdict}"
    )


async def drop_app_topics(settings: ConnectionSettings, app_id: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if t.startswith(app_id)]
        if names:
            await admin.delete_topics(names)
    finally:
        await admin.close()


async def run(customers: int) -> list[Row]:
    settings = await connection()
    app_id = f"bench-recovery-{uuid.uuid4().hex[:6]}"
    worker = ScorerWorker(settings, app_id)
    changelog = f"{app_id}-{TABLE_NAME}-changelog"
    print(f"recovery bench: {customers:,} customers in the scorer's table ({changelog})")
    try:
        empty = await start(worker, "empty table: start")
        worker.stop()
        written = await fill_changelog(settings, changelog, customers)
        print(written.line())

        loaded = await start(worker, f"{customers:,} customers: start (recovery)")
        first_orders = ORDERS_MIX[0]
        print("  " + await probe(settings, first_orders + 1))
        per_100k = (loaded.rss_kib - empty.rss_kib) * 1024 / customers * 100_000
        per_1m = per_100k * 10
        recovery = Rate("changelog records recovered", customers, loaded.ready_s)
        print(recovery.line() + "  (start-up included)")
        if loaded.reading_s:
            print(Rate("  changelog read alone", customers, loaded.reading_s).line())
        print(
            f"RSS above the empty worker: {(loaded.rss_kib - empty.rss_kib) / 1024:,.0f} MiB, "
            f"{per_100k / 1024**2:,.1f} MiB per 100k customers, "
            f"{per_1m / 1024**3:.2f} GiB per 1M (target <= 1 GiB: "
            f"{'met' if per_1m <= TARGET_BYTES_PER_1M else 'missed'})"
        )

        worker.kill()
        print("SIGKILLed the worker; starting it again")
        killed = await start(worker, f"{customers:,} customers: start after SIGKILL")
        print("  " + await probe(settings, first_orders + 2))
        return [
            Row(
                "recovery",
                f"start with {customers:,} customers in the table",
                f"{loaded.ready_s:,.1f} s ({customers / loaded.ready_s:,.0f} records/s);"
                f" empty {empty.ready_s:.1f} s",
            ),
            Row(
                "recovery",
                "start after SIGKILL",
                f"{killed.ready_s:,.1f} s (partitions after {_seconds(killed.assigned_s)},"
                f" changelog read {_seconds(killed.reading_s)})",
            ),
            Row(
                "recovery",
                "RSS per 100k customers",
                f"{per_100k / 1024**2:,.1f} MiB ({per_1m / 1024**3:.2f} GiB per 1M)",
                "<= 1 GiB per 1M",
            ),
        ]
    finally:
        worker.stop()
        await drop_databases(settings)
        await drop_app_topics(settings, app_id)
