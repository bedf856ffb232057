"""What one stored score costs the database: the scorer's layout against the full score as
fields (the baseline), on the same scores, in the same run.

`customers` real scores (one order each, folded and scored by the scorer's own code) are
written the way the worker writes them: inserted into a history collection in one
`insert_many`, replaced in a scores collection with `shared.mongo.bulk_update`, then read back
with one `find`. Twice each, per layout:

- **stored**: `services.scoring.outputs.score_document`, the score as JSON text with only the
  queried fields beside it;
- **baseline**: the same score with every field a document field (`model_dump`), the layout
  before 2026-12-07.

Per document, milliseconds; the ratio is the baseline's cost over the layout's.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ReplaceOne

from bench.common import Row, connection
from bench.messaging import sample_event
from services.scoring.adapter import to_input
from services.scoring.outputs import history_document, score_document
from services.scoring.processing import apply, rescore
from shared import mongo
from shared.mongo import Collection, Document, bulk_update

ROUNDS = 2


def scores(customers: int) -> list[tuple[str, str, Any]]:
    """(customer id, score event id, ScoreUpdated data) of `customers` first orders."""
    now = datetime.now(UTC)
    out = []
    for n in range(customers):
        event = sample_event(n).model_copy(
            update={"subject": f"S-{n:06d}", "time": now - timedelta(seconds=n)}
        )
        folded = apply(None, event_id=event.id, item=to_input(event))
        assert folded is not None
        fresh = rescore(folded.record, customer_id=event.subject, as_of=event.time, computed_at=now)
        out.append((event.subject, fresh.updated.id, fresh.updated.data))
    return out


def as_fields(customer_id: str, event_id: str, data: Any) -> Document:
    doc: Document = data.model_dump(mode="python")
    return doc | {"_id": customer_id, "customer_id": customer_id, "event_id": event_id}


async def cost(
    history: Collection, latest: Collection, documents: list[Document]
) -> tuple[float, float, float]:
    """ms per document: history insert, bulk replacement, read back (the last round's)."""
    insert = replace = read = 0.0
    await latest.insert_many(documents)
    for round_ in range(ROUNDS):
        entries = [
            history_document(doc) | {"_id": f"{doc['event_id']}-{round_}"} for doc in documents
        ]
        started = time.perf_counter()
        await history.insert_many(entries, ordered=False)
        insert = time.perf_counter() - started
        started = time.perf_counter()
        await bulk_update(latest, [ReplaceOne({"_id": d["_id"]}, d) for d in documents])
        replace = time.perf_counter() - started
        started = time.perf_counter()
        found = [doc async for doc in latest.find({})]
        read = time.perf_counter() - started
        assert len(found) == len(documents)
    per = 1000 / len(documents)
    return insert * per, replace * per, read * per


async def run(customers: int) -> list[Row]:
    settings = await connection()
    client = mongo.connect(settings)
    name = f"{settings.mongo_database_prefix}bench_score_storage_{uuid.uuid4().hex[:6]}"
    db = client[name]
    computed = scores(customers)
    layouts: dict[str, Callable[[str, str, Any], Document]] = {
        "baseline (every field a field)": as_fields,
        "stored (JSON text + queried fields)": score_document,
    }
    results: dict[str, tuple[float, float, float]] = {}
    try:
        print(f"score storage: {customers:,} scores, insert / replace / read per document")
        for index, (label, layout) in enumerate(layouts.items()):
            documents = [layout(*score) for score in computed]
            results[label] = await cost(db[f"history_{index}"], db[f"latest_{index}"], documents)
            insert, replace, read = results[label]
            print(f"  {label:<38} {insert:.3f} / {replace:.3f} / {read:.3f} ms")
    finally:
        await client.drop_database(name)
        await client.close()
    (base, stored) = results.values()
    ratios = " / ".join(f"{b / s:.1f}x" for b, s in zip(base, stored, strict=True))
    print(f"  baseline / stored: {ratios}")
    return [
        Row(
            "scoring",
            f"score storage, {customers:,} scores (insert / replace / read)",
            f"{stored[0]:.3f} / {stored[1]:.3f} / {stored[2]:.3f} ms per doc ({ratios} cheaper)",
            "-",
        )
    ]
