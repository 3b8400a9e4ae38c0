"""A job runner in a process of its own, for tests that kill or freeze it:
`python -m tests.job_worker --schema S` runs the `count` job kind until SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from collections.abc import Mapping
from typing import Any

from chassis import jobs
from chassis.database import Database
from chassis.jobs import JobFailed, JobRunner, JobStep
from chassis.unit_of_work import UnitOfWork


class Counting:
    """Writes items from..items-1 (from 0 unless given) into `<schema>.job_items`, `chunk`
    at a time; an item written twice violates the primary key, so a redone chunk cannot go
    unnoticed. Remembers the jobs it stepped."""

    kind = "count"

    def __init__(self, pause: float = 0.0) -> None:
        self.pause = pause
        self.stepped: set[str] = set()

    async def step(self, work: UnitOfWork, params: Mapping[str, Any], checkpoint: Any) -> JobStep:
        self.stepped.add(str(params["job_name"]))
        start = int(params.get("from", 0) if checkpoint is None else checkpoint)
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
            total=int(params["items"]) - int(params.get("from", 0)),
            finished=finished,
            result={"items": end} if finished else None,
        )


class Split:
    """Counts `items` in `parts` parts (`count` jobs of their own), and waits for them."""

    kind = "split"

    async def step(self, work: UnitOfWork, params: Mapping[str, Any], checkpoint: Any) -> JobStep:
        name, items, parts = str(params["job_name"]), int(params["items"]), int(params["parts"])
        if checkpoint is None:
            for part in range(parts):
                await jobs.submit(
                    work.connection,
                    work.schema,
                    name=f"{name}/part-{part}",
                    kind=Counting.kind,
                    params={
                        "from": items * part // parts,
                        "items": items * (part + 1) // parts,
                        "chunk": params["chunk"],
                    },
                    parent=name,
                )
            return JobStep(checkpoint="split", total=items, waiting=True)
        found = await jobs.parts(work.connection, work.schema, name)
        for part_status in found:
            if part_status.status == jobs.FAILED:
                raise JobFailed(f"{part_status.name} failed")
        if any(part_status.status != jobs.COMPLETED for part_status in found):
            return JobStep(checkpoint=checkpoint, waiting=True)
        return JobStep(checkpoint="joined", finished=True, result={"parts": len(found)})


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
