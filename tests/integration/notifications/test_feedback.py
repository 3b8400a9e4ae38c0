"""After a decision the citizen rates the service once through the link in the message;
supervisors read satisfaction per center."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from chassis.auth import Role
from chassis.settings import ChassisSettings
from contracts.application import agency_today
from services.notifications.domain.feedback import FeedbackToken, sign, verify
from services.notifications.settings import NotificationsSettings
from tests.integration.applications import bearer
from tests.integration.lifecycle.helpers import submit
from tests.integration.notifications.helpers import Notifications, all_sent, citizen

pytestmark = pytest.mark.integration


async def rating_link(
    notifications: Notifications, clerk: httpx.AsyncClient, center_id: str, **changes: object
) -> tuple[str, str]:
    """A new case at `center_id`, decided; the case id and the token of its rating link."""
    body = citizen("en", center_id=center_id, **changes)
    case_id = await submit(clerk, body)
    await notifications.until_messages(  # both channels: the link is read from both
        case_id,
        lambda ms: any(
            {m["channel"] for m in ms if m["kind"] == kind and m["status"] == "sent"}
            == {"sms", "email"}
            for kind in ("approved", "rejected")
        ),
    )
    texts = notifications.sinks.texts_to(body["applicant"]["phone"])
    (token,) = {
        found for t in texts for found in re.findall(r"/feedback/([A-Za-z0-9_-]{48})", t["text"])
    }
    emails = notifications.sinks.emails_to(body["applicant"]["email"])
    assert any(f"/feedback/{token}" in e["text"] for e in emails)  # the same link by e-mail
    return case_id, token


async def test_a_citizen_rates_once_and_the_report_counts_it(
    notifications: Notifications, clerk: httpx.AsyncClient, settings: ChassisSettings
) -> None:
    center = f"test-{uuid.uuid4().hex[:8]}"
    _, first = await rating_link(notifications, clerk, center)
    _, second = await rating_link(notifications, clerk, center, facts={"insurance_years": 5})
    _, third = await rating_link(notifications, clerk, center)
    for token, rating in ((first, 5), (second, 2), (third, 4)):
        answer = await notifications.citizen.post(
            "/v1/feedback", json={"token": token, "rating": rating}
        )
        assert answer.status_code == 201, answer.text
    again = await notifications.citizen.post("/v1/feedback", json={"token": first, "rating": 1})
    assert again.status_code == 409
    report = await notifications.supervisor.get("/v1/satisfaction", params={"center_id": center})
    assert report.status_code == 200, report.text
    (figures,) = report.json()["centers"]
    assert figures == {
        "center_id": center,
        "responses": 3,
        "satisfied": 2,
        "satisfied_share": "66.7",
        "average_rating": "3.67",
    }
    today = agency_today()
    yesterday = (today - timedelta(days=1)).isoformat()
    earlier = await notifications.supervisor.get(
        "/v1/satisfaction", params={"center_id": center, "from": yesterday, "to": yesterday}
    )
    assert earlier.json()["centers"] == []
    assert earlier.json()["responses"] == 0
    # Only supervisors read the report.
    async with httpx.AsyncClient(
        base_url=notifications.url, headers=bearer(settings, Role.CLERK)
    ) as clerk_client:
        assert (await clerk_client.get("/v1/satisfaction")).status_code == 403


async def test_a_forged_expired_or_unknown_token_is_refused_and_bad_ratings_are_422(
    notifications: Notifications, clerk: httpx.AsyncClient, settings: ChassisSettings
) -> None:
    _, token = await rating_link(notifications, clerk, f"test-{uuid.uuid4().hex[:8]}")
    key = NotificationsSettings(**settings.model_dump(by_alias=True)).feedback_signing_key()
    genuine = verify(token, key)
    expired = sign(
        FeedbackToken(genuine.invitation_id, datetime.now(UTC) - timedelta(seconds=1)), key
    )
    forged = sign(genuine, b"someone else's key")
    unknown = sign(FeedbackToken(uuid.uuid4(), genuine.expires_at), key)
    for bad in (expired, forged, unknown, token[:-2] + "AA"):
        answer = await notifications.citizen.post("/v1/feedback", json={"token": bad, "rating": 5})
        assert answer.status_code == 401, (bad, answer.text)
    for body in (
        {"token": token, "rating": 0},
        {"token": token, "rating": 6},
        {"token": token, "rating": "5"},
        {"token": token},
        {"rating": 5},
    ):
        answer = await notifications.citizen.post("/v1/feedback", json=body)
        assert answer.status_code == 422, (body, answer.text)
    # None of that used the link up.
    assert (
        await notifications.citizen.post("/v1/feedback", json={"token": token, "rating": 5})
    ).status_code == 201


async def test_the_link_opens_a_form_in_the_citizens_language(
    notifications: Notifications, clerk: httpx.AsyncClient
) -> None:
    body = citizen("ru")
    case_id = await submit(clerk, body)
    await notifications.until_messages(case_id, all_sent({"approved"}))
    (token,) = {
        found
        for t in notifications.sinks.texts_to(body["applicant"]["phone"])
        for found in re.findall(r"/feedback/([A-Za-z0-9_-]{48})", t["text"])
    }
    page = await notifications.citizen.get(f"/feedback/{token}")
    assert page.status_code == 200
    assert 'lang="ru"' in page.text
    assert "Оцените обслуживание" in page.text
    sent = await notifications.citizen.post(
        f"/feedback/{token}",
        content="rating=4",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert sent.status_code == 200
    assert "Спасибо" in sent.text
    used = await notifications.citizen.post(
        f"/feedback/{token}",
        content="rating=1",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert used.status_code == 409
    assert (await notifications.citizen.get("/feedback/not-a-token")).status_code == 200
