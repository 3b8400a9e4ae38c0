"""The what-if comparison, in memory."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

from services.eligibility.domain.simulation import simulate
from tests.unit.eligibility.policy_fixtures import BOOK, CLEAR, applying


def test_lowering_the_pension_age_changes_decisions_and_spending() -> None:
    history = [
        (
            applying("old_age_pension", born=date(1962, 1, 1), insurance_years=30),
            CLEAR,
        ),  # 64: rejected now
        (
            applying("old_age_pension", born=date(1950, 1, 1), insurance_years=25),
            CLEAR,
        ),  # approved 280
        (applying("childbirth_allowance", child_birth_date="2026-05-01"), CLEAR),
    ]
    current = BOOK.in_force(date(2026, 6, 1))
    proposed = replace(
        current,
        version="proposal",
        old_age_pension=replace(
            current.old_age_pension, minimum_age=63, base_amount=Decimal("300.00")
        ),
    )
    impacts = simulate(history, BOOK, proposed, as_of=date(2026, 6, 30))
    pension = impacts["old_age_pension"]
    assert (pension.applications, pension.decisions_changed) == (2, 1)
    assert (pension.approved_now, pension.approved_proposed) == (1, 2)
    assert pension.monthly_spending_now == Decimal("280.00")
    assert pension.monthly_spending_proposed == Decimal("630.00")  # 300 + (300 + 5 x 6)
    assert impacts["childbirth_allowance"].decisions_changed == 0
    assert impacts["childbirth_allowance"].monthly_spending_now == Decimal("0.00")


def test_applications_after_the_as_of_date_are_left_out() -> None:
    history = [
        (
            applying(
                "old_age_pension", on=date(2026, 9, 1), born=date(1950, 1, 1), insurance_years=25
            ),
            CLEAR,
        )
    ]
    assert simulate(history, BOOK, BOOK.policies[0], as_of=date(2026, 8, 31)) == {}
