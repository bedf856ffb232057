"""Customer import and export: `POST /v1/customers:import`, `GET /v1/customers:export`.

An import reads the body as it arrives (CSV, JSON array or NDJSON; see `domain.transfer`),
validates each row like a create or PATCH, matches it by its external id (`erp` unless
`match` names another system) and creates, updates or leaves the customer — through the
same commands and store writes as POST and PATCH, so every change queues its event in the
outbox and its audit entry with the importing actor. Importing a file twice changes nothing
the second time. A bad row rejects only itself; a file that cannot be read at all (unknown
columns, not CSV/JSON, not UTF-8) is a 4xx before anything is written.

The report is answered when the whole file has been read: an HTTP/1.1 client usually reads
no answer before it has sent its whole body, so answering while reading could stall both
ends. Per-row results are spooled to a temporary file meanwhile (memory stays flat) and
streamed back.

An export streams the customers matching the list's filters, as CSV (re-importable) or
NDJSON (one customer per line, as the list shows it), contacts masked for those who may not
see them.
"""

from __future__ import annotations

import asyncio
import codecs
import json
import tempfile
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from enum import StrEnum
from typing import IO, Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import StringConstraints

from services.customer import commands
from services.customer.api.filters import FiltersDep
from services.customer.api.import_rows import ImportRow, Rejection, import_row
from services.customer.api.routes import StoreDep, public
from services.customer.api.schemas import CustomerCreate, ImportReport, ImportRowResult
from services.customer.domain import transfer
from services.customer.domain.record import external_keys, record_of
from services.customer.domain.transfer import FileProblem, RawRow
from services.customer.queries import SortKey, list_query
from services.customer.store import CustomerStore, DuplicateExternalId
from shared.auth import Actor, HidesContacts, Scope, requires
from shared.events import Event, utc_now
from shared.mongo import Document

router = APIRouter(prefix="/v1", tags=["customers"])

Reader = transfer.CsvReader | transfer.NdjsonReader | transfer.JsonArrayReader
READERS: dict[str, Callable[[str], Reader]] = {
    "text/csv": transfer.CsvReader,
    "application/json": transfer.JsonArrayReader,
    "application/x-ndjson": transfer.NdjsonReader,
    "application/ndjson": transfer.NdjsonReader,
}
# Rows are validated, then imported a window at a time: the window's new customers in one
# insert command, the others one by one, PARALLEL customers at once (a file's repeats of one
# customer stay in order). Well below FerretDB's 100 SQLite connections per database.
WINDOW = 64
PARALLEL = 8
ATTEMPTS = 5
SPOOL_IN_MEMORY = 1 << 20
EXPORT_CHUNK = 64 * 1024

MatchSystem = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]


class ExportFormat(StrEnum):
    CSV = "csv"
    NDJSON = "ndjson"


def _now() -> datetime:
    # Mongo keeps milliseconds: answer what a later GET will read back.
    now = utc_now()
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _reader(content_type: str | None) -> Reader:
    media, _, parameters = (content_type or "").partition(";")
    make = READERS.get(media.strip().lower())
    if make is None:
        raise HTTPException(
            415,
            f"Content-Type {media.strip() or '(none)'} cannot be imported: send "
            f"{', '.join(READERS)}",
        )
    charset = "utf-8"
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip('"')
    try:
        codecs.lookup(charset)
    except LookupError:
        raise HTTPException(415, f"charset {charset!r} is unknown") from None
    return make(charset)


class _Report:
    """Counts, and per-row results spooled to a temporary file until the answer is sent."""

    def __init__(self, *, dry_run: bool, match: str) -> None:
        self.dry_run = dry_run
        self.match = match
        self.counts = {"created": 0, "updated": 0, "unchanged": 0, "rejected": 0}
        self.stopped: str | None = None
        self._spool: IO[bytes] = tempfile.SpooledTemporaryFile(  # noqa: SIM115 - closed once sent
            max_size=SPOOL_IN_MEMORY
        )
        self._empty = True

    @property
    def rows(self) -> int:
        return sum(self.counts.values())

    def add(self, result: ImportRowResult) -> None:
        self.counts[result.status] += 1
        self._spool.write(b"" if self._empty else b",\n")
        self._spool.write(result.model_dump_json().encode())
        self._empty = False

    def close(self) -> None:
        self._spool.close()

    def response(self) -> StreamingResponse:
        head = ImportReport(
            dry_run=self.dry_run, match=self.match, stopped=self.stopped, results=[], **self.counts
        ).model_dump_json()
        # The results array is the last field: stream the spool into it.
        opening = head.removesuffix('"results":[]}') + '"results":[\n'
        self._spool.seek(0)

        async def body() -> AsyncIterator[bytes]:
            try:
                yield opening.encode()
                while chunk := self._spool.read(EXPORT_CHUNK):
                    yield chunk
                yield b"\n]}\n"
            finally:
                self.close()

        return StreamingResponse(body(), media_type="application/json")


