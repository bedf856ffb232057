"""REST routes for customers: decode → command → store. No rules live here.

Writes (`PATCH`, `DELETE`, `merge`) need `If-Match` with the customer's current `ETag` (its
version): a stale one gets 412 and changes nothing, a missing one 428 (`*` opts out).
A soft-deleted customer answers 410. A merged customer's id keeps resolving: `GET` answers
200 with the survivor (chosen over a 308 so that readers need no redirect handling and a
merged id never silently redirects a write); writes to a merged id get 409 naming the
survivor. Erasure needs no `If-Match`: a legal obligation must not fail on an edit race.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse

from services.customer import commands
from services.customer.api.filters import FiltersDep
from services.customer.api.schemas import (
    CustomerCreate,
    CustomerHistory,
    CustomerPublic,
    CustomersPage,
    CustomerUpdate,
    DuplicateCandidate,
    DuplicateCandidates,
    EraseBody,
    HistoryEntry,
    MergeBody,
)
from services.customer.domain.dedupe import match_reasons
from services.customer.domain.record import external_keys, record_of
from services.customer.queries import (
    InvalidCursor,
    SortKey,
    duplicate_query,
    encode_cursor,
    list_query,
)
from services.customer.store import CustomerStore, DuplicateExternalId
from shared import concurrency
from shared.auth import Actor, HidesContacts, Scope, requires
from shared.events import utc_now
from shared.mongo import Document
from shared.privacy import mask_contact_fields

router = APIRouter(prefix="/v1/customers", tags=["customers"])


def get_store(request: Request) -> CustomerStore:
    store: CustomerStore = request.app.state.customers
    return store


StoreDep = Annotated[CustomerStore, Depends(get_store)]
IfMatch = Annotated[
    str | None,
    Header(description="The customer's current ETag (from GET); required for changes"),
]

_GUARDED: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such customer"},
    409: {"description": "An external id belongs to another customer"},
    410: {"description": "The customer was deleted"},
    412: {"description": "If-Match does not match the current ETag"},
    428: {"description": "If-Match missing"},
}


def _now() -> datetime:
    # Mongo keeps milliseconds: answer what a later GET will read back.
    now = utc_now()
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def etag(doc: Document) -> str:
    return concurrency.etag(doc["version"])


def public(doc: Document, *, hide_contacts: bool = False) -> CustomerPublic:
    record = mask_contact_fields(doc) if hide_contacts else doc
    return CustomerPublic.model_validate({**record, "id": doc["_id"]})


def _answer(doc: Document, *, status_code: int = 200, hide_contacts: bool = False) -> JSONResponse:
    return JSONResponse(
        public(doc, hide_contacts=hide_contacts).model_dump(mode="json"),
        status_code=status_code,
        headers={"ETag": etag(doc), "Location": f"/v1/customers/{doc['_id']}"},
    )


def _conflict(error: DuplicateExternalId) -> HTTPException:
    return HTTPException(
        409,
        {
            "field": f"external_ids.{error.system}",
            "reason": str(error),
            "customer_id": error.owner,
        },
    )


# Merges of merges: a merged id resolves through at most this many survivors.
_MAX_MERGE_HOPS = 10


async def _load(
    store: CustomerStore,
    customer_id: str,
    *,
    follow_merged: bool = False,
    allow_deleted: bool = False,
) -> Document:
    """The live customer; a merged one resolves to its survivor when `follow_merged`, and is
    otherwise refused with 409 naming the survivor (changes go to the survivor)."""
    for _ in range(_MAX_MERGE_HOPS):
        doc = await store.get(customer_id)
        if doc is None:
            raise HTTPException(404, f"no customer {customer_id}")
        if doc.get("deleted_at") is not None and not allow_deleted:
            raise HTTPException(410, f"customer {customer_id} was deleted")
        survivor = doc.get("merged_into")
        if survivor is None:
            return doc
        if not follow_merged:
            raise HTTPException(
                409,
                {
                    "reason": f"customer {customer_id} was merged into {survivor}",
                    "merged_into": survivor,
                },
            )
        customer_id = survivor
    raise HTTPException(409, f"customer {customer_id}: merge chain too long")


def _expected_version(doc: Document, if_match: str | None) -> int:
    return concurrency.expected_version(doc["version"], if_match, what="customer")


@router.post(
    "",
    status_code=201,
    response_model=CustomerPublic,
    responses={409: {"description": "An external id belongs to another customer"}},
    summary="Create a customer",
    dependencies=[requires(Scope.CUSTOMERS_WRITE)],
)
async def create_customer(body: CustomerCreate, store: StoreDep, actor: Actor) -> Response:
    """Adds a customer to the archive; emits `crm.customer.created.v1` in the same write."""
    now = _now()
    customer_id = commands.new_customer_id()
    doc, created, audit = commands.create_customer(
        body.record_fields(), customer_id=customer_id, actor=actor, at=now
    )
    keys = external_keys(doc["external_ids"])
    try:
        await store.reserve_keys(keys, customer_id, now=now)
    except DuplicateExternalId as error:
        raise _conflict(error) from error
    stored = await store.insert(doc, [created], audit)
    return _answer(stored, status_code=201)


@router.get(
    "",
    response_model=CustomersPage,
    summary="List and search customers",
    dependencies=[requires(Scope.CUSTOMERS_READ)],
)
async def list_customers(
    store: StoreDep,
    hide_contacts: HidesContacts,
    filters: FiltersDep,
    sort: SortKey = SortKey.CREATED_AT,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=1000)] = None,
) -> CustomersPage:
    """Customers matching every given filter; follow `next_cursor` for the next page."""
    try:
        query, order = list_query(filters.fields(), q=filters.q, sort=sort, cursor=cursor)
    except InvalidCursor as error:
        raise HTTPException(422, f"cursor: {error}") from error
    docs = await store.page(query, order, limit=limit + 1)
    more = len(docs) > limit
    docs = docs[:limit]
    return CustomersPage(
        items=[public(doc, hide_contacts=hide_contacts) for doc in docs],
        next_cursor=encode_cursor(docs[-1], sort) if more else None,
    )


@router.get(
    "/{customer_id}",
    response_model=CustomerPublic,
    responses={404: {"description": "No such customer"}, 410: {"description": "Deleted"}},
    summary="Get a customer (ETag = its version)",
    dependencies=[requires(Scope.CUSTOMERS_READ)],
)
async def get_customer(customer_id: str, store: StoreDep, hide_contacts: HidesContacts) -> Response:
    """A merged customer's id answers 200 with the survivor (its `id` differs from the one
    asked for; `Content-Location` names it), so merged ids keep resolving for readers."""
    doc = await _load(store, customer_id, follow_merged=True)
    response = _answer(doc, hide_contacts=hide_contacts)
    if doc["_id"] != customer_id:
        response.headers["Content-Location"] = f"/v1/customers/{doc['_id']}"
    return response


@router.patch(
    "/{customer_id}",
    response_model=CustomerPublic,
    responses=_GUARDED,
    summary="Change some fields (If-Match required)",
    dependencies=[requires(Scope.CUSTOMERS_WRITE)],
)
async def update_customer(
    customer_id: str,
    body: CustomerUpdate,
    store: StoreDep,
    actor: Actor,
    if_match: IfMatch = None,
) -> Response:
    """Only the fields sent change (lists and maps are replaced whole); emits
    `crm.customer.updated.v1` with the changed fields. A PATCH that changes nothing writes
    nothing and answers the customer as it is."""
    doc = await _load(store, customer_id)
    version = _expected_version(doc, if_match)
    now = _now()
    change = commands.update_customer(doc, body.record_fields(), actor=actor, at=now)
    if change is None:
        return _answer(doc)
    try:
        await store.reserve_keys(change.reserved_keys, customer_id, now=now)
    except DuplicateExternalId as error:
        raise _conflict(error) from error
    updated = await store.apply(customer_id, change, version=version, queued_at=now)
    if updated is None:
        await store.release_keys(change.reserved_keys, customer_id)
        current = await _load(store, customer_id)
        raise concurrency.changed_meanwhile(current["version"], what="customer")
    await store.release_keys(change.released_keys, customer_id)
    return _answer(updated)


@router.delete(
    "/{customer_id}",
    status_code=204,
    responses=_GUARDED,
    summary="Soft-delete a customer (If-Match required)",
    dependencies=[requires(Scope.CUSTOMERS_DELETE)],
)
async def delete_customer(
    customer_id: str,
    store: StoreDep,
    actor: Actor,
    if_match: IfMatch = None,
) -> Response:
    """Sets `deleted_at`: the customer leaves lists and searches and answers 410; its data
    and external ids stay (restorable by an admin; erasure is a separate command)."""
    doc = await _load(store, customer_id)
    version = _expected_version(doc, if_match)
    now = _now()
    change = commands.delete_customer(doc, actor=actor, at=now)
    if await store.apply(customer_id, change, version=version, queued_at=now) is None:
        raise HTTPException(412, "the customer changed meanwhile")
    return Response(status_code=204)


@router.get(
    "/{customer_id}/history",
    response_model=CustomerHistory,
    responses={404: {"description": "No such customer"}},
    summary="Audit history: who changed what, when, before and after",
    dependencies=[requires(Scope.CUSTOMERS_READ)],
)
async def customer_history(
    customer_id: str, store: StoreDep, hide_contacts: HidesContacts
) -> CustomerHistory:
    if await store.get(customer_id) is None:
        raise HTTPException(404, f"no customer {customer_id}")
    entries = await store.history(customer_id)  # a merged id's own history, up to the merge
    return CustomerHistory(
        customer_id=customer_id,
        entries=[
            HistoryEntry.model_validate(
                {**e, "id": e["_id"], "changes": _shown_changes(e, hide_contacts)}
            )
            for e in entries
        ],
    )


_CONTACT_FIELDS = {"phones", "emails", "contacts"}


def _shown_changes(entry: Document, hide_contacts: bool) -> list[Document]:
    """An audit entry's field changes, contact values masked for those who may not see them."""
    changes: list[Document] = entry.get("changes", [])
    if not hide_contacts:
        return changes
    return [
        {
            **change,
            **{
                side: mask_contact_fields({change["field"]: change.get(side)})[change["field"]]
                for side in ("before", "after")
                if change.get(side) is not None
            },
        }
        if change.get("field") in _CONTACT_FIELDS
        else change
        for change in changes
    ]


