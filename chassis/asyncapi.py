"""The AsyncAPI 3.0 document of a service's Kafka side, from the same registrations that
drive its FastStream subscribers and its outbox: what it consumes (per subscription, the
event types it handles on each topic), what it publishes, and the dead-letter topics.

Written here rather than taken from FastStream's generator, because that one cannot say
what an outside institution needs to integrate from the document alone:
- each message is a CloudEvents 1.0 envelope (structured mode) with `subject`,
  `correlationid` and `causationid`, its `data` the event's schema;
- the Kafka key is the case id;
- a correlation id lives in the payload;
- the `.dlq` channels carry `dlq-*` headers;
- the rules by which a record is refused.

Channel ids are the topic names."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from contracts import CloudEvent, EventData
from contracts.topics import dead_letter_topic

KAFKA_BINDING = "0.5.0"
KEY_DESCRIPTION = (
    "The case id (the CloudEvent `subject`), so that one case's events keep their order on"
    " one partition. An event about no case (`SubmissionRejected`) is keyed by its own id;"
    " bank reports by instruction id; registry events may have no key."
)
DEAD_LETTER_REASONS = (
    "not_a_cloudevent",
    "rejection_failed",
    "unknown_event_type",
    "invalid_event_data",
    "handler_failed",
    "unprocessable",
    "blocked_by_earlier_dead_letter",
    "unknown_instruction",
)
RULES = """
## Conventions

- Every record is a CloudEvents 1.0 document in structured mode
  (`content-type: application/cloudevents+json`): `specversion`, `id`, `source`, `type`
  (`dost.<context>.<Name>.v<major>`), `subject` (the case id), `time`, `datacontenttype`,
  `data`, and the extensions `correlationid`, `causationid` and `traceparent`.
- Consumers also accept binary content mode: the attributes in `ce_*` headers, the data
  as the value.
- Money is a decimal string with two places (AZN); dates are `YYYY-MM-DD`, times are
  RFC 3339 with a zone.
- Delivery is at least once. `source` + `id` identify an event, and a repeated one has no
  second effect.

## What is refused, and how

A record a subscription cannot take goes to `<topic>.dlq`, with the original bytes, key
and headers, plus `dlq-reason`, `dlq-error`, `dlq-subscription`, `dlq-source-topic`,
`dlq-source-partition` and `dlq-source-offset`:

| `dlq-reason` | when |
|---|---|
| `not_a_cloudevent` | the bytes are not a CloudEvents document |
| `unknown_event_type` | the type is not one the platform defines |
| `invalid_event_data` | the data breaks its schema; every bad field is named in `dlq-error` |
| `handler_failed` | the handler failed again and again |
| `rejection_failed` | answering the sender of an invalid command failed |
| `unprocessable` | the record fails its batch on its own |
| `blocked_by_earlier_dead_letter` | an earlier record of the same case is a dead letter |
| `unknown_instruction` | a bank report names no instruction |

In addition:
- Control characters in attributes, NUL anywhere in the data, and nesting deeper than 64
  levels are refused at the boundary.
- An invalid `SubmitApplication` is not dead-lettered but answered with
  `SubmissionRejected`, naming every bad field.
