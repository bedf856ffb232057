"""Merged and erased customers: resolution through chains, re-keying, readdressed facts."""

from __future__ import annotations

from datetime import UTC, datetime

from services.interaction.domain import activities
from services.interaction.domain.merge import (
    MAX_HOPS,
    CustomerState,
    ErasedCustomer,
    Resolution,
    merged_away,
    rekeyed,
    resolve,
)
from shared.events.vocabulary import Channel, Direction


def merged(into: str) -> CustomerState:
    return CustomerState(merged_into=into)


def test_an_unknown_id_resolves_to_itself() -> None:
    assert resolve("c-1", {}) == Resolution("c-1")
    assert not resolve("c-1", {}).merged_from("c-1")


def test_merge_chains_are_followed_to_the_end() -> None:
    states = {"a": merged("b"), "b": merged("c")}
    assert resolve("a", states) == Resolution("c")
    assert resolve("b", states) == Resolution("c")
    assert resolve("c", states) == Resolution("c")
    assert resolve("a", states).merged_from("a")


def test_an_erased_customer_on_the_chain_makes_the_resolution_erased() -> None:
    states = {"a": merged("b"), "b": CustomerState(erased=True)}
    assert resolve("a", states) == Resolution("b", erased=True)
    assert resolve("b", states) == Resolution("b", erased=True)
    # Erased after being merged away (the archive refuses that, but the state may say so).
    assert resolve("x", {"x": CustomerState(merged_into="y", erased=True)}).erased


def test_a_loop_ends_instead_of_spinning() -> None:
    states = {"a": merged("b"), "b": merged("a")}
    assert resolve("a", states) == Resolution("b")
    assert resolve("b", states) == Resolution("a")


def test_a_chain_longer_than_the_limit_stops_at_the_limit() -> None:
    states = {f"c{i}": merged(f"c{i + 1}") for i in range(MAX_HOPS + 5)}
    assert resolve("c0", states) == Resolution(f"c{MAX_HOPS}")


def test_merged_away_drops_the_survivor_and_repeats() -> None:
    assert merged_away("s", ["a", "s", "b", "a"]) == ["a", "b"]


def test_rekeyed_keeps_the_first_id_through_chains() -> None:
    assert rekeyed({"_id": "x", "customer_id": "a"}, "b") == {
        "customer_id": "b",
        "merged_from": "a",
    }
    assert rekeyed({"_id": "x", "customer_id": "b", "merged_from": "a"}, "c") == {
        "customer_id": "c",
        "merged_from": "a",
    }


def test_a_readdressed_fact_keeps_its_ids_and_names_the_survivor() -> None:
    fact = activities.record_interaction(
        activities.RecordInteraction(
            customer_id="a",
            channel=Channel.PHONE,
            direction=Direction.INBOUND,
            occurred_at=datetime(2025, 3, 1, tzinfo=UTC),
            source_system="cc",
            external_id="call-1",
        ),
        received_at=datetime(2025, 3, 1, 1, tzinfo=UTC),
    )
    moved = activities.readdressed(fact, "b")
    assert moved.id == fact.id
    assert moved.event.id == fact.event.id
    assert moved.document["customer_id"] == "b"
    assert moved.document["merged_from"] == "a"
    assert moved.event.subject == "b"
    assert fact.document["customer_id"] == "a"  # the original is untouched
    assert activities.readdressed(fact, "a") is fact


def test_erased_customer_error_names_the_customer() -> None:
    error = ErasedCustomer("c-9")
    assert error.customer_id == "c-9"
    assert "c-9" in str(error) and "erased" in str(error)
