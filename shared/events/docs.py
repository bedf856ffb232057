"""Documentation generated from the event catalogue: JSON Schemas, AsyncAPI, the catalogue table.

    python -m shared.events.docs           # write or refresh the generated files
    python -m shared.events.docs --check   # exit 1 and list the files that are stale

Generated (never edit them by hand; change the models or the catalogue and regenerate):

- ``docs/schemas/<event type>.json``: one JSON Schema per event type, the full CloudEvents
  envelope ``Event[<Data>]`` (what a structured-mode value must look like);
- ``docs/asyncapi.yaml``: an AsyncAPI 3.0.0 document with every topic of
  :func:`shared.topics.all_topics` as a channel and every catalogue type as a message;
- the event table in ``docs/events.md`` between the ``catalogue:start/end`` markers (the rest
  of that page is written by hand).

Everything here is a pure function of the catalogue and the topic registry, and the output is
deterministic (fixed construction order, sorted where order carries no meaning, no
timestamps), so ``tests/unit/events/test_docs_fresh.py`` can compare byte for byte.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import TypeAdapter
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from shared.events.catalogue import CATALOGUE, EventSpec
from shared.events.codec import BINARY_CONTENT_TYPE, CE_PREFIX, STRUCTURED_CONTENT_TYPE, ErrorClass
from shared.events.envelope import CustomerId, Event, EventData
from shared.settings import ConnectionSettings
from shared.topics import DAY_MS, DLQ_SUFFIX, FOREVER, PRODUCT_TOPICS, TopicSpec, all_topics

JsonObject = dict[str, Any]
Catalogue = Mapping[str, EventSpec]

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCS_DIR = Path("docs")
SCHEMAS_DIR = DOCS_DIR / "schemas"
ASYNCAPI_PATH = DOCS_DIR / "asyncapi.yaml"
EVENTS_MD_PATH = DOCS_DIR / "events.md"
CATALOGUE_START = "<!-- catalogue:start -->"
CATALOGUE_END = "<!-- catalogue:end -->"
REGENERATE = "python -m shared.events.docs"

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING_VERSION = "0.5.0"
# The version of the contract set this document describes. Within a `.vN` type schemas only
# grow (additive, optional fields); a breaking change is a new type, not a new major here.
DOCUMENT_VERSION = "1.0.0"
SERVER_ID = "kafka"

# Pydantic's JSON Schema mode. "validation" describes what the consumer's model *accepts*, i.e.
# what a producer must satisfy: defaulted fields are optional and a Decimal may be a JSON
# number or a string. "serialization" would describe what *our* producers happen to write
# (Decimal as a string only, defaulted fields always present), which is narrower than the
# contract and would wrongly tell external producers that optional fields are required.
SCHEMA_MODE: JsonSchemaMode = "validation"

# Attributes that travel as `ce_<name>` headers in binary mode, in envelope order: every
# envelope field except the data itself and `datacontenttype` (which maps to `content-type`).
BINARY_ATTRIBUTES: tuple[str, ...] = tuple(
    name for name in Event.model_fields if name not in ("data", "datacontenttype")
)
# CloudEvents requires `specversion`, and the codec relies on it (binary mode is recognised by
# `ce_specversion`, structured mode needs a `specversion` member); the model only defaults it
# for the convenience of `new_event`, so the published schemas list it as required.
ALWAYS_REQUIRED = ("specversion",)

# The Kafka channel binding's topicConfiguration accepts only these keys (binding 0.5.0);
# other topic settings are listed in the channel description instead.
BINDING_TOPIC_CONFIG_KEYS = (
    "cleanup.policy",
    "retention.ms",
    "retention.bytes",
    "delete.retention.ms",
    "max.message.bytes",
)

HEADERS_SCHEMA = "CloudEventsBinaryHeaders"
DLQ_HEADERS_SCHEMA = "DeadLetterHeaders"
KEY_SCHEMA = "CustomerKey"
DEAD_LETTER_MESSAGE = "deadLetter"
TOMBSTONE_MESSAGE = "tombstone"
EXTERNAL_MESSAGE = "externalEvent"

DLQ_HEADERS: tuple[tuple[str, JsonObject], ...] = (
    ("dlq_reason", {"type": "string", "maxLength": 2000, "description": "Why, in words"}),
    (
        "dlq_error_class",
        {
            "type": "string",
            "enum": list(get_args(ErrorClass)),
            "description": "Stable class of the failure; `python -m shared.dlq replay "
            "--error-class` selects by it",
        },
    ),
    (
        "dlq_error",
        {
            "type": "string",
            "description": "Exception class name: `PoisonMessage` for decoding failures, the "
            "handler's exception class for `handler_error`",
        },
    ),
    ("dlq_origin_topic", {"type": "string", "description": "Topic the message was read from"}),
    ("dlq_origin_partition", {"type": "string", "pattern": "^[0-9]+$"}),
    ("dlq_origin_offset", {"type": "string", "pattern": "^[0-9]+$"}),
    ("dlq_consumer_group", {"type": "string", "description": "The consumer that gave up"}),
    (
        "dlq_failed_at",
        {"type": "string", "format": "date-time", "description": "When it was dead-lettered"},
    ),
)


# --------------------------------------------------------------------------- JSON Schemas


def _unsummarised(spec: EventSpec) -> bool:
    """True when the data model has no docstring (`summary` then is just the type)."""
    return spec.summary == spec.event_type


def _pin_envelope(schema: JsonObject, event_type: str) -> None:
    """Narrow a generic envelope schema to one event type (in place)."""
    properties = schema["properties"]
    properties["type"] = {**properties["type"], "const": event_type}
    required: list[str] = schema.setdefault("required", [])
    required.extend(name for name in ALWAYS_REQUIRED if name not in required)


def event_schema(spec: EventSpec) -> JsonObject:
    """The JSON Schema of one event type: its whole CloudEvents envelope, self-contained."""
    schema = spec.event_model.model_json_schema(mode=SCHEMA_MODE)
    _pin_envelope(schema, spec.event_type)
    summary = "" if _unsummarised(spec) else spec.summary + "\n\n"
    schema.update(
        {
            "$schema": JSON_SCHEMA_DIALECT,
            "$id": spec.event_type,
            "title": spec.event_type,
            "description": (
                f"{summary}CloudEvents 1.0 envelope of `{spec.event_type}` "
                f"(data: {spec.data.__module__}.{spec.data.__name__}) on topic "
                f"{spec.topic.name}. Structured mode ({STRUCTURED_CONTENT_TYPE}): this object "
                f"is the Kafka value. Binary mode: the attributes are `{CE_PREFIX}*` headers "
                f"and the value is `data` alone ({BINARY_CONTENT_TYPE})."
            ),
        }
    )
    return schema


def render_json(schema: JsonObject) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def schema_files(catalogue: Catalogue = CATALOGUE) -> dict[Path, str]:
    """`docs/schemas/<type>.json` → content, for every catalogue type."""
    return {
        SCHEMAS_DIR / f"{event_type}.json": render_json(event_schema(spec))
        for event_type, spec in sorted(catalogue.items())
    }


# --------------------------------------------------------------------------- AsyncAPI


def _camel(*words: str) -> str:
    parts = [part for word in words for part in re.split(r"[^A-Za-z0-9]+", word) if part]
    return parts[0].lower() + "".join(part[:1].upper() + part[1:] for part in parts[1:])


def channel_id(topic: TopicSpec) -> str:
    """`crm.ingest.contact-center.v1` → `crmIngestContactCenterV1`."""
    return _camel(topic.name)


def _prose(*paragraphs: str) -> str:
    """Paragraphs wrapped for reading (YAML writes multi-line text as a literal block)."""
    return "\n\n".join(
        textwrap.fill(paragraph, width=92, break_long_words=False, break_on_hyphens=False)
        for paragraph in paragraphs
        if paragraph
    )


def _ref(*path: str) -> JsonObject:
    escaped = (part.replace("~", "~0").replace("/", "~1") for part in path)
    return {"$ref": "#/" + "/".join(escaped)}


def _duration(ms: int) -> str:
    if ms == FOREVER:
        return "forever"
    if ms % DAY_MS == 0:
        days = ms // DAY_MS
        return f"{days} day" + ("" if days == 1 else "s")
    return f"{ms} ms"


def _default(field: str) -> Any:
    return ConnectionSettings.model_fields[field].default


def _all_models(catalogue: Catalogue) -> tuple[dict[str, JsonObject], dict[str, tuple[str, str]]]:
    """Every data model and envelope with their nested models, refs pointing into components.

    pydantic generates all models in one pass (`models_json_schema`), which gives each nested
    model one unique name across the whole document (module-qualified where two share a name)
    and writes every `$ref` as `#/components/schemas/<name>`, so no `$defs` remain. Returns the
    schemas and, per event type, the names of its data and envelope schemas.
    """
    inputs: list[tuple[type[Any], JsonSchemaMode]] = []
    for spec in catalogue.values():
        inputs += [(spec.data, SCHEMA_MODE), (spec.event_model, SCHEMA_MODE)]
    key_map, top = models_json_schema(inputs, ref_template="#/components/schemas/{model}")

    def name(model: type[Any]) -> str:
        ref: str = key_map[(model, SCHEMA_MODE)]["$ref"]
        return ref.rsplit("/", 1)[-1]

    schemas: dict[str, JsonObject] = dict(top.get("$defs", {}))
    names: dict[str, tuple[str, str]] = {}
    for event_type, spec in catalogue.items():
        names[event_type] = (name(spec.data), name(spec.event_model))
        envelope = schemas[name(spec.event_model)]
        _pin_envelope(envelope, event_type)
        envelope["title"] = event_type
        envelope["description"] = (
            f"Structured-mode CloudEvent `{event_type}`: the attributes and `data` in one JSON "
            "object."
        )
    return schemas, names


def component_schemas(catalogue: Catalogue = CATALOGUE) -> dict[str, JsonObject]:
    """components.schemas: the event models plus the header and key schemas, sorted by name."""
    schemas, _ = _all_models(catalogue)
    extra = {
        HEADERS_SCHEMA: headers_schema(),
        DLQ_HEADERS_SCHEMA: dead_letter_headers_schema(),
        KEY_SCHEMA: {
            **TypeAdapter(CustomerId).json_schema(),
            "description": "The customer id as UTF-8 (equals the CloudEvents `subject`)",
        },
    }
    clash = set(extra) & set(schemas)
    if clash:
        raise ValueError(f"schema names {sorted(clash)} are taken by event models")
    schemas.update(extra)
    return dict(sorted(schemas.items()))


def headers_schema() -> JsonObject:
    """The `ce_*` headers of a binary-mode record, derived from the envelope model."""
    envelope = Event[EventData].model_json_schema(mode=SCHEMA_MODE)
    properties: JsonObject = {}
    for name in BINARY_ATTRIBUTES:
        source: JsonObject = envelope["properties"][name]
        variants = [v for v in source.get("anyOf", [source]) if v.get("type") != "null"]
        header = {k: v for k, v in variants[0].items() if k not in ("title", "default")}
        if header.get("type") == "integer":  # headers are text: the decimal digits
            header = {"type": "string", "pattern": "^[0-9]+$"}
        if "description" in source:
            header["description"] = source["description"]
        properties[CE_PREFIX + name] = header
    properties["content-type"] = {
        "type": "string",
        "const": BINARY_CONTENT_TYPE,
        "description": "The CloudEvents `datacontenttype`; always set by the product",
    }
    required = [*envelope["required"], *ALWAYS_REQUIRED]
    return {
        "type": "object",
        "description": _prose(
            "CloudEvents 1.0 Kafka binary mode: one UTF-8 header per attribute. Other headers "
            "may be present and are ignored."
        ),
        "properties": properties,
        "required": [CE_PREFIX + name for name in BINARY_ATTRIBUTES if name in required],
    }


def dead_letter_headers_schema() -> JsonObject:
    return {
        "type": "object",
        "description": _prose(
            "The dead-letter headers, added to the original message's headers (which are kept; "
            "`dlq_*` headers of an earlier dead-lettering are replaced)."
        ),
        "properties": dict(DLQ_HEADERS),
        "required": [name for name, _ in DLQ_HEADERS],
        "additionalProperties": {
            "type": "string",
            "description": "An original header (`ce_*`, `content-type`, …), unchanged",
        },
    }


def _topic_binding(topic: TopicSpec) -> tuple[JsonObject, list[str]]:
    """The Kafka channel binding, and the topic settings it has no field for."""
    config: JsonObject = {}
    other: list[str] = []
    for key, value in topic.config().items():
        if key not in BINDING_TOPIC_CONFIG_KEYS:
            other.append(f"`{key}={value}`")
        elif key == "cleanup.policy":
            config[key] = value.split(",")
        else:
            config[key] = int(value)
    binding: JsonObject = {
        "topic": topic.name,
        "partitions": _default("topic_partitions"),
        "replicas": _default("topic_replication_factor"),
        "topicConfiguration": config,
        "bindingVersion": KAFKA_BINDING_VERSION,
    }
    return binding, other


def _channel(topic: TopicSpec, messages: JsonObject) -> JsonObject:
    binding, other = _topic_binding(topic)
    facts = (
        f"Key: {topic.key}. Partitions: {binding['partitions']} (`CRM_TOPIC_PARTITIONS`). "
        f"Replicas: {binding['replicas']} locally, 3 in production "
        "(`CRM_TOPIC_REPLICATION_FACTOR`). "
        f"Cleanup: {topic.cleanup_policy}; retention: {_duration(topic.retention_ms)}."
    )
    if other:
        facts += " Also configured: " + ", ".join(other) + "."
    if topic.has_dlq:
        after = f"Consumers dead-letter what they cannot process to `{topic.dlq.name}`."
    elif topic.name.endswith(DLQ_SUFFIX):
        after = (
            f"Inspect and replay with `python -m shared.dlq inspect|replay {topic.name}`; "
            "replay republishes to the origin topic without the `dlq_*` headers."
        )
    else:
        after = ""
    return {
        "address": topic.name,
        "title": topic.name,
        "description": _prose(topic.description + ".", facts, after),
        "messages": messages,
        "bindings": {"kafka": binding},
    }


def _event_message(spec: EventSpec, data_schema: str, envelope_schema: str) -> JsonObject:
    message: JsonObject = {
        "name": spec.event_type,
        "title": spec.data.__name__,
    }
    if not _unsummarised(spec):
        message["summary"] = spec.summary
    message.update(
        {
            "description": _prose(
                f"Binary mode: the value is the data ({data_schema}) as JSON and the "
                f"attributes are `{CE_PREFIX}*` headers with `{CE_PREFIX}type: "
                f"{spec.event_type}`. The structured-mode envelope accepted on input is "
                f"{envelope_schema} (`x-structured-mode-payload`)."
            ),
            "contentType": BINARY_CONTENT_TYPE,
            "headers": {
                "allOf": [
                    _ref("components", "schemas", HEADERS_SCHEMA),
                    {
                        "type": "object",
                        "properties": {
                            f"{CE_PREFIX}type": {"type": "string", "const": spec.event_type}
                        },
                    },
                ]
            },
            "payload": _ref("components", "schemas", data_schema),
            "bindings": {
                "kafka": {
                    "key": _ref("components", "schemas", KEY_SCHEMA),
                    "bindingVersion": KAFKA_BINDING_VERSION,
                }
            },
            "x-structured-mode-payload": _ref("components", "schemas", envelope_schema),
        }
    )
    return message


def _fixed_messages() -> dict[str, JsonObject]:
    key_binding = {
        "kafka": {
            "key": _ref("components", "schemas", KEY_SCHEMA),
            "bindingVersion": KAFKA_BINDING_VERSION,
        }
    }
    return {
        DEAD_LETTER_MESSAGE: {
            "name": DEAD_LETTER_MESSAGE,
            "title": "Dead letter",
            "summary": "A message a consumer could not process, with why and where from.",
            "description": _prose(
                "Key, value and headers are the original message's, unchanged (an absent key "
                "or value becomes empty), plus the `dlq_*` headers. The value may not be JSON "
                "at all (that is one reason to be here), so it is described as bytes."
            ),
            "contentType": "application/octet-stream",
            "headers": _ref("components", "schemas", DLQ_HEADERS_SCHEMA),
            "payload": {"description": "The original value bytes, unchanged"},
            "bindings": {
                "kafka": {
                    "key": {"type": "string", "description": "The original key (customer id)"},
                    "bindingVersion": KAFKA_BINDING_VERSION,
                }
            },
        },
        TOMBSTONE_MESSAGE: {
            "name": TOMBSTONE_MESSAGE,
            "title": "Tombstone",
            "summary": "No value: compaction removes the customer's record.",
            "description": _prose(
                "Written after a customer is erased (`crm.customer.erased.v1`); consumers "
                "delete what they hold for the key. It has no headers and no CloudEvent."
            ),
            "payload": {"type": "null"},
            "bindings": key_binding,
        },
        EXTERNAL_MESSAGE: {
            "name": EXTERNAL_MESSAGE,
            "title": "External event",
            "summary": "A raw event from an external system, not (yet) in the event catalogue.",
            "description": _prose(
                "The consuming service validates it and dead-letters what it cannot use; "
                "CloudEvents in binary or structured mode are expected."
            ),
            "payload": {"type": "object"},
            "bindings": key_binding,
        },
    }


def _operation(
    action: str, topic: TopicSpec, message_keys: Sequence[str], *, catalogued: bool
) -> JsonObject:
    cid = channel_id(topic)
    name = topic.name
    summary: str
    description: str
    if name.endswith(DLQ_SUFFIX):
        origin = name.removesuffix(DLQ_SUFFIX)
        summary, description = {
            "send": (
                f"Dead-letter to {name}",
                f"Consumers of {origin} write what they cannot process here, with the "
                "`dlq_*` headers, and go on.",
            ),
            "receive": (
                f"Inspect and replay {name}",
                f"`python -m shared.dlq inspect {name}` lists dead letters; `python -m "
                f"shared.dlq replay {name}` republishes them to {origin}.",
            ),
        }[action]
    elif not catalogued:
        summary, description = {
            "send": (
                f"External systems publish to {name}",
                "Raw events from outside the product; the product's own services do not "
                "publish here.",
            ),
            "receive": (
                f"Validate {name}",
                "The product validates the raw events and dead-letters what it cannot use"
                + (f" to `{topic.dlq.name}`." if topic.has_dlq else "."),
            ),
        }[action]
    else:
        summary, description = {
            "send": (
                f"Publish to {name}",
                "The product's services publish with an idempotent producer (acks=all), at "
                "least once; state changes go through each entity's outbox.",
            ),
            "receive": (
                f"Consume {name}",
                "The product's services and downstream systems consume it: they dedupe by "
                "`id`, ignore unknown fields and the types they do not handle"
                + (f", and dead-letter poison to `{topic.dlq.name}`." if topic.has_dlq else "."),
            ),
        }[action]
    return {
        "action": action,
        "channel": _ref("channels", cid),
        "summary": summary,
        "description": _prose(description),
        "messages": [_ref("channels", cid, "messages", key) for key in message_keys],
    }


def asyncapi_document(catalogue: Catalogue = CATALOGUE) -> JsonObject:
    """The AsyncAPI 3.0.0 document of the whole product, as plain data."""
    _, names = _all_models(catalogue)
    by_topic: dict[str, list[EventSpec]] = {}
    for spec in catalogue.values():
        by_topic.setdefault(spec.topic.name, []).append(spec)

    messages: JsonObject = {}
    channels: JsonObject = {}
    channel_messages: dict[str, list[str]] = {}
    for topic in all_topics():
        keys: list[str] = []
        if topic.name.endswith(DLQ_SUFFIX):
            keys.append(DEAD_LETTER_MESSAGE)
        else:
            for spec in by_topic.get(topic.name, []):
                data_name, envelope_name = names[spec.event_type]
                messages[spec.event_type] = _event_message(spec, data_name, envelope_name)
                keys.append(spec.event_type)
            if not keys:
                keys.append(EXTERNAL_MESSAGE)
            if topic.cleanup_policy == "compact":
                keys.append(TOMBSTONE_MESSAGE)
        cid = channel_id(topic)
        if cid in channels:
            raise ValueError(f"two topics map to channel id {cid}")
        channels[cid] = _channel(topic, {key: _ref("components", "messages", key) for key in keys})
        channel_messages[cid] = keys
    fixed = _fixed_messages()
    for key in sorted({key for keys in channel_messages.values() for key in keys} & set(fixed)):
        messages[key] = fixed[key]

    operations: JsonObject = {}
    for topic in all_topics():
        keys = channel_messages[channel_id(topic)]
        for action in ("send", "receive"):
            operations[_camel(action, channel_id(topic))] = _operation(
                action, topic, keys, catalogued=topic.name in by_topic
            )

    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "customer-signals",
            "version": DOCUMENT_VERSION,
            "description": INFO_DESCRIPTION,
        },
        "defaultContentType": BINARY_CONTENT_TYPE,
        "servers": {
            SERVER_ID: {
                "host": _default("kafka_bootstrap_servers"),
                "protocol": "kafka",
                "title": "Local Kafka",
                "description": _prose(
                    "The local stack's broker (`python -m shared.stack up`): Apache Kafka 4.x, "
                    "KRaft, one node, auto-create off (topics come from shared/topics.py). "
                    "Elsewhere the brokers are `CRM_KAFKA_BOOTSTRAP_SERVERS`."
                ),
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": component_schemas(catalogue),
            "messages": dict(sorted(messages.items())),
        },
    }


INFO_DESCRIPTION = f"""\
The event contracts of customer-signals, generated from the event catalogue
(shared/events/catalogue.py) by `{REGENERATE}`; do not edit by hand.