def _rejected(rejection: Rejection) -> ImportRowResult:
    return ImportRowResult(
        row=rejection.row,
        status="rejected",
        external_id=rejection.external_id,
        field=rejection.field,
        reason=rejection.reason,
    )


class _Importer:
    """Imports valid rows: matches each by its external id, then creates or updates."""

    def __init__(
        self, store: CustomerStore, *, actor: str | None, dry_run: bool, match: str
    ) -> None:
        self.store = store
        self.actor = actor
        self.dry_run = dry_run
        self.match = match
        self._parallel = asyncio.Semaphore(PARALLEL)

    async def window(self, rows: list[ImportRow | Rejection]) -> list[ImportRowResult]:
        """Results of a window of rows, in row order."""
        results = [_rejected(row) for row in rows if isinstance(row, Rejection)]
        by_customer: dict[str, list[ImportRow]] = {}
        for row in rows:
            if isinstance(row, ImportRow):
                by_customer.setdefault(row.key, []).append(row)
        keys = list(by_customer)
        holders = dict(
            zip(keys, await asyncio.gather(*(self._holder(key) for key in keys)), strict=True)
        )
        if not self.dry_run:
            results += await self._create_new(by_customer, holders)
        for done in await asyncio.gather(
            *(self._in_order(same, holders[key]) for key, same in by_customer.items())
        ):
            results.extend(done)
        return sorted(results, key=lambda result: result.row)

    async def _holder(self, key: str) -> str | None:
        async with self._parallel:
            return await self.store.key_holder(key)

    async def _create_new(
        self, by_customer: dict[str, list[ImportRow]], holders: dict[str, str | None]
    ) -> list[ImportRowResult]:
        """Create the window's new customers in two commands (their keys, then them) rather
        than two writes each; takes their rows out of `by_customer`. A customer whose key turns
        out to be taken is left there, for `row` to match again or refuse with the reason."""
        now = _now()
        results: list[ImportRowResult] = []
        new: list[tuple[ImportRow, Document, list[Event[Any]], Document]] = []
        for key, holder in holders.items():
            if holder is not None:
                continue
            row = by_customer[key][0]
            fields = row.for_create()
            if isinstance(fields, Rejection):
                results.append(_rejected(fields))
                by_customer[key].pop(0)
                continue
            try:
                doc, created, audit = commands.create_customer(
                    fields, customer_id=commands.new_customer_id(), actor=self.actor, at=now
                )
            except ValueError:
                continue  # `row` refuses it with the reason
            new.append((row, doc, [created], audit))
        reservations = [
            (key, doc["_id"])
            for _, doc, _, _ in new
            for key in sorted(external_keys(doc["external_ids"]))
        ]
        taken = await self.store.reserve_new_keys(reservations, now=now)
        losers = {reservations[index][1] for index in taken}
        await asyncio.gather(
            *(
                self.store.release_keys([key], owner)
                for index, (key, owner) in enumerate(reservations)
                if owner in losers and index not in taken
            )
        )
        winners = [entry for entry in new if entry[1]["_id"] not in losers]
        await self.store.insert_many([(doc, events, audit) for _, doc, events, audit in winners])
        for row, doc, _, _ in winners:
            by_customer[row.key].pop(0)
            results.append(self._result(row, "created", doc["_id"]))
        return results

    async def _in_order(self, rows: list[ImportRow], holder: str | None) -> list[ImportRowResult]:
        """One customer's rows in file order; `holder` (its id, when already looked up) spares
        the first row a lookup."""
        async with self._parallel:
            return [
                await self.row(row, holder=holder if index == 0 else None)
                for index, row in enumerate(rows)
            ]

    async def row(self, row: ImportRow, *, holder: str | None = None) -> ImportRowResult:
        for _ in range(ATTEMPTS):
            if holder is None:
                holder = await self.store.key_holder(row.key)
            doc = None if holder is None else await self.store.get(holder)
            holder = None  # a retry looks again
            if doc is None:
                outcome = await self._create(row)
            else:
                outcome = await self._update(row, doc)
            if outcome is not None:
                return outcome
        return _rejected(
            Rejection(
                row.row,
                f"external_ids.{row.system}",
                f"the customer with {row.system} code {row.external_id} was being written by "
                "someone else meanwhile; import the row again",
                row.external_id,
            )
        )

    def _result(self, row: ImportRow, status: str, customer_id: str | None) -> ImportRowResult:
        return ImportRowResult(
            row=row.row, status=status, external_id=row.external_id, customer_id=customer_id
        )

    def _refused(self, row: ImportRow, field: str | None, reason: str) -> ImportRowResult:
        return _rejected(Rejection(row.row, field, reason, row.external_id))

    async def _create(self, row: ImportRow) -> ImportRowResult | None:
        fields = row.for_create()
        if isinstance(fields, Rejection):
            return _rejected(fields)
        now = _now()
        customer_id = commands.new_customer_id()
        try:
            doc, created, audit = commands.create_customer(
                fields, customer_id=customer_id, actor=self.actor, at=now
            )
        except ValueError as error:  # refused by the event contract
            return self._refused(row, None, str(error))
        keys = external_keys(doc["external_ids"])
        if self.dry_run:
            clash = await self._clash(row, keys - {row.key}, customer_id)
            return clash or self._result(row, "created", None)
        try:
            await self.store.reserve_keys(keys, customer_id, now=now)
        except DuplicateExternalId as error:
            if error.key == row.key:
                return None  # created meanwhile: match it again
            return self._refused(row, f"external_ids.{error.system}", str(error))
        await self.store.insert(doc, [created], audit)
        return self._result(row, "created", customer_id)

    async def _update(self, row: ImportRow, doc: Document) -> ImportRowResult | None:
        customer_id = doc["_id"]
        if doc.get("erased_at") is not None:
            # The person asked to be forgotten: an old file must not bring their data back.
            return self._refused(
                row, None, f"customer {customer_id} was erased; its data is not imported again"
            )
        if doc.get("deleted_at") is not None:
            return self._refused(
                row,
                f"external_ids.{row.system}",
                f"belongs to customer {customer_id}, which was deleted",
            )
        if doc.get("merged_into") is not None:
            return self._refused(
                row,
                f"external_ids.{row.system}",
                f"customer {customer_id} was merged into {doc['merged_into']}; import the row "
                "again in a moment",
            )
        now = _now()
        patch = transfer.import_patch(record_of(doc), row.fields)
        try:
            change = commands.update_customer(doc, patch, actor=self.actor, at=now)
        except ValueError as error:
            return self._refused(row, None, str(error))
        if change is None:
            return self._result(row, "unchanged", customer_id)
        if self.dry_run:
            clash = await self._clash(row, change.reserved_keys, customer_id)
            return clash or self._result(row, "updated", customer_id)
        try:
            await self.store.reserve_keys(change.reserved_keys, customer_id, now=now)
        except DuplicateExternalId as error:
            return self._refused(row, f"external_ids.{error.system}", str(error))
        updated = await self.store.apply(customer_id, change, version=doc["version"], queued_at=now)
        if updated is None:  # changed meanwhile: read it again and recompute
            await self.store.release_keys(change.reserved_keys, customer_id)
            return None
        await self.store.release_keys(change.released_keys, customer_id)
        return self._result(row, "updated", customer_id)

    async def _clash(
        self, row: ImportRow, keys: frozenset[str] | set[str], customer_id: str
    ) -> ImportRowResult | None:
        """A dry run's stand-in for reserving keys: the first key another customer holds."""
        for key in sorted(keys):
            holder = await self.store.key_holder(key)
            if holder is not None and holder != customer_id:
                error = DuplicateExternalId(key, holder)
                return self._refused(row, f"external_ids.{error.system}", str(error))
        return None


