"""Every kind of message reaches the SMTP server and the SMS gateway, in the citizen's
language, through the real services, broker and database."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from chassis.database import Database
from chassis.settings import ChassisSettings
from contracts.application import agency_today
from contracts.topics import ELIGIBILITY_EVENTS, PAYMENTS_EVENTS
from tests.integration.lifecycle.helpers import case_status, publish_json, submit
from tests.integration.notifications.helpers import Notifications, all_sent, citizen

pytestmark = pytest.mark.integration


def payments_event(name: str, case_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """An event of payments' as it publishes it (the test plays the payments context)."""
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "urn:dost:payments",
        "type": f"dost.payments.{name}.v1",
        "subject": case_id,
        "time": datetime.now(UTC).isoformat(),
        "datacontenttype": "application/json",
        "data": {"entitlement_id": case_id, "case_id": case_id, **data},
    }


async def test_an_approval_is_told_by_sms_and_email_in_english_with_a_rating_link(
    notifications: Notifications, clerk: httpx.AsyncClient, settings: ChassisSettings
) -> None:
    body = citizen("en")
    phone, email = body["applicant"]["phone"], body["applicant"]["email"]
    case_id = await submit(clerk, body)
    messages = await notifications.until_messages(
        case_id, all_sent({"application_received", "approved"})
    )
    assert {m["language"] for m in messages} == {"en"}
    assert {m["recipient"] for m in messages} == {
        phone[:4] + "*******" + phone[-2:],
        email[0] + "***@example.az",
    }
    # (The two events' messages go out in the same rounds: their order at a sink is free.)
    texts = notifications.sinks.texts_to(phone)
    assert sorted(t["text"].split(":")[1].strip()[:12] for t in texts) == [
        "we received ",
        "your old-age",
    ]
    (approval,) = [t["text"] for t in texts if "approved" in t["text"]]
    assert "316.00 AZN a month from" in approval  # 280 + 6 x (31 - 25)
    assert re.search(r"/feedback/[A-Za-z0-9_-]{48}$", approval)
    first_of_month = agency_today().replace(day=1)
    assert f"{first_of_month.day} {first_of_month:%B %Y}" in approval
    emails = notifications.sinks.emails_to(email)
    assert sorted(e["subject"] for e in emails) == [
        "Your application for old-age pension was received",
        "Your old-age pension is approved",
    ]
    (approved_email,) = [e for e in emails if e["subject"].endswith("is approved")]
    assert all(
        e["language"] == "en" and e["html"] and '<html lang="en">' in e["html"] for e in emails
    )
    sent = {(m["kind"], m["channel"]): m for m in messages}
    assert sent[("approved", "email")]["provider_message_id"] == approved_email["message_id"]
    # Staff read the message without the citizen's one-time rating link.
    assert "/feedback/…" in sent[("approved", "sms")]["body"]
    # The tracker shows what was told (the notifications' events, recipients masked).
    await case_status(clerk, case_id, "approved")
    async with asyncio.timeout(30):
        while (
            len(told := (await clerk.get(f"/v1/applications/{case_id}")).json()["notifications"])
            < 4
        ):
            await asyncio.sleep(0.2)
    assert {n["type"] for n in told} == {"dost.notifications.NotificationSent.v1"}
    assert all(phone not in str(n) and email not in str(n) for n in told)


async def test_a_rejection_is_told_in_azerbaijani_with_its_reasons_in_plain_words(
    notifications: Notifications, clerk: httpx.AsyncClient
) -> None:
    body = citizen("az", facts={"insurance_years": 10})
    case_id = await submit(clerk, body)
    await notifications.until_messages(case_id, all_sent({"rejected"}))
    (sms,) = [
        t
        for t in notifications.sinks.texts_to(body["applicant"]["phone"])
        if "təsdiq edilmədi" in t["text"]
    ]
    assert "Sığorta stajınız bu müavinət üçün tələb olunandan azdır." in sms["text"]
    assert "insufficient_insurance_record" not in sms["text"]
    (email,) = [
        e
        for e in notifications.sinks.emails_to(body["applicant"]["email"])
        if e["subject"].startswith("Müraciətiniz üzrə qərar")
    ]
    assert "- Sığorta stajınız" in email["text"]
    assert "<li>Sığorta stajınız" in email["html"]


