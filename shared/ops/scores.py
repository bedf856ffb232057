"""Export every customer's score from the scoring read models to a file, as the API does.

Reads through `services.scoring.read_models.export_latest` / `export_as_of` and writes the
exact lines of `GET /v1/scores/export` (the route's own line writer), so a file from the CLI
and one from the API are interchangeable.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TextIO

from services.scoring import read_models
from services.scoring.api.export import ExportFormat, export_lines
from services.scoring.outputs import SCORES
from services.scoring.settings import Settings as ScoringSettings
from shared import mongo

__all__ = ["ExportFormat", "export_scores"]

# (customers written, customers expected or None when unknown beforehand)
ExportProgress = Callable[[int, int | None], None]


async def export_scores(
    settings: ScoringSettings,
    out: TextIO,
    *,
    as_of: datetime | None = None,
    fmt: ExportFormat = ExportFormat.NDJSON,
    progress: ExportProgress | None = None,
) -> int:
    """Write every customer's latest score (or latest at or before `as_of`); how many."""
    client = mongo.connect(settings)
    try:
        db = mongo.database(client, settings, settings.database)
        # The latest scores are one document per customer, so the collection's (cheap, metadata)
        # count is the bar's length; the as-of export only knows it after reading the history.
        total = None if as_of is not None else await db[SCORES].estimated_document_count()
        docs = (
            read_models.export_latest(db) if as_of is None else read_models.export_as_of(db, as_of)
        )
        written = 0
        header = fmt is ExportFormat.CSV
        if progress is not None:
            progress(0, total)
        async for line in export_lines(docs, fmt):
            out.write(line)
            if header:  # the CSV header line is not a customer
                header = False
                continue
            written += 1
            if progress is not None:
                progress(written, total)
        return written
    finally:
        await client.close()
