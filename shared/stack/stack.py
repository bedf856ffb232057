"""Bring the local Kafka + FerretDB stack up, down, and report on it."""

from __future__ import annotations

import asyncio
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from shared.stack.errors import StackError
from shared.stack.ferretdb import FerretDB
from shared.stack.kafka import KafkaBroker
from shared.stack.processes import port_open
from shared.stack.settings import StackSettings
from shared.topics import all_topics
from shared.topics_admin import TopicCreationError, ensure_topics


@dataclass
class UpReport:
    """What an `up` changed; empty lists mean it was a no-op."""

    installed: list[str] = field(default_factory=list)
    started: list[str] = field(default_factory=list)
    topics_created: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.installed or self.started or self.topics_created)


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    pid: int | None
    address: str

    @property
    def running(self) -> bool:
        return self.pid is not None


class Stack:
    """The local stack of one state directory."""

    def __init__(self, settings: StackSettings | None = None) -> None:
        self.settings = settings or StackSettings()
        self.kafka = KafkaBroker(self.settings)
        self.ferretdb = FerretDB(self.settings)

    # -- up --------------------------------------------------------------------------------
    def up(self) -> UpReport:
        """Install what is missing, start what is stopped, create missing topics."""
        report = UpReport()
        s = self.settings
        need_kafka = not self.kafka.running()
        need_ferretdb = not self.ferretdb.running()
        if need_kafka:
            self._check_port_free("Kafka", s.kafka_port, "CRM_STACK_KAFKA_PORT")
            self._check_port_free(
                "the Kafka controller", s.kafka_controller_port, "CRM_STACK_KAFKA_CONTROLLER_PORT"
            )
            self.kafka._java()  # fail on a missing JDK before downloading anything
        if need_ferretdb:
            self._check_port_free("FerretDB", s.mongo_port, "CRM_STACK_MONGO_PORT")
            self._check_port_free(
                "FerretDB's debug endpoint", s.ferretdb_debug_port, "CRM_STACK_FERRETDB_DEBUG_PORT"
            )
        self._install(report, need_kafka, need_ferretdb)
        if need_kafka:
            self.kafka.start()
            report.started.append("kafka")
        if need_ferretdb:
            self.ferretdb.start()
            report.started.append("ferretdb")
        self._wait_ready()
        try:
            report.topics_created = asyncio.run(
                ensure_topics(
                    s.bootstrap_servers,
                    all_topics(),
                    partitions=s.topic_partitions,
                    replication_factor=1,
                )
            )
        except TopicCreationError as error:
            raise StackError(
                "creating Kafka topics failed",
                "`python -m shared.stack reset` starts from empty state",
                str(error),
            ) from error
        return report

    def _install(self, report: UpReport, kafka: bool, ferretdb: bool) -> None:
        # The two installs are independent downloads/builds: run them side by side.
        jobs = []
        if kafka and not self.kafka.installed():
            jobs.append(("kafka", self.kafka.install))
        if ferretdb and not self.ferretdb.installed():
            jobs.append(("ferretdb", self.ferretdb.install))
        if not jobs:
            return
        with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
            futures = [(name, pool.submit(job)) for name, job in jobs]
            for name, future in futures:
                future.result()
                report.installed.append(name)

    def _check_port_free(self, what: str, port: int, variable: str) -> None:
        if port_open(self.settings.host, port):
            raise StackError(
                f"port {port} for {what} is already taken by another process",
                f"stop that process, or choose another port with {variable}=<port>",
            )

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.settings.start_timeout_s
        kafka_ready = ferretdb_ready = False
        while time.monotonic() < deadline:
            if not ferretdb_ready:
                if not self.ferretdb.running():
                    raise StackError(
                        "FerretDB exited during start-up",
                        "read the log below; `python -m shared.stack logs ferretdb` shows more",
                        self.ferretdb.log_tail(),
                    )
                ferretdb_ready = self.ferretdb.ready()
            if not kafka_ready:
                if not self.kafka.running():
                    raise StackError(
                        "the Kafka broker exited during start-up",
                        "read the log below; `python -m shared.stack reset` clears broken state",
                        self.kafka.log_tail(),
                    )
                kafka_ready = asyncio.run(self.kafka.ready())
            if kafka_ready and ferretdb_ready:
                return
            time.sleep(0.3)
        laggard, log = (
            ("Kafka broker", self.kafka.log_tail())
            if not kafka_ready
            else ("FerretDB", self.ferretdb.log_tail())
        )
        raise StackError(
            f"the {laggard} did not become ready within {self.settings.start_timeout_s:.0f} s",
            "read the log below; raise CRM_STACK_START_TIMEOUT_S on a slow machine",
            log,
        )

    # -- down, status, reset ---------------------------------------------------------------
    def down(self) -> list[str]:
        """Stop both servers; return the names of those that were running."""
        stopped = []
        for name, component in (("kafka", self.kafka), ("ferretdb", self.ferretdb)):
            if component.process.stop():
                stopped.append(name)
        return stopped

    def status(self) -> list[ComponentStatus]:
        s = self.settings
        return [
            ComponentStatus("kafka", self.kafka.process.pid(), s.bootstrap_servers),
            ComponentStatus("ferretdb", self.ferretdb.process.pid(), s.mongo_url),
        ]

    def reset(self) -> None:
        """Stop everything and delete all state (topics, data, logs); downloads stay cached."""
        self.down()
        shutil.rmtree(self.settings.state_dir, ignore_errors=True)
