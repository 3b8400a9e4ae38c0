"""What a case's events mean for its messages, whatever order they arrive in: the
citizens' handlers run against the real database, in units of work as the consumer runs
them (the broker is not needed to decide what is told)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from chassis.database import Database, migrate
from chassis.unit_of_work import unit_of_work
from contracts import CloudEvent, EventData, new_cloud_event
from contracts.application import ApplicationBody, agency_today
from contracts.eligibility import EligibilityDecided, WithdrawalRejected
from contracts.intake import ApplicationSubmitted, ApplicationWithdrawn
from contracts.payments import PaymentSettled
from services.notifications.app import MIGRATIONS
from services.notifications.domain.delivery import QuietHours
from services.notifications.handlers import citizens
from services.notifications.handlers.citizens import Planning
from services.notifications.rendering import Renderer
from tests.integration.notifications.helpers import citizen

pytestmark = pytest.mark.integration
BAKU = ZoneInfo("Asia/Baku")
NOW = datetime.now(UTC)


def planning(*, quiet_now: bool = False) -> Planning:
    """With `quiet_now`, SMS wait (quiet hours around the present), e-mails do not."""
    now = datetime.now(BAKU)
    quiet = f"{now - timedelta(hours=1):%H:%M}-{now + timedelta(hours=1):%H:%M}"
    return Planning(
        renderer=Renderer(),
        quiet_hours=QuietHours.parse(quiet if quiet_now else "00:00-00:00"),
        feedback_url="https://dost.example/feedback",
        feedback_key=b"k" * 32,
        feedback_valid=timedelta(days=30),
    )


def event(data: EventData, case_id: str, source: str) -> CloudEvent:
    return new_cloud_event(data, source=source, subject=case_id)


def submitted(case_id: str, body: dict[str, Any]) -> CloudEvent:
    application = ApplicationBody.model_validate(body, context={"today": agency_today()})
    data = ApplicationSubmitted(
        case_id=case_id,
        application=application,
        submitted_at=NOW,
        channel="http",
        submitted_by="clerk-1",
    )
    return event(data, case_id, "urn:dost:intake")


def withdrawn(case_id: str) -> CloudEvent:
    data = ApplicationWithdrawn(case_id=case_id, withdrawn_at=NOW, withdrawn_by="clerk-1")
    return event(data, case_id, "urn:dost:intake")


def rejected(case_id: str, *reasons: str) -> CloudEvent:
    data = EligibilityDecided(
        case_id=case_id,
        benefit="old_age_pension",
        outcome="rejected",
        reasons=list(reasons),
        policy_version="2026",
        rules=[],
        decided_at=NOW,
        decided_by="automated",
    )
    return event(data, case_id, "urn:dost:eligibility")


def withdrawal_rejected(case_id: str, withdrawal_id: str) -> CloudEvent:
    data = WithdrawalRejected(
        case_id=case_id, decision="rejected", withdrawal_id=withdrawal_id, rejected_at=NOW
    )
    return event(data, case_id, "urn:dost:eligibility")


def settled(case_id: str) -> CloudEvent:
    data = PaymentSettled(
        instruction_id="PI-1",
        entitlement_id=case_id,
        case_id=case_id,
        amount="280.00",
        settled_at=NOW,
    )
    return event(data, case_id, "urn:dost:payments")


class Case:
    def __init__(self, database: Database, schema: str, plan: Planning) -> None:
        self.database, self.schema, self.plan = database, schema, plan
        self.case_id = str(uuid.uuid4())
        self.body = citizen("en")

    async def handle(self, *events: CloudEvent) -> None:
        handlers = {
            "ApplicationSubmitted": citizens.application_submitted,
            "ApplicationWithdrawn": citizens.application_withdrawn,
            "EligibilityDecided": citizens.eligibility_decided,
            "WithdrawalRejected": citizens.withdrawal_rejected,
            "PaymentSettled": citizens.payment_settled,
        }
        for cloud_event in events:
            async with unit_of_work(self.database, self.schema) as work:
                await handlers[cloud_event.type.split(".")[2]](work, self.plan, cloud_event)

    async def messages(self) -> dict[tuple[str, str], str]:
        rows = await self.database.pool.fetch(
            f"SELECT kind, channel, status FROM {self.schema}.deliveries WHERE case_id = $1",
            self.case_id,
        )
        return {(row["kind"], row["channel"]): row["status"] for row in rows}


@pytest.fixture
async def notifications_schema(database: Database, schema: str) -> str:
    async with database.pool.acquire() as connection:
        await migrate(connection, schema, [MIGRATIONS])
    return schema


async def test_a_withdrawal_rejected_before_it_arrives_is_not_confirmed_nor_holds_anything(
    database: Database, notifications_schema: str
) -> None:
    case = Case(database, notifications_schema, planning())
    withdrawal = withdrawn(case.case_id)
    await case.handle(
        submitted(case.case_id, case.body),
        rejected(case.case_id, "age_below_minimum"),
        withdrawal_rejected(case.case_id, withdrawal.id),  # eligibility answered first
        withdrawal,
        settled(case.case_id),
    )
    kinds = {kind for kind, _ in await case.messages()}
    assert kinds == {"application_received", "rejected", "payment_settled"}


async def test_a_withdrawal_holds_what_comes_after_it_and_cancels_what_waits(
    database: Database, notifications_schema: str
) -> None:
    case = Case(database, notifications_schema, planning(quiet_now=True))
    withdrawal = withdrawn(case.case_id)
    await case.handle(submitted(case.case_id, case.body), withdrawal)
    messages = await case.messages()
    assert messages[("application_received", "sms")] == "cancelled"  # was waiting: not sent
    assert messages[("withdrawn", "sms")] == "pending"
    decision = rejected(case.case_id, "age_below_minimum")
    await case.handle(decision)  # crossed the withdrawal: held
    assert ("rejected", "sms") not in await case.messages()
    # Eligibility says the decision came first: it is told, the confirmation is not.
    await case.handle(withdrawal_rejected(case.case_id, withdrawal.id))
    messages = await case.messages()
    assert messages[("rejected", "sms")] == "pending"
    assert messages[("rejected", "email")] == "pending"
    assert messages[("withdrawn", "sms")] == "cancelled"


async def test_a_rejection_deceased_cancels_what_waits_for_the_person(
    database: Database, notifications_schema: str
) -> None:
    case = Case(database, notifications_schema, planning(quiet_now=True))
    await case.handle(submitted(case.case_id, case.body))
    assert (await case.messages())[("application_received", "sms")] == "pending"
    await case.handle(rejected(case.case_id, "deceased"), settled(case.case_id))
    messages = await case.messages()
    assert messages == {  # nothing was sent yet (no dispatcher here): nothing will be
        ("application_received", "sms"): "cancelled",
        ("application_received", "email"): "cancelled",
    }
    assert (
        await database.pool.fetchval(
            f"SELECT count(*) FROM {notifications_schema}.deaths WHERE national_id = $1",
            case.body["applicant"]["national_id"],
        )
        == 1
    )


async def test_a_rejection_deceased_before_the_application_leaves_nothing_to_send(
    database: Database, notifications_schema: str
) -> None:
    case = Case(database, notifications_schema, planning())
    await case.handle(rejected(case.case_id, "deceased"), submitted(case.case_id, case.body))
    assert await case.messages() == {}
