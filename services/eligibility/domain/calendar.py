"""Date arithmetic the rules need: ages (month steps and boundaries are shared, in
:mod:`contracts.periods`)."""

from __future__ import annotations

from datetime import date

from contracts.periods import add_months, first_of_month, last_day_after_months

__all__ = ["add_months", "age_on", "first_of_month", "last_day_after_months"]


def age_on(birth_date: date, on: date) -> int:
    """Completed years of life on `on` (a 29 February birthday counts from 1 March)."""
    had_birthday = (on.month, on.day) >= (birth_date.month, birth_date.day)
    return on.year - birth_date.year - (0 if had_birthday else 1)
