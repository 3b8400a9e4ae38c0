"""Properties of the amounts, over many generated applications (hypothesis)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from services.eligibility.domain.rules import assess
from tests.unit.eligibility.policy_fixtures import BOOK, CLEAR, applying

money_values = st.decimals(min_value=Decimal("0"), max_value=Decimal("100000"), places=2)
application_days = st.dates(min_value=date(2026, 1, 1), max_value=date(2028, 12, 31))


def _cap(benefit: str, on: date) -> Decimal:
    policy = BOOK.in_force(on)
    return {
        "old_age_pension": policy.old_age_pension.maximum_amount,
        "unemployment_benefit": policy.unemployment_benefit.maximum_amount,
        "targeted_social_assistance": policy.targeted_social_assistance.maximum_amount,
    }[benefit]


@given(years=st.integers(0, 70), on=application_days)
def test_pension_never_exceeds_its_cap_and_is_never_negative(years: int, on: date) -> None:
    award = assess(
        applying("old_age_pension", on=on, born=date(1940, 1, 1), insurance_years=years),
        BOOK,
        CLEAR,
    ).proposal
    assert award is not None
    assert Decimal(0) <= award.amount <= _cap("old_age_pension", on)
    assert award.amount == award.amount.quantize(Decimal("0.01"))


@given(years=st.integers(0, 69), on=application_days)
def test_more_insurance_years_never_lower_a_pension(years: int, on: date) -> None:
    def amount(y: int) -> Decimal:
        award = assess(
            applying("old_age_pension", on=on, born=date(1940, 1, 1), insurance_years=y),
            BOOK,
            CLEAR,
        ).proposal
        assert award is not None
        return award.amount

    assert amount(years + 1) >= amount(years)


@given(wage=money_values, months=st.integers(0, 18), on=application_days)
def test_unemployment_amount_stays_within_floor_and_cap(
    wage: Decimal, months: int, on: date
) -> None:
    award = assess(
        applying(
            "unemployment_benefit",
            on=on,
            registered_unemployed=True,
            insured_months_last_18=months,
            average_monthly_wage=str(wage),
        ),
        BOOK,
        CLEAR,
    ).proposal
    assert award is not None
    assert Decimal("280.00") <= award.amount <= _cap("unemployment_benefit", on)


@given(members=st.integers(1, 20), income=money_values, on=application_days)
def test_assistance_never_exceeds_its_cap_and_is_never_negative(
    members: int, income: Decimal, on: date
) -> None:
    result = assess(
        applying(
            "targeted_social_assistance",
            on=on,
            household_members=members,
            household_monthly_income=str(income),
        ),
        BOOK,
        CLEAR,
    )
    assert result.proposal is not None
    assert Decimal(0) <= result.proposal.amount <= _cap("targeted_social_assistance", on)
    if result.outcome == "approved":
        assert result.proposal.amount > 0
