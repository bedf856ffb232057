"""`python -m shared.stack`: idempotent up, clean down, and clear errors instead of hangs.

These tests run a second, private stack (own state directory and free ports) next to the
session's, sharing only the download cache, so they can stop it without disturbing others.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.stack import Stack, StackError, StackSettings

_handed_out: set[int] = set()


def free_port() -> int:
    """A port nothing listens on, never the same twice in this session."""
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port: int = probe.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def private_settings(state_dir: Path, **overrides: object) -> StackSettings:
    values: dict[str, object] = {
        "state_dir": state_dir,
        "kafka_port": free_port(),
        "kafka_controller_port": free_port(),
        "mongo_port": free_port(),
        "ferretdb_debug_port": free_port(),
        "topic_partitions": 1,
    }
    values.update(overrides)
    return StackSettings(**values)  # type: ignore[arg-type]


def env_for(settings: StackSettings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
    env.update(
        CRM_STACK_STATE_DIR=str(settings.state_dir),
        CRM_STACK_CACHE_DIR=str(settings.cache_dir),
        CRM_STACK_KAFKA_PORT=str(settings.kafka_port),
        CRM_STACK_KAFKA_CONTROLLER_PORT=str(settings.kafka_controller_port),
        CRM_STACK_MONGO_PORT=str(settings.mongo_port),
        CRM_STACK_FERRETDB_DEBUG_PORT=str(settings.ferretdb_debug_port),
        CRM_STACK_TOPIC_PARTITIONS="1",
    )
    env.update(extra)
    return env


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shared.stack", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


@pytest.fixture
def private_stack(tmp_path: Path, stack: Stack) -> Iterator[Stack]:
    # Depends on the session stack only so that downloads/builds are already cached.
    own = Stack(private_settings(tmp_path / "state"))
    yield own
    own.down()


def test_up_twice_is_a_no_op_and_down_leaves_nothing(private_stack: Stack) -> None:
    first = private_stack.up()
    assert first.started == ["kafka", "ferretdb"]
    assert len(first.topics_created) > 0
    pids = [status.pid for status in private_stack.status()]
    assert all(pids)

    began = time.monotonic()
    second = private_stack.up()
    took = time.monotonic() - began
    assert not second.changed, f"second up changed something: {second}"
    assert [status.pid for status in private_stack.status()] == pids
    print(f"second `up` took {took:.2f} s")  # noqa: T201 - reported by -rP, not asserted

    assert private_stack.down() == ["kafka", "ferretdb"]
    assert not any(status.running for status in private_stack.status())
    for pid in pids:
        assert pid is not None
        assert not Path(f"/proc/{pid}").exists() or _is_zombie(pid), f"pid {pid} survived down"


def test_cli_status_after_down_reports_nothing_running(tmp_path: Path, stack: Stack) -> None:
    settings = private_settings(tmp_path / "state")
    env = env_for(settings)
    up = run_cli(env, "up")
    try:
        assert up.returncode == 0, up.stderr
        assert "started kafka" in up.stdout
        again = run_cli(env, "up")
        assert again.returncode == 0 and "nothing changed" in again.stdout
    finally:
        down = run_cli(env, "down")
    assert down.returncode == 0
    status = run_cli(env, "status")
    assert status.returncode == 3
    assert "running" not in status.stdout and status.stdout.count("stopped") == 2


def test_taken_port_is_a_one_line_error(tmp_path: Path, stack: Stack) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        settings = private_settings(tmp_path / "state", kafka_port=taken)
        with pytest.raises(StackError, match=f"port {taken} for Kafka is already taken"):
            Stack(settings).up()
        result = run_cli(env_for(settings), "up")
    assert result.returncode == 1
    first_line = result.stderr.splitlines()[0]
    assert f"port {taken}" in first_line and "CRM_STACK_KAFKA_PORT" in first_line
    assert "Traceback" not in result.stderr


def test_missing_java_is_a_clear_error(tmp_path: Path, stack: Stack) -> None:
    settings = private_settings(tmp_path / "state")
    result = run_cli(env_for(settings, PATH=str(tmp_path / "empty-bin")), "up")
    assert result.returncode == 1
    assert result.stderr.startswith("error: Java not found")
    assert "Traceback" not in result.stderr


def test_missing_go_is_a_clear_error_when_ferretdb_must_be_built(
    tmp_path: Path, stack: Stack
) -> None:
    bin_dir = tmp_path / "only-java"
    bin_dir.mkdir()
    java = subprocess.run(["which", "java"], capture_output=True, text=True, check=True)
    (bin_dir / "java").symlink_to(java.stdout.strip())
    # A version that is not in the cache forces a build, and without Go that must fail clearly.
    settings = private_settings(tmp_path / "state")
    env = env_for(settings, PATH=str(bin_dir), CRM_STACK_FERRETDB_VERSION="v1.24.0")
    result = run_cli(env, "up")
    assert result.returncode == 1
    assert result.stderr.startswith("error: Go toolchain not found")
    assert "Traceback" not in result.stderr


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
