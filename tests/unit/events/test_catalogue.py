from shared.events import CATALOGUE, types_on
from shared.events.envelope import EventData
from shared.topics import PRODUCT_TOPICS, SCORES

REQUIRED = {
    "crm.customer.created.v1",
    "crm.customer.updated.v1",
    "crm.customer.merged.v1",
    "crm.customer.erased.v1",
    "crm.interaction.recorded.v1",
    "crm.order.placed.v1",
    "crm.order.cancelled.v1",
    "crm.order.returned.v1",
    "crm.complaint.opened.v1",
    "crm.complaint.acknowledged.v1",
    "crm.complaint.assigned.v1",
    "crm.complaint.escalated.v1",
    "crm.complaint.status_changed.v1",
    "crm.complaint.resolved.v1",
    "crm.complaint.reopened.v1",
    "crm.complaint.closed.v1",
    "crm.complaint.sla_breached.v1",
    "crm.survey.answered.v1",
    "crm.score.updated.v1",
    "crm.alert.churn_raised.v1",
}


def test_catalogue_has_every_required_type_each_on_a_product_topic() -> None:
    assert set(CATALOGUE) >= REQUIRED
    for event_type, spec in CATALOGUE.items():
        assert spec.event_type == event_type
        assert spec.topic in PRODUCT_TOPICS
        assert issubclass(spec.data, EventData)
        assert spec.data.model_config.get("frozen") is True


def test_scores_topic_carries_only_score_updates() -> None:
    assert [spec.event_type for spec in types_on(SCORES)] == ["crm.score.updated.v1"]
