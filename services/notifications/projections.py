"""What staff read: the messages of a case, and satisfaction per center."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from chassis.database import Queryable
from services.notifications.domain.errors import InvalidFeedbackToken
from services.notifications.domain.feedback import verify
from services.notifications.domain.satisfaction import SATISFIED, satisfied_share

AGENCY_ZONE = ZoneInfo("Asia/Baku")
_RATING_TOKEN = re.compile(r"(?<=/)[A-Za-z0-9_-]{48}(?![A-Za-z0-9_-])")


def without_rating_links(text: str | None) -> str | None:
    """A message as staff may read it: the citizen's one-time rating link left out."""
    return _RATING_TOKEN.sub("…", text) if text else text


async def messages_of_case(
    connection: Queryable, schema: str, case_id: str
) -> list[dict[str, Any]]:
    rows = await connection.fetch(
        "SELECT notification_id, event_id, kind, channel, language, recipient_masked, status,"
        " attempts, subject, body, last_error, provider_message_id, created_at, not_before,"
        f" finished_at FROM {schema}.deliveries WHERE case_id = $1"
        " ORDER BY created_at, notification_id",
        case_id,
    )
    return [
        {
            "notification_id": row["notification_id"],
            "event_id": row["event_id"],
            "kind": row["kind"],
            "channel": row["channel"],
            "language": row["language"],
            "recipient": row["recipient_masked"],
            "status": row["status"],
            "attempts": row["attempts"],
            "subject": row["subject"],
            "body": without_rating_links(row["body"]),
            "error": row["last_error"],
            "provider_message_id": row["provider_message_id"],
            "created_at": row["created_at"],
            "send_after": row["not_before"],
            "finished_at": row["finished_at"],
        }
        for row in rows
    ]


async def language_of_invitation(
    connection: Queryable, schema: str, key: bytes, token: str
) -> str | None:
    """The language of the citizen a rating link was sent to; None for a bad link."""
    try:
        claims = verify(token, key, now=datetime.min.replace(tzinfo=AGENCY_ZONE))
    except InvalidFeedbackToken:
        return None
    language: str | None = await connection.fetchval(
        f"SELECT c.language FROM {schema}.feedback_invitations i"
        f" JOIN {schema}.contacts c USING (case_id) WHERE i.invitation_id = $1",
        claims.invitation_id,
    )
    return language


@dataclass(frozen=True)
class CenterSatisfaction:
    center_id: str
    responses: int
    satisfied: int
    average_rating: Decimal
    satisfied_share: Decimal | None


async def satisfaction(
    connection: Queryable, schema: str, center_id: str | None, first: date, last: date
) -> list[CenterSatisfaction]:
    """Ratings received from `first` to `last` (Asia/Baku dates, both included), per center."""
    since = datetime.combine(first, datetime.min.time(), tzinfo=AGENCY_ZONE)
    until = datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=AGENCY_ZONE)
    rows = await connection.fetch(
        "SELECT center_id, count(*) AS responses,"
        " count(*) FILTER (WHERE rating = ANY($4::smallint[])) AS satisfied,"
        " round(avg(rating), 2) AS average"
        f" FROM {schema}.feedback WHERE received_at >= $1 AND received_at < $2"
        " AND ($3::text IS NULL OR center_id = $3) GROUP BY center_id ORDER BY center_id",
        since,
        until,
        center_id,
        list(SATISFIED),
    )
    return [
        CenterSatisfaction(
            row["center_id"],
            row["responses"],
            row["satisfied"],
            row["average"],
            satisfied_share(row["satisfied"], row["responses"]),
        )
        for row in rows
    ]
