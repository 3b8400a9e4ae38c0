"""The dispatcher: sends the pending messages, outside any consumer's transaction.

1. Claim: in a short transaction, take the due messages (`FOR UPDATE SKIP LOCKED`, so
   replicas share the work), mark them `sending` until a claim deadline and count the
   attempt. SMS in quiet hours are put off to the end of them instead.
2. Send each, within the channel's rate limit.
3. Record: in a second transaction, the outcome and its public event through the outbox:
   `NotificationSent`, a retry after a back-off with jitter, or `NotificationFailed`.

Killed between 2 and 3, the message stays `sending`; once its claim runs out another round
sends it again with the same idempotency key (SMS) or Message-ID (e-mail), which the
provider does not deliver twice, and records it then."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiolimiter import AsyncLimiter
from opentelemetry.trace import SpanKind

from chassis.database import Database
from chassis.telemetry import context_from_traceparent, meter, tracer
from chassis.unit_of_work import unit_of_work
from contracts import CloudEvent, new_cloud_event
from contracts.notifications import NotificationFailed, NotificationSent
from services.notifications.channels import Channel, OutgoingMessage
from services.notifications.domain.delivery import (
    Delivered,
    Failed,
    Outcome,
    QuietHours,
    RetryPolicy,
)

log = logging.getLogger(__name__)
SOURCE = "urn:dost:notifications"
_EVENT_IDS = uuid.UUID("5b1f3c0e-8f4e-4f0b-9a77-d05700000003")
_outcomes = meter("dost.notifications").create_counter(
    "dost_notifications", description="Messages sent, retried, failed, per channel and outcome"
)


@dataclass(frozen=True)
class Claimed:
    notification_id: str
    event_id: str
    case_id: str
    kind: str
    channel: str
    language: str
    recipient: str
    recipient_masked: str
    subject: str | None
    body: str
    html: str | None
    attempts: int
    traceparent: str | None = None


def limiter(per_second: float) -> AsyncLimiter:
    """At most `per_second` sends a second (one every 1/rate seconds below one a second)."""
    if per_second >= 1:
        return AsyncLimiter(per_second, 1.0)
    return AsyncLimiter(1, 1.0 / per_second)


class Dispatcher:
    def __init__(
        self,
        *,
        database: Database,
        schema: str,
        channels: Mapping[str, Channel],
        limiters: Mapping[str, AsyncLimiter],
        retry: RetryPolicy,
        quiet_hours: QuietHours,
        batch: int = 50,
        interval: float = 1.0,
        claim_for: timedelta = timedelta(seconds=60),
    ) -> None:
        self.database = database
        self.schema = schema
        self.channels = channels
        self.limiters = limiters
        self.retry = retry
        self.quiet_hours = quiet_hours
        self.batch = batch
        self.interval = interval
        self.claim_for = claim_for

    async def run(self, stop: asyncio.Event) -> None:
        """Send what is due until `stop` is set; a failing round is tried again later."""
        for channel in self.channels.values():
            await channel.open()
        try:
            while not stop.is_set():
                try:
                    sent = await self.dispatch_due()
                except Exception as error:  # the database is away, say: next round
                    log.warning("dispatch round failed: %s", type(error).__name__)
                    sent = 0
                if sent < self.batch:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=self.interval)
        finally:
            for channel in self.channels.values():
                await channel.close()

    async def dispatch_due(self) -> int:
        """One round: claim, send, record. Returns how many messages it tried."""
        claimed = await self.claim()
        # Not sent after most of the claim has gone by (waiting for the rate limit, say):
        # another round may have taken the message by then.
        send_by = asyncio.get_running_loop().time() + self.claim_for.total_seconds() * 0.75
        await asyncio.gather(*(self._deliver(message, send_by) for message in claimed))
        return len(claimed)

    async def claim(self, now: datetime | None = None) -> list[Claimed]:
        """Take the due messages; `now` is the database's clock unless a test sets it (every
        replica then compares claims against the same clock)."""
        schema = self.schema
        async with self.database.pool.acquire() as connection, connection.transaction():
            now = now or await connection.fetchval("SELECT now()")
            assert now is not None
            rows = await connection.fetch(
                f"SELECT d.* FROM {schema}.deliveries d"
                " WHERE d.not_before <= $1 AND (d.status = 'pending'"
                "  OR (d.status = 'sending' AND d.claimed_until < $1))"
                f" AND NOT EXISTS (SELECT 1 FROM {schema}.deaths x"
                "  WHERE x.national_id = d.national_id)"
                " ORDER BY d.not_before LIMIT $2 FOR UPDATE SKIP LOCKED",
                now,
                self.batch,
            )
            quiet = [r["notification_id"] for r in rows if r["channel"] == "sms"]
            if quiet and self.quiet_hours.contains(now):
                await connection.execute(
                    f"UPDATE {schema}.deliveries SET status = 'pending', not_before = $2,"
                    " claimed_until = NULL WHERE notification_id = ANY($1::text[])",
                    quiet,
                    self.quiet_hours.next_allowed(now),
                )
                rows = [r for r in rows if r["channel"] != "sms"]
            if not rows:
                return []
            await connection.execute(
                f"UPDATE {schema}.deliveries SET status = 'sending', attempts = attempts + 1,"
                " claimed_until = $2 WHERE notification_id = ANY($1::text[])",
                [r["notification_id"] for r in rows],
                now + self.claim_for,
            )
        return [
            Claimed(
                notification_id=r["notification_id"],
                event_id=r["event_id"],
                case_id=r["case_id"],
                kind=r["kind"],
                channel=r["channel"],
                language=r["language"],
                recipient=r["recipient"],
                recipient_masked=r["recipient_masked"],
                subject=r["subject"],
                body=r["body"],
                html=r["html"],
                attempts=r["attempts"] + 1,
                traceparent=r["traceparent"],
            )
            for r in rows
        ]

    async def _deliver(self, message: Claimed, send_by: float) -> None:
        """Send one message and record what became of it. Whatever goes wrong stays with
        this message: an error of ours counts as a failed attempt (retried, then
        NotificationFailed), and if even recording fails the claim runs out and the message
        is sent again, with its key, by a later round."""
        try:
            await self._send_and_record(message, send_by)
        except Exception as error:
            log.error("delivering %s failed: %s", message.notification_id, type(error).__name__)
            with contextlib.suppress(Exception):
                await self.record(message, Failed(f"internal error: {type(error).__name__}", False))

    async def _send_and_record(self, message: Claimed, send_by: float) -> None:
        channel = self.channels[message.channel]
        with tracer("dost.notifications").start_as_current_span(
            f"send {message.channel}",
            context=context_from_traceparent(message.traceparent),  # the case's trace
            kind=SpanKind.CLIENT,
            attributes={  # never the recipient
                "dost.notification_id": message.notification_id,
                "dost.case_id": message.case_id,
                "dost.kind": message.kind,
                "dost.attempt": message.attempts,
            },
        ) as span:
            async with self.limiters[message.channel]:
                if asyncio.get_running_loop().time() > send_by:
                    span.set_attribute("dost.outcome", "claim_ran_out")
                    return
                outcome = await channel.send(
                    OutgoingMessage(
                        message.notification_id,
                        message.recipient,
                        message.subject,
                        message.body,
                        message.html,
                        message.language,
                    )
                )
            result = await self.record(message, outcome)
            span.set_attribute("dost.outcome", result)
        _outcomes.add(1, {"channel": message.channel, "outcome": result})

    async def record(self, message: Claimed, outcome: Outcome, now: datetime | None = None) -> str:
        """Write what became of one attempt; returns `sent`, `retry`, `failed`,
        `cancelled` (the person was reported dead meanwhile) or `superseded` (the message
        was no longer this attempt's to record: its claim ran out and another took it)."""
        now = now or datetime.now(UTC)
        schema = self.schema
        async with unit_of_work(self.database, schema) as work:
            connection = work.connection
            guard = "notification_id = $1 AND status = 'sending' AND attempts = $2"
            finish = (
                f"UPDATE {schema}.deliveries SET status = $3, provider_message_id = $4,"
                " last_error = $5, recipient = recipient_masked, finished_at = $6,"
                f" claimed_until = NULL WHERE {guard}"
            )  # a finished message keeps only the masked recipient
            if isinstance(outcome, Delivered):
                done = await connection.execute(
                    finish,
                    message.notification_id,
                    message.attempts,
                    "sent",
                    outcome.provider_message_id,
                    None,
                    now,
                )
                if done.endswith(" 0"):
                    return "superseded"
                work.publish(self._sent(message, outcome, now))
                return "sent"
            assert isinstance(outcome, Failed)
            retry_at = None if outcome.permanent else self.retry.next_attempt(message.attempts, now)
            if retry_at is not None:
                if message.channel == "sms":
                    retry_at = self.quiet_hours.next_allowed(retry_at)
                done = await connection.execute(
                    f"UPDATE {schema}.deliveries SET status = 'pending', not_before = $3,"
                    f" last_error = $4, claimed_until = NULL WHERE {guard}",
                    message.notification_id,
                    message.attempts,
                    retry_at,
                    outcome.reason,
                )
                if done.endswith(" 0"):
                    return "superseded"
                # A death reported while this attempt was out: no further attempt.
                cancelled = await connection.execute(
                    f"UPDATE {schema}.deliveries d SET status = 'cancelled',"
                    " recipient = recipient_masked, last_error = 'person_reported_dead',"
                    " finished_at = $2 WHERE d.notification_id = $1 AND EXISTS (SELECT 1"
                    f" FROM {schema}.deaths x WHERE x.national_id = d.national_id)",
                    message.notification_id,
                    now,
                )
                return "cancelled" if not cancelled.endswith(" 0") else "retry"
            done = await connection.execute(
                finish,
                message.notification_id,
                message.attempts,
                "failed",
                None,
                outcome.reason,
                now,
            )
            if done.endswith(" 0"):
                return "superseded"
            work.publish(self._failed(message, outcome, now))
            return "failed"

    def _sent(self, message: Claimed, outcome: Delivered, now: datetime) -> CloudEvent:
        data = NotificationSent(
            **self._common(message), provider_message_id=outcome.provider_message_id, sent_at=now
        )
        return self._event(message, data, now)

    def _failed(self, message: Claimed, outcome: Failed, now: datetime) -> CloudEvent:
        data = NotificationFailed(
            **self._common(message),
            reason=outcome.reason,
            permanent=outcome.permanent,
            failed_at=now,
        )
        return self._event(message, data, now)

    @staticmethod
    def _common(message: Claimed) -> dict[str, object]:
        return {
            "notification_id": message.notification_id,
            "case_id": message.case_id,
            "event_id": message.event_id,
            "kind": message.kind,
            "channel": message.channel,
            "language": message.language,
            "recipient": message.recipient_masked,
            "attempts": message.attempts,
        }

    @staticmethod
    def _event(
        message: Claimed, data: NotificationSent | NotificationFailed, now: datetime
    ) -> CloudEvent:
        return new_cloud_event(
            data,
            source=SOURCE,
            subject=message.case_id,
            event_id=str(uuid.uuid5(_EVENT_IDS, message.notification_id)),
            time=now,
            causationid=message.event_id,
        )
