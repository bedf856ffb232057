"""Customer import/export file formats: CSV columns, and readers that take a file in chunks.

No I/O: the readers are fed the bytes as they arrive (`feed`, then `close`) and hand back the
complete rows, so a 100 MB file is never held in memory — only the row being read.

CSV (one customer per row, UTF-8 with or without BOM, a header row naming the columns):
- scalar columns (`kind`, `name`, `region`, `share_of_volume`, …): the value; a blank cell
  clears the field;
- list columns (`phones`, `emails`, `segments`, `tags`): values separated by `;`;
- `external_ids.<system>` (e.g. `external_ids.erp`): one column per system;
- `consent.<flag>` and `key_account`: `true`/`false` (also yes/no, 1/0); a blank cell leaves
  the flag as it is;
- `contacts`, `addresses`: a JSON array, as in the API (nested lists do not fit a cell);
- `id`, `version`, `created_at`, `updated_at`: written by an export, ignored by an import.
JSON: an array of customers; NDJSON: one customer per line; each customer shaped like the
create body (the read-only fields of an export line are ignored).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

LIST_SEPARATOR = ";"
SCALAR_COLUMNS: tuple[str, ...] = (
    "kind",
    "name",
    "name_latin",
    "region",
    "industry",
    "owner",
    "relationship_stage",
    "tier",
    "credit_grade",
    "share_of_volume",
    "grade_override",
    "customer_since",
    "notes",
)
LIST_COLUMNS: tuple[str, ...] = ("phones", "emails", "segments", "tags")
JSON_COLUMNS: tuple[str, ...] = ("contacts", "addresses")
FLAG_COLUMNS: tuple[str, ...] = ("key_account",)
CONSENT_FLAGS: tuple[str, ...] = (
    "marketing_email",
    "marketing_sms",
    "marketing_phone",
    "marketing_wechat",
    "data_sharing",
)
EXTERNAL_ID_PREFIX = "external_ids."
CONSENT_PREFIX = "consent."
READ_ONLY: tuple[str, ...] = (
    "id",
    "version",
    "created_at",
    "updated_at",
    "deleted_at",
    "merged_into",
    "erased_at",
)
"""Fields an export writes and an import ignores (the archive decides them)."""

MAX_ROW_BYTES = 1_000_000
"""A row longer than this stops the import: it is an unterminated quote or not a customer."""

MERGED_MAPS: tuple[str, ...] = ("external_ids", "consent")


class FileProblem(ValueError):
    """The file cannot be read on from here (bad header, bad encoding, broken JSON);
    `rows` holds the rows of the last chunk read before the problem."""

    def __init__(self, message: str, rows: list[RawRow] | None = None) -> None:
        super().__init__(message)
        self.rows = rows or []


@dataclass(frozen=True)
class RawRow:
    """One row of an import file: its number, and its fields or why it could not be read."""

    row: int
    """CSV: the line the row starts on (the header is line 1, as a spreadsheet counts);
    JSON: the customer's position in the array (from 1); NDJSON: the line number."""
    fields: dict[str, Any] | None
    problem: str | None = None


def csv_columns(external_systems: Iterable[str]) -> list[str]:
    """The columns of an export, in the order a person reads them."""
    return [
        "id",
        *(f"{EXTERNAL_ID_PREFIX}{system}" for system in external_systems),
        "kind",
        "name",
        "name_latin",
        "phones",
        "emails",
        "region",
        "industry",
        "segments",
        "tags",
        "owner",
        "key_account",
        "relationship_stage",
        "tier",
        "credit_grade",
        "share_of_volume",
        "grade_override",
        "customer_since",
        *(f"{CONSENT_PREFIX}{flag}" for flag in CONSENT_FLAGS),
        "contacts",
        "addresses",
        "notes",
        "version",
        "created_at",
        "updated_at",
    ]


