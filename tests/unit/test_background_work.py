"""Periodic jobs keep going after failures and stop even when a library swallows the cancel."""

from __future__ import annotations

import asyncio
import contextlib

from shared.service import every, stop_background


async def test_a_failing_job_is_tried_again_at_the_next_tick() -> None:
    calls = 0

    async def job() -> None:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise ConnectionError("database away")

    task = asyncio.ensure_future(every(0.01, job, name="flaky job"))
    while calls < 4:
        await asyncio.sleep(0.01)
    await stop_background([task])
    assert task.done()
    assert calls >= 4


async def test_a_job_that_swallows_the_cancellation_still_stops() -> None:
    inside = asyncio.Event()

    async def swallowing_job() -> None:
        # What a driver call that catches CancelledError during clean-up looks like from outside.
        inside.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(10)

    task = asyncio.ensure_future(every(3600, swallowing_job, name="swallowing job"))
    await inside.wait()
    await asyncio.wait_for(stop_background([task]), 5)
    assert task.cancelled()


async def test_a_loop_that_ignores_one_cancel_is_cancelled_again() -> None:
    ignored = 0

    async def stubborn() -> None:
        nonlocal ignored
        while True:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                ignored += 1
                if ignored > 1:
                    raise

    task = asyncio.ensure_future(stubborn())
    await asyncio.sleep(0)
    await asyncio.wait_for(stop_background([task]), 5)
    assert task.cancelled()
    assert ignored == 2
