"""The generated event docs match the catalogue, and the AsyncAPI document hangs together."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args

import pytest
import yaml

from shared.events import CATALOGUE, docs, encode, new_event
from shared.events.codec import ErrorClass
from shared.events.complaint import ComplaintOpened
from shared.events.vocabulary import ComplaintCategory, Severity
from shared.settings import ConnectionSettings
from shared.topics import DLQ_SUFFIX, PRODUCT_TOPICS, all_topics

ROOT = docs.REPO_ROOT
FIX = f"run `{docs.REGENERATE}` and commit the result"


def resolve(document: Any, ref: str) -> Any:
    """The node a local JSON pointer (`#/a/b`) designates; KeyError if there is none."""
    assert ref.startswith("#/"), f"{ref} is not a reference inside the document"
    node = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def deref(document: Any, node: Any) -> Any:
    return resolve(document, node["$ref"]) if "$ref" in node else node


@pytest.fixture(scope="module")
def asyncapi() -> Any:
    return yaml.safe_load((ROOT / docs.ASYNCAPI_PATH).read_text("utf-8"))


@pytest.fixture
def fresh_copy(tmp_path: Path) -> Path:
    """A scratch repository root with freshly generated docs."""
    (tmp_path / docs.DOCS_DIR).mkdir()
    shutil.copy(ROOT / docs.EVENTS_MD_PATH, tmp_path / docs.EVENTS_MD_PATH)
    docs.apply(tmp_path, docs.plan(tmp_path))
    assert docs.stale(tmp_path) == []
    return tmp_path


# --------------------------------------------------------------------------- freshness


def test_generated_docs_match_the_catalogue() -> None:
    stale = docs.stale(ROOT)
    assert not stale, f"the event docs are stale; {FIX}:\n  " + "\n  ".join(stale)


def test_generation_is_deterministic() -> None:
    assert docs.render_yaml(docs.asyncapi_document()) == docs.render_yaml(docs.asyncapi_document())
    assert docs.schema_files() == docs.schema_files()


def test_a_schema_left_behind_by_a_removed_type_is_stale(fresh_copy: Path) -> None:
    leftover = docs.SCHEMAS_DIR / "crm.customer.vanished.v1.json"
    (fresh_copy / leftover).write_text("{}\n")
    assert docs.stale(fresh_copy) == [f"{leftover}: obsolete (type not in the catalogue)"]
    assert docs.main(["--check", "--root", str(fresh_copy)]) == 1

    assert docs.main(["--root", str(fresh_copy)]) == 0
    assert not (fresh_copy / leftover).exists()
    assert docs.stale(fresh_copy) == []


def test_removing_a_type_from_the_catalogue_makes_its_files_stale(fresh_copy: Path) -> None:
    removed = "crm.complaint.closed.v1"
    smaller = {name: spec for name, spec in CATALOGUE.items() if name != removed}
    assert docs.stale(fresh_copy, smaller) == [
        f"{docs.ASYNCAPI_PATH}: out of date",
        f"{docs.EVENTS_MD_PATH}: out of date",
        f"{docs.SCHEMAS_DIR / removed}.json: obsolete (type not in the catalogue)",
    ]


def test_hand_edits_and_missing_files_are_stale(fresh_copy: Path) -> None:
    schema = fresh_copy / docs.SCHEMAS_DIR / "crm.order.placed.v1.json"
    schema.write_text(schema.read_text().replace('"maxLength": 128', '"maxLength": 64'))
    events_md = fresh_copy / docs.EVENTS_MD_PATH
    events_md.write_text(events_md.read_text().replace("crm.order.returned.v1", "crm.x.y.v1"))
    (fresh_copy / docs.ASYNCAPI_PATH).unlink()
    assert docs.stale(fresh_copy) == [
        f"{docs.SCHEMAS_DIR / 'crm.order.placed.v1.json'}: out of date",
        f"{docs.ASYNCAPI_PATH}: missing",
        f"{docs.EVENTS_MD_PATH}: out of date",
    ]


def test_the_hand_written_part_of_events_md_is_kept(fresh_copy: Path) -> None:
    events_md = fresh_copy / docs.EVENTS_MD_PATH
    events_md.write_text(events_md.read_text().replace("# Events", "# Events, edited"))
    assert docs.stale(fresh_copy) == []
    events_md.write_text(events_md.read_text().replace(docs.CATALOGUE_END, ""))
    assert "catalogue:end" in docs.stale(fresh_copy)[0]


def test_events_md_lists_every_type_with_its_topic() -> None:
    text = (ROOT / docs.EVENTS_MD_PATH).read_text("utf-8")
    table = text.split(docs.CATALOGUE_START)[1].split(docs.CATALOGUE_END)[0]
    for event_type, spec in CATALOGUE.items():
        assert f"[`{event_type}`](schemas/{event_type}.json) | `{spec.topic.name}`" in table


# --------------------------------------------------------------------------- JSON Schemas


@pytest.mark.parametrize("event_type", sorted(CATALOGUE))
def test_each_json_schema_is_the_envelope_of_its_type(event_type: str) -> None:
    path = ROOT / docs.SCHEMAS_DIR / f"{event_type}.json"
    schema = json.loads(path.read_text("utf-8"))
    assert schema["$id"] == schema["title"] == event_type
    assert schema["$schema"] == docs.JSON_SCHEMA_DIALECT
    assert schema["properties"]["type"]["const"] == event_type
    assert {"id", "source", "type", "time", "subject", "specversion", "data"} <= set(
        schema["required"]
    )
    data = resolve(schema, schema["properties"]["data"]["$ref"])
    assert data["title"] == CATALOGUE[event_type].data.__name__
    for ref in refs(schema):
        resolve(schema, ref)


# --------------------------------------------------------------------------- AsyncAPI


def test_asyncapi_version_info_and_server(asyncapi: Any) -> None:
    assert asyncapi["asyncapi"] == "3.0.0"
    assert asyncapi["info"]["title"] == "customer-signals"
    description = asyncapi["info"]["description"]
    for phrase in ("binary mode", "structured mode", "application/cloudevents+json", "`id`"):
        assert phrase in description
    server = asyncapi["servers"][docs.SERVER_ID]
    assert (server["host"], server["protocol"]) == ("127.0.0.1:9092", "kafka")


def test_every_ref_resolves_inside_the_document(asyncapi: Any) -> None:
    unresolved = []
    for ref in refs(asyncapi):
        try:
            resolve(asyncapi, ref)
        except (KeyError, TypeError):
            unresolved.append(ref)
    assert not unresolved, f"unresolvable $refs: {sorted(set(unresolved))}"
    assert "$defs" not in json.dumps(asyncapi)


def test_every_topic_is_a_channel_with_its_kafka_binding(asyncapi: Any) -> None:
    channels = {channel["address"]: channel for channel in asyncapi["channels"].values()}
    assert set(channels) == {topic.name for topic in all_topics()}
    defaults = ConnectionSettings.model_fields
    for topic in all_topics():
        binding = channels[topic.name]["bindings"]["kafka"]
        assert binding["topic"] == topic.name
        assert binding["partitions"] == defaults["topic_partitions"].default == 12
        assert binding["replicas"] == defaults["topic_replication_factor"].default
        config = binding["topicConfiguration"]
        assert config["cleanup.policy"] == [topic.cleanup_policy]
        assert config["retention.ms"] == topic.retention_ms


def test_every_catalogue_type_is_a_message_on_its_topic_channel(asyncapi: Any) -> None:
    channels = {channel["address"]: channel for channel in asyncapi["channels"].values()}
    for event_type, spec in CATALOGUE.items():
        listed = channels[spec.topic.name]["messages"]
        assert event_type in listed, f"{event_type} is not a message of {spec.topic.name}"
        message = deref(asyncapi, listed[event_type])
        assert message["name"] == event_type
        assert message["contentType"] == "application/json"
        assert deref(asyncapi, message["payload"])["title"] == spec.data.__name__
        envelope = deref(asyncapi, message["x-structured-mode-payload"])
        assert envelope["properties"]["type"]["const"] == event_type
        headers = message["headers"]["allOf"]
        assert headers[1]["properties"]["ce_type"]["const"] == event_type
        key = deref(asyncapi, message["bindings"]["kafka"]["key"])
        assert key["type"] == "string"


def test_dlq_channels_carry_dead_letters_with_their_headers(asyncapi: Any) -> None:
    for channel in asyncapi["channels"].values():
        if not channel["address"].endswith(DLQ_SUFFIX):
            continue
        (listed,) = channel["messages"].values()
        headers = deref(asyncapi, deref(asyncapi, listed)["headers"])
        assert set(headers["required"]) == {
            "dlq_reason",
            "dlq_error_class",
            "dlq_error",
            "dlq_origin_topic",
            "dlq_origin_partition",
            "dlq_origin_offset",
            "dlq_consumer_group",
            "dlq_failed_at",
        }
        assert headers["properties"]["dlq_error_class"]["enum"] == list(get_args(ErrorClass))
        assert headers["additionalProperties"]  # the original headers are kept


def test_operations_publish_and_consume_every_product_topic(asyncapi: Any) -> None:
    actions: dict[str, set[str]] = {}
    for operation in asyncapi["operations"].values():
        channel_ref = operation["channel"]["$ref"]
        address = resolve(asyncapi, channel_ref)["address"]
        actions.setdefault(address, set()).add(operation["action"])
        for message in operation["messages"]:
            assert message["$ref"].startswith(channel_ref + "/messages/")
            resolve(asyncapi, message["$ref"])
    for topic in PRODUCT_TOPICS:
        assert actions[topic.name] == {"send", "receive"}


def test_binary_headers_schema_describes_what_the_codec_writes(asyncapi: Any) -> None:
    data = ComplaintOpened(
        complaint_id="CP-1", category=ComplaintCategory.DELIVERY, severity=Severity.HIGH, title="x"
    )
    event = new_event(
        data,
        subject="C-1",
        source="/services/complaint",
        time=datetime(2026, 11, 23, tzinfo=UTC),
        actor="agent:wang",
        correlation_id="req-1",
        sequence=3,
    )
    written = {name for name, _ in encode(event).headers}
    schema = asyncapi["components"]["schemas"][docs.HEADERS_SCHEMA]
    assert written == set(schema["properties"])
    assert set(schema["required"]) <= written
