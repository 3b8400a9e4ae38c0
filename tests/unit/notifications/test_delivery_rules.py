"""Quiet hours, retries, masking, SMS length, who may still be told, rating tokens."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from services.notifications.domain.delivery import Failed, QuietHours, RetryPolicy
from services.notifications.domain.errors import InvalidFeedbackToken
from services.notifications.domain.feedback import FeedbackToken, invitation_id, sign, verify
from services.notifications.domain.notices import CaseStanding, Kind, Notice, NoticeState, state_of
from services.notifications.domain.recipients import mask_email, mask_phone
from services.notifications.domain.satisfaction import satisfied_share
from services.notifications.domain.sms import segments

BAKU = ZoneInfo("Asia/Baku")


def baku(hour: int, minute: int = 0, day: int = 24) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=BAKU)


def test_quiet_hours_across_midnight_defer_to_nine_in_baku() -> None:
    quiet = QuietHours.parse("21:00-09:00")
    assert not quiet.contains(baku(20, 59))
    assert quiet.contains(baku(21, 0))
    assert quiet.contains(baku(3))
    assert quiet.contains(baku(8, 59))
    assert not quiet.contains(baku(9, 0))
    assert quiet.next_allowed(baku(22, 30)) == baku(9, 0, day=25)
    assert quiet.next_allowed(baku(2)) == baku(9, 0)
    assert quiet.next_allowed(baku(12)) == baku(12)
    # Taken in Baku whatever the clock's zone: 18:30 UTC is 22:30 in Baku.
    assert quiet.contains(datetime(2026, 11, 24, 18, 30, tzinfo=UTC))


def test_quiet_hours_within_a_day_and_none() -> None:
    quiet = QuietHours.parse("13:00:00-14:00:30")
    assert quiet.contains(baku(13, 30))
    assert not quiet.contains(baku(14, 1))
    assert quiet.next_allowed(baku(13, 30)) == baku(14, 0).replace(second=30)
    never = QuietHours.parse("00:00-00:00")
    assert not never.contains(baku(3))


def test_quiet_hours_that_are_not_a_window_are_refused() -> None:
    with pytest.raises(ValueError, match="HH:MM-HH:MM"):
        QuietHours.parse("21:00")


def test_retries_back_off_exponentially_with_jitter_up_to_a_cap_then_stop() -> None:
    policy = RetryPolicy(max_attempts=5, base=timedelta(seconds=10), cap=timedelta(seconds=60))
    now = baku(12)
    jitter = random.Random(7)
    waits = [policy.next_attempt(n, now, jitter) for n in range(1, 5)]
    ceilings = [10, 20, 40, 60]
    for wait, ceiling in zip(waits, ceilings, strict=True):
        assert wait is not None
        assert timedelta(seconds=ceiling / 2) <= wait - now <= timedelta(seconds=ceiling)
    assert policy.next_attempt(5, now) is None
    assert len({policy.next_attempt(3, now) for _ in range(20)}) > 1  # jittered


def test_recipients_are_masked() -> None:
    assert mask_phone("+994501234567") == "+994*******67"
    assert mask_email("aysel.mammadova@example.az") == "a***@example.az"
    assert "501234" not in mask_phone("+994501234567")


def test_sms_segments_count_gsm_and_unicode_texts() -> None:
    assert segments("a" * 160) == 1
    assert segments("a" * 161) == 2
    assert segments("ə" * 70) == 1
    assert segments("ə" * 71) == 2
    assert segments("д" * 134) == 2
    assert segments("[" * 80) == 1
    assert segments("[" * 81) == 2


def notice(kind: Kind) -> Notice:
    return Notice("event-1", "case-1", kind)


def test_a_dead_person_is_told_nothing() -> None:
    for kind in Kind:
        state, why = state_of(notice(kind), CaseStanding(person_dead=True))
        assert state is NoticeState.DROPPED
        assert why == "person_reported_dead"


def test_after_a_withdrawal_only_its_confirmation_is_told() -> None:
    withdrawn = CaseStanding(withdrawn=True)
    assert state_of(notice(Kind.WITHDRAWN), CaseStanding())[0] is NoticeState.OPEN
    assert state_of(notice(Kind.APPROVED), withdrawn)[0] is NoticeState.HELD
    assert state_of(notice(Kind.REFERRED_FOR_REVIEW), withdrawn)[0] is NoticeState.HELD
    assert state_of(notice(Kind.APPLICATION_RECEIVED), withdrawn)[0] is NoticeState.OPEN


def test_a_withdrawal_that_crossed_the_decision_is_not_confirmed() -> None:
    state, why = state_of(notice(Kind.WITHDRAWN), CaseStanding(decided=True))
    assert state is NoticeState.DROPPED
    assert why == "decided_before_withdrawal"


KEY = b"k" * 32


def test_a_rating_token_round_trips_and_is_short() -> None:
    token = FeedbackToken(invitation_id("event-1"), datetime(2027, 1, 1, tzinfo=UTC))
    text = sign(token, KEY)
    assert len(text) == 48
    assert verify(text, KEY, now=datetime(2026, 12, 1, tzinfo=UTC)) == token
    assert invitation_id("event-1") == invitation_id("event-1") != invitation_id("event-2")


def test_a_forged_expired_or_garbled_token_is_refused() -> None:
    token = FeedbackToken(invitation_id("event-1"), datetime(2027, 1, 1, tzinfo=UTC))
    text = sign(token, KEY)
    before = datetime(2026, 12, 1, tzinfo=UTC)
    with pytest.raises(InvalidFeedbackToken, match="signature"):
        verify(text, b"other key", now=before)
    forged = sign(FeedbackToken(invitation_id("event-2"), token.expires_at), b"other key")
    with pytest.raises(InvalidFeedbackToken):
        verify(forged, KEY, now=before)
    with pytest.raises(InvalidFeedbackToken, match="expired"):
        verify(text, KEY, now=datetime(2027, 1, 1, tzinfo=UTC))
    for garbled in ("", "abc", text[:-1] + ("A" if text[-1] != "A" else "B"), "!!" * 24):
        with pytest.raises(InvalidFeedbackToken):
            verify(garbled, KEY, now=before)


def test_satisfied_share_is_a_percentage_with_one_place() -> None:
    assert satisfied_share(2, 3) == Decimal("66.7")
    assert satisfied_share(19, 20) == Decimal("95.0")
    assert satisfied_share(0, 0) is None


def test_what_a_provider_answers_is_kept_with_addresses_and_numbers_masked() -> None:
    failed = Failed("550 5.1.1 <aysel@example.az>: no mailbox; sms +994501234567 too", True)
    assert "aysel@" not in failed.reason
    assert "501234" not in failed.reason
    assert "a***@example.az" in failed.reason
    assert "+994*******67" in failed.reason
    assert "550 5.1.1" in failed.reason
