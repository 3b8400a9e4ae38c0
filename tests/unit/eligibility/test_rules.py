"""Every rule and reason code of DOMAIN.md, at its boundaries."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from contracts.periods import money
from services.eligibility.domain.rules import (
    APPROVED,
    REJECTED,
    REVIEW,
    Assessment,
    Circumstances,
    assess,
)
from tests.unit.eligibility.policy_fixtures import (
    BOOK,
    CLEAR,
    DAY,
    applying,
    paying_per_extra_insurance_year,
)


def _rule(assessment: Assessment, name: str) -> dict[str, object]:
    (rule,) = [r for r in assessment.rules if r.rule == name]
    return {"passed": rule.passed, "reason": rule.reason, **rule.inputs}


# --- old-age pension -------------------------------------------------------------------


def test_exactly_65_today_is_old_enough() -> None:
    result = assess(
        applying("old_age_pension", born=date(1961, 6, 15), insurance_years=25), BOOK, CLEAR
    )
    assert result.outcome == APPROVED
    assert _rule(result, "minimum_age") == {
        "passed": True,
        "reason": None,
        "age": "65",
        "minimum": "65",
    }


def test_one_day_short_of_65_is_rejected_for_age() -> None:
    result = assess(
        applying("old_age_pension", born=date(1961, 6, 16), insurance_years=30), BOOK, CLEAR
    )
    assert result.outcome == REJECTED
    assert result.reasons == ("age_below_minimum",)


def test_25_insurance_years_pass_and_24_fail() -> None:
    born = date(1950, 1, 1)
    assert (
        assess(applying("old_age_pension", born=born, insurance_years=25), BOOK, CLEAR).outcome
        == APPROVED
    )
    short = assess(applying("old_age_pension", born=born, insurance_years=24), BOOK, CLEAR)
    assert short.reasons == ("insufficient_insurance_record",)


def test_every_failed_rule_is_a_reason() -> None:
    result = assess(
        applying("old_age_pension", born=date(1990, 1, 1), insurance_years=3), BOOK, CLEAR
    )
    assert result.reasons == ("age_below_minimum", "insufficient_insurance_record")


@pytest.mark.parametrize(
    ("years", "amount"),
    [(25, "280.00"), (31, "316.00"), (53, "448.00"), (70, "550.00")],
)
def test_pension_amount_is_base_plus_six_per_extra_year(years: int, amount: str) -> None:
    result = assess(
        applying("old_age_pension", born=date(1950, 1, 1), insurance_years=years), BOOK, CLEAR
    )
    assert result.proposal is not None
    assert result.proposal.amount == Decimal(amount)


@pytest.mark.parametrize(
    ("on", "per_extra_year", "version", "cap", "a_year_short"),
    [
        # 280 + 7.20 x 45 = 604.00 at 70 years, 280 + 7.20 x 44 = 596.80 at 69
        (DAY, "7.20", "2026", "600.00", "596.80"),
        # 2027: base 294 and cap 630; 294 + 7.50 x 45 = 631.50, 294 + 7.50 x 44 = 624.00
        (date(2027, 2, 1), "7.50", "2027", "630.00", "624.00"),
    ],
    ids=["2026", "2027"],
)
def test_pension_is_capped_and_2027_raises_base_and_cap(
    on: date, per_extra_year: str, version: str, cap: str, a_year_short: str
) -> None:
    book = paying_per_extra_insurance_year(Decimal(per_extra_year))

    def decided(years: int) -> Assessment:
        return assess(
            applying("old_age_pension", on=on, born=date(1950, 1, 1), insurance_years=years),
            book,
            CLEAR,
        )

    capped, short = decided(70), decided(69)
    assert (capped.outcome, capped.policy_version) == (APPROVED, version)
    assert capped.proposal is not None
    assert capped.proposal.amount == Decimal(cap)
    assert short.proposal is not None
    assert short.proposal.amount == Decimal(a_year_short) < Decimal(cap)


def test_a_pension_capped_in_2026_rises_with_the_2027_base_and_cap() -> None:
    book = paying_per_extra_insurance_year(Decimal("7.20"))
    award = assess(
        applying(
            "old_age_pension", on=date(2026, 12, 20), born=date(1950, 1, 1), insurance_years=70
        ),
        book,
        CLEAR,
    ).proposal
    assert award is not None
    assert [(s.effective_from, s.amount, s.policy_version) for s in award.schedule] == [
        (date(2026, 12, 1), Decimal("600.00"), "2026"),  # 604.00 capped
        (date(2027, 1, 1), Decimal("618.00"), "2027"),  # 294 + 7.20 x 45, under the new cap
    ]


def test_monthly_award_starts_on_the_first_of_the_application_month_with_a_schedule() -> None:
    result = assess(
        applying(
            "old_age_pension", on=date(2026, 12, 20), born=date(1950, 1, 1), insurance_years=31
        ),
        BOOK,
        CLEAR,
    )
    award = result.proposal
    assert award is not None
    assert (award.payment, award.start_date, award.end_date) == ("monthly", date(2026, 12, 1), None)
    assert [(s.effective_from, s.amount, s.policy_version) for s in award.schedule] == [
        (date(2026, 12, 1), Decimal("316.00"), "2026"),
        (date(2027, 1, 1), Decimal("330.00"), "2027"),
    ]


def test_age_counts_a_29_february_birthday_from_1_march() -> None:
    born = date(1964, 2, 29)

    def outcome(on: date) -> str:
        return assess(
            applying("old_age_pension", on=on, born=born, insurance_years=30), BOOK, CLEAR
        ).outcome

    assert outcome(date(2029, 2, 28)) == REJECTED
    assert outcome(date(2029, 3, 1)) == APPROVED


# --- disability benefit ----------------------------------------------------------------


@pytest.mark.parametrize(("group", "amount"), [(1, "330.00"), (2, "250.00"), (3, "180.00")])
def test_current_assessment_is_always_referred_with_the_group_amount(
    group: int, amount: str
) -> None:
    result = assess(
        applying("disability_benefit", disability_group=group, assessment_date="2026-01-10"),
        BOOK,
        CLEAR,
    )
    assert result.outcome == REVIEW
    assert result.review_reasons == ("disability_assessment_requires_review",)
    assert result.proposal is not None
    assert result.proposal.amount == Decimal(amount)


def test_assessment_exactly_12_months_old_is_current() -> None:
    result = assess(
        applying("disability_benefit", disability_group=2, assessment_date="2025-06-15"),
        BOOK,
        CLEAR,
    )
    assert result.outcome == REVIEW


def test_assessment_12_months_and_a_day_old_is_expired() -> None:
    result = assess(
        applying("disability_benefit", disability_group=2, assessment_date="2025-06-14"),
        BOOK,
        CLEAR,
    )
    assert (result.outcome, result.reasons) == (REJECTED, ("assessment_expired",))


def test_assessment_in_the_future_is_expired() -> None:
    result = assess(
        applying("disability_benefit", disability_group=2, assessment_date="2026-06-16"),
        BOOK,
        CLEAR,
    )
    assert result.reasons == ("assessment_expired",)


# --- unemployment benefit --------------------------------------------------------------


def _unemployment(months: int = 12, registered: bool = True, wage: str = "600.00") -> Assessment:
    return assess(
        applying(
            "unemployment_benefit",
            registered_unemployed=registered,
            insured_months_last_18=months,
            average_monthly_wage=wage,
        ),
        BOOK,
        CLEAR,
    )


def test_12_insured_months_pass_and_11_fail() -> None:
    assert _unemployment(12).outcome == APPROVED
    assert _unemployment(11).reasons == ("insufficient_insurance_record",)


def test_not_registered_is_rejected() -> None:
    assert _unemployment(registered=False).reasons == ("not_registered_unemployed",)


@pytest.mark.parametrize(
    ("wage", "amount"),
    [
        ("600.00", "420.00"),
        ("100.00", "280.00"),
        ("400.00", "280.00"),
        ("2000.00", "800.00"),
        ("500.01", "350.01"),
    ],
)
def test_unemployment_pays_70_percent_between_floor_and_cap(wage: str, amount: str) -> None:
    result = _unemployment(wage=wage)
    assert result.proposal is not None
    assert result.proposal.amount == Decimal(amount)


def test_unemployment_runs_six_months() -> None:
    award = _unemployment().proposal
    assert award is not None
    assert (award.start_date, award.end_date) == (date(2026, 6, 1), date(2026, 11, 30))


def test_seventy_percent_rounds_half_up() -> None:
    assert _unemployment(wage="700.05").proposal.amount == Decimal("490.04")  # type: ignore[union-attr]
    assert money(Decimal("490.035")) == Decimal("490.04")


# --- targeted social assistance --------------------------------------------------------


def _assistance(members: int, income: str) -> Assessment:
    return assess(
        applying(
            "targeted_social_assistance", household_members=members, household_monthly_income=income
        ),
        BOOK,
        CLEAR,
    )


def test_income_per_member_exactly_at_the_threshold_is_rejected() -> None:
    assert _assistance(2, "570.00").reasons == ("income_above_threshold",)


def test_income_per_member_a_cent_below_is_approved_for_the_gap() -> None:
    result = _assistance(2, "569.99")
    assert result.outcome == APPROVED
    assert result.proposal is not None
    assert result.proposal.amount == Decimal("0.01")


def test_assistance_is_capped_at_700_and_runs_twelve_months() -> None:
    result = _assistance(5, "100.00")
    assert result.proposal is not None
    assert result.proposal.amount == Decimal("700.00")
    assert result.proposal.end_date == date(2027, 5, 31)


def test_zero_income_is_referred_for_review() -> None:
    result = _assistance(1, "0.00")
    assert (result.outcome, result.review_reasons) == (REVIEW, ("zero_household_income",))
    assert result.proposal is not None
    assert result.proposal.amount == Decimal("285.00")


# --- childbirth allowance --------------------------------------------------------------


def _childbirth(born: date) -> Assessment:
    return assess(applying("childbirth_allowance", child_birth_date=born.isoformat()), BOOK, CLEAR)


def test_birth_365_days_ago_is_in_time_and_366_is_too_late() -> None:
    assert _childbirth(DAY - timedelta(days=365)).outcome == APPROVED
    assert _childbirth(DAY - timedelta(days=366)).reasons == ("application_too_late",)


def test_birth_in_the_future_is_refused() -> None:
    assert _childbirth(DAY + timedelta(days=1)).reasons == ("application_too_late",)


def test_childbirth_allowance_is_one_lump_sum_of_500() -> None:
    award = _childbirth(DAY).proposal
    assert award is not None
    assert (award.amount, award.payment, award.schedule) == (Decimal("500.00"), "lump_sum", ())


# --- for every benefit -----------------------------------------------------------------

EVERY_BENEFIT = [
    applying("old_age_pension", born=date(1950, 1, 1), insurance_years=30),
    applying("disability_benefit", disability_group=1, assessment_date="2026-05-01"),
    applying(
        "unemployment_benefit",
        registered_unemployed=True,
        insured_months_last_18=15,
        average_monthly_wage="900.00",
    ),
    applying("targeted_social_assistance", household_members=3, household_monthly_income="300.00"),
    applying("childbirth_allowance", child_birth_date="2026-05-01"),
]


@pytest.mark.parametrize("application", EVERY_BENEFIT, ids=lambda a: a.benefit)
def test_the_deceased_are_rejected_whatever_the_benefit(application: object) -> None:
    result = assess(application, BOOK, Circumstances(deceased=True, already_receiving=False))  # type: ignore[arg-type]
    assert result.outcome == REJECTED
    assert "deceased" in result.reasons


@pytest.mark.parametrize("application", EVERY_BENEFIT, ids=lambda a: a.benefit)
def test_someone_already_receiving_is_rejected_whatever_the_benefit(application: object) -> None:
    result = assess(application, BOOK, Circumstances(deceased=False, already_receiving=True))  # type: ignore[arg-type]
    assert result.reasons[0] == "already_receiving"


@pytest.mark.parametrize("application", EVERY_BENEFIT, ids=lambda a: a.benefit)
def test_a_decision_lists_every_rule_with_inputs_and_the_policy_version(
    application: object,
) -> None:
    result = assess(application, BOOK, CLEAR)  # type: ignore[arg-type]
    names = [rule.rule for rule in result.rules]
    assert names[:2] == ["not_deceased", "not_already_receiving"]
    assert len(names) >= 3
    assert all(rule.inputs for rule in result.rules)
    assert result.policy_version == "2026"
