"""Policy as data: effective-dated parameter sets, one per version."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from services.eligibility.domain.errors import NoPolicyInForce


@dataclass(frozen=True)
class OldAgePensionPolicy:
    minimum_age: int
    minimum_insurance_years: int
    base_amount: Decimal
    amount_per_extra_year: Decimal
    maximum_amount: Decimal


@dataclass(frozen=True)
class DisabilityBenefitPolicy:
    assessment_valid_months: int
    amount_by_group: Mapping[int, Decimal]


@dataclass(frozen=True)
class UnemploymentBenefitPolicy:
    minimum_insured_months: int
    wage_replacement_rate: Decimal
    minimum_amount: Decimal
    maximum_amount: Decimal
    duration_months: int


@dataclass(frozen=True)
class TargetedSocialAssistancePolicy:
    income_threshold_per_member: Decimal
    maximum_amount: Decimal
    duration_months: int


@dataclass(frozen=True)
class ChildbirthAllowancePolicy:
    amount: Decimal
    claim_window_days: int


@dataclass(frozen=True)
class Policy:
    version: str
    effective_from: date
    old_age_pension: OldAgePensionPolicy
    disability_benefit: DisabilityBenefitPolicy
    unemployment_benefit: UnemploymentBenefitPolicy
    targeted_social_assistance: TargetedSocialAssistancePolicy
    childbirth_allowance: ChildbirthAllowancePolicy


class PolicyBook:
    """Every policy version, each in force from its date until the next one's."""

    def __init__(self, policies: Iterable[Policy]) -> None:
        self.policies = sorted(policies, key=lambda policy: policy.effective_from)
        dates = [policy.effective_from for policy in self.policies]
        if len(set(dates)) != len(dates):
            raise ValueError("two policy versions take effect on the same day")

    def in_force(self, on: date) -> Policy:
        """The policy in force on `on`."""
        current = [policy for policy in self.policies if policy.effective_from <= on]
        if not current:
            raise NoPolicyInForce(f"no policy is in force on {on.isoformat()}")
        return current[-1]

    def periods(self, start: date, end: date | None) -> list[tuple[date, Policy]]:
        """(from date, policy) for each policy in force at some point in [start, end]."""
        periods = [(start, self.in_force(start))]
        for policy in self.policies:
            if start < policy.effective_from and (end is None or policy.effective_from <= end):
                periods.append((policy.effective_from, policy))
        return periods
