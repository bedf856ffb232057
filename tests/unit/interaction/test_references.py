"""Customer references: recognised in subjects, derived from profiles, normalised alike."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from services.interaction.domain.references import (
    InvalidReference,
    reference_in,
    references_of,
    resolved,
)
from shared.events import new_event
from shared.events.customer import Contact, CustomerProfile
from shared.events.interaction import OrderPlaced
from shared.events.vocabulary import CustomerKind


def test_subjects_that_are_references() -> None:
    assert reference_in("phone:8613800000000") == "phone:+8613800000000"
    assert reference_in("phone:+86-138-0000-0000") == "phone:+8613800000000"
    assert reference_in("email:Li.Wei@Example.CN") == "email:li.wei@example.cn"
    assert reference_in("erp:K-1001") == "erp:K-1001"
    assert reference_in("cust-123") is None
    assert reference_in("crm:other") is None


@pytest.mark.parametrize("subject", ["phone:", "phone:abc", "phone:+86", "email:nobody", "erp:"])
def test_a_reference_scheme_with_an_unusable_value_is_refused(subject: str) -> None:
    with pytest.raises(InvalidReference, match="reference needs"):
        reference_in(subject)


def test_references_of_a_profile() -> None:
    profile = CustomerProfile(
        kind=CustomerKind.ORGANISATION,
        name="中山凯达",
        phones=("+8613800000000",),
        emails=("Buyer@Kaida.CN",),
        external_ids={"erp": "K-1001", "legacy": "x"},
        contacts=(Contact(name="王经理", phones=("+8613800000000", "+8613900000000")),),
    )
    assert references_of(profile) == [
        "phone:+8613800000000",
        "email:buyer@kaida.cn",
        "phone:+8613900000000",
        "erp:K-1001",
    ]


def test_resolved_event_keeps_everything_but_the_subject() -> None:
    event = new_event(
        OrderPlaced(order_id="SO-1", amount=Decimal(1)),
        subject="erp:K-1001",
        source="/erp",
        time=datetime(2026, 1, 1, tzinfo=UTC),
    )
    moved = resolved(event, "cust-9")
    assert moved.subject == "cust-9"
    assert (moved.id, moved.data, moved.time) == (event.id, event.data, event.time)
