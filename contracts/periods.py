"""Money and months as every context counts them: AZN with two places rounded half up, and
calendar months (a payment run's period, an entitlement's months) with their arithmetic.

Pure and exact: `Decimal`, `date`, no floats, no time zones (a month is a calendar month;
which day it is *now* is taken in Asia/Baku by :func:`contracts.application.agency_today`).
"""

from __future__ import annotations

import calendar
import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Self

CENT = Decimal("0.01")


def money(amount: Decimal) -> Decimal:
    """AZN with two places, rounded half up."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


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


_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


@dataclass(frozen=True, order=True, slots=True)
class Month:
    """A calendar month, written `YYYY-MM` (a payment run's period).

    Months are counted by the million in a payment run, so the arithmetic hands out shared
    instances (:meth:`at`) rather than building a new one each time."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if not (1 <= self.month <= 12 and 1900 <= self.year <= 9999):
            raise ValueError(f"{self.year}-{self.month} is not a month")

    @classmethod
    def parse(cls, text: str) -> Self:
        """`YYYY-MM` to a month; ValueError otherwise."""
        found = _MONTH.fullmatch(text)
        if found is None:
            raise ValueError(f"{text!r} is not a month (YYYY-MM)")
        return cls(int(found.group(1)), int(found.group(2)))

    @classmethod
    def of(cls, day: date) -> Month:
        """The month `day` falls in."""
        return Month.at(day.year * 12 + day.month - 1)

    @staticmethod
    @functools.cache
    def at(index: int) -> Month:
        """The month `index` months after January of year 0 (the inverse of :attr:`index`)."""
        return Month(index // 12, index % 12 + 1)

    @property
    def index(self) -> int:
        """Months since January of year 0: consecutive months have consecutive indexes."""
        return self.year * 12 + self.month - 1

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last_day(self) -> date:
        return date(self.year, self.month, calendar.monthrange(self.year, self.month)[1])

    def plus(self, months: int) -> Month:
        """The month `months` later (earlier if negative)."""
        return Month.at(self.index + months)

    def until(self, last: Month) -> Iterator[Month]:
        """This month and every month after it up to `last`, inclusive (none if `last` is
        earlier)."""
        for index in range(self.index, last.index + 1):
            yield Month.at(index)

    def months_until(self, later: Month) -> int:
        """How many months from this one to `later` (0 for the same month)."""
        return (later.year - self.year) * 12 + later.month - self.month

    def __str__(self) -> str:
        return _month_text(self.year, self.month)


@functools.cache
def _month_text(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"
