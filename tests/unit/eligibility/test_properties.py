"""Properties of the amounts, over many generated applications (hypothesis).

A bound holds vacuously when no generated case reaches it, so each property counts which
branch of the amount its cases took (hypothesis `event`s) and fails unless hypothesis
generated cases on both sides of every cap; the pension's cap is rare in random cases, so
those properties `target` it."""

from __future__ import annotations

from collections import Counter
from datetime import date
from decimal import Decimal

from hypothesis import event, given, target
from hypothesis import strategies as st

from services.eligibility.domain.policy import PolicyBook
from services.eligibility.domain.rules import assess
from tests.unit.eligibility.policy_fixtures import (
    BOOK,
    CLEAR,
    applying,
    paying_per_extra_insurance_year,
)

money_values = st.decimals(min_value=Decimal("0"), max_value=Decimal("100000"), places=2)
# Below the unemployment floor (70 % of 400.00 = 280.00), between it and the cap (70 % of
# about 1142.86 = 800.00), and above the cap up to the extreme: hypothesis draws small
# values far more often than large ones, so one range alone rarely leaves the floor.
wages = st.one_of(
    st.decimals(min_value=Decimal("0"), max_value=Decimal("400"), places=2),
    st.decimals(min_value=Decimal("400"), max_value=Decimal("1150"), places=2),
    st.decimals(min_value=Decimal("1140"), max_value=Decimal("100000"), places=2),
)
application_days = st.dates(min_value=date(2026, 1, 1), max_value=date(2028, 12, 31))
# The shipped 6.00 per extra year never reaches the pension cap (550.00 at 70 years);
# from about 7.12 (2026) or 7.47 (2027) on, a long insurance record does.
per_extra_year = st.decimals(min_value=Decimal("0"), max_value=Decimal("20"), places=2)


def _branch(seen: Counter[str], branch: str) -> None:
    event(branch)
    seen[branch] += 1


def _pension(book: PolicyBook, on: date, years: int) -> Decimal:
    award = assess(
        applying("old_age_pension", on=on, born=date(1940, 1, 1), insurance_years=years),
        book,
        CLEAR,
    ).proposal
    assert award is not None
    return award.amount


def test_pension_never_exceeds_its_cap_and_is_never_negative() -> None:
    seen: Counter[str] = Counter()

    @given(years=st.integers(0, 70), on=application_days, per_year=per_extra_year)
    def pension_within_cap(years: int, on: date, per_year: Decimal) -> None:
        book = paying_per_extra_insurance_year(per_year)
        amount = _pension(book, on, years)
        cap = book.in_force(on).old_age_pension.maximum_amount
        assert Decimal(0) <= amount <= cap
        assert amount == amount.quantize(Decimal("0.01"))
        target(float(amount / cap), label="pension as a share of its cap")
        _branch(seen, "at the cap" if amount == cap else "below the cap")

    pension_within_cap()
    assert set(seen) == {"at the cap", "below the cap"}, seen


def test_more_insurance_years_never_lower_a_pension() -> None:
    seen: Counter[str] = Counter()

    @given(years=st.integers(0, 69), on=application_days, per_year=per_extra_year)
    def monotone(years: int, on: date, per_year: Decimal) -> None:
        book = paying_per_extra_insurance_year(per_year)
        fewer, more = _pension(book, on, years), _pension(book, on, years + 1)
        assert more >= fewer
        cap = book.in_force(on).old_age_pension.maximum_amount
        target(float(more / cap), label="pension as a share of its cap")
        _branch(seen, "at the cap" if more == cap else "below the cap")

    monotone()
    assert set(seen) == {"at the cap", "below the cap"}, seen


def test_unemployment_amount_stays_within_floor_and_cap() -> None:
    seen: Counter[str] = Counter()

    @given(wage=wages, months=st.integers(0, 18), on=application_days)
    def within_floor_and_cap(wage: Decimal, months: int, on: date) -> None:
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
        rules = BOOK.in_force(on).unemployment_benefit
        assert rules.minimum_amount <= award.amount <= rules.maximum_amount
        if award.amount == rules.maximum_amount:
            _branch(seen, "at the cap")
        elif award.amount == rules.minimum_amount:
            _branch(seen, "at the floor")
        else:
            _branch(seen, "between")

    within_floor_and_cap()
    assert set(seen) == {"at the cap", "at the floor", "between"}, seen


def test_assistance_never_exceeds_its_cap_and_is_never_negative() -> None:
    seen: Counter[str] = Counter()

    @given(members=st.integers(1, 20), income=money_values, on=application_days)
    def within_cap(members: int, income: Decimal, on: date) -> None:
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
        cap = BOOK.in_force(on).targeted_social_assistance.maximum_amount
        assert Decimal(0) <= result.proposal.amount <= cap
        if result.outcome == "approved":
            assert result.proposal.amount > 0
        if result.proposal.amount == cap:
            _branch(seen, "at the cap")
        elif result.proposal.amount == 0:
            _branch(seen, "nothing")
        else:
            _branch(seen, "below the cap")

    within_cap()
    assert set(seen) == {"at the cap", "below the cap", "nothing"}, seen