@router.get(
    "/{customer_id}/duplicates",
    response_model=DuplicateCandidates,
    responses={404: {"description": "No such customer"}},
    summary="Duplicate candidates (same phone, e-mail, external id, or similar name)",
    dependencies=[requires(Scope.CUSTOMERS_READ)],
)
async def duplicate_candidates(
    customer_id: str, store: StoreDep, hide_contacts: HidesContacts
) -> DuplicateCandidates:
    doc = await _load(store, customer_id, follow_merged=True)
    record = record_of(doc)
    query = duplicate_query(record, doc["_id"])
    others = [] if query is None else await store.page(query, [("_id", 1)], limit=50)
    candidates = [
        DuplicateCandidate(customer=public(other, hide_contacts=hide_contacts), reasons=reasons)
        for other in others
        if (reasons := match_reasons(record, record_of(other)))
    ]
    candidates.sort(key=lambda candidate: -len(candidate.reasons))
    return DuplicateCandidates(customer_id=doc["_id"], candidates=candidates)


@router.post(
    "/{customer_id}/merge",
    response_model=CustomerPublic,
    responses=_GUARDED | {422: {"description": "Merging a customer into itself"}},
    summary="Merge customers into this one (the survivor; If-Match required)",
    dependencies=[requires(Scope.CUSTOMERS_DELETE)],
)
async def merge_customers(
    customer_id: str,
    body: MergeBody,
    store: StoreDep,
    actor: Actor,
    if_match: IfMatch = None,
) -> Response:
    """The survivor keeps its values, fills its empty fields and unites its lists with the
    merged customers'; emits `crm.customer.merged.v1`. Merged ids then resolve to the
    survivor (`GET` answers the survivor; changes to them get 409). Retrying a merge that
    was interrupted is safe: customers already merged into this survivor add nothing."""
    survivor = await _load(store, customer_id)
    version = _expected_version(survivor, if_match)
    merged_ids = list(dict.fromkeys(body.merged_ids))
    if customer_id in merged_ids:
        raise HTTPException(422, "merged_ids: a customer cannot be merged into itself")
    absorbed = []
    for merged_id in merged_ids:
        doc = await store.get(merged_id)
        if doc is None:
            raise HTTPException(404, f"merged_ids: no customer {merged_id}")
        if doc.get("deleted_at") is not None:
            raise HTTPException(409, f"merged_ids: customer {merged_id} was deleted")
        if doc.get("merged_into") not in (None, customer_id):
            raise HTTPException(
                409, f"merged_ids: {merged_id} was merged into {doc['merged_into']}"
            )
        if doc.get("merged_into") is None:
            absorbed.append(doc)
    now = _now()
    change = commands.merge_customers(survivor, absorbed, merged_ids, actor=actor, at=now)
    updated = await store.apply(customer_id, change, version=version, queued_at=now)
    if updated is None:
        current = await _load(store, customer_id)
        raise concurrency.changed_meanwhile(current["version"], what="customer")
    # The survivor holds the data and the event is queued; now point the merged ones at it.
    # A crash here leaves some unmarked: retrying the merge marks them and adds nothing.
    for doc in absorbed:
        await _mark_merged(store, doc, customer_id, actor=actor)
    await store.transfer_keys(change.reserved_keys, customer_id)
    return _answer(updated)


