"""The example policies as shipped, and applications to assess against them."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

from services.eligibility.domain.policy import PolicyBook
from services.eligibility.domain.rules import ApplicationFacts, Circumstances
from services.eligibility.settings import DEFAULT_POLICY_DIR, load_policy_book

BOOK: PolicyBook = load_policy_book(DEFAULT_POLICY_DIR)[0]
CLEAR = Circumstances(deceased=False, already_receiving=False)
DAY = date(2026, 6, 15)


def paying_per_extra_insurance_year(amount: Decimal, book: PolicyBook = BOOK) -> PolicyBook:
    """`book` with the pension's amount per extra insurance year set to `amount` in every
    version, base and cap unchanged. Under the shipped 6.00 a pension tops out at 70 years
    below the cap (280 + 6 x 45 = 550 < 600), so only a larger amount reaches the cap."""
    return PolicyBook(
        replace(
            policy,
            old_age_pension=replace(policy.old_age_pension, amount_per_extra_year=amount),
        )
        for policy in book.policies
    )


def applying(
    benefit: str, *, on: date = DAY, born: date = date(1960, 1, 1), **facts: Any
) -> ApplicationFacts:
    return ApplicationFacts(
        case_id="case-1",
        benefit=benefit,
        national_id="5ZK7PQM",
        birth_date=born,
        application_date=on,
        facts=facts,
        submitted_by="clerk-1",
    )
