"""Start and stop the services as local processes wired to the local stack."""

from __future__ import annotations

import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from shared.stack.errors import StackError
from shared.stack.processes import ManagedProcess, port_open, tail
from shared.stack.settings import StackSettings


@dataclass(frozen=True)
class LocalService:
    name: str
    port: int
    module: str
    args: tuple[str, ...] = ()
    ready_path: str = "/readyz"
    home_path: str = "/docs"  # what the demo prints for people to open

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


SERVICES = (
    LocalService("customer", 8001, "services.customer"),
    LocalService("interaction", 8002, "services.interaction"),
    LocalService("complaint", 8003, "services.complaint"),
    LocalService("scoring", 8004, "services.scoring"),
    # The streaming scorer (a Faust worker), ready once MongoDB answers and it owns partitions.
    LocalService(
        "scorer", 6066, "services.scoring.worker", ("worker", "-l", "info"), home_path="/metrics"
    ),
)


class ServiceRunner:
    """Runs `services` as local processes against the stack of `stack` (demo, system tests)."""

    def __init__(
        self,
        stack: StackSettings,
        *,
        services: Sequence[LocalService] = SERVICES,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        self.stack = stack
        self.services = tuple(services)
        self.extra_env = dict(extra_env or {})
        self.run_dir = stack.state_dir / "run"

    def process(self, service: LocalService) -> ManagedProcess:
        return ManagedProcess(service.name, self.run_dir, marker=service.module)

    def environment(self, service: LocalService) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            CRM_KAFKA_BOOTSTRAP_SERVERS=self.stack.bootstrap_servers,
            CRM_MONGO_URL=self.stack.mongo_url,
            CRM_TOPIC_PARTITIONS=str(self.stack.topic_partitions),
            CRM_HTTP_PORT=str(service.port),
            CRM_FAUST_WEB_PORT=str(service.port),
            CRM_FAUST_DATA_DIR=str(self.stack.state_dir / "scorer"),
        )
        env.update(self.extra_env)
        return env

    def up(self) -> list[str]:
        """Start the services that are not running; wait until each is ready."""
        started = []
        for service in self.services:
            process = self.process(service)
            if process.pid() is not None:
                continue
            if port_open("127.0.0.1", service.port):
                raise StackError(
                    f"port {service.port} for the {service.name} service is already taken",
                    "stop the process that holds it",
                )
            process.start(
                [sys.executable, "-m", service.module, *service.args],
                env=self.environment(service),
            )
            started.append(service.name)
        for service in self.services:
            self._wait_ready(service)
        return started

    def _wait_ready(self, service: LocalService, timeout: float = 60.0) -> None:
        process = self.process(service)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.pid() is None:
                raise StackError(
                    f"the {service.name} service exited during start-up",
                    f"read its log: {process.log_file}",
                    _tail(process),
                )
            try:
                with urllib.request.urlopen(service.url + service.ready_path, timeout=2) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.3)
        raise StackError(
            f"the {service.name} service did not become ready within {timeout:.0f} s",
            f"read its log: {process.log_file}",
            _tail(process),
        )

    def down(self) -> list[str]:
        return [s.name for s in self.services if self.process(s).stop(timeout=15)]


def _tail(process: ManagedProcess) -> str:
    return tail(process.log_file)
