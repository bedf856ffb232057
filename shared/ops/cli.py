"""The typer application behind `python -m shared.ops` / `crm-ops`.

Thin by design: build settings from the environment, call one function of this package (or of
`shared.dlq`), show progress on stderr and results on stdout. Exit codes: 0 done, 1 a check
failed or the command refused (differences found, scorer running), 2 bad usage or an
unreachable Kafka/MongoDB.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from aiokafka.errors import KafkaConnectionError, KafkaError
from pymongo.errors import ServerSelectionTimeoutError
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from services.scoring.settings import Settings as ScoringSettings
from services.scoring.tables import TABLE_NAME
from services.scoring.topics import INPUT_SPECS, rescore_requests_topic
from shared import dlq
from shared.ops.deadletters import count_dead_letters, dlq_topics
from shared.ops.lag import consumer_lag
from shared.ops.rescore import (
    NoSuchTopic,
    ScorerRunning,
    changelog_topic,
    request_rescore,
    rewind_scorer,
)
from shared.ops.scores import ExportFormat, export_scores
from shared.ops.topics import create_topics, verify_topics
from shared.settings import ConnectionSettings
from shared.topics import all_topics
from shared.topics_admin import TopicCreationError

T = TypeVar("T")

app = typer.Typer(
    name="crm-ops",
    help="Operate the customer-signals stack: topics, dead letters, lag, scores.",
    no_args_is_help=True,
    add_completion=False,
)
topics_app = typer.Typer(
    help="Create and verify the topics of shared/topics.py.", no_args_is_help=True
)
dlq_app = typer.Typer(help="Count and replay dead letters.", no_args_is_help=True)
scores_app = typer.Typer(help="Read the scoring service's scores.", no_args_is_help=True)
app.add_typer(topics_app, name="topics")
app.add_typer(dlq_app, name="dlq")
app.add_typer(scores_app, name="scores")

Report = Callable[[int, int | None], None]


def _out() -> Console:
    # Built per call, not at import, so the console writes to whatever stdout is current;
    # soft wrap keeps each message on one line for grep and logs (tables still fit the width).
    return Console(highlight=False, soft_wrap=True)


def _err() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


@app.callback()
def _options(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="show the Kafka/MongoDB clients' own logs")
    ] = False,
) -> None:
    # The clients log every failed connection attempt; the CLI reports failures itself in one
    # line, so their logs are only wanted when debugging.
    logging.basicConfig(
        level=logging.INFO if verbose else logging.CRITICAL,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _fail(message: str, code: int = 1) -> typer.Exit:
    # Messages quote broker errors and names: escaped, so "[...]" in them is not markup.
    _err().print(f"[red]error:[/red] {escape(message)}")
    return typer.Exit(code)


def _run(work: Coroutine[Any, Any, T], settings: ConnectionSettings) -> T:
    """Run `work`, turning an unreachable Kafka or MongoDB into one line and exit code 2."""
    try:
        return asyncio.run(work)
    except KafkaConnectionError as error:
        raise _fail(
            f"Kafka is not reachable at {settings.kafka_bootstrap_servers} ({error}); "
            "check CRM_KAFKA_BOOTSTRAP_SERVERS",
            2,
        ) from error
    except ServerSelectionTimeoutError as error:
        raise _fail(
            f"MongoDB is not reachable at {settings.mongo_url}; check CRM_MONGO_URL", 2
        ) from error


@contextmanager
def _progress(description: str) -> Iterator[Report]:
    """A progress bar on stderr; yields `update(done, total)` (total None = not known yet)."""
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    console = _err()
    # Bars are for people at a terminal; in pipelines and logs they would only add noise.
    with Progress(
        *columns, console=console, transient=True, disable=not console.is_terminal
    ) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        yield update


# ---------------------------------------------------------------------------------- topics


@topics_app.command("create")
def topics_create() -> None:
    """Create the missing topics (idempotent); print each topic as created or existing."""
    settings = ConnectionSettings()
    try:
        created, existing = _run(
            create_topics(
                settings.kafka_bootstrap_servers,
                all_topics(),
                partitions=settings.topic_partitions,
                replication_factor=settings.topic_replication_factor,
            ),
            settings,
        )
    except TopicCreationError as error:
        raise _fail(f"creating topics failed — {error}") from error
    out = _out()
    for name in created:
        out.print(f"created   {escape(name)}")
    for name in existing:
        out.print(f"existing  {escape(name)}")
    out.print(f"{len(created)} created, {len(existing)} existing")


@topics_app.command("verify")
def topics_verify() -> None:
    """Compare the broker's topics with the registry (partitions = CRM_TOPIC_PARTITIONS,
    replication = CRM_TOPIC_REPLICATION_FACTOR, topic config); exit 1 on any difference."""
    settings = ConnectionSettings()
    registry = all_topics()
    differences = _run(
        verify_topics(
            settings.kafka_bootstrap_servers,
            registry,
            partitions=settings.topic_partitions,
            replication_factor=settings.topic_replication_factor,
        ),
        settings,
    )
    out = _out()
    if not differences:
        out.print(f"all {len(registry)} topics match shared/topics.py")
        return
    table = Table(
        "topic", "setting", "expected", "actual", title="topics differing from the registry"
    )
    for d in differences:
        table.add_row(escape(d.topic), d.setting, escape(d.expected), escape(d.actual))
    out.print(table)
    out.print(f"{len(differences)} difference(s) in {len({d.topic for d in differences})} topic(s)")
    raise typer.Exit(1)


# ------------------------------------------------------------------------------------- dlq


@dlq_app.command("list")
def dlq_list(
    topics: Annotated[
        list[str] | None,
        typer.Argument(help="DLQ topics to count; default: every DLQ of shared/topics.py"),
    ] = None,
) -> None:
    """Count the dead letters on each DLQ topic, by error class (the dlq_error_class header),
    with the newest reason (dlq_reason) of each class."""
    settings = ConnectionSettings()
    names = topics or dlq_topics(all_topics())
    table = Table("topic", "error class", "count", "newest reason")
    for name in names:
        with _progress(f"reading {name}") as update:
            letters = _run(dlq.inspect_dead_letters(settings, name, progress=update), settings)
        counts = count_dead_letters(name, letters)
        # Names and reasons come from the broker and the headers: escaped, never markup.
        if not counts.total:
            table.add_row(escape(name), "-", "0", "")
        for error_class, count in counts.by_class.most_common():
            reason = counts.example_reason.get(error_class, "")
            table.add_row(escape(name), escape(error_class), str(count), escape(reason[:80]))
        if counts.total and len(counts.by_class) > 1:
            table.add_row(escape(name), "[bold]total[/bold]", f"[bold]{counts.total}[/bold]", "")
    _out().print(table)


@dlq_app.command("replay")
def dlq_replay(
    topic: Annotated[str, typer.Argument(help="the dead-letter topic (*.dlq)")],
    reason: Annotated[
        str | None,
        typer.Option(
            "--reason",
            "--error-class",
            help="replay only this error class (as `dlq list` shows it, e.g. handler_error)",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="say what would be replayed; publish nothing")
    ] = False,
) -> None:
    """Re-publish the dead letters not replayed yet to their origin topic (shared/dlq.py)."""
    settings = ConnectionSettings()
    with _progress(f"reading {topic}") as update:
        report = _run(
            dlq.replay_dead_letters(
                settings, topic, error_class=reason, dry_run=dry_run, progress=update
            ),
            settings,
        )
    verb = "would replay" if dry_run else "replayed"
    out = _out()
    out.print(f"{verb} {report.replayed}, skipped {report.skipped} (other error classes)")
    for origin, count in sorted(report.by_origin.items()):
        out.print(f"  {count:>8}  → {escape(origin)}")


# ------------------------------------------------------------------------------------- lag


@app.command("lag")
def lag(
    groups: Annotated[
        list[str] | None,
        typer.Option("--group", "-g", help="a consumer group (repeatable); default: all groups"),
    ] = None,
) -> None:
    """Per consumer group and partition: committed offset, end offset, lag; total per group."""
    settings = ConnectionSettings()
    with _progress("reading consumer groups") as update:
        result = _run(
            consumer_lag(settings.kafka_bootstrap_servers, groups or (), progress=update), settings
        )
    table = Table("group", "topic", "partition", "committed", "end", "lag")
    for group in result:
        for p in group.partitions:
            table.add_row(
                escape(group.group),
                escape(p.topic),
                str(p.partition),
                str(p.committed),
                str(p.end),
                str(p.lag),
            )
        table.add_row(
            f"[bold]{escape(group.group)}[/bold]",
            f"total ({group.state}, {group.members} member(s))",
            "",
            "",
            "",
            f"[bold]{group.total}[/bold]",
            end_section=True,
        )
    _out().print(table)


# ---------------------------------------------------------------------------------- scores


def _as_of(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError as error:
        raise typer.BadParameter(f"not an ISO 8601 time: {text}", param_hint="--as-of") from error
    if at.tzinfo is None:
        # Same rule as the API: a naive time is ambiguous, so it is refused, not guessed.
        raise typer.BadParameter("give a zone, e.g. 2026-01-31T00:00:00Z", param_hint="--as-of")
    return at.astimezone(UTC)


@scores_app.command("export")
def scores_export(
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="ISO 8601 instant with a zone; default: the latest scores"),
    ] = None,
    fmt: Annotated[
        ExportFormat, typer.Option("--format", help="file format")
    ] = ExportFormat.NDJSON,
    out: Annotated[
        Path | None, typer.Option("--out", help="file to write; default: standard output")
    ] = None,
) -> None:
    """Write every customer's score, one line each, exactly as GET /v1/scores/export does."""
    settings = ScoringSettings()
    at = _as_of(as_of)
    with _progress("customers written") as update:
        if out is None:
            written = _run(
                export_scores(settings, sys.stdout, as_of=at, fmt=fmt, progress=update), settings
            )
        else:
            with out.open("w", encoding="utf-8", newline="") as file:
                written = _run(
                    export_scores(settings, file, as_of=at, fmt=fmt, progress=update), settings
                )
    where = "standard output" if out is None else str(out)
    _err().print(f"{written} customers written to {where}")


