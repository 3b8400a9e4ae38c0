"""The inbox: which messages a subscription has already processed.

A consumer claims its messages in the transaction of its own writes. A message claimed by a
transaction that is still open makes a concurrent claim of the same id wait for it, and then
come back empty: the second delivery has no effect.
"""

from __future__ import annotations

from collections.abc import Sequence

from chassis.database import Connection, checked_schema


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
