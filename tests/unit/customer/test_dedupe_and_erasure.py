"""Duplicate matching, merge rules and erasure — pure functions."""

from __future__ import annotations

from typing import Any

from services.customer.domain.dedupe import match_reasons, merged_record, name_core, similar_names
from services.customer.domain.erasure import ERASED, erased_record, scrubbed_changes
from services.customer.domain.record import new_record


def test_name_core_drops_legal_forms_punctuation_and_case() -> None:
    assert name_core("中山凯达精细化工股份有限公司") == "中山凯达精细化工"
    assert name_core("Kaida Co., Ltd.") == "kaida"
    assert name_core(" KAIDA  (Zhongshan) ") == "kaidazhongshan"
    assert name_core(None) == ""


def test_similar_names() -> None:
    assert similar_names("中山凯达精细化工股份有限公司", "中山凯达精细化工")
    assert similar_names("Kaida Co., Ltd.", "KAIDA")
    assert not similar_names("中山凯达", "佛山美联")
    assert not similar_names("公司", "有限公司")  # nothing left to compare


def test_match_reasons() -> None:
    a = new_record(
        {
            "kind": "organisation",
            "name": "凯达",
            "phones": ["+8613800138000"],
            "emails": ["a@x.cn"],
            "external_ids": {"erp": "C1"},
        }
    )
    b = new_record(
        {
            "kind": "organisation",
            "name": "凯达有限公司",
            "phones": ["+8613800138000", "+8613900000000"],
            "emails": ["b@x.cn"],
            "external_ids": {"erp": "C1", "tax": "9"},
        }
    )
    assert match_reasons(a, b) == ["phone:+8613800138000", "external_id:erp", "similar_name"]
    assert match_reasons(a, new_record({"kind": "person", "name": "王磊"})) == []


def test_merge_keeps_survivor_values_fills_gaps_and_unites_lists() -> None:
    survivor = new_record(
        {"kind": "organisation", "name": "凯达", "tags": ["a"], "external_ids": {"erp": "C1"}}
    )
    other = new_record(
        {
            "kind": "person",
            "name": "other",
            "tier": "first_tier",
            "tags": ["b", "a"],
            "key_account": True,
            "external_ids": {"erp": "C2", "tax": "9"},
        }
    )
    merged = merged_record(survivor, [other])
    assert (merged["kind"], merged["name"]) == ("organisation", "凯达")
    assert merged["tier"] == "first_tier"
    assert merged["tags"] == ["a", "b"]
    assert merged["key_account"] is True
    assert merged["external_ids"] == {"erp": "C1", "tax": "9"}


def test_erasure_of_a_person_and_of_an_organisation() -> None:
    person = new_record(
        {"kind": "person", "name": "王磊", "name_latin": "Wang Lei", "phones": ["+861"]}
    )
    erased = erased_record(person)
    assert (erased["name"], erased["name_latin"], erased["phones"]) == (ERASED, None, [])
    company = new_record({"kind": "organisation", "name": "凯达", "notes": "n", "tier": "t"})
    erased = erased_record(company)
    assert (erased["name"], erased["notes"], erased["tier"]) == ("凯达", None, "t")


def test_scrubbed_changes_hide_personal_values_only() -> None:
    changes: list[dict[str, Any]] = [
        {"field": "phones", "before": [], "after": ["+861"]},
        {"field": "name", "before": "凯达", "after": "凯达二"},
        {"field": "tier", "before": None, "after": "first_tier"},
    ]
    assert scrubbed_changes(changes, "organisation") == [
        {"field": "phones", "before": [], "after": ERASED},
        changes[1],
        changes[2],
    ]
    assert scrubbed_changes(changes, "person")[1] == {
        "field": "name",
        "before": ERASED,
        "after": ERASED,
    }
