"""The inbox: which messages a subscription has already processed, and what it answered.

A consumer claims its messages in the transaction of its own writes. A message claimed by a
transaction that is still open makes a concurrent claim of the same id wait for it, and then
come back empty: the second delivery has no effect. A subscription that answers its senders
(commands) keeps its answer beside the claim, so a duplicate gets the same answer again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from chassis.database import Connection, checked_schema
from chassis.outbox import OutboxMessage


async def claim(
    connection: Connection, schema: str, subscription: str, message_ids: Sequence[str]
) -> set[str]:
    """Record `message_ids` as processed by `subscription`; returns those not seen before."""
    if not message_ids:
        return set()
    rows = await connection.fetch(
        f"INSERT INTO {checked_schema(schema)}.inbox (subscription, message_id)"
        " SELECT $1, id FROM unnest($2::text[]) AS u(id)"
        " ON CONFLICT DO NOTHING RETURNING message_id",
        subscription,
        list(dict.fromkeys(message_ids)),
    )
    return {row["message_id"] for row in rows}


async def forget(connection: Connection, schema: str, subscription: str, message_id: str) -> None:
    """Let `message_id` be processed again (used when a dead letter is redriven)."""
    await connection.execute(
        f"DELETE FROM {checked_schema(schema)}.inbox WHERE subscription = $1 AND message_id = $2",
        subscription,
        message_id,
    )
    await connection.execute(
        f"DELETE FROM {checked_schema(schema)}.inbox_replies"
        " WHERE subscription = $1 AND message_id = $2",
        subscription,
        message_id,
    )


async def remember_reply(
    connection: Connection,
    schema: str,
    subscription: str,
    message_id: str,
    reply: Sequence[OutboxMessage],
) -> None:
    """Keep what `subscription` published in answer to `message_id`."""
    if not reply:
        return
    await connection.execute(
        f"INSERT INTO {checked_schema(schema)}.inbox_replies"
        " (subscription, message_id, seq, topic, message_key, payload, headers)"
        " SELECT $1, $2, n, t, k, p, h::jsonb FROM unnest("
        "$3::text[], $4::bytea[], $5::bytea[], $6::text[]) WITH ORDINALITY AS u(t, k, p, h, n)",
        subscription,
        message_id,
        [message.topic for message in reply],
        [message.key for message in reply],
        [message.payload for message in reply],
        [json.dumps([list(header) for header in message.headers]) for message in reply],
    )


async def replies(
    connection: Connection, schema: str, subscription: str, message_ids: Sequence[str]
) -> Mapping[str, list[OutboxMessage]]:
    """What `subscription` answered to each of `message_ids` (those it answered), in order."""
    if not message_ids:
        return {}
    rows = await connection.fetch(
        f"SELECT message_id, topic, message_key, payload, headers"
        f" FROM {checked_schema(schema)}.inbox_replies"
        " WHERE subscription = $1 AND message_id = ANY($2::text[]) ORDER BY message_id, seq",
        subscription,
        list(set(message_ids)),
    )
    answered: dict[str, list[OutboxMessage]] = {}
    for row in rows:
        answered.setdefault(row["message_id"], []).append(
            OutboxMessage(
                topic=row["topic"],
                payload=row["payload"],
                key=row["message_key"],
                headers=tuple((name, value) for name, value in row["headers"]),
            )
        )
    return answered
