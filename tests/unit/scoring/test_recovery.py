"""The scorer's table recovery moves the stream partitions to their committed offsets before
it resumes them (Faust's own order, resume then seek, let prefetched messages slip past the
scorer after a take-over). No broker: the consumer's calls are recorded."""

from __future__ import annotations

from typing import Any

from faust.types import TP

from services.scoring.faust_app import create_faust_app
from services.scoring.settings import Settings
from services.scoring.tables import SeekFirstRecovery, declare


async def test_stream_partitions_are_seeked_before_they_are_resumed() -> None:
    app = create_faust_app(Settings(faust_app_id="recovery-order"))
    declare(app)
    tables: Any = app.tables
    recovery = tables.recovery
    assert isinstance(recovery, SeekFirstRecovery)
    calls: list[tuple[str, Any]] = []
    stream, changelog = (
        TP("crm.interaction.v1", 0),
        TP("recovery-order-customer-state-changelog", 0),
    )
    consumer: Any = app.consumer
    consumer.assignment = lambda: {stream, changelog}

    async def perform_seek() -> None:
        calls.append(("seek", None))

    async def fetcher_running() -> None:
        calls.append(("fetch", None))

    consumer.perform_seek = perform_seek
    consumer.resume_partitions = lambda tps: calls.append(("resume", frozenset(tps)))
    consumer.resume_flow = lambda: calls.append(("flow", None))
    fetcher: Any = app._fetcher
    fetcher.maybe_start = fetcher_running
    tables._changelogs[changelog.topic] = next(iter(tables.values()))

    await recovery.on_recovery_completed(generation_id=app.consumer_generation_id)

    assert calls == [
        ("seek", None),
        ("resume", frozenset({stream})),
        ("flow", None),
        ("fetch", None),
    ]
    assert recovery.completed.is_set()
