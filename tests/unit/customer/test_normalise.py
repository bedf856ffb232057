"""Phone and e-mail normalisation: equal numbers and addresses come out equal."""

from __future__ import annotations

import pytest

from services.customer.domain.normalise import (
    InvalidValue,
    normalise_email,
    normalise_phone,
    phone_digits,
    unique_in_order,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13800138000", "+8613800138000"),
        ("138 0013 8000", "+8613800138000"),
        ("138-0013-8000", "+8613800138000"),
        ("+86 138 0013 8000", "+8613800138000"),
        ("8613800138000", "+8613800138000"),
        ("0086 138 0013 8000", "+8613800138000"),
        ("0760-8888 1234", "+8676088881234"),
        ("(021) 6123 4567", "+862161234567"),
        ("+86 (0)21 6123 4567", "+862161234567"),
        ("+1 415-555-0100", "+14155550100"),
        ("+44 20 7946 0958", "+442079460958"),
    ],
)
def test_phones_become_e164(raw: str, expected: str) -> None:
    assert normalise_phone(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["", "call me", "12345", "23800138000", "+0123456789", "+86 138 0013 8000 ext 5", "+1234"],
)
def test_garbage_phones_are_refused(raw: str) -> None:
    with pytest.raises(InvalidValue):
        normalise_phone(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Li.Na@Kaida.Example.CN", "li.na@kaida.example.cn"),
        ("  sales+cn@example.com ", "sales+cn@example.com"),
    ],
)
def test_emails_are_lower_cased(raw: str, expected: str) -> None:
    assert normalise_email(raw) == expected


@pytest.mark.parametrize(
    "raw", ["", "plain", "a@b", "a@@b.cn", "a b@c.cn", "a..b@c.cn", "a@b..cn", "@b.cn"]
)
def test_bad_emails_are_refused(raw: str) -> None:
    with pytest.raises(InvalidValue):
        normalise_email(raw)


def test_duplicates_collapse_keeping_order() -> None:
    assert unique_in_order(["+862", "+861", "+862"]) == ["+862", "+861"]


def test_phone_like_queries_give_their_digits() -> None:
    assert phone_digits("138-0013") == "1380013"
    assert phone_digits("+86 138") == "86138"
    assert phone_digits("凯达") is None
    assert phone_digits("123") is None
