"""Rebuilding read models from the service's own event store, as a resumable job
(:mod:`chassis.jobs`), without taking the live read models away while it runs.

A service keeps its read models with one function that folds a stored event into a set of
tables; the rebuild calls that same function to fill *shadow* tables from the whole store,
chunk by chunk (each chunk commits with its checkpoint; a rebuild stopped at any point goes
on from there). At the end, in one transaction, it locks the live tables against writers,
folds in what was stored since it started, and replaces the live tables' content with the
shadow's. Writers wait for that transaction and none fails (a dropped-and-renamed table
would fail the statements waiting for it); until then the live read models keep answering.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from chassis.database import Connection
from chassis.jobs import JobStep
from chassis.unit_of_work import UnitOfWork

Tables = TypeVar("Tables")
Fold = Callable[[Connection, Tables, str, Any], Awaitable[None]]
"""(connection, tables, aggregate id, domain event): fold one stored event into `tables`."""


class ReadModelRebuild(Generic[Tables]):
    """A job kind that rebuilds a service's read models from its event store."""

    def __init__(
        self,
        kind: str,
        *,
        live: Callable[[str], Tables],
        shadow: Callable[[str], Tables],
        tables_of: Callable[[Tables], Sequence[str]],
        fold: Fold[Tables],
        chunk: int = 2000,
    ) -> None:
        self.kind = kind
        self.live = live
        self.shadow = shadow
        self.tables_of = tables_of
        self.fold = fold
        self.chunk = chunk

    async def step(self, work: UnitOfWork, params: Mapping[str, Any], checkpoint: Any) -> JobStep:
        if checkpoint is None:
            return await self._start(work)
        if checkpoint["phase"] == "replay":
            return await self._replay(work, int(checkpoint["position"]), int(checkpoint["until"]))
        return await self._swap(work, int(checkpoint["until"]))

    async def _start(self, work: UnitOfWork) -> JobStep:
        pairs = zip(
            self.tables_of(self.shadow(work.schema)),
            self.tables_of(self.live(work.schema)),
            strict=True,
        )
        for shadow, live in pairs:
            await work.connection.execute(f"DROP TABLE IF EXISTS {shadow}")
            await work.connection.execute(f"CREATE TABLE {shadow} (LIKE {live} INCLUDING ALL)")
        until = await work.events.last_position(work.connection)
        total = await work.connection.fetchval(
            f"SELECT count(*) FROM {work.schema}.events WHERE position <= $1", until
        )
        return JobStep(
            checkpoint={"phase": "replay", "position": 0, "until": until}, total=int(total)
        )

    async def _replay(self, work: UnitOfWork, position: int, until: int) -> JobStep:
        events = [
            event
            for event in await work.events.read_all(work.connection, position, self.chunk)
            if event.position <= until
        ]
        shadow = self.shadow(work.schema)
        for recorded in events:
            await self._fold(work, shadow, recorded)
        reached = events[-1].position if events else until
        phase = "swap" if reached >= until or len(events) < self.chunk else "replay"
        return JobStep(
            checkpoint={"phase": phase, "position": reached, "until": until}, done=len(events)
        )

    async def _swap(self, work: UnitOfWork, until: int) -> JobStep:
        live, shadow = self.live(work.schema), self.shadow(work.schema)
        live_tables, shadow_tables = self.tables_of(live), self.tables_of(shadow)
        await work.connection.execute(f"LOCK TABLE {', '.join(live_tables)} IN EXCLUSIVE MODE")
        caught_up = 0
        async for chunk in work.events.chunks(work.connection, until, self.chunk):
            for recorded in chunk:
                await self._fold(work, shadow, recorded)
            caught_up += len(chunk)
        await work.connection.execute(f"TRUNCATE {', '.join(live_tables)}")
        rows = {}
        for live_table, shadow_table in zip(live_tables, shadow_tables, strict=True):
            await work.connection.execute(
                f"INSERT INTO {live_table} OVERRIDING SYSTEM VALUE SELECT * FROM {shadow_table}"
            )
            rows[live_table.rpartition(".")[2]] = int(
                await work.connection.fetchval(f"SELECT count(*) FROM {live_table}")
            )
        await work.connection.execute(f"DROP TABLE {', '.join(shadow_tables)}")
        return JobStep(
            checkpoint={"phase": "done", "until": until},
            done=caught_up,
            finished=True,
            result={"rows": rows, "caught_up": caught_up},
        )

    async def _fold(self, work: UnitOfWork, tables: Tables, recorded: Any) -> None:
        event = work.event_types.from_recorded(recorded)
        aggregate_id = recorded.stream_id.partition("-")[2]
        await self.fold(work.connection, tables, aggregate_id, event)