# --------------------------------------------------------------------------------- rescore


@app.command("rescore")
def rescore(
    everyone: Annotated[
        bool, typer.Option("--all", help="rebuild every customer's score by replaying all events")
    ] = False,
    customers: Annotated[
        list[str] | None,
        typer.Option("--customer", "-c", help="rescore this customer now (repeatable)"),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")] = False,
) -> None:
    """Rescore some customers now, or make the stopped scorer recompute every score.

    `--customer ID` (repeatable) asks the running scorer to rescore those customers as of now.
    `--all` rewinds the scorer's consumer group to the earliest offsets of its input topics and
    deletes its table's changelog, so the next start replays every event into an empty table;
    refused while any scorer worker is running (see docs/ops-cli.md).
    """
    if customers and everyone:
        raise _fail("give --all or --customer, not both", 2)
    if customers:
        settings = ScoringSettings()
        topic = rescore_requests_topic(settings.faust_app_id)
        try:
            count = _run(
                request_rescore(
                    settings.kafka_bootstrap_servers, topic=topic, customer_ids=customers
                ),
                settings,
            )
        except NoSuchTopic as error:
            raise _fail(str(error)) from error
        _out().print(f"asked the scorer to rescore {count} customers (topic {topic})")
        return
    if not everyone:
        raise _fail("give --all, or one or more --customer ID", 2)
    settings = ScoringSettings()
    group = settings.faust_app_id
    changelog = changelog_topic(group, TABLE_NAME)
    if not yes:
        typer.confirm(
            f"Rewind consumer group {group} to the start of "
            f"{', '.join(s.name for s in INPUT_SPECS)} and delete {changelog}?",
            abort=True,
        )
    try:
        report = _run(
            rewind_scorer(
                settings.kafka_bootstrap_servers,
                group=group,
                inputs=INPUT_SPECS,
                changelog=changelog,
            ),
            settings,
        )
    except ScorerRunning as error:
        raise _fail(f"refused: {error}") from error
    except KafkaError as error:
        raise _fail(f"rescore failed — {error}; run it again before starting the scorer") from error
    out = _out()
    out.print(
        f"group {report.group}: {report.partitions} partitions rewound to their earliest offset "
        f"({report.events_to_replay} events to replay)"
    )
    out.print(
        f"changelog {report.changelog}: "
        + ("deleted" if report.changelog_deleted else "absent (nothing to delete)")
    )
    if not settings.faust_store.startswith("memory"):
        out.print(
            f"[yellow]warning:[/yellow] the store is {settings.faust_store}: delete every worker's "
            f"table data under {settings.faust_data_dir}/{settings.faust_app_id} before starting "
            "them",
            markup=True,
        )
    out.print("start the scorer now: it rebuilds every score from the first event")