def check_header(header: Sequence[str]) -> list[str]:
    """The header's column names, trimmed; raises FileProblem naming unknown or repeated ones."""
    names = [name.strip() for name in header]
    known = set(SCALAR_COLUMNS + LIST_COLUMNS + JSON_COLUMNS + FLAG_COLUMNS + READ_ONLY)
    known |= {f"{CONSENT_PREFIX}{flag}" for flag in CONSENT_FLAGS}
    unknown = [
        name
        for name in names
        if name not in known and not _is_external_id_column(name) and name != ""
    ]
    if unknown:
        raise FileProblem(
            f"unknown columns: {', '.join(unknown)} (see the import columns in docs/customers.md)"
        )
    repeated = sorted({name for name in names if name and names.count(name) > 1})
    if repeated:
        raise FileProblem(f"columns given twice: {', '.join(repeated)}")
    return names


def _is_external_id_column(name: str) -> bool:
    system = name.removeprefix(EXTERNAL_ID_PREFIX)
    return name.startswith(EXTERNAL_ID_PREFIX) and system != "" and "." not in system


def fields_of_cells(cells: Mapping[str, str]) -> dict[str, Any]:
    """A CSV row's cells (column → text) as an API body: lists split, flags and JSON read.

    Values stay text where the API reads text (numbers, dates, enums): the create schema
    validates them, so a CSV row and a JSON row are refused for the same reasons.
    """
    fields: dict[str, Any] = {}
    external_ids: dict[str, str] = {}
    consent: dict[str, str] = {}
    for column, raw in cells.items():
        text = raw.strip()
        if column in READ_ONLY or column == "":
            continue
        if column in SCALAR_COLUMNS:
            fields[column] = text or None
        elif column in LIST_COLUMNS:
            fields[column] = [part.strip() for part in text.split(LIST_SEPARATOR) if part.strip()]
        elif column in JSON_COLUMNS:
            fields[column] = _json_cell(column, text)
        elif column in FLAG_COLUMNS:
            if text:  # blank: as it is (false for a new customer)
                fields[column] = text
        elif column.startswith(CONSENT_PREFIX):
            if text:
                consent[column.removeprefix(CONSENT_PREFIX)] = text
        elif column.startswith(EXTERNAL_ID_PREFIX) and text:
            external_ids[column.removeprefix(EXTERNAL_ID_PREFIX)] = text
    if any(column.startswith(EXTERNAL_ID_PREFIX) for column in cells):
        fields["external_ids"] = external_ids
    if consent:
        fields["consent"] = consent
    return fields


class CellProblem(ValueError):
    """A cell that cannot be read; `column` names it."""

    def __init__(self, column: str, reason: str) -> None:
        super().__init__(reason)
        self.column = column


def _json_cell(column: str, text: str) -> Any:
    if not text:
        return []
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise CellProblem(
            column, f"not a JSON array: {error.msg} at character {error.pos}"
        ) from None


def cells_of_customer(customer: Mapping[str, Any], columns: Sequence[str]) -> list[str]:
    """A customer (as the API shows it, JSON-able) as the cells of one export row."""
    cells = []
    for column in columns:
        if column.startswith(EXTERNAL_ID_PREFIX):
            value = (customer.get("external_ids") or {}).get(
                column.removeprefix(EXTERNAL_ID_PREFIX)
            )
        elif column.startswith(CONSENT_PREFIX):
            # Absent flags stay blank, so a re-import leaves them absent (nothing changes).
            value = (customer.get("consent") or {}).get(column.removeprefix(CONSENT_PREFIX))
        else:
            value = customer.get(column)
        cells.append(_cell(column, value))
    return cells


