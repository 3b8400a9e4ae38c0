"""Operator commands on a running platform's database: `dost outbox status|retry`."""

from __future__ import annotations

from datetime import UTC, datetime

from chassis import outbox
from chassis.database import checked_schema, connect
from chassis.settings import ChassisSettings


async def _schemas_with_an_outbox(dsn: str) -> list[str]:
    connection = await connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT table_schema FROM information_schema.tables WHERE table_name = 'outbox'"
            " ORDER BY table_schema"
        )
    finally:
        await connection.close()
    return [row["table_schema"] for row in rows]


async def print_outbox_status(settings: ChassisSettings, schema: str | None) -> int:
    """Print, per schema, how many messages wait and since when, and each parked one."""
    schemas = (
        [checked_schema(schema)] if schema else await _schemas_with_an_outbox(settings.database_url)
    )
    connection = await connect(settings.database_url)
    try:
        now = datetime.now(UTC)
        for name in schemas:
            state = await outbox.status(connection, name)
            waiting = f"oldest {(now - state.oldest).total_seconds():.0f}s" if state.oldest else ""
            print(f"{name:<16} queued {state.queued:>8}  parked {len(state.parked):>6}  {waiting}")
            for parked in state.parked:
                print(
                    f"  parked #{parked.position} {parked.topic} key={parked.key or '-'}"
                    f" attempts={parked.attempts} retry_at={parked.retry_at.isoformat()}"
                    f"\n    {parked.last_error}"
                )
    finally:
        await connection.close()
    return 0


async def retry_outbox(settings: ChassisSettings, schema: str, position: int | None) -> int:
    """Make parked messages due now; the relay sends them on its next round."""
    connection = await connect(settings.database_url)
    try:
        count = await outbox.retry_parked(connection, checked_schema(schema), position)
    finally:
        await connection.close()
    print(f"{count} parked message(s) of {schema} will be sent again")
    return 0 if count or position is None else 1