async def test_a_referral_is_told_in_russian(
    notifications: Notifications, clerk: httpx.AsyncClient
) -> None:
    assessed = (agency_today() - timedelta(days=20)).isoformat()
    body = citizen(
        "ru",
        benefit="disability_benefit",
        facts={"disability_group": 2, "assessment_date": assessed},
    )
    case_id = await submit(clerk, body)
    await notifications.until_messages(
        case_id, all_sent({"application_received", "referred_for_review"})
    )
    texts = [t["text"] for t in notifications.sinks.texts_to(body["applicant"]["phone"])]
    assert any(
        "рассмотрит специалист" in text and "пособие по инвалидности" in text for text in texts
    )


async def test_payments_news_is_told_settled_returned_suspended_and_ended(
    notifications: Notifications, clerk: httpx.AsyncClient, settings: ChassisSettings
) -> None:
    body = citizen("en")
    case_id = await submit(clerk, body)
    await notifications.until_messages(case_id, all_sent({"approved"}))
    now = datetime.now(UTC).isoformat()
    for event in (
        payments_event(
            "PaymentSettled",
            case_id,
            {"instruction_id": "PI-1", "amount": "560.00", "settled_at": now},
        ),
        payments_event(
            "PaymentReturned",
            case_id,
            {
                "instruction_id": "PI-2",
                "amount": "280.00",
                "reason": "AC04 closed",
                "returned_at": now,
            },
        ),
        payments_event(
            "EntitlementSuspended", case_id, {"reason": "bank_details", "suspended_at": now}
        ),
        payments_event(
            "EntitlementTerminated",
            case_id,
            {"reason": "expired", "ends_on": "2027-05-31", "terminated_at": now},
        ),
    ):
        await publish_json(settings, PAYMENTS_EVENTS, event, key=case_id)
    kinds = {"payment_settled", "payment_returned", "suspended", "ended"}
    await notifications.until_messages(case_id, all_sent(kinds))
    texts = [t["text"] for t in notifications.sinks.texts_to(body["applicant"]["phone"])]
    assert any("560.00 AZN of your old-age pension was paid" in text for text in texts)
    assert any("update your bank details" in text for text in texts)
    assert any("on hold" in text for text in texts)
    assert any("ended on 31 May 2027" in text for text in texts)
    assert len(notifications.sinks.emails_to(body["applicant"]["email"])) == 6


async def test_a_redelivered_event_reaches_the_citizen_once_per_channel(
    notifications: Notifications, clerk: httpx.AsyncClient, settings: ChassisSettings
) -> None:
    body = citizen("en")
    case_id = await submit(clerk, body)
    await notifications.until_messages(case_id, all_sent({"approved"}))
    settled = payments_event(
        "PaymentSettled",
        case_id,
        {"instruction_id": "PI-7", "amount": "280.00", "settled_at": datetime.now(UTC).isoformat()},
    )
    for _ in range(3):
        await publish_json(settings, PAYMENTS_EVENTS, settled, key=case_id)
    marker = payments_event(
        "EntitlementSuspended",
        case_id,
        {"reason": "bank_details", "suspended_at": datetime.now(UTC).isoformat()},
    )
    await publish_json(settings, PAYMENTS_EVENTS, marker, key=case_id)
    # Once the later event's messages are out, the repeats have been read and refused.
    messages = await notifications.until_messages(case_id, all_sent({"suspended"}))
    assert sorted(m["channel"] for m in messages if m["kind"] == "payment_settled") == [
        "email",
        "sms",
    ]
    texts = notifications.sinks.texts_to(body["applicant"]["phone"])
    assert sum("was paid" in t["text"] for t in texts) == 1
    emails = notifications.sinks.emails_to(body["applicant"]["email"])
    assert sum(e["subject"] == "Your old-age pension was paid" for e in emails) == 1