def _cell(column: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if column in JSON_COLUMNS:
        return json.dumps(value, ensure_ascii=False) if value else ""
    if isinstance(value, list):
        return LIST_SEPARATOR.join(str(item) for item in value)
    return str(value)


def csv_line(cells: Sequence[str]) -> str:
    """One CSV record (RFC 4180 quoting, CRLF as spreadsheets write it)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(cells)
    return buffer.getvalue()


def import_patch(before: Mapping[str, Any], fields: Mapping[str, Any]) -> dict[str, Any]:
    """What an import row changes on an existing customer: the fields it gives, except that
    its external ids and consent flags are added to the customer's (an import never removes
    an external id or forgets a consent it was not told about; PATCH does that)."""
    patch = dict(fields)
    for name in MERGED_MAPS:
        if name in patch:
            patch[name] = {**(before.get(name) or {}), **patch[name]}
    return patch


class _Decoder:
    """Bytes to text in any chunking; a byte sequence that is not in the charset is a
    FileProblem saying where."""

    def __init__(self, charset: str) -> None:
        # utf-8-sig drops a BOM at the start (Excel writes one) and reads plain UTF-8 too.
        name = "utf-8-sig" if codecs.lookup(charset).name == "utf-8" else charset
        self._decoder = codecs.getincrementaldecoder(name)()
        self._charset = charset
        self._offset = 0

    def decode(self, chunk: bytes, *, final: bool = False) -> str:
        try:
            text: str = self._decoder.decode(chunk, final=final)
        except UnicodeDecodeError as error:
            raise FileProblem(
                f"byte {self._offset + error.start + 1} is not {self._charset} text "
                "(save the file as UTF-8, or name its charset in Content-Type)"
            ) from None
        self._offset += len(chunk)
        return text


class CsvReader:
    """Rows of a CSV file fed in chunks of bytes.

    A record may span lines (a quoted cell with line breaks): a line ends a record only when
    the quotes before it are balanced, which holds for every RFC 4180 file because a quote
    inside a quoted cell is written twice.
    """

    def __init__(self, charset: str = "utf-8") -> None:
        self._decoder = _Decoder(charset)
        self._pending = ""  # text of the record being read
        self._quotes = 0  # quotes in `_pending` so far
        self._scanned = 0  # how much of `_pending` has been scanned for line ends
        self._line = 0  # lines completed
        self._start = 1  # line the pending record starts on
        self.columns: list[str] | None = None

    def feed(self, chunk: bytes) -> list[RawRow]:
        return self._records(self._decoder.decode(chunk))

    def close(self) -> list[RawRow]:
        rows = self._records(self._decoder.decode(b"", final=True))
        if self._pending.strip():
            if self._quotes % 2:
                rows.append(RawRow(self._start, None, "a quoted cell is never closed"))
            else:
                rows.extend(self._record(self._pending, self._start))
        elif self.columns is None:
            raise FileProblem("the file is empty: it needs a header row naming the columns")
        self._pending = ""
        return rows

    def _records(self, text: str) -> list[RawRow]:
        rows: list[RawRow] = []
        try:
            self._read_records(text, rows)
        except FileProblem as problem:
            raise FileProblem(str(problem), rows) from None
        return rows

    def _read_records(self, text: str, rows: list[RawRow]) -> None:
        pending = self._pending + text
        begin = 0  # where the record being read starts in `pending`
        position = self._scanned
        try:
            while True:
                end = pending.find("\n", position)
                if end < 0:
                    self._quotes += pending.count('"', position)
                    break
                self._quotes += pending.count('"', position, end)
                self._line += 1
                position = end + 1
                if self._quotes % 2 == 0:
                    start, self._start = self._start, self._line + 1
                    self._quotes = 0
                    record, begin = pending[begin:position], position
                    rows.extend(self._record(record, start))
        finally:
            # Cut once per chunk, not once per record: a chunk holds hundreds of records.
            self._pending = pending[begin:]
            self._scanned = len(self._pending)
        if len(self._pending) > MAX_ROW_BYTES:
            raise FileProblem(
                f"line {self._start}: a row longer than {MAX_ROW_BYTES:,} characters "
                "(a quoted cell is never closed?)"
            )

    def _record(self, text: str, line: int) -> Iterator[RawRow]:
        try:
            parsed = next(csv.reader(io.StringIO(text), strict=True), [])
        except csv.Error as error:
            yield RawRow(line, None, f"not CSV: {error}")
            return
        if not any(cell.strip() for cell in parsed):
            return  # blank lines (often at the end) are no customers
        if self.columns is None:
            self.columns = check_header(parsed)
            return
        if len(parsed) != len(self.columns):
            yield RawRow(
                line,
                None,
                f"{len(parsed)} cells where the header has {len(self.columns)} columns",
            )
            return
        try:
            yield RawRow(line, fields_of_cells(dict(zip(self.columns, parsed, strict=True))))
        except CellProblem as problem:
            yield RawRow(line, None, f"{problem.column}: {problem}")


class NdjsonReader:
    """Customers of an NDJSON file (one JSON object per line) fed in chunks of bytes;
    a bad line rejects only itself."""

    def __init__(self, charset: str = "utf-8") -> None:
        self._decoder = _Decoder(charset)
        self._pending = ""
        self._line = 0

    def feed(self, chunk: bytes) -> list[RawRow]:
        self._pending += self._decoder.decode(chunk)
        *lines, self._pending = self._pending.split("\n")
        if len(self._pending) > MAX_ROW_BYTES:
            raise FileProblem(f"line {self._line + 1}: longer than {MAX_ROW_BYTES:,} characters")
        return [row for line in lines if (row := self._row(line)) is not None]

    def close(self) -> list[RawRow]:
        self._pending += self._decoder.decode(b"", final=True)
        rest, self._pending = self._pending, ""
        row = self._row(rest)
        return [] if row is None else [row]

    def _row(self, line: str) -> RawRow | None:
        self._line += 1
        if not line.strip():
            return None
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            return RawRow(self._line, None, f"not JSON: {error.msg} at character {error.pos}")
        if not isinstance(value, dict):
            return RawRow(self._line, None, "not a JSON object")
        return RawRow(self._line, value)


class JsonArrayReader:
    """Customers of a JSON array fed in chunks of bytes, read one element at a time.

    Broken JSON cannot be resynchronised (where does the next customer start?), so it stops
    the import with a FileProblem; the customers before it have been read.
    """

    _decoder_json = json.JSONDecoder()

    def __init__(self, charset: str = "utf-8") -> None:
        self._decoder = _Decoder(charset)
        self._buffer = ""
        self._position = 0  # characters of the file consumed before `_buffer`
        self._started = False
        self._ended = False
        self._count = 0

    def feed(self, chunk: bytes) -> list[RawRow]:
        self._buffer += self._decoder.decode(chunk)
        return self._elements(final=False)

    def close(self) -> list[RawRow]:
        self._buffer += self._decoder.decode(b"", final=True)
        rows = self._elements(final=True)
        if not self._ended:
            if not self._started:
                raise FileProblem("the body is empty: send a JSON array of customers")
            raise FileProblem(
                f"the JSON array ends early (after customer {self._count}): is the file cut?"
            )
        return rows

    def _elements(self, *, final: bool) -> list[RawRow]:
        rows: list[RawRow] = []
        try:
            self._read_elements(rows, final=final)
        except FileProblem as problem:
            raise FileProblem(str(problem), rows) from None
        return rows

    def _read_elements(self, rows: list[RawRow], *, final: bool) -> None:
        text = self._buffer
        if self._ended:
            if text.strip():
                raise FileProblem("something follows the JSON array")
            self._buffer = ""
            return
        at = _skip_space(text, 0)
        if not self._started:
            if at == len(text):
                self._buffer = ""
                return
            if text[at] != "[":
                raise FileProblem("a JSON import is an array of customers: [{…}, {…}]")
            self._started = True
            at = _skip_space(text, at + 1)
        while not self._ended and at < len(text):
            resume = at  # where to go on from when the next element is not all here yet
            if text[at] == "]":
                self._ended = True
                at += 1
                break
            if self._count:
                if text[at] != ",":
                    raise FileProblem(f"after customer {self._count}: expected , or ] in the array")
                at = _skip_space(text, at + 1)
                if at == len(text):
                    at = resume
                    break
            try:
                value, end = self._decoder_json.raw_decode(text, at)
            except json.JSONDecodeError as error:
                if not final and len(text) - at <= MAX_ROW_BYTES:
                    at = resume  # the element goes on in the next chunk
                    break
                if error.pos >= len(text.rstrip()):
                    raise FileProblem(
                        f"the JSON array ends early (in customer {self._count + 1}): "
                        "is the file cut?"
                    ) from None
                raise FileProblem(
                    f"customer {self._count + 1} is not JSON: {error.msg} "
                    f"at character {self._position + error.pos + 1}"
                ) from None
            self._count += 1
            rows.append(
                RawRow(self._count, value)
                if isinstance(value, dict)
                else RawRow(self._count, None, "not a JSON object")
            )
            at = _skip_space(text, end)
        if self._ended and text[at:].strip():
            raise FileProblem("something follows the JSON array")
        self._position += at
        self._buffer = text[at:]


def _skip_space(text: str, at: int) -> int:
    while at < len(text) and text[at] in " \t\r\n":
        at += 1
    return at