**Envelope.** CloudEvents 1.0. The product writes Kafka **binary mode**: the attributes travel
as `{CE_PREFIX}*` headers (`ce_id`, `ce_source`, `ce_type`, `ce_time`, `ce_subject`,
`ce_specversion` and the extensions `ce_actor`, `ce_correlationid`, `ce_sequence`; UTF-8
text) and the value is the event's data as JSON, with `content-type: {BINARY_CONTENT_TYPE}`.
On input **structured mode** is accepted too: `content-type: {STRUCTURED_CONTENT_TYPE}` and
the whole envelope (attributes and `data`) as the JSON value. Message payloads below are the
binary-mode data; `x-structured-mode-payload` and docs/schemas/<type>.json give the envelope.

**Key.** The customer id (= `subject`) on every topic, so one customer's events stay in order
in one partition.

**Delivery.** At least once; every consumer dedupes by the CloudEvents `id`.

**Event time.** `time` is when it happened (RFC 3339 with an offset, normalised to UTC). Any
past time is accepted (backfills); more than a configurable skew ahead of the consumer's clock
is rejected to the DLQ as `event_time_in_future`.

**Evolution.** Within a version (`.v1`) a schema changes additively only: new optional
fields. Removing or renaming a field, changing its type or meaning, or making it required is a
breaking change and becomes a new type (`.v2`); consumers keep accepting the old version.
Consumers ignore fields they do not know.

