"""The transactional outbox: messages are written with the state change that caused them
and leave for Kafka only through :mod:`chassis.relay`, after that transaction commits."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from chassis.database import Connection, checked_schema
from chassis.telemetry import current_traceparent
from contracts import CloudEvent, encode
from contracts.registry import model_for

CLOUDEVENTS_CONTENT_TYPE = "application/cloudevents+json; charset=UTF-8"


@dataclass(frozen=True)
class OutboxMessage:
    """A Kafka record waiting in the outbox. The key keeps one case in one partition."""

    topic: str
    payload: bytes
    key: bytes | None = None
    headers: Sequence[tuple[str, str]] = field(default_factory=tuple)


def message_for(event: CloudEvent, topic: str | None = None) -> OutboxMessage:
    """The record for an envelope: on its type's topic, keyed by subject (else id), with the
    trace context of the current span so the consumer's spans join the same trace."""
    traceparent = event.traceparent or current_traceparent()
    if traceparent and event.traceparent is None:
        event = event.model_copy(update={"traceparent": traceparent})
    headers = [("content-type", CLOUDEVENTS_CONTENT_TYPE), ("ce_type", event.type)]
    if traceparent:
        headers.append(("traceparent", traceparent))
    return OutboxMessage(
        topic=topic or model_for(event.type).topic,
        payload=encode(event),
        key=(event.subject or event.id).encode(),
        headers=tuple(headers),
    )


async def put(connection: Connection, schema: str, messages: Sequence[OutboxMessage]) -> None:
    """Insert `messages` in one round trip, in the caller's transaction, keeping their order."""
    if not messages:
        return
    await connection.execute(
        f"INSERT INTO {checked_schema(schema)}.outbox (topic, message_key, payload, headers)"
        " SELECT t, k, p, h::jsonb FROM unnest($1::text[], $2::bytea[], $3::bytea[], $4::text[])"
        " WITH ORDINALITY AS u(t, k, p, h, n) ORDER BY n",
        [message.topic for message in messages],
        [message.key for message in messages],
        [message.payload for message in messages],
        [_headers_json(message.headers) for message in messages],
    )


def _headers_json(headers: Sequence[tuple[str, str]]) -> str:
    return json.dumps([[name, value] for name, value in headers])
