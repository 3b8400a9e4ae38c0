"""The example policies as shipped, and applications to assess against them."""

from __future__ import annotations

from datetime import date
from typing import Any

from services.eligibility.domain.policy import PolicyBook
from services.eligibility.domain.rules import ApplicationFacts, Circumstances
from services.eligibility.settings import DEFAULT_POLICY_DIR, load_policy_book

BOOK: PolicyBook = load_policy_book(DEFAULT_POLICY_DIR)[0]
CLEAR = Circumstances(deceased=False, already_receiving=False)
DAY = date(2026, 6, 15)


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