**Poison.** A message a consumer cannot process (undecodable, schema-invalid, unknown type,
event time in the future, a handler that keeps failing) goes to `<topic>.dlq` with the reason
and origin in `dlq_*` headers, and the consumer goes on.
"""


class _Dumper(yaml.SafeDumper):
    """Block style, no anchors/aliases, multi-line strings as literal blocks."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def render_yaml(document: JsonObject) -> str:
    header = f"# Generated from shared/events/catalogue.py by `{REGENERATE}`; do not edit.\n"
    body = yaml.dump(
        document,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=100,
        indent=2,
    )
    return header + body


# --------------------------------------------------------------------------- events.md


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def catalogue_table(catalogue: Catalogue = CATALOGUE) -> str:
    """The Markdown table of every event type (what goes between the markers)."""
    rows = [
        "| type | topic | data model | summary |",
        "|---|---|---|---|",
    ]
    topic_order = {topic.name: index for index, topic in enumerate(PRODUCT_TOPICS)}
    # Topic by topic, and within a topic in catalogue order (which follows each workflow).
    specs = sorted(
        catalogue.values(), key=lambda spec: topic_order.get(spec.topic.name, len(topic_order))
    )
    for spec in specs:
        summary = (
            f"_no summary yet: give `{spec.data.__name__}` a docstring_"
            if _unsummarised(spec)
            else spec.summary
        )
        rows.append(
            f"| [`{spec.event_type}`](schemas/{spec.event_type}.json) | `{spec.topic.name}` "
            f"| `{spec.data.__module__}.{spec.data.__name__}` | {_cell(summary)} |"
        )
    return "\n".join(rows) + "\n"


