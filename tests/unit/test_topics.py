from shared.topics import ALERTS, INTERACTION, PRODUCT_TOPICS, SCORES, all_topics


def test_every_product_topic_has_a_dlq_and_names_are_unique() -> None:
    names = [topic.name for topic in all_topics()]
    assert len(names) == len(set(names))
    for topic in PRODUCT_TOPICS:
        assert f"{topic.name}.dlq" in names


def test_scores_are_compacted_and_facts_kept_forever() -> None:
    assert SCORES.config()["cleanup.policy"] == "compact"
    assert INTERACTION.config() == {"cleanup.policy": "delete", "retention.ms": "-1"}
    assert int(ALERTS.config()["retention.ms"]) > 0


def test_dlq_of_dlq_is_refused() -> None:
    import pytest

    with pytest.raises(ValueError):
        _ = SCORES.dlq.dlq
