"""A test that hangs fails after a limit, printing where every asyncio task was waiting.

CI has a hard wall-clock limit; a test stuck on a lost network answer would otherwise eat it
all and report nothing. SIGALRM interrupts the main thread (where the event loop runs), the
handler prints each pending task's stack — the part a plain thread dump cannot show for
async code — and fails the test, so the run goes on with the next one.

The limit is `hang_limit_s` in the pytest ini options (default 300 s); a test that needs
longer says so with `@pytest.mark.hang_limit(seconds)`.
"""

from __future__ import annotations

import asyncio
import faulthandler
import signal
import sys
from collections.abc import Iterator
from types import FrameType

import pytest

_DEFAULT_LIMIT_S = 300.0


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("hang_limit_s", "seconds before a test counts as hung", default="300")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "hang_limit(seconds): allow this test longer before it counts as hung"
    )


def _limit_for(item: pytest.Item) -> float:
    marker = item.get_closest_marker("hang_limit")
    if marker is not None:
        return float(marker.args[0])
    return float(item.config.getini("hang_limit_s") or _DEFAULT_LIMIT_S)


def _print_task_stacks() -> None:
    try:
        tasks = asyncio.all_tasks()
    except RuntimeError:  # no loop running: the hang is in synchronous code
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        return
    sys.stderr.write(f"\n--- {len(tasks)} pending asyncio tasks ---\n")
    for task in tasks:
        task.print_stack(limit=12, file=sys.stderr)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    limit = _limit_for(item)

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        sys.stderr.write(f"\n=== {item.nodeid} still running after {limit:.0f} s ===\n")
        _print_task_stacks()
        # Arm again so a teardown that hangs as well is also cut short.
        signal.setitimer(signal.ITIMER_REAL, limit)
        pytest.fail(f"hung: still running after {limit:.0f} s (task stacks on stderr)")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
