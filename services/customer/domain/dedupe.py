"""Duplicate detection and merge rules for customers.

Two customers are duplicate candidates when they share a normalised phone, e-mail or external
id, or when their names are alike once legal-form words and punctuation are set aside
(中山凯达精细化工股份有限公司 ≈ 中山凯达精细化工; "Kaida Co., Ltd." ≈ "KAIDA").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# Longest first, so 股份有限公司 goes before 有限公司 and 公司.
_LEGAL_FORMS = sorted(
    [
        "股份有限公司",
        "有限责任公司",
        "有限公司",
        "集团",
        "公司",
        "co., ltd.",
        "co.,ltd.",
        "co. ltd.",
        "co., ltd",
        "company limited",
        "limited",
        "ltd.",
        "ltd",
        "inc.",
        "inc",
        "corp.",
        "corporation",
        "gmbh",
        "co.",
    ],
    key=len,
    reverse=True,
)
_NOISE = re.compile(r"[\s\W_]+", re.UNICODE)


def name_core(name: str | None) -> str:
    """A name without legal-form words, punctuation and spacing, lower-cased."""
    if not name:
        return ""
    core = name.lower()
    for form in _LEGAL_FORMS:
        core = core.replace(form, " ")
    return _NOISE.sub("", core)


def similar_names(a: str | None, b: str | None) -> bool:
    """Alike when one name's core contains the other's (cores of at least 2 characters)."""
    core_a, core_b = name_core(a), name_core(b)
    if len(core_a) < 2 or len(core_b) < 2:
        return False
    return core_a in core_b or core_b in core_a


def match_reasons(record: Mapping[str, Any], other: Mapping[str, Any]) -> list[str]:
    """Why `other` may be the same customer as `record` (empty: it is not a candidate)."""
    reasons = []
    for phone in sorted(set(record.get("phones") or ()) & set(other.get("phones") or ())):
        reasons.append(f"phone:{phone}")
    for email in sorted(set(record.get("emails") or ()) & set(other.get("emails") or ())):
        reasons.append(f"email:{email}")
    ours = record.get("external_ids") or {}
    theirs = other.get("external_ids") or {}
    for system in sorted(set(ours) & set(theirs)):
        if ours[system] == theirs[system]:
            reasons.append(f"external_id:{system}")
    for name in ("name", "name_latin"):
        if similar_names(record.get(name), other.get(name)):
            reasons.append(f"similar_{name}")
    return reasons


_LISTS = ("contacts", "phones", "emails", "addresses", "segments", "tags")


def merged_record(survivor: Mapping[str, Any], others: list[Mapping[str, Any]]) -> dict[str, Any]:
    """The survivor's record after absorbing `others`.

    The survivor's values win; a field it leaves empty takes the first other value; lists are
    united (survivor's entries first, no repeats); external ids of systems the survivor lacks
    are taken over; key account if any of them is one.
    """
    result = dict(survivor)
    for other in others:
        for name, value in other.items():
            if name in _LISTS:
                merged = list(result.get(name) or [])
                merged += [item for item in value or () if item not in merged]
                result[name] = merged
            elif name == "external_ids":
                result[name] = {**(value or {}), **(result.get(name) or {})}
            elif name == "key_account":
                result[name] = bool(result.get(name)) or bool(value)
            elif result.get(name) in (None, "", {}) and value not in (None, "", {}):
                result[name] = value
    return result