class MarkersMissing(ValueError):
    """docs/events.md lacks the catalogue markers."""


def refresh_events_md(text: str, catalogue: Catalogue = CATALOGUE) -> str:
    """`text` with the generated table between the markers replaced by the current one."""
    start = text.find(CATALOGUE_START)
    end = text.find(CATALOGUE_END)
    if start < 0 or end < start:
        raise MarkersMissing(
            f"{EVENTS_MD_PATH} needs `{CATALOGUE_START}` followed by `{CATALOGUE_END}`"
        )
    head = text[: start + len(CATALOGUE_START)]
    return head + "\n" + catalogue_table(catalogue) + text[end:]


# --------------------------------------------------------------------------- files


@dataclass(frozen=True)
class Plan:
    """What the docs directory should contain, and what no longer belongs there."""

    files: dict[Path, str]
    obsolete: tuple[Path, ...]
    problems: tuple[str, ...]


def plan(root: Path = REPO_ROOT, catalogue: Catalogue = CATALOGUE) -> Plan:
    """Expected contents of every generated file under `root` (paths relative to it)."""
    files = schema_files(catalogue)
    files[ASYNCAPI_PATH] = render_yaml(asyncapi_document(catalogue))
    problems: list[str] = []
    events_md = root / EVENTS_MD_PATH
    if events_md.exists():
        try:
            files[EVENTS_MD_PATH] = refresh_events_md(events_md.read_text("utf-8"), catalogue)
        except MarkersMissing as error:
            problems.append(str(error))
    else:
        problems.append(f"{EVENTS_MD_PATH} is missing (it holds the generated catalogue table)")
    present = sorted((root / SCHEMAS_DIR).glob("*.json"))
    obsolete = tuple(
        path.relative_to(root) for path in present if path.relative_to(root) not in files
    )
    return Plan(files=files, obsolete=obsolete, problems=tuple(problems))