"""


@dataclass(frozen=True)
class Subscription:
    """One consumer group: the topics it reads and the event types it handles."""

    name: str
    topics: Sequence[str]
    handles: Sequence[type[EventData]]
    description: str


@dataclass
class _Builder:
    schemas: dict[str, Any] = field(default_factory=dict)
    messages: dict[str, Any] = field(default_factory=dict)
    channels: dict[str, Any] = field(default_factory=dict)
    operations: dict[str, Any] = field(default_factory=dict)

    def message(self, model: type[EventData]) -> str:
        name = model.event_type
        if name not in self.messages:
            self.schemas[name] = self._envelope(model)
            doc = " ".join((model.__doc__ or "").split())
            self.messages[name] = {
                "name": model.__name__,
                "title": name,
                "summary": doc.split(". ")[0].rstrip(".") if doc else name,
                "description": f"{doc} A CloudEvent of type `{name}`; the schema is the whole"
                " envelope, its `data` the event.".strip(),
                "contentType": "application/cloudevents+json",
                "payload": {"$ref": f"#/components/schemas/{name}"},
                "correlationId": {
                    "description": "The CloudEvents extension `correlationid`: the request or"
                    " command that started the chain of events.",
                    "location": "$message.payload#/correlationid",
                },
                "bindings": {
                    "kafka": {
                        "key": {"type": "string", "description": KEY_DESCRIPTION},
                        "bindingVersion": KAFKA_BINDING,
                    }
                },
            }
        return name

    def _envelope(self, model: type[EventData]) -> dict[str, Any]:
        template = "#/components/schemas/{model}"
        envelope = CloudEvent.model_json_schema(ref_template=template)
        data = model.model_json_schema(ref_template=template)
        for definitions in (envelope.pop("$defs", {}), data.pop("$defs", {})):
            for name, definition in definitions.items():
                self.schemas.setdefault(name, definition)
        envelope["properties"]["data"] = data
        envelope["properties"]["type"] = {"const": model.event_type, "type": "string"}
        envelope["title"] = model.event_type
        envelope["required"] = sorted({*envelope.get("required", []), "data", "type"})
        return envelope

    def channel(self, topic: str, description: str) -> dict[str, Any]:
        channel: dict[str, Any] = self.channels.setdefault(
            topic,
            {
                "address": topic,
                "title": topic,
                "description": description,
                "messages": {},
                "bindings": {"kafka": {"topic": topic, "bindingVersion": KAFKA_BINDING}},
            },
        )
        return channel

    def dead_letters(self, topic: str) -> str:
        dlq = dead_letter_topic(topic)
        channel = self.channel(
            dlq, f"What the platform's consumers of `{topic}` could not process."
        )
        channel["messages"]["DeadLetter"] = {"$ref": "#/components/messages/DeadLetter"}
        return dlq


def asyncapi_document(
    *,
    title: str,
    description: str,
    subscriptions: Iterable[Subscription],
    publishes: Iterable[type[EventData]],
) -> dict[str, Any]:
    """The service's AsyncAPI 3.0.0 document (deterministic: no host of this deployment)."""
    built = _Builder()
    built.messages["DeadLetter"] = _dead_letter_message()
    for subscription in subscriptions:
        for topic in subscription.topics:
            channel = built.channel(topic, f"Read by `{subscription.name}`.")
            handled = [model for model in subscription.handles if model.topic == topic]
            for model in handled:
                name = built.message(model)
                channel["messages"][name] = {"$ref": f"#/components/messages/{name}"}
            built.operations[f"receive.{subscription.name}.{topic}"] = {
                "action": "receive",
                "channel": {"$ref": f"#/channels/{topic}"},
                "summary": f"{subscription.name} reads {topic}",
                "description": subscription.description
                + " Records of other types the platform defines are skipped; records of"
                " types it does not define are dead-lettered (`unknown_event_type`).",
                "messages": [
                    {"$ref": f"#/channels/{topic}/messages/{model.event_type}"} for model in handled
                ],
                "bindings": {
                    "kafka": {
                        "groupId": {"type": "string", "enum": [subscription.name]},
                        "bindingVersion": KAFKA_BINDING,
                    }
                },
            }
            dlq = built.dead_letters(topic)
            built.operations[f"send.{dlq}.{subscription.name}"] = {
                "action": "send",
                "channel": {"$ref": f"#/channels/{dlq}"},
                "summary": f"{subscription.name} dead-letters what it cannot process",
                "messages": [{"$ref": f"#/channels/{dlq}/messages/DeadLetter"}],
            }
    by_topic: dict[str, list[type[EventData]]] = {}
    for model in publishes:
        by_topic.setdefault(model.topic, []).append(model)
    for topic, models in sorted(by_topic.items()):
        channel = built.channel(topic, "Published by this service (through its outbox).")
        for model in models:
            name = built.message(model)
            channel["messages"][name] = {"$ref": f"#/components/messages/{name}"}
        built.operations[f"send.{topic}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{topic}"},
            "summary": f"publishes on {topic}",
            "description": "Sent from the outbox, at least once, in order per key.",
            "messages": [
                {"$ref": f"#/channels/{topic}/messages/{model.event_type}"} for model in models
            ],
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": title,
            "version": "1.0.0",
            "description": f"{description}\n{RULES}",
            "license": {"name": "Apache-2.0"},
        },
        "defaultContentType": "application/cloudevents+json",
        "servers": {
            "kafka": {
                "host": "{bootstrap}",
                "protocol": "kafka",
                "description": "The platform's Kafka cluster (KAFKA_BOOTSTRAP_SERVERS).",
                "variables": {"bootstrap": {"default": "localhost:9092"}},
            }
        },
        "channels": dict(sorted(built.channels.items())),
        "operations": dict(sorted(built.operations.items())),
        "components": {
            "messages": dict(sorted(built.messages.items())),
            "schemas": dict(sorted(built.schemas.items())),
        },
    }


def _dead_letter_message() -> dict[str, Any]:
    return {
        "name": "DeadLetter",
        "title": "A record a consumer could not process",
        "summary": "The original record, unchanged, with why it was refused in headers",
        "contentType": "application/octet-stream",
        "payload": {"description": "The original record's bytes.", "type": "string"},
        "headers": {
            "type": "object",
            "required": [
                "dlq-reason",
                "dlq-error",
                "dlq-subscription",
                "dlq-source-topic",
                "dlq-source-partition",
                "dlq-source-offset",
            ],
            "properties": {
                "dlq-reason": {"type": "string", "enum": list(DEAD_LETTER_REASONS)},
                "dlq-error": {
                    "type": "string",
                    "maxLength": 2000,
                    "description": "What was wrong; personal data masked.",
                },
                "dlq-subscription": {"type": "string", "description": "The consumer group."},
                "dlq-source-topic": {"type": "string"},
                "dlq-source-partition": {"type": "string", "pattern": "^[0-9]+$"},
                "dlq-source-offset": {"type": "string", "pattern": "^[0-9]+$"},
            },
        },
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": "The original record's key."},
                "bindingVersion": KAFKA_BINDING,
            }
        },
    }
