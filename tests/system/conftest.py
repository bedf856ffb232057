"""A private stack for the system tests that stop Kafka and FerretDB for real.

Stopping the session's stack would break every other test of the session, so the fault tests
get a Kafka broker and a FerretDB of their own: fresh state in a temporary directory, free
ports, the machine's download cache (nothing is fetched or built again).
"""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator

import pytest

from shared.stack import Stack, StackSettings


def free_port() -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def private_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Kafka and FerretDB for one test module alone; stopped and deleted afterwards."""
    state_dir = tmp_path_factory.mktemp("private-stack")
    settings = StackSettings(
        state_dir=state_dir,
        cache_dir=StackSettings().cache_dir,
        kafka_port=free_port(),
        kafka_controller_port=free_port(),
        mongo_port=free_port(),
        ferretdb_debug_port=free_port(),
        kafka_heap="384m",  # a few thousand events; two cores and other stacks share the host
        topic_partitions=3,  # fewer partitions: faster group joins after a broker restart
    )
    stack = Stack(settings)
    try:
        stack.up()
        yield stack
    finally:
        stack.down()
        shutil.rmtree(state_dir, ignore_errors=True)
