"""Dead letters: what a consumer could not process goes to `<topic>.dlq` with its reason,
and is kept whole in `<schema>.dead_letters` until it is redriven or discarded.

Decision (documented in the README): dead letters are *sequenced by subject*. While a
message of a case (CloudEvent subject) is dead-lettered and unresolved, later messages of
the same case for the same subscription are dead-lettered behind it instead of being
processed out of order; other cases flow on. Messages without a subject block nothing.
A redrive (:mod:`chassis.redrive`) re-runs a case's dead letters in their original order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chassis.database import Connection, Queryable, checked_schema
from chassis.outbox import OutboxMessage
from contracts.topics import dead_letter_topic

BLOCKED_BY_EARLIER = "blocked_by_earlier_dead_letter"


@dataclass(frozen=True)
class ReceivedRecord:
    """A Kafka record as a consumer received it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: Sequence[tuple[str, bytes]] = ()


@dataclass(frozen=True)
class DeadLetter:
    """Why a record could not be processed."""

    record: ReceivedRecord
    message_id: str
    subject: str | None
    reason: str
    error: str


def dead_letter_message(letter: DeadLetter, subscription: str) -> OutboxMessage:
    """The `<topic>.dlq` record: the original bytes and key, the reason in headers."""
    record = letter.record
    original = [(_text(name.encode()), _text(value)) for name, value in record.headers]
    return OutboxMessage(
        topic=dead_letter_topic(record.topic),
        payload=record.value,
        key=record.key,
        headers=(
            *original,
            ("dlq-reason", letter.reason),
            ("dlq-error", _text(letter.error.encode())[:2000]),
            ("dlq-subscription", subscription),
            ("dlq-source-topic", record.topic),
            ("dlq-source-partition", str(record.partition)),
            ("dlq-source-offset", str(record.offset)),
        ),
    )


async def record(
    connection: Connection, schema: str, subscription: str, letter: DeadLetter
) -> None:
    """Keep the dead letter in `<schema>.dead_letters` (in the caller's transaction)."""
    await connection.execute(
        f"INSERT INTO {checked_schema(schema)}.dead_letters (subscription, message_id, subject,"
        " source_topic, source_partition, source_offset, reason, error, payload, message_key,"
        " header_names, header_values)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        subscription,
        letter.message_id,
        letter.subject,
        letter.record.topic,
        letter.record.partition,
        letter.record.offset,
        letter.reason,
        _text(letter.error.encode()),
        letter.record.value,
        letter.record.key,
        [_text(name.encode()) for name, _ in letter.record.headers],
        [value for _, value in letter.record.headers],
    )


async def blocked_subjects(
    connection: Connection, schema: str, subscription: str, subjects: Sequence[str]
) -> set[str]:
    """Those of `subjects` with an unresolved dead letter in `subscription`.

    The letters are read FOR SHARE: a redrive resolving them right now is waited for, and
    then they count as resolved, so a message is never parked behind a letter that a
    redrive has just let through."""
    if not subjects:
        return set()
    rows = await connection.fetch(
        f"SELECT subject FROM {checked_schema(schema)}.dead_letters"
        " WHERE subscription = $1 AND subject = ANY($2::text[]) AND resolved_at IS NULL"
        " FOR SHARE",
        subscription,
        list(set(subjects)),
    )
    return {row["subject"] for row in rows}


@dataclass(frozen=True)
class StoredDeadLetter:
    """A dead letter as kept: the record as it arrived, why, and since when."""

    id: int
    subscription: str
    message_id: str
    subject: str | None
    reason: str
    error: str
    record: ReceivedRecord
    dead_lettered_at: datetime
    redrive_attempts: int


_STORED = (
    "id, subscription, message_id, subject, reason, error, dead_lettered_at, redrive_attempts,"
    " source_topic, source_partition, source_offset, message_key, payload, header_names,"
    " header_values"
)


async def open_letters(
    connection: Queryable,
    schema: str,
    *,
    subscription: str | None = None,
    subject: str | None = None,
    after_id: int = 0,
    limit: int = 100,
) -> list[StoredDeadLetter]:
    """Unresolved dead letters, oldest first, optionally of one subscription and subject."""
    rows = await connection.fetch(
        f"SELECT {_STORED} FROM {checked_schema(schema)}.dead_letters"
        " WHERE resolved_at IS NULL AND id > $1 AND ($2::text IS NULL OR subscription = $2)"
        " AND ($3::text IS NULL OR subject = $3) ORDER BY id LIMIT $4",
        after_id,
        subscription,
        subject,
        limit,
    )
    return [_stored(row) for row in rows]


async def letter(connection: Queryable, schema: str, letter_id: int) -> StoredDeadLetter | None:
    """One dead letter, resolved or not."""
    row = await connection.fetchrow(
        f"SELECT {_STORED} FROM {checked_schema(schema)}.dead_letters WHERE id = $1", letter_id
    )
    return _stored(row) if row is not None else None


async def resolve(connection: Connection, schema: str, letter_id: int, resolution: str) -> bool:
    """Mark a dead letter redriven or discarded; False if it was resolved already."""
    result = await connection.execute(
        f"UPDATE {checked_schema(schema)}.dead_letters SET resolved_at = now(), resolution = $2"
        " WHERE id = $1 AND resolved_at IS NULL",
        letter_id,
        resolution,
    )
    return result.endswith(" 1")


async def note_failed_redrive(
    connection: Connection, schema: str, letter_id: int, error: str
) -> None:
    """A redrive did not get the letter through: it stays open, with the new error."""
    await connection.execute(
        f"UPDATE {checked_schema(schema)}.dead_letters"
        " SET redrive_attempts = redrive_attempts + 1, error = $2 WHERE id = $1",
        letter_id,
        _text(error.encode()),
    )


async def open_counts(connection: Queryable, schema: str) -> dict[str, int]:
    """How many dead letters are open, per subscription."""
    rows = await connection.fetch(
        f"SELECT subscription, count(*) AS open FROM {checked_schema(schema)}.dead_letters"
        " WHERE resolved_at IS NULL GROUP BY subscription"
    )
    return {row["subscription"]: int(row["open"]) for row in rows}


def _stored(row: Any) -> StoredDeadLetter:
    return StoredDeadLetter(
        id=row["id"],
        subscription=row["subscription"],
        message_id=row["message_id"],
        subject=row["subject"],
        reason=row["reason"],
        error=row["error"],
        record=ReceivedRecord(
            topic=row["source_topic"],
            partition=row["source_partition"],
            offset=row["source_offset"],
            key=row["message_key"],
            value=row["payload"],
            headers=tuple(zip(row["header_names"], row["header_values"], strict=True)),
        ),
        dead_lettered_at=row["dead_lettered_at"],
        redrive_attempts=row["redrive_attempts"],
    )


def _text(raw: bytes) -> str:
    """`raw` as text PostgreSQL can store (it refuses NUL in text and jsonb)."""
    return raw.decode("utf-8", "replace").replace("\x00", "\ufffd")