async def _mark_merged(
    store: CustomerStore, doc: Document, survivor_id: str, *, actor: str | None
) -> None:
    for _ in range(5):
        now = _now()
        change = commands.mark_merged(doc, survivor_id, actor=actor, at=now)
        if await store.apply(doc["_id"], change, version=doc["version"], queued_at=now):
            return
        current = await store.get(doc["_id"])
        if current is None or current.get("merged_into") == survivor_id:
            return
        doc = current
    raise HTTPException(409, f"customer {doc['_id']} is changing too often; retry the merge")


@router.post(
    "/{customer_id}/erase",
    response_model=CustomerPublic,
    responses={
        404: {"description": "No such customer"},
        409: {"description": "Merged into another customer (erase the survivor)"},
    },
    summary="Erase personal data (personal-information law)",
    dependencies=[requires(Scope.CUSTOMERS_DELETE)],
)
async def erase_customer(
    customer_id: str,
    store: StoreDep,
    actor: Actor,
    body: EraseBody | None = None,
) -> Response:
    """Empties contacts, phones, e-mails, addresses, notes and consent (and a person's names),
    replaces them by `[erased]` in the audit history, and emits `crm.customer.erased.v1`.
    No If-Match: an erasure request must not fail because someone edited meanwhile."""
    for _ in range(5):
        # A soft-deleted customer's data is still there, so it can (and must) be erased too.
        doc = await _load(store, customer_id, allow_deleted=True)
        now = _now()
        pending = await store.pending_audit(customer_id)
        change = commands.erase_customer(
            doc, pending, reason=body.reason if body else None, actor=actor, at=now
        )
        updated = await store.apply(customer_id, change, version=doc["version"], queued_at=now)
        if updated is not None:
            await store.scrub_audit(customer_id, doc["kind"])
            return _answer(updated)
    raise HTTPException(409, "the customer is changing too often; retry")
