"""`dost outbox status` and `dost outbox retry`, as an operator runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from chassis import outbox
from chassis.database import Database
from chassis.outbox import OutboxMessage
from chassis.settings import ChassisSettings

pytestmark = pytest.mark.integration


def dost(settings: ChassisSettings, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deploy", *arguments],
        env={**os.environ, "DATABASE_URL": settings.database_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_status_shows_parked_messages_with_their_error_and_retry_makes_them_due(
    database: Database, schema: str, settings: ChassisSettings
) -> None:
    messages = [
        OutboxMessage(topic="dost.intake.events.v1", payload=b"x", key=b"case-1"),
        OutboxMessage(topic="dost.intake.events.v1", payload=b"y", key=b"case-2"),
    ]
    async with database.pool.acquire() as connection:
        await outbox.put(connection, schema, messages)
        positions = [
            row["position"]
            for row in await connection.fetch(
                f"SELECT position FROM {schema}.outbox ORDER BY position"
            )
        ]
        await outbox.park(connection, schema, positions[:1], "MessageSizeTooLargeError: 2 MB")

    shown = dost(settings, "outbox", "status", "--schema", schema)
    assert shown.returncode == 0, shown.stderr
    assert f"{schema}" in shown.stdout
    assert "queued        2" in shown.stdout
    assert "parked      1" in shown.stdout
    assert f"parked #{positions[0]} dost.intake.events.v1 key=case-1 attempts=1" in shown.stdout
    assert "MessageSizeTooLargeError: 2 MB" in shown.stdout
    (scripted,) = json.loads(
        dost(settings, "outbox", "status", "--schema", schema, "--json").stdout
    )
    assert (scripted["schema"], scripted["queued"]) == (schema, 2)
    (parked,) = scripted["parked"]
    assert (parked["position"], parked["key"]) == (positions[0], "case-1")

    retried = dost(settings, "outbox", "retry", "--schema", schema)
    assert retried.returncode == 0, retried.stderr
    assert "1 parked message(s)" in retried.stdout
    async with database.pool.acquire() as connection:
        due = await outbox.next_to_send(connection, schema, 10)
    assert [message.position for message in due] == positions