def stale(root: Path = REPO_ROOT, catalogue: Catalogue = CATALOGUE) -> list[str]:
    """One line per generated file that differs from what the catalogue produces now."""
    expected = plan(root, catalogue)
    lines = list(expected.problems)
    for relative, content in expected.files.items():
        path = root / relative
        if not path.exists():
            lines.append(f"{relative}: missing")
        elif path.read_text("utf-8") != content:
            lines.append(f"{relative}: out of date")
    lines += [f"{relative}: obsolete (type not in the catalogue)" for relative in expected.obsolete]
    return lines


def apply(root: Path, expected: Plan) -> list[str]:
    """Write what differs and remove obsolete schemas; one line per change."""
    changes: list[str] = []
    for relative, content in expected.files.items():
        path = root / relative
        if path.exists() and path.read_text("utf-8") == content:
            continue
        changes.append(f"{'updated' if path.exists() else 'created'} {relative}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, "utf-8")
    for relative in expected.obsolete:
        (root / relative).unlink()
        changes.append(f"removed {relative}")
    return changes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=REGENERATE, description="Generate the event docs from the catalogue."
    )
    parser.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 if any file is stale"
    )
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="the repository root")
    args = parser.parse_args(argv)
    root: Path = args.root
    if args.check:
        lines = stale(root)
        if lines:
            sys.stdout.write(f"stale event docs (run `{REGENERATE}`):\n")
            sys.stdout.writelines(f"  {line}\n" for line in lines)
            return 1
        sys.stdout.write("event docs are up to date\n")
        return 0
    expected = plan(root)
    changes = apply(root, expected)
    sys.stdout.writelines(f"{line}\n" for line in changes or ["event docs are up to date"])
    for problem in expected.problems:
        sys.stderr.write(f"error: {problem}\n")
    return 1 if expected.problems else 0


if __name__ == "__main__":
    sys.exit(main())
