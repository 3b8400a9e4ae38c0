"""Rebuilding the case tracker: a resumable job that replays the event topics into shadow
tables and swaps them in, in one transaction, at the end.

Where the history comes from: the event topics, which the platform creates to keep every
record (`KAFKA_EVENT_TOPIC_RETENTION_MS`, forever by default). The tracker follows every
context's events, and intake does not read other services' databases; the topics are their
published history. A rebuild trusts no retention setting, though: it checks that every
partition still starts at offset 0 and fails, naming the partition, if records were
deleted, instead of silently rebuilding a tracker without its older cases.

How it goes, chunk by chunk (each chunk commits with its checkpoint; a rebuild killed at any
point goes on from its last chunk):
1. create empty shadow tables and note, per partition, the offset to replay up to;
2. replay the records up to those offsets into the shadow tables;
3. in one transaction, with the live tables locked against writers: add what the live
   tables learned meanwhile (the live subscription keeps recording during a rebuild), then
   replace the live tables' content with the shadow's. Writers wait for that transaction;
   none fails. Until then the live tracker keeps answering.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from chassis.database import Connection
from chassis.jobs import JobFailed, JobStep
from chassis.unit_of_work import UnitOfWork
from contracts import CloudEvent, ContractError, decode_record
from services.intake.projections.tracker import (
    TRACKED_TOPICS,
    TrackerTables,
    record_events,
    refresh_cases,
)

KIND = "tracker-rebuild"
_COPIED_COLUMNS = "case_id, event_id, event_type, source, occurred_at, data"


class TrackerRebuild:
    """The `tracker-rebuild` job kind."""

    kind = KIND

    def __init__(
        self, bootstrap_servers: str, topics: Sequence[str] = TRACKED_TOPICS, chunk: int = 2000
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topics = tuple(topics)
        self.chunk = chunk

    async def step(self, work: UnitOfWork, params: Mapping[str, Any], checkpoint: Any) -> JobStep:
        live, shadow = TrackerTables.live(work.schema), TrackerTables.shadow(work.schema)
        if checkpoint is None:
            return await self._start(work.connection, live, shadow)
        if checkpoint["phase"] == "replay":
            return await self._replay(work.connection, shadow, checkpoint)
        return await self._swap(work.connection, live, shadow)

    async def _start(
        self, connection: Connection, live: TrackerTables, shadow: TrackerTables
    ) -> JobStep:
        for name, template in ((shadow.timeline, live.timeline), (shadow.cases, live.cases)):
            await connection.execute(f"DROP TABLE IF EXISTS {name}")
            await connection.execute(f"CREATE TABLE {name} (LIKE {template} INCLUDING ALL)")
        consumer = await self._consumer()
        try:
            partitions = await _partitions(consumer, self.topics)
            starts = await consumer.beginning_offsets(partitions)
            ends = await consumer.end_offsets(partitions)
        finally:
            await consumer.stop()
        lost = [
            f"{tp.topic}[{tp.partition}] starts at offset {starts[tp]}"
            for tp in partitions
            if starts[tp] > 0
        ]
        if lost:
            raise JobFailed(
                "the tracker cannot be rebuilt completely: records were deleted from "
                + ", ".join(lost)
                + " (the event topics must keep every record: KAFKA_EVENT_TOPIC_RETENTION_MS=-1)"
            )
        checkpoint = {
            "phase": "replay",
            "next": {_key(tp): 0 for tp in partitions},
            "ends": {_key(tp): ends[tp] for tp in partitions},
        }
        if all(end == 0 for end in ends.values()):
            checkpoint["phase"] = "swap"
        return JobStep(checkpoint=checkpoint, total=sum(ends.values()))

    async def _replay(
        self, connection: Connection, shadow: TrackerTables, checkpoint: dict[str, Any]
    ) -> JobStep:
        ends: dict[str, int] = checkpoint["ends"]
        following: dict[str, int] = dict(checkpoint["next"])
        remaining = [_partition(key) for key, offset in following.items() if offset < ends[key]]
        events: list[CloudEvent] = []
        replayed = 0
        consumer = await self._consumer()
        try:
            consumer.assign(remaining)
            for tp in remaining:
                consumer.seek(tp, following[_key(tp)])
            while remaining and replayed < self.chunk:
                batch = await consumer.getmany(
                    *remaining, timeout_ms=1000, max_records=self.chunk - replayed
                )
                for tp, records in batch.items():
                    for record in records:
                        if record.offset >= ends[_key(tp)]:
                            continue
                        replayed += 1
                        following[_key(tp)] = record.offset + 1
                        # What cannot be decoded, the live subscription dead-lettered already.
                        with contextlib.suppress(ContractError):
                            events.append(decode_record(record.value, record.headers or ()))
                for tp in list(remaining):
                    position = await consumer.position(tp)
                    following[_key(tp)] = max(following[_key(tp)], min(position, ends[_key(tp)]))
                    if following[_key(tp)] >= ends[_key(tp)]:
                        remaining.remove(tp)
                if not batch:
                    break
        finally:
            await consumer.stop()
        await record_events(connection, shadow, events)
        done = all(following[key] >= end for key, end in ends.items())
        return JobStep(
            checkpoint={"phase": "swap" if done else "replay", "next": following, "ends": ends},
            done=replayed,
        )

    async def _swap(
        self, connection: Connection, live: TrackerTables, shadow: TrackerTables
    ) -> JobStep:
        await connection.execute(f"LOCK TABLE {live.timeline}, {live.cases} IN EXCLUSIVE MODE")
        merged = await connection.fetch(
            f"INSERT INTO {shadow.timeline} ({_COPIED_COLUMNS})"
            f" SELECT {_COPIED_COLUMNS} FROM {live.timeline} ORDER BY position"
            " ON CONFLICT (event_id) DO NOTHING RETURNING case_id"
        )
        await refresh_cases(connection, shadow, {row["case_id"] for row in merged})
        await connection.execute(f"TRUNCATE {live.timeline}, {live.cases}")
        await connection.execute(
            f"INSERT INTO {live.timeline} ({_COPIED_COLUMNS})"
            f" SELECT {_COPIED_COLUMNS} FROM {shadow.timeline} ORDER BY position"
        )
        await connection.execute(f"INSERT INTO {live.cases} SELECT * FROM {shadow.cases}")
        events = await connection.fetchval(f"SELECT count(*) FROM {live.timeline}")
        cases = await connection.fetchval(f"SELECT count(*) FROM {live.cases}")
        await connection.execute(f"DROP TABLE {shadow.timeline}, {shadow.cases}")
        return JobStep(
            checkpoint={"phase": "done"},
            finished=True,
            result={"events": int(events), "cases": int(cases), "merged_live": len(merged)},
        )

    async def _consumer(self) -> AIOKafkaConsumer:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap_servers,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        return consumer


def deleted_history(starts: Mapping[str, int]) -> str | None:
    """Why the topics cannot give the whole history (None if they can): a partition whose
    first offset is above 0 has lost records to retention or deletion."""
    lost = [f"{key} starts at offset {start}" for key, start in sorted(starts.items()) if start]
    if not lost:
        return None
    return (
        "the tracker cannot be rebuilt completely: records were deleted from "
        + ", ".join(lost)
        + " (the event topics must keep every record: KAFKA_EVENT_TOPIC_RETENTION_MS=-1)"
    )


async def _partitions(consumer: AIOKafkaConsumer, topics: Sequence[str]) -> list[TopicPartition]:
    found: list[TopicPartition] = []
    for topic in topics:
        numbers = await consumer._client._wait_on_metadata(topic)
        found += [TopicPartition(topic, number) for number in sorted(numbers)]
    return found


def _key(tp: TopicPartition) -> str:
    return f"{tp.topic}/{tp.partition}"


def _partition(key: str) -> TopicPartition:
    topic, _, number = key.rpartition("/")
    return TopicPartition(topic, int(number))
