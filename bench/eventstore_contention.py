"""How long a long transaction that appends (a consumer's batch) makes other writers wait.

Consumer-like transactions append 500 events each, with 1 ms of handler work per event,
while 4 HTTP-like writers append one event per transaction. Run twice on the same server:

- `immediate`: each append inserts at once, holding the store's ordering lock until its
  transaction commits (what every append did before the unit of work deferred them);
- `at-commit`: appends are queued in the unit of work and inserted at its commit, so the
  lock is held for the insert and the commit only.

    .venv/bin/python -m bench.eventstore_contention [--seconds 10]

Uses DATABASE_URL if set, else starts an embedded PostgreSQL for the run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from chassis.database import Database, migrate
from chassis.eventstore import NewEvent
from chassis.unit_of_work import UnitOfWork, unit_of_work
from deploy.local.postgres import LocalPostgres
from deploy.local.processes import free_port

PAYLOAD = {"instruction_id": "x" * 36, "amount": "316.00", "period": "2026-11"}
BATCH_EVENTS = 500
HANDLER_SECONDS = 0.001
HTTP_WRITERS = 4


async def _append(work: UnitOfWork, mode: str, stream: str) -> None:
    event = [NewEvent("bench.Happened", PAYLOAD)]
    if mode == "immediate":
        await work.events.append(work.connection, stream, 0, event)
    else:
        await work.append(stream, 0, event)


async def run(dsn: str, mode: str, seconds: float) -> dict[str, float]:
    database = Database(dsn, min_size=2, max_size=HTTP_WRITERS + 2)
    await database.open()
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    async with database.pool.acquire() as connection:
        await migrate(connection, schema)
    deadline = time.perf_counter() + seconds
    latencies: list[float] = []
    consumer_events = 0

    async def consumer() -> None:
        nonlocal consumer_events
        while time.perf_counter() < deadline:
            async with unit_of_work(database, schema) as work:
                for _ in range(BATCH_EVENTS):
                    await _append(work, mode, str(uuid.uuid4()))
                    await asyncio.sleep(HANDLER_SECONDS)
            consumer_events += BATCH_EVENTS

    async def http_writer() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            async with unit_of_work(database, schema) as work:
                await _append(work, mode, str(uuid.uuid4()))
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(consumer(), *(http_writer() for _ in range(HTTP_WRITERS)))
    await database.close()
    latencies.sort()
    return {
        "http_writes_per_s": len(latencies) / seconds,
        "http_p50_ms": statistics.median(latencies) * 1000,
        "http_p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "http_max_ms": latencies[-1] * 1000,
        "consumer_events_per_s": consumer_events / seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    arguments = parser.parse_args()
    server = None
    dsn = os.environ.get("DATABASE_URL")
    if not dsn:
        server = LocalPostgres(
            Path(tempfile.mkdtemp(prefix="dost-bench-")) / "data", port=free_port()
        )
        dsn = server.start(fresh=True)
    try:
        results = {mode: asyncio.run(run(dsn, mode, arguments.seconds)) for mode in MODES}
    finally:
        if server is not None:
            server.stop()
    print(f"{BATCH_EVENTS} events per consumer transaction, {HTTP_WRITERS} HTTP-like writers")
    print(f"{'':<12}{'http/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}{'consumer ev/s':>16}")
    for mode, result in results.items():
        print(
            f"{mode:<12}{result['http_writes_per_s']:>10.0f}{result['http_p50_ms']:>10.1f}"
            f"{result['http_p99_ms']:>10.1f}{result['http_max_ms']:>10.1f}"
            f"{result['consumer_events_per_s']:>16.0f}"
        )


MODES = ("immediate", "at-commit")

if __name__ == "__main__":
    main()
