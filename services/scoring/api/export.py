"""The score export's file formats, shared by the read API's streamed export and the ops CLI."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from enum import StrEnum
from typing import Any

from services.scoring.api.schemas import ScorePublic
from shared.mongo import Document

CSV_COLUMNS = (
    "customer_id",
    "as_of",
    "computed_at",
    "model_version",
    "churn_risk",
    "churn_band",
    "horizon_days",
    "loyalty_score",
    "loyalty_band",
    "value_tier",
    "lifecycle",
    "trend",
    "top_reasons",
    "event_id",
)


class ExportFormat(StrEnum):
    NDJSON = "ndjson"
    CSV = "csv"


def _ndjson_line(doc: Document) -> str:
    return json.dumps(ScorePublic.of(doc).model_dump(mode="json"), ensure_ascii=False) + "\n"


def _csv_row(doc: Document) -> list[Any]:
    score = ScorePublic.of(doc)
    return [
        score.customer_id,
        score.as_of.isoformat(),
        score.computed_at.isoformat(),
        score.model_version,
        score.churn.risk,
        score.churn.band.value,
        score.churn.horizon_days,
        score.loyalty.score,
        score.loyalty.band,
        score.value_tier.value,
        score.lifecycle.value,
        score.trend,
        ";".join(reason.code for reason in score.churn.reasons),
        score.event_id,
    ]


def _csv_text(row: list[Any] | tuple[str, ...]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(row)
    return buffer.getvalue()


async def export_lines(docs: AsyncIterator[Document], fmt: ExportFormat) -> AsyncIterator[str]:
    """The export's lines: CSV (header, then a row per score) or NDJSON (a score per line)."""
    if fmt is ExportFormat.CSV:
        yield _csv_text(CSV_COLUMNS)
        async for doc in docs:
            yield _csv_text(_csv_row(doc))
    else:
        async for doc in docs:
            yield _ndjson_line(doc)
