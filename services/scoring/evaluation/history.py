"""The purchase-history CSV format that the evaluation command reads and the generator writes.

    customer_id,time,amount
    C000001,2025-03-04T10:15:00Z,12500.00

One row per order. `time` is ISO-8601 with an explicit offset (written in UTC with a `Z`);
a time without an offset is refused because it names no instant, so a replay could not be
reproduced. `amount` is a finite number ≥ 0 in one currency. Columns may come in any order and
extra columns are ignored, so exports from other tools can be used as they are. Rows need not
be sorted. A bad row stops the read with an error naming its line and field: a silently
skipped order would bias the very metrics the file is read for.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

__all__ = [
    "COLUMNS",
    "HistoryFormatError",
    "Purchase",
    "format_time",
    "parse_time",
    "read_history",
    "read_purchases",
    "write_history",
]

COLUMNS = ("customer_id", "time", "amount")


class HistoryFormatError(ValueError):
    """A history file that does not follow the format; says where (line, field) and why."""

    def __init__(self, message: str, *, line: int | None = None, field: str | None = None) -> None:
        where = "" if line is None else f"line {line}: "
        what = "" if field is None else f"field {field!r}: "
        super().__init__(f"{where}{what}{message}")
        self.line = line
        self.field = field


@dataclass(frozen=True, slots=True)
class Purchase:
    """One order of one customer, at an aware UTC instant."""

    customer_id: str
    at: datetime
    amount: float


def parse_time(text: str) -> datetime:
    """An ISO-8601 time with an offset (`Z` accepted), converted to UTC.

    Raises ValueError for an unreadable or naive time.
    """
    value = text.strip()
    if not value:
        raise ValueError("empty time")
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"not an ISO-8601 time: {value!r}") from None
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"time has no UTC offset (write e.g. {value}Z): {value!r}")
    return at.astimezone(UTC)


def format_time(at: datetime) -> str:
    """The file's spelling of an instant: UTC, seconds, `Z`."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_amount(text: str) -> float:
    value = text.strip()
    try:
        amount = float(value)
    except ValueError:
        raise ValueError(f"not a number: {value!r}") from None
    if not math.isfinite(amount) or amount < 0:
        raise ValueError(f"must be a finite number ≥ 0, got {value!r}")
    return amount


def read_purchases(lines: Iterable[str]) -> Iterator[Purchase]:
    """The purchases of a history given as text lines (header first), in file order."""
    reader = csv.reader(iter(lines))
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        raise HistoryFormatError(
            "empty file: expected the header customer_id,time,amount"
        ) from None
    missing = [name for name in COLUMNS if name not in header]
    if missing:
        raise HistoryFormatError(
            f"header lacks column(s) {', '.join(missing)}; expected {','.join(COLUMNS)}", line=1
        )
    index = {name: header.index(name) for name in COLUMNS}
    for row in reader:
        if not row or all(not cell.strip() for cell in row):
            continue
        line = reader.line_num
        if len(row) < len(header):
            raise HistoryFormatError(
                f"{len(row)} field(s), the header has {len(header)}", line=line
            )
        customer_id = row[index["customer_id"]].strip()
        if not customer_id:
            raise HistoryFormatError("empty customer id", line=line, field="customer_id")
        try:
            at = parse_time(row[index["time"]])
        except ValueError as exc:
            raise HistoryFormatError(str(exc), line=line, field="time") from None
        try:
            amount = _parse_amount(row[index["amount"]])
        except ValueError as exc:
            raise HistoryFormatError(str(exc), line=line, field="amount") from None
        yield Purchase(customer_id=customer_id, at=at, amount=amount)


def read_history(path: Path) -> list[Purchase]:
    """Every purchase in the history file at `path` (UTF-8, a BOM is tolerated)."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(read_purchases(handle))


def write_history(purchases: Iterable[Purchase], out: TextIO) -> int:
    """Write `purchases` in the file format (header first); returns the number of rows."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    rows = 0
    for p in purchases:
        writer.writerow((p.customer_id, format_time(p.at), f"{p.amount:.2f}"))
        rows += 1
    return rows
