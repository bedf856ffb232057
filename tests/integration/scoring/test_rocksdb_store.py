"""The scorer's table in RocksDB (`CRM_FAUST_STORE=rocksdb://`), on the real broker: each
customer's record sits in the database of its changelog partition, and a worker killed with
SIGKILL comes back with every record and counts nothing twice. (That a key's changelog
partition is the producer's, `changelog_partition`, is test_worker's
`test_a_customers_state_is_in_the_changelog_partition_of_its_events`.)"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import rocksdict

from services.scoring.read_models import latest
from services.scoring.tables import TABLE_NAME, changelog_partition
from shared.events import utc_now
from shared.mongo import MongoClient
from shared.producer import EventProducer
from shared.settings import ConnectionSettings
from tests.conftest import unique
from tests.integration.scoring.test_worker import (
    delete_changelogs,
    order_event,
    read_log,
    run_worker,
)

pytestmark = pytest.mark.stack

CUSTOMERS = 24  # two per partition on average: several partitions, several per partition


async def orders_counted(mongo_client: MongoClient, db: str, customers: list[str]) -> list[int]:
    counted = []
    for customer in customers:
        score = await latest(mongo_client[db], customer)
        counted.append(0 if score is None else int(score["features"]["orders"]))
    return counted


async def wait_for_orders(
    mongo_client: MongoClient, db: str, customers: list[str], orders: int, log: Path
) -> None:
    deadline = time.monotonic() + 60
    while (counted := await orders_counted(mongo_client, db, customers)) != [orders] * len(
        customers
    ):
        assert time.monotonic() < deadline, f"orders counted: {counted}\n{read_log(log)}"
        await asyncio.sleep(0.2)


def stored_partitions(tables: Path, customers: list[str]) -> dict[str, list[int]]:
    """For each customer, the partitions whose RocksDB database holds its record."""
    found: dict[str, list[int]] = {customer: [] for customer in customers}
    for path in sorted(tables.glob(f"{TABLE_NAME}-*.db")):
        partition = int(path.name.removeprefix(f"{TABLE_NAME}-").removesuffix(".db"))
        db = rocksdict.Rdict(
            str(path),
            options=rocksdict.Options(raw_mode=True),
            access_type=rocksdict.AccessType.read_only(),
        )
        try:
            for customer in customers:
                if db.get(customer.encode()) is not None:
                    found[customer].append(partition)
        finally:
            db.close()
    return found


async def test_records_sit_in_their_partitions_and_survive_a_kill(
    connection: ConnectionSettings,
    input_partitions: int,
    producer: EventProducer,
    mongo_client: MongoClient,
    tmp_path: Path,
) -> None:
    app_id = unique("scoring-rocksdb")
    prefix = connection.mongo_database_prefix + "rdb_"
    db = prefix + "crm_scoring"
    log = tmp_path / "worker.log"
    log_after_kill = tmp_path / "worker-after-kill.log"  # readiness is read from the log
    customers = [unique("cust") for _ in range(CUSTOMERS)]
    options: dict[str, Any] = {
        "app_id": app_id,
        "partitions": input_partitions,
        "directory": tmp_path,
        "log_path": log,
        "database_prefix": prefix,
        # The review timer (every second) writes records outside any event: the path that
        # Faust's own RocksDB store cannot take.
        # The killed worker's partitions are given to the next one after the session timeout.
        "extra_env": {
            "CRM_FAUST_STORE": "rocksdb://",
            "CRM_SWEEP_INTERVAL_S": "1",
            "CRM_FAUST_SESSION_TIMEOUT_S": "6",
        },
    }
    now = utc_now()
    first = [order_event(c, "100", now - timedelta(days=3)) for c in customers]
    second = [order_event(c, "200", now - timedelta(days=2)) for c in customers]
    third = [order_event(c, "300", now - timedelta(days=1)) for c in customers]
    try:
        with run_worker(connection, **options) as worker:
            await producer.publish(first + second)
            await wait_for_orders(mongo_client, db, customers, 2, log)
            await asyncio.sleep(2)  # review rounds write the records again, with no event
            assert worker.poll() is None, read_log(log)
            worker.kill()
            worker.wait()
        tables = next((tmp_path / "data" / app_id).glob("v*/tables"))
        placed = stored_partitions(tables, customers)
        assert placed == {
            c: [changelog_partition(c.encode(), input_partitions)] for c in customers
        }, read_log(log)
        # Killed: what the store kept, with the changelog past its persisted offsets, must
        # hold both orders and their ids. `second` again is a duplicate, `third` is new.
        with run_worker(connection, **(options | {"log_path": log_after_kill})):
            await producer.publish(second + third)
            await wait_for_orders(mongo_client, db, customers, 3, log_after_kill)
            await asyncio.sleep(2)
            assert await orders_counted(mongo_client, db, customers) == [3] * CUSTOMERS
        for path in (log, log_after_kill):
            assert "Traceback" not in read_log(path)
    finally:
        await delete_changelogs(connection, app_id)
