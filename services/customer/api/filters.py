"""The filters of the customer list, shared by the list and the export (same names, same
meaning): one declaration, so the two can never drift apart."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query

from shared.events.vocabulary import RelationshipStage, ValueTier


@dataclass(frozen=True)
class CustomerFilters:
    q: str | None
    grade_override: ValueTier | None
    tier: str | None
    tag: str | None
    owner: str | None
    region: str | None
    key_account: bool | None
    relationship_stage: RelationshipStage | None

    def fields(self) -> dict[str, Any]:
        """Field → wanted value, as `queries.list_query` takes them (None: any)."""
        return {
            "grade_override": self.grade_override and self.grade_override.value,
            "tier": self.tier,
            "tags": self.tag,
            "owner": self.owner,
            "region": self.region,
            "key_account": self.key_account,
            "relationship_stage": self.relationship_stage and self.relationship_stage.value,
        }


def customer_filters(
    q: Annotated[
        str | None,
        Query(
            max_length=100,
            description="Part of a name (Chinese or Latin), phone, e-mail or external id",
        ),
    ] = None,
    grade_override: ValueTier | None = None,
    tier: Annotated[str | None, Query(max_length=64)] = None,
    tag: Annotated[str | None, Query(max_length=64)] = None,
    owner: Annotated[str | None, Query(max_length=64)] = None,
    region: Annotated[str | None, Query(max_length=64)] = None,
    key_account: bool | None = None,
    relationship_stage: RelationshipStage | None = None,
) -> CustomerFilters:
    return CustomerFilters(
        q, grade_override, tier, tag, owner, region, key_account, relationship_stage
    )


FiltersDep = Annotated[CustomerFilters, Depends(customer_filters)]
