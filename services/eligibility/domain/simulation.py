"""What-if: how a proposed policy would change past decisions and monthly spending."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

from services.eligibility.domain.policy import Policy, PolicyBook
from services.eligibility.domain.rules import (
    APPROVED,
    ApplicationFacts,
    Assessment,
    Circumstances,
    assess,
)


@dataclass
class BenefitImpact:
    """One benefit's decisions and monthly spending, now and under the proposal."""

    benefit: str
    applications: int = 0
    decisions_changed: int = 0
    approved_now: int = 0
    approved_proposed: int = 0
    monthly_spending_now: Decimal = Decimal("0.00")
    monthly_spending_proposed: Decimal = Decimal("0.00")

    @property
    def spending_change(self) -> Decimal:
        return self.monthly_spending_proposed - self.monthly_spending_now


def simulate(
    history: Iterable[tuple[ApplicationFacts, Circumstances]],
    current: PolicyBook,
    proposed: Policy,
    as_of: date,
) -> dict[str, BenefitImpact]:
    """Decide every application of `history` (up to `as_of`) under the policies in force and
    under `proposed` (as if it had always been in force); compare outcomes, and the monthly
    amounts of approved monthly awards running in the month of `as_of`."""
    proposal_book = PolicyBook([replace(proposed, effective_from=date.min)])
    impacts: dict[str, BenefitImpact] = {}
    for application, circumstances in history:
        if application.application_date > as_of:
            continue
        impact = impacts.setdefault(application.benefit, BenefitImpact(application.benefit))
        now = assess(application, current, circumstances)
        then = assess(application, proposal_book, circumstances)
        impact.applications += 1
        impact.decisions_changed += now.outcome != then.outcome or now.reasons != then.reasons
        impact.approved_now += now.outcome == APPROVED
        impact.approved_proposed += then.outcome == APPROVED
        impact.monthly_spending_now += _monthly_amount(now, as_of)
        impact.monthly_spending_proposed += _monthly_amount(then, as_of)
    return dict(sorted(impacts.items()))


def _monthly_amount(assessment: Assessment, as_of: date) -> Decimal:
    award = assessment.proposal
    if assessment.outcome != APPROVED or award is None or award.payment != "monthly":
        return Decimal("0.00")
    if award.start_date > as_of or (award.end_date is not None and award.end_date < as_of):
        return Decimal("0.00")
    in_force = [s for s in award.schedule if s.effective_from <= as_of]
    return in_force[-1].amount if in_force else award.amount
