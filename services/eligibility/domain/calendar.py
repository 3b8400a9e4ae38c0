"""Date arithmetic the rules need: ages, month steps, month boundaries."""

from __future__ import annotations

import calendar
from datetime import date, timedelta


def age_on(birth_date: date, on: date) -> int:
    """Completed years of life on `on` (a 29 February birthday counts from 1 March)."""
    had_birthday = (on.month, on.day) >= (birth_date.month, birth_date.day)
    return on.year - birth_date.year - (0 if had_birthday else 1)


def add_months(day: date, months: int) -> date:
    """The same day `months` later (or earlier), clamped to the end of a shorter month."""
    month_index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(month_index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def first_of_month(day: date) -> date:
    return day.replace(day=1)


def last_day_after_months(start: date, months: int) -> date:
    """The last day of a period of `months` whole months starting on `start`."""
    return add_months(start, months) - timedelta(days=1)
