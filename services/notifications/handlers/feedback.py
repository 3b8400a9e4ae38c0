"""Citizens' ratings: recorded once per invitation, reported per center."""

from __future__ import annotations

import asyncpg

from chassis.database import Database
from services.notifications.domain.errors import FeedbackAlreadyGiven, InvalidFeedbackToken
from services.notifications.domain.feedback import verify


async def give_feedback(
    database: Database,
    schema: str,
    key: bytes,
    token: str,
    rating: int,
    comment: str | None,
) -> str:
    """Record a rating for the invitation the token names; returns the case id.
    :class:`InvalidFeedbackToken` for a forged or expired token (or one naming no
    invitation), :class:`FeedbackAlreadyGiven` the second time."""
    claims = verify(token, key)
    async with database.pool.acquire() as connection, connection.transaction():
        invitation = await connection.fetchrow(
            f"SELECT case_id, center_id FROM {schema}.feedback_invitations"
            " WHERE invitation_id = $1",
            claims.invitation_id,
        )
        if invitation is None:
            raise InvalidFeedbackToken("no such invitation")
        try:
            await connection.execute(
                f"INSERT INTO {schema}.feedback (invitation_id, case_id, center_id, rating,"
                " comment) VALUES ($1, $2, $3, $4, $5)",
                claims.invitation_id,
                invitation["case_id"],
                invitation["center_id"],
                rating,
                comment,
            )
        except asyncpg.UniqueViolationError:
            raise FeedbackAlreadyGiven("this rating link was used already") from None
    return str(invitation["case_id"])
