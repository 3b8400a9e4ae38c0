"""A job runner in a process of its own, for tests that kill or freeze it:
`python -m tests.job_worker --schema S` runs the `count` job kind until SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from collections.abc import Mapping
from typing import Any

from chassis.database import Database
from chassis.jobs import JobRunner, JobStep
from chassis.unit_of_work import UnitOfWork


class Counting:
    """Writes items 0..items-1 into `<schema>.job_items`, `chunk` at a time; an item written
    twice violates the primary key, so a redone chunk cannot go unnoticed."""

    kind = "count"

    def __init__(self, pause: float = 0.0) -> None:
        self.pause = pause

    async def step(self, work: UnitOfWork, params: Mapping[str, Any], checkpoint: Any) -> JobStep:
        start = int(checkpoint or 0)
        end = min(start + int(params["chunk"]), int(params["items"]))
        await work.connection.execute(
            f"INSERT INTO {work.schema}.job_items (item) SELECT generate_series($1, $2 - 1)",
            start,
            end,
        )
        if self.pause:
            await asyncio.sleep(self.pause)
        finished = end >= int(params["items"])
        return JobStep(
            checkpoint=end,
            done=end - start,
            total=int(params["items"]),
            finished=finished,
            result={"items": end} if finished else None,
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--schema", required=True)
    parser.add_argument("--pause", type=float, default=0.0)
    parser.add_argument("--lease", type=float, default=2.0)
    arguments = parser.parse_args()

    async def run() -> None:
        database = Database(os.environ["DATABASE_URL"], min_size=1, max_size=3)
        await database.open()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        runner = JobRunner(
            database,
            arguments.schema,
            {Counting.kind: Counting(arguments.pause)},
            lease_seconds=arguments.lease,
            poll_interval=0.1,
        )
        try:
            await runner.run(stop)
        finally:
            await database.close()

    asyncio.run(run())


if __name__ == "__main__":
    main()
