"""The transactional outbox: messages are written with the state change that caused them
and leave for Kafka only through :mod:`chassis.relay`, after that transaction commits.
Rows the broker refuses for good are parked here, with their error, for an operator to see
(`dost outbox status`) and retry (`dost outbox retry`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

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
    trace context of the current span so the consumer's spans join the same trace.

    Structured content mode of the CloudEvents Kafka binding, and only that: no `ce_*`
    header, which would make a binding-conformant reader take the record for binary mode."""
    traceparent = event.traceparent or current_traceparent()
    if traceparent and event.traceparent is None:
        event = event.model_copy(update={"traceparent": traceparent})
    headers = [("content-type", CLOUDEVENTS_CONTENT_TYPE)]
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
        _headers_json(messages),
    )


def _headers_json(messages: Sequence[OutboxMessage]) -> list[str]:
    """Each message's headers as JSON (encoded once per distinct set: the messages of one
    transaction mostly share theirs)."""
    encoded: dict[tuple[tuple[str, str], ...], str] = {}
    texts = []
    for message in messages:
        headers = tuple(message.headers)
        text = encoded.get(headers)
        if text is None:
            text = encoded[headers] = json.dumps([[name, value] for name, value in headers])
        texts.append(text)
    return texts


@dataclass(frozen=True)
class QueuedMessage:
    """An outbox row waiting for the relay."""

    position: int
    topic: str
    key: bytes | None
    payload: bytes
    headers: Sequence[tuple[str, str]]
    attempts: int


async def next_to_send(connection: Connection, schema: str, limit: int) -> list[QueuedMessage]:
    """The oldest rows that may leave now: not parked (or due again), and not behind a
    parked row of the same topic and key (which would put that key out of order)."""
    table = f"{checked_schema(schema)}.outbox"
    rows = await connection.fetch(
        f"SELECT position, topic, message_key, payload, headers, attempts FROM {table} o"
        " WHERE (o.retry_at IS NULL OR o.retry_at <= now())"
        f" AND NOT EXISTS (SELECT 1 FROM {table} p WHERE p.retry_at > now()"
        " AND p.topic = o.topic AND p.message_key = o.message_key AND p.position < o.position)"
        " ORDER BY o.position LIMIT $1",
        limit,
    )
    return [
        QueuedMessage(
            position=row["position"],
            topic=row["topic"],
            key=row["message_key"],
            payload=row["payload"],
            headers=tuple((name, value) for name, value in row["headers"]),
            attempts=row["attempts"],
        )
        for row in rows
    ]


async def delete(connection: Connection, schema: str, positions: Sequence[int]) -> None:
    """Forget rows the broker acknowledged."""
    if positions:
        await connection.execute(
            f"DELETE FROM {checked_schema(schema)}.outbox WHERE position = ANY($1::bigint[])",
            list(positions),
        )


PARK_FIRST_RETRY_SECONDS = 5.0
PARK_MAX_RETRY_SECONDS = 3600.0


async def park(connection: Connection, schema: str, positions: Sequence[int], error: str) -> None:
    """Hold rows the broker refuses for good: retried after a back-off that doubles per
    attempt (5 s up to an hour), or at once by :func:`retry_parked`; the later rows of
    their topic and key wait behind them."""
    await connection.execute(
        f"UPDATE {checked_schema(schema)}.outbox SET attempts = attempts + 1,"
        " last_error = $2, parked_at = coalesce(parked_at, now()),"
        " retry_at = now() + make_interval(secs => least($3 * power(2, attempts), $4))"
        " WHERE position = ANY($1::bigint[])",
        list(positions),
        error[:2000],
        PARK_FIRST_RETRY_SECONDS,
        PARK_MAX_RETRY_SECONDS,
    )


async def retry_parked(connection: Connection, schema: str, position: int | None = None) -> int:
    """Make parked rows (all, or the one at `position`) due now; returns how many."""
    result = await connection.execute(
        f"UPDATE {checked_schema(schema)}.outbox SET retry_at = now()"
        " WHERE retry_at IS NOT NULL AND ($1::bigint IS NULL OR position = $1)",
        position,
    )
    return int(result.split()[-1])


@dataclass(frozen=True)
class ParkedMessage:
    position: int
    topic: str
    key: str | None
    attempts: int
    last_error: str | None
    parked_at: datetime
    retry_at: datetime


@dataclass(frozen=True)
class OutboxStatus:
    """What waits in one schema's outbox."""

    schema: str
    queued: int
    oldest: datetime | None
    parked: list[ParkedMessage]


async def status(connection: Connection, schema: str, parked_limit: int = 50) -> OutboxStatus:
    """How many rows wait, since when, and the parked ones with their errors."""
    table = f"{checked_schema(schema)}.outbox"
    summary = await connection.fetchrow(f"SELECT count(*) AS queued, min(created_at) FROM {table}")
    assert summary is not None
    rows = await connection.fetch(
        f"SELECT position, topic, message_key, attempts, last_error, parked_at, retry_at"
        f" FROM {table} WHERE retry_at IS NOT NULL ORDER BY position LIMIT $1",
        parked_limit,
    )
    return OutboxStatus(
        schema=schema,
        queued=int(summary["queued"]),
        oldest=summary["min"],
        parked=[
            ParkedMessage(
                position=row["position"],
                topic=row["topic"],
                key=row["message_key"].decode("utf-8", "replace") if row["message_key"] else None,
                attempts=row["attempts"],
                last_error=row["last_error"],
                parked_at=row["parked_at"],
                retry_at=row["retry_at"],
            )
            for row in rows
        ],
    )


async def parked_count(connection: Connection, schema: str) -> int:
    """How many rows are parked."""
    count = await connection.fetchval(
        f"SELECT count(*) FROM {checked_schema(schema)}.outbox WHERE retry_at IS NOT NULL"
    )
    return int(count)
