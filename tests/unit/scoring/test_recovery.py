"""The scorer's table recovery puts the stream partitions at their committed offsets (paused
in aiokafka, so nothing can move them on) before Faust counts them as active, and lets aiokafka
fetch them only after that (Faust's own order, resume then seek, let messages slip past the
scorer; tests/integration/scoring/test_recovery_seek.py checks the seek on the broker). No
broker here: the calls are recorded."""

from __future__ import annotations

from typing import Any

import pytest
from faust.types import TP

from services.scoring import tables
from services.scoring.faust_app import create_faust_app
from services.scoring.settings import Settings


async def test_stream_partitions_are_placed_before_they_are_resumed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = create_faust_app(Settings(faust_app_id="recovery-order"))
    tables.declare(app)
    manager: Any = app.tables
    recovery = manager.recovery
    assert isinstance(recovery, tables.SeekFirstRecovery)
    calls: list[tuple[str, Any]] = []
    stream, changelog = (
        TP("crm.interaction.v1", 0),
        TP("recovery-order-customer-state-changelog", 0),
    )
    consumer: Any = app.consumer
    consumer.assignment = lambda: {stream, changelog}

    async def place_at_committed(_: Any, partitions: set[TP], *, earliest: bool) -> None:
        calls.append(("place", frozenset(partitions)))

    async def resume_fetching(_: Any, partitions: set[TP]) -> None:
        calls.append(("fetching", frozenset(partitions)))

    async def fetcher_running() -> None:
        calls.append(("fetch", None))

    monkeypatch.setattr(tables, "place_at_committed", place_at_committed)
    monkeypatch.setattr(tables, "resume_fetching", resume_fetching)
    consumer.resume_partitions = lambda tps: calls.append(("resume", frozenset(tps)))
    consumer.resume_flow = lambda: calls.append(("flow", None))
    fetcher: Any = app._fetcher
    fetcher.maybe_start = fetcher_running
    manager._changelogs[changelog.topic] = next(iter(manager.values()))

    await recovery.on_recovery_completed(generation_id=app.consumer_generation_id)

    assert calls == [
        ("place", frozenset({stream})),
        ("resume", frozenset({stream})),
        ("fetching", frozenset({stream})),
        ("flow", None),
        ("fetch", None),
    ]
    assert recovery.completed.is_set()
