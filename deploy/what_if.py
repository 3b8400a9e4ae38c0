"""`dost eligibility simulate`: the ministry's question before it changes a parameter."""

from __future__ import annotations

import asyncio
import sys
from datetime import date
from pathlib import Path

from chassis.database import connect
from chassis.unit_of_work import UnitOfWork
from contracts.application import agency_today
from services.eligibility.domain.rules import ApplicationFacts, Circumstances
from services.eligibility.domain.simulation import BenefitImpact, simulate
from services.eligibility.handlers import past_applications
from services.eligibility.settings import (
    EligibilitySettings,
    PolicyFileError,
    load_policy_book,
    load_proposed_policy,
)


def run_simulation(policy_file: Path, as_of: date | None) -> int:
    """Print the impact of `policy_file` on every past application; write nothing."""
    settings = EligibilitySettings()
    try:
        book, known = load_policy_book(settings.policy_dir)
        proposed = load_proposed_policy(policy_file, known)
    except PolicyFileError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    day = as_of or agency_today()

    async def history() -> list[tuple[ApplicationFacts, Circumstances]]:
        connection = await connect(settings.database_url)
        try:
            async with connection.transaction(readonly=True):
                return await past_applications(UnitOfWork(connection, settings.schema_name))
        finally:
            await connection.close()

    applications = asyncio.run(history())
    impacts = simulate(applications, book, proposed, day)
    print(render(impacts, proposed.version, day))
    return 0


def render(impacts: dict[str, BenefitImpact], version: str, as_of: date) -> str:
    """A plain-text table, one line per benefit and a total."""
    header = (
        f"{'benefit':<28}{'applications':>13}{'changed':>9}{'approved':>15}"
        f"{'monthly AZN now':>18}{'proposed':>14}{'change':>14}"
    )
    lines = [f"policy {version} against past applications, spending in {as_of:%Y-%m}", header]
    total = BenefitImpact("total")
    for impact in impacts.values():
        lines.append(_line(impact))
        total.applications += impact.applications
        total.decisions_changed += impact.decisions_changed
        total.approved_now += impact.approved_now
        total.approved_proposed += impact.approved_proposed
        total.monthly_spending_now += impact.monthly_spending_now
        total.monthly_spending_proposed += impact.monthly_spending_proposed
    lines.append(_line(total))
    return "\n".join(lines)


def _line(impact: BenefitImpact) -> str:
    approved = f"{impact.approved_now}->{impact.approved_proposed}"
    return (
        f"{impact.benefit:<28}{impact.applications:>13}{impact.decisions_changed:>9}"
        f"{approved:>15}{impact.monthly_spending_now:>18}{impact.monthly_spending_proposed:>14}"
        f"{impact.spending_change:>+14}"
    )
