"""The satisfaction figure the agency reports: the share of ratings of 4 or 5."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

SATISFIED = (4, 5)


def satisfied_share(satisfied: int, responses: int) -> Decimal | None:
    """Percent with one decimal place, half up; None without responses."""
    if responses == 0:
        return None
    share = Decimal(100 * satisfied) / Decimal(responses)
    return share.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