async def test_a_withdrawal_is_confirmed_and_a_decision_held_until_eligibility_rejects_it(
    notifications: Notifications,
    clerk: httpx.AsyncClient,
    settings: ChassisSettings,
    database: Database,
) -> None:
    assessed = (agency_today() - timedelta(days=20)).isoformat()
    body = citizen(
        "en",
        benefit="disability_benefit",
        facts={"disability_group": 3, "assessment_date": assessed},
    )
    case_id = await submit(clerk, body)
    await notifications.until_messages(case_id, all_sent({"referred_for_review"}))
    withdrawn = await clerk.post(
        f"/v1/applications/{case_id}/withdraw", json={"reason": "moved abroad"}
    )
    assert withdrawn.status_code in (200, 202), withdrawn.text
    await notifications.until_messages(case_id, all_sent({"withdrawn"}))
    # A decision that crossed the withdrawal (the test plays eligibility): held, not told...
    decided = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "urn:dost:eligibility",
        "type": "dost.eligibility.EligibilityDecided.v1",
        "subject": case_id,
        "time": datetime.now(UTC).isoformat(),
        "datacontenttype": "application/json",
        "data": {
            "case_id": case_id,
            "benefit": "disability_benefit",
            "outcome": "rejected",
            "reasons": ["assessment_expired"],
            "award": None,
            "payee": None,
            "policy_version": "2026",
            "rules": [],
            "decided_at": datetime.now(UTC).isoformat(),
            "decided_by": "caseworker-7",
        },
    }
    await publish_json(settings, ELIGIBILITY_EVENTS, decided, key=case_id)
    async with asyncio.timeout(30):
        while (
            await database.pool.fetchval(
                f"SELECT state FROM {notifications.schema}.notices WHERE event_id = $1",
                decided["id"],
            )
            != "held"
        ):
            await asyncio.sleep(0.1)
    assert not [m for m in await notifications.messages(case_id) if m["kind"] == "rejected"]
    # ... until eligibility says the decision came first and stands: then it is told.
    rejected = {
        **decided,
        "id": str(uuid.uuid4()),
        "type": "dost.eligibility.WithdrawalRejected.v1",
        "data": {
            "case_id": case_id,
            "decision": "rejected",
            "reason": "decided_before_withdrawal",
            "withdrawal_id": str(uuid.uuid4()),
            "rejected_at": datetime.now(UTC).isoformat(),
        },
    }
    await publish_json(settings, ELIGIBILITY_EVENTS, rejected, key=case_id)
    await notifications.until_messages(case_id, all_sent({"rejected"}))
    texts = notifications.sinks.texts_to(body["applicant"]["phone"])
    assert sum("was withdrawn as you asked" in t["text"] for t in texts) == 1


async def test_news_days_old_is_not_told(
    notifications: Notifications,
    clerk: httpx.AsyncClient,
    settings: ChassisSettings,
    database: Database,
) -> None:
    body = citizen("en")
    case_id = await submit(clerk, body)
    await notifications.until_messages(case_id, all_sent({"approved"}))
    old = payments_event("EntitlementSuspended", case_id, {"reason": "bank_details"})
    old["time"] = (datetime.now(UTC) - timedelta(days=4)).isoformat()
    old["data"]["suspended_at"] = old["time"]
    await publish_json(settings, PAYMENTS_EVENTS, old, key=case_id)
    async with asyncio.timeout(30):
        while (
            state := await database.pool.fetchval(
                f"SELECT state_reason FROM {notifications.schema}.notices WHERE event_id = $1",
                old["id"],
            )
        ) is None:
            await asyncio.sleep(0.1)
    assert state == "stale"
    assert not [m for m in await notifications.messages(case_id) if m["kind"] == "suspended"]