_CSV_EXAMPLE = (
    "external_ids.erp,kind,name,name_latin,phones,emails,region,tags,key_account\r\n"
    "C001,organisation,中山凯达精细化工股份有限公司,Zhongshan Kaida Fine Chemical,"
    "0760-8888 1234;138 0013 8000,purchasing@kaida.example.cn,guangdong,aerosol;vip,true\r\n"
)
_IMPORT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The customers to import; rows must carry the `match` system's code",
        "content": {
            "text/csv": {"schema": {"type": "string"}, "example": _CSV_EXAMPLE},
            "application/json": {
                "schema": {
                    "type": "array",
                    "items": {"$ref": "#/components/schemas/CustomerCreate"},
                },
                "example": CustomerCreate.model_json_schema()["examples"],
            },
            "application/x-ndjson": {
                "schema": {"type": "string"},
                "example": (
                    '{"kind": "person", "name": "王伟", "external_ids": {"erp": "C002"}}\n'
                ),
            },
        },
    }
}
_REPORT_EXAMPLE = {
    "dry_run": False,
    "match": "erp",
    "created": 1,
    "updated": 1,
    "unchanged": 0,
    "rejected": 1,
    "stopped": None,
    "results": [
        {
            "row": 2,
            "status": "created",
            "external_id": "C001",
            "customer_id": "cus-1f…",
            "field": None,
            "reason": None,
        },
        {
            "row": 3,
            "status": "updated",
            "external_id": "C002",
            "customer_id": "cus-9a…",
            "field": None,
            "reason": None,
        },
        {
            "row": 4,
            "status": "rejected",
            "external_id": "C003",
            "customer_id": None,
            "field": "phones.0",
            "reason": "phones.0: Value error, 'call me' is not a phone number: …",
        },
    ],
}


