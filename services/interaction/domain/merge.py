"""Merged and erased customers: where a customer id now points, and how merged facts move.

The customer archive merges duplicates (`crm.customer.merged.v1`: `subject` is the survivor,
`merged_ids` the ids that go) and erases customers (`crm.customer.erased.v1`). This service
keeps one small state per such customer id (`merged_into`, `erased`) and resolves every id it
is handed through it, following chains (A merged into B, B later into C: A resolves to C), so
facts arriving later for a merged id are recorded under the survivor, and facts for an erased
customer are refused. Merged facts keep their document ids (derived from the source's own ids),
so a repeat of a fact stored before the merge is still recognised as a duplicate after it.
No I/O happens here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from shared.mongo import Document

# A chain longer than this is a loop or corrupt state; resolution stops where it is.
MAX_HOPS = 16


class ErasedCustomer(ValueError):
    """A fact addressed to an erased customer: refused, never recorded."""

    def __init__(self, customer_id: str) -> None:
        super().__init__(f"customer {customer_id} was erased; no facts are recorded for it")
        self.customer_id = customer_id


@dataclass(frozen=True)
class CustomerState:
    """What this service knows about a customer id beyond its facts."""

    merged_into: str | None = None
    erased: bool = False


@dataclass(frozen=True)
class Resolution:
    """The id facts for a customer are recorded under, and whether that customer is erased."""

    customer_id: str
    erased: bool = False

    def merged_from(self, asked: str) -> bool:
        """True when `asked` was merged away (the resolution names another customer)."""
        return self.customer_id != asked


def resolve(customer_id: str, states: Mapping[str, CustomerState]) -> Resolution:
    """Where `customer_id` points now: itself, or the end of its merge chain.

    An erased id anywhere on the chain makes the resolution erased (facts for it are refused).
    A loop (which the archive never produces) ends at the first id seen twice.
    """
    current = customer_id
    seen = {current}
    for _ in range(MAX_HOPS):
        state = states.get(current)
        if state is None:
            break
        if state.erased:
            return Resolution(current, erased=True)
        if state.merged_into is None or state.merged_into in seen:
            break
        current = state.merged_into
        seen.add(current)
    return Resolution(current)


def merged_away(survivor: str, merged_ids: Iterable[str]) -> list[str]:
    """The ids a merge removes: `merged_ids` without the survivor, deduplicated, in order."""
    return [customer_id for customer_id in dict.fromkeys(merged_ids) if customer_id != survivor]


def rekeyed(doc: Document, survivor: str) -> Document:
    """The fields to set so a fact of a merged-away customer belongs to the survivor.

    `merged_from` keeps the id the fact was first recorded under (through chains too), so an
    erasure of that id can still find it.
    """
    return {
        "customer_id": survivor,
        "merged_from": doc.get("merged_from") or doc["customer_id"],
    }
