"""The benefit rules: pure functions from an application, a policy and what is known of the
person to an explainable assessment. Every rule checked is reported with its inputs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from contracts.periods import money
from services.eligibility.domain.calendar import (
    add_months,
    age_on,
    first_of_month,
    last_day_after_months,
)
from services.eligibility.domain.policy import Policy, PolicyBook

APPROVED, REJECTED, REVIEW = "approved", "rejected", "review"
REJECTION_REASONS = frozenset(
    {
        "age_below_minimum",
        "insufficient_insurance_record",
        "assessment_expired",
        "not_registered_unemployed",
        "income_above_threshold",
        "application_too_late",
        "deceased",
        "already_receiving",
        "not_eligible_on_review",
    }
)


@dataclass(frozen=True)
class ApplicationFacts:
    """What eligibility needs of an application."""

    case_id: str
    benefit: str
    national_id: str
    birth_date: date
    application_date: date  # in the agency's time zone
    facts: Mapping[str, Any]
    submitted_by: str
    full_name: str = ""  # who an approval is paid to (older stored events lack it)
    bank_account: str | None = None

    @property
    def child_birth_date(self) -> date | None:
        raw = self.facts.get("child_birth_date")
        return date.fromisoformat(raw) if isinstance(raw, str) else raw


@dataclass(frozen=True)
class Circumstances:
    """What other contexts know of the person on the application date."""

    deceased: bool
    already_receiving: bool


@dataclass(frozen=True)
class RuleResult:
    rule: str
    inputs: Mapping[str, str]
    passed: bool
    reason: str | None = None


@dataclass(frozen=True)
class ScheduledAmount:
    effective_from: date
    amount: Decimal
    policy_version: str


@dataclass(frozen=True)
class Award:
    amount: Decimal
    payment: str  # "monthly" or "lump_sum"
    start_date: date
    end_date: date | None
    schedule: tuple[ScheduledAmount, ...] = ()


@dataclass(frozen=True)
class Assessment:
    """The outcome (approved, rejected or review), why, and what the rules would grant."""

    outcome: str
    reasons: tuple[str, ...]
    review_reasons: tuple[str, ...]
    proposal: Award | None
    rules: tuple[RuleResult, ...]
    policy_version: str


def _check(rule: str, passed: bool, reason: str, **inputs: object) -> RuleResult:
    return RuleResult(
        rule, {k: str(v) for k, v in inputs.items()}, passed, None if passed else reason
    )


# --- old-age pension -----------------------------------------------------------------------


def old_age_pension_rules(application: ApplicationFacts, policy: Policy) -> list[RuleResult]:
    rules = policy.old_age_pension
    age = age_on(application.birth_date, application.application_date)
    years = int(application.facts["insurance_years"])
    return [
        _check(
            "minimum_age",
            age >= rules.minimum_age,
            "age_below_minimum",
            age=age,
            minimum=rules.minimum_age,
        ),
        _check(
            "minimum_insurance_years",
            years >= rules.minimum_insurance_years,
            "insufficient_insurance_record",
            insurance_years=years,
            minimum=rules.minimum_insurance_years,
        ),
    ]


def old_age_pension_amount(facts: Mapping[str, Any], policy: Policy) -> Decimal:
    rules = policy.old_age_pension
    extra_years = max(int(facts["insurance_years"]) - rules.minimum_insurance_years, 0)
    return money(
        min(rules.base_amount + rules.amount_per_extra_year * extra_years, rules.maximum_amount)
    )


# --- disability benefit --------------------------------------------------------------------


def disability_benefit_rules(application: ApplicationFacts, policy: Policy) -> list[RuleResult]:
    assessed = date.fromisoformat(str(application.facts["assessment_date"]))
    oldest_valid = add_months(
        application.application_date, -policy.disability_benefit.assessment_valid_months
    )
    valid = oldest_valid <= assessed <= application.application_date
    return [
        _check(
            "assessment_current",
            valid,
            "assessment_expired",
            assessment_date=assessed.isoformat(),
            valid_from=oldest_valid.isoformat(),
            application_date=application.application_date.isoformat(),
        )
    ]


def disability_benefit_amount(facts: Mapping[str, Any], policy: Policy) -> Decimal:
    return money(policy.disability_benefit.amount_by_group[int(facts["disability_group"])])


# --- unemployment benefit ------------------------------------------------------------------


def unemployment_benefit_rules(application: ApplicationFacts, policy: Policy) -> list[RuleResult]:
    registered = bool(application.facts["registered_unemployed"])
    months = int(application.facts["insured_months_last_18"])
    minimum = policy.unemployment_benefit.minimum_insured_months
    return [
        _check(
            "registered_unemployed", registered, "not_registered_unemployed", registered=registered
        ),
        _check(
            "minimum_insured_months",
            months >= minimum,
            "insufficient_insurance_record",
            insured_months_last_18=months,
            minimum=minimum,
        ),
    ]


def unemployment_benefit_amount(facts: Mapping[str, Any], policy: Policy) -> Decimal:
    rules = policy.unemployment_benefit
    replaced = Decimal(str(facts["average_monthly_wage"])) * rules.wage_replacement_rate
    return money(min(max(replaced, rules.minimum_amount), rules.maximum_amount))


# --- targeted social assistance ------------------------------------------------------------


def _household(facts: Mapping[str, Any]) -> tuple[int, Decimal]:
    return int(facts["household_members"]), Decimal(str(facts["household_monthly_income"]))


def targeted_social_assistance_rules(
    application: ApplicationFacts, policy: Policy
) -> list[RuleResult]:
    members, income = _household(application.facts)
    threshold = policy.targeted_social_assistance.income_threshold_per_member
    per_member = income / members
    return [
        _check(
            "income_per_member_below_threshold",
            per_member < threshold,
            "income_above_threshold",
            household_members=members,
            household_monthly_income=income,
            income_per_member=money(per_member),
            threshold=threshold,
        )
    ]


def targeted_social_assistance_amount(facts: Mapping[str, Any], policy: Policy) -> Decimal:
    members, income = _household(facts)
    rules = policy.targeted_social_assistance
    # (threshold - income / members) x members, computed without dividing
    gap = rules.income_threshold_per_member * members - income
    return money(min(max(gap, Decimal(0)), rules.maximum_amount))


# --- childbirth allowance ------------------------------------------------------------------


def childbirth_allowance_rules(application: ApplicationFacts, policy: Policy) -> list[RuleResult]:
    born = application.child_birth_date
    assert born is not None
    window = policy.childbirth_allowance.claim_window_days
    earliest = application.application_date - timedelta(days=window)
    return [
        _check(
            "claimed_within_window",
            earliest <= born <= application.application_date,
            "application_too_late",
            child_birth_date=born.isoformat(),
            earliest_birth_date=earliest.isoformat(),
            application_date=application.application_date.isoformat(),
        )
    ]


def childbirth_allowance_amount(_facts: Mapping[str, Any], policy: Policy) -> Decimal:
    return money(policy.childbirth_allowance.amount)


_RULES = {
    "old_age_pension": (old_age_pension_rules, old_age_pension_amount),
    "disability_benefit": (disability_benefit_rules, disability_benefit_amount),
    "unemployment_benefit": (unemployment_benefit_rules, unemployment_benefit_amount),
    "targeted_social_assistance": (
        targeted_social_assistance_rules,
        targeted_social_assistance_amount,
    ),
    "childbirth_allowance": (childbirth_allowance_rules, childbirth_allowance_amount),
}


def review_reasons(application: ApplicationFacts) -> tuple[str, ...]:
    """Why an otherwise eligible application needs a caseworker."""
    if application.benefit == "disability_benefit":
        return ("disability_assessment_requires_review",)
    if (
        application.benefit == "targeted_social_assistance"
        and _household(application.facts)[1] == 0
    ):
        return ("zero_household_income",)
    return ()


def award(application: ApplicationFacts, book: PolicyBook) -> Award:
    """What the rules grant if the application is approved, with its monthly amount under
    every policy version known for the award period."""
    _, amount_of = _RULES[application.benefit]
    policy = book.in_force(application.application_date)
    if application.benefit == "childbirth_allowance":
        return Award(
            amount_of(application.facts, policy), "lump_sum", application.application_date, None
        )
    start = first_of_month(application.application_date)
    end = _end_date(application.benefit, start, policy)
    schedule = tuple(
        ScheduledAmount(
            effective_from, amount_of(application.facts, period_policy), period_policy.version
        )
        for effective_from, period_policy in book.periods(start, end)
    )
    return Award(schedule[0].amount, "monthly", start, end, schedule)


def _end_date(benefit: str, start: date, policy: Policy) -> date | None:
    if benefit == "unemployment_benefit":
        return last_day_after_months(start, policy.unemployment_benefit.duration_months)
    if benefit == "targeted_social_assistance":
        return last_day_after_months(start, policy.targeted_social_assistance.duration_months)
    return None


def assess(
    application: ApplicationFacts, book: PolicyBook, circumstances: Circumstances
) -> Assessment:
    """Check every rule for the application under the policy in force on its date."""
    policy = book.in_force(application.application_date)
    benefit_rules, _ = _RULES[application.benefit]
    checks = [
        _check(
            "not_deceased",
            not circumstances.deceased,
            "deceased",
            reported_dead=circumstances.deceased,
        ),
        _check(
            "not_already_receiving",
            not circumstances.already_receiving,
            "already_receiving",
            active_entitlement=circumstances.already_receiving,
        ),
        *benefit_rules(application, policy),
    ]
    reasons = tuple(dict.fromkeys(check.reason for check in checks if check.reason))
    proposal = award(application, book)
    if reasons:
        return Assessment(REJECTED, reasons, (), proposal, tuple(checks), policy.version)
    to_review = review_reasons(application)
    outcome = REVIEW if to_review else APPROVED
    return Assessment(outcome, (), to_review, proposal, tuple(checks), policy.version)
