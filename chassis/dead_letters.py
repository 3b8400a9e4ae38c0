"""Dead letters: what a consumer could not process goes to `<topic>.dlq` with its reason.

Decision (documented in the README): dead letters are *sequenced by subject*. While a
message of a case (CloudEvent subject) is dead-lettered and unresolved, later messages of
the same case for the same subscription are dead-lettered behind it instead of being
processed out of order; other cases flow on. Messages without a subject block nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chassis.database import Connection, checked_schema
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
        " source_topic, source_partition, source_offset, reason, error, payload)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        subscription,
        letter.message_id,
        letter.subject,
        letter.record.topic,
        letter.record.partition,
        letter.record.offset,
        letter.reason,
        _text(letter.error.encode()),
        letter.record.value,
    )


async def blocked_subjects(
    connection: Connection, schema: str, subscription: str, subjects: Sequence[str]
) -> set[str]:
    """Those of `subjects` with an unresolved dead letter in `subscription`."""
    if not subjects:
        return set()
    rows = await connection.fetch(
        f"SELECT DISTINCT subject FROM {checked_schema(schema)}.dead_letters"
        " WHERE subscription = $1 AND subject = ANY($2::text[]) AND resolved_at IS NULL",
        subscription,
        list(set(subjects)),
    )
    return {row["subject"] for row in rows}


def _text(raw: bytes) -> str:
    """`raw` as text PostgreSQL can store (it refuses NUL in text and jsonb)."""
    return raw.decode("utf-8", "replace").replace("\x00", "\ufffd")