async def _rows(request: Request, reader: Reader) -> AsyncIterator[RawRow]:
    async for chunk in request.stream():
        for row in reader.feed(chunk):
            yield row
    for row in reader.close():
        yield row


@router.post(
    "/customers:import",
    response_model=ImportReport,
    responses={
        200: {"content": {"application/json": {"example": _REPORT_EXAMPLE}}},
        415: {"description": "Not CSV, JSON or NDJSON, or an unknown charset"},
        422: {"description": "The file cannot be read (unknown columns, not an array, …)"},
    },
    summary="Import customers from CSV, JSON or NDJSON (matched by external id)",
    dependencies=[requires(Scope.CUSTOMERS_WRITE)],
    openapi_extra=_IMPORT_BODY,
)
async def import_customers(
    request: Request,
    store: StoreDep,
    actor: Actor,
    dry_run: Annotated[
        bool, Query(description="Validate and match every row, write nothing")
    ] = False,
    match: Annotated[
        MatchSystem, Query(description="The external-id system rows are matched by")
    ] = "erp",
) -> Response:
    """One result per row: `created`, `updated` (something changed), `unchanged` or
    `rejected` (with the field and the reason). Rows are matched by `external_ids.<match>`;
    a row without it is rejected, since only it makes a second import of the file harmless.
    An existing customer gets the fields the row gives; its external ids and consent flags
    are added to, never removed. A file that breaks off midway keeps the rows before the
    break and says why in `stopped`."""
    reader = _reader(request.headers.get("content-type"))
    importer = _Importer(store, actor=actor, dry_run=dry_run, match=match)
    report = _Report(dry_run=dry_run, match=match)
    window: list[ImportRow | Rejection] = []

    async def flush() -> None:
        for result in await importer.window(window):
            report.add(result)
        window.clear()

    try:
        try:
            async for raw in _rows(request, reader):
                window.append(import_row(raw, system=match))
                if len(window) >= WINDOW:
                    await flush()
        except FileProblem as problem:
            window += [import_row(raw, system=match) for raw in problem.rows]
            if report.rows == 0 and not window:
                raise HTTPException(422, f"the file cannot be imported: {problem}") from None
            report.stopped = f"{problem}; the rest of the file was not read"
        await flush()
    except BaseException:
        report.close()
        raise
    return report.response()


@router.get(
    "/customers:export",
    responses={
        200: {
            "description": "The customers, streamed",
            "content": {
                "text/csv": {"example": "\ufeff" + _CSV_EXAMPLE},
                "application/x-ndjson": {
                    "example": '{"id": "cus-1f…", "version": 3, "kind": "organisation", …}\n'
                },
            },
        }
    },
    response_class=StreamingResponse,
    summary="Export the customers matching the list's filters as CSV or NDJSON",
    dependencies=[requires(Scope.CUSTOMERS_READ)],
)
async def export_customers(
    store: StoreDep,
    hide_contacts: HidesContacts,
    filters: FiltersDep,
    export_format: Annotated[ExportFormat, Query(alias="format")] = ExportFormat.CSV,
    sort: SortKey = SortKey.CREATED_AT,
) -> StreamingResponse:
    """Every live customer matching the filters (the list's), in `sort` order. CSV: UTF-8
    with a BOM (so spreadsheets read Chinese correctly), one `external_ids.<system>` column per
    system in use; it imports back unchanged. Contacts are masked for callers who may not see
    them, exactly as in the list."""
    query, order = list_query(filters.fields(), q=filters.q, sort=sort, cursor=None)
    stamp = utc_now().strftime("%Y%m%dT%H%M%SZ")
    if export_format is ExportFormat.CSV:
        systems = await store.external_systems(query)  # asked now: a 503 before streaming
        columns = transfer.csv_columns(["erp", *sorted(systems - {"erp"})])
        head = "\ufeff" + transfer.csv_line(columns)

        def line(customer: dict[str, Any]) -> str:
            return transfer.csv_line(transfer.cells_of_customer(customer, columns))

        media_type = "text/csv; charset=utf-8"
    else:
        head = ""

        def line(customer: dict[str, Any]) -> str:
            return json.dumps(customer, ensure_ascii=False) + "\n"

        media_type = "application/x-ndjson"

    async def body() -> AsyncIterator[bytes]:
        buffer = [head]
        size = len(head)
        async for doc in store.scan(query, order):
            text = line(public(doc, hide_contacts=hide_contacts).model_dump(mode="json"))
            buffer.append(text)
            size += len(text)
            if size >= EXPORT_CHUNK:
                yield "".join(buffer).encode()
                buffer, size = [], 0
        yield "".join(buffer).encode()

    filename = f"customers-{stamp}.{export_format.value}"
    return StreamingResponse(
        body(),
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
