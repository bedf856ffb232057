"""The customer record: audit diffs, patches, search text and the event profile."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from services.customer import commands
from services.customer.domain.record import (
    FieldChange,
    diff,
    external_keys,
    new_record,
    patched,
    profile,
    search_text,
)

AT = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def _record() -> dict[str, object]:
    return new_record(
        {
            "kind": "organisation",
            "name": "中山凯达",
            "name_latin": "Zhongshan Kaida",
            "phones": ["+8613800138000"],
            "emails": ["li.na@kaida.example.cn"],
            "external_ids": {"erp": "C001"},
            "tags": ["aerosol"],
            "share_of_volume": 0.35,
            "contacts": [{"name": "李娜", "phones": ["+8613900000001"], "emails": []}],
        }
    )


def test_new_record_fills_defaults() -> None:
    record = new_record({"kind": "person", "name": "王磊"})
    assert record["tags"] == []
    assert record["external_ids"] == {}
    assert record["key_account"] is False
    assert record["tier"] is None


def test_diff_lists_changed_fields_in_record_order_with_both_values() -> None:
    before = _record()
    after = patched(before, {"tier": "first_tier", "tags": ["aerosol", "vip"], "name": "中山凯达"})
    assert diff(before, after) == [
        FieldChange("tags", ["aerosol"], ["aerosol", "vip"]),
        FieldChange("tier", None, "first_tier"),
    ]
    assert diff(before, before) == []


def test_patch_refuses_unknown_fields() -> None:
    with pytest.raises(ValueError, match="not record fields"):
        patched(_record(), {"version": 7})


def test_search_text_holds_names_phones_emails_ids_and_contacts_lower_cased() -> None:
    text = search_text(_record())
    for part in ("中山凯达", "zhongshan kaida", "+8613800138000", "li.na@kaida", "c001", "李娜"):
        assert part in text
    assert "+8613900000001" in text


def test_external_keys() -> None:
    assert external_keys({"erp": "C001", "tax": "9144"}) == {"erp:C001", "tax:9144"}


def test_profile_maps_onto_the_event_contract() -> None:
    shared = profile(_record())
    assert shared.share_of_volume == Decimal("0.35")
    assert shared.contacts[0].name == "李娜"
    assert shared.external_ids == {"erp": "C001"}


def test_update_command_describes_the_change_and_the_keys() -> None:
    doc, created, audit = commands.create_customer(
        dict(_record()), customer_id="cus-1", actor="a", at=AT
    )
    assert created.type == "crm.customer.created.v1"
    assert audit["action"] == "created"
    assert {c["field"] for c in audit["changes"]} >= {"name", "phones", "external_ids"}
    change = commands.update_customer(
        doc, {"external_ids": {"erp": "C002"}, "owner": "wang"}, actor="b", at=AT
    )
    assert change is not None
    assert change.reserved_keys == {"erp:C002"}
    assert change.released_keys == {"erp:C001"}
    assert change.audit["version"] == 2
    assert change.events[0].data.changed_fields == ("external_ids", "owner")
    assert change.set["owner"] == "wang"
    assert commands.update_customer(doc, {"owner": None}, actor="b", at=AT) is None
