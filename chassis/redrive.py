"""Redriving dead letters: once the cause is fixed, a case's dead letters are re-run, in
their original order, through the subscription's normal handler path (their inbox claims
released), as a resumable job of the service that owns the subscription.

A letter that goes through is marked resolved (`redriven`); the letters parked behind it
(`blocked_by_earlier_dead_letter`) follow in order, and so do any parked while the redrive
ran. A letter that fails again stays open with its new error, and the later letters of its
case stay parked behind it. Letters without a case are re-run on their own.

`dost dlq redrive --subscription S [--subject CASE] [--id ID]` submits the job; the
service runs it (`GET /v1/jobs/{name}`, or the command's progress line, shows how far).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chassis import dead_letters
from chassis.consumer import EventConsumer
from chassis.dead_letters import StoredDeadLetter
from chassis.jobs import JobFailed, JobStep
from chassis.telemetry import meter
from chassis.unit_of_work import UnitOfWork

KIND = "dlq-redrive"
REDRIVEN, DISCARDED = "redriven", "discarded"

_redriven = meter("dost.chassis.redrive").create_counter(
    "dost_dead_letters_redriven", description="Dead letters a redrive got through, or not"
)


class DeadLetterRedrive:
    """The `dlq-redrive` job kind, for the subscriptions of one service."""

    kind = KIND

    def __init__(self, consumers: Mapping[str, EventConsumer], chunk: int = 100) -> None:
        self.consumers = consumers
        self.chunk = chunk

    async def step(self, work: UnitOfWork, params: Mapping[str, Any], checkpoint: Any) -> JobStep:
        subscription = str(params["subscription"])
        consumer = self.consumers.get(subscription)
        if consumer is None:
            raise JobFailed(f"this service has no subscription {subscription!r}")
        state: dict[str, Any] = checkpoint or {"after": 0, "stuck": [], "redriven": 0, "failed": 0}
        total = None
        if checkpoint is None:
            total = await self._count(work, subscription, params)
        letters = await self._next(work, subscription, params, state)
        stuck = set(state["stuck"])
        seen: set[int] = set()  # letters this step re-ran already, as part of their case
        done = 0
        for letter in letters:
            if letter.id not in seen:
                for redone in await self._case(work, consumer, letter, stuck, seen):
                    done += 1
                    state["redriven" if redone else "failed"] += 1
            state["after"] = max(state["after"], letter.id)
        finished = len(letters) < self.chunk or "id" in params
        state["stuck"] = sorted(stuck)
        return JobStep(
            checkpoint=state,
            done=done,
            total=total,
            finished=finished,
            result={"redriven": state["redriven"], "still_open": state["failed"]},
        )

    async def _case(
        self,
        work: UnitOfWork,
        consumer: EventConsumer,
        first: StoredDeadLetter,
        stuck: set[str],
        seen: set[int],
    ) -> list[bool]:
        """Re-run `first`, then (if it went through) every later open letter of its case,
        including any parked meanwhile; whether each went through."""
        outcomes: list[bool] = []
        letter: StoredDeadLetter | None = first
        while letter is not None:
            if letter.subject and letter.subject in stuck:
                return outcomes  # an earlier letter of the case failed again: it waits
            seen.add(letter.id)
            failure = await consumer.redrive(work, letter)
            if failure is None:
                await dead_letters.resolve(work.connection, work.schema, letter.id, REDRIVEN)
            else:
                await dead_letters.note_failed_redrive(
                    work.connection, work.schema, letter.id, failure
                )
                if letter.subject:
                    stuck.add(letter.subject)
            _redriven.add(1, {"subscription": consumer.subscription, "ok": failure is None})
            outcomes.append(failure is None)
            if not letter.subject or failure is not None:
                return outcomes
            following = await dead_letters.open_letters(
                work.connection,
                work.schema,
                subscription=consumer.subscription,
                subject=letter.subject,
                after_id=letter.id,
                limit=1,
            )
            letter = following[0] if following else None
        return outcomes

    async def _next(
        self, work: UnitOfWork, subscription: str, params: Mapping[str, Any], state: dict[str, Any]
    ) -> list[StoredDeadLetter]:
        if "id" not in params:
            return await dead_letters.open_letters(
                work.connection,
                work.schema,
                subscription=subscription,
                subject=params.get("subject"),
                after_id=int(state["after"]),
                limit=self.chunk,
            )
        wanted = await dead_letters.letter(work.connection, work.schema, int(params["id"]))
        if wanted is None or wanted.subscription != subscription:
            raise JobFailed(f"no dead letter {params['id']} in {subscription}")
        if wanted.subject:
            earlier = await dead_letters.open_letters(
                work.connection, work.schema, subscription=subscription, subject=wanted.subject
            )
            if earlier and earlier[0].id < wanted.id:
                raise JobFailed(
                    f"dead letter {earlier[0].id} of the same case came first: redrive the"
                    f" case (--subject {wanted.subject}) or that letter first"
                )
        return [wanted]

    async def _count(self, work: UnitOfWork, subscription: str, params: Mapping[str, Any]) -> int:
        if "id" in params:
            return 1
        count = await work.connection.fetchval(
            f"SELECT count(*) FROM {work.schema}.dead_letters WHERE resolved_at IS NULL"
            " AND subscription = $1 AND ($2::text IS NULL OR subject = $2)",
            subscription,
            params.get("subject"),
        )
        return int(count)
