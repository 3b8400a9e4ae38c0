"""Money and months as every context counts them."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.periods import Month, add_months, last_day_after_months, money


@pytest.mark.parametrize(
    ("amount", "rounded"),
    [("490.035", "490.04"), ("490.025", "490.03"), ("0.005", "0.01"), ("316", "316.00")],
)
def test_money_has_two_places_rounded_half_up(amount: str, rounded: str) -> None:
    assert str(money(Decimal(amount))) == rounded


def test_a_month_is_written_and_read_as_yyyy_mm() -> None:
    assert str(Month.parse("2026-12")) == "2026-12"
    assert Month.parse("2027-01") == Month(2027, 1)
    for bad in ("2026-13", "2026-1", "26-01", "2026-00", " 2026-01", "2026-01-01"):
        with pytest.raises(ValueError, match="not a month"):
            Month.parse(bad)


def test_months_step_across_years_and_know_their_days() -> None:
    december = Month(2026, 12)
    assert december.plus(1) == Month(2027, 1)
    assert december.plus(-12) == Month(2025, 12)
    assert Month(2028, 2).last_day == date(2028, 2, 29)
    assert Month(2027, 2).last_day == date(2027, 2, 28)
    assert december.first_day == date(2026, 12, 1)
    assert Month.of(date(2026, 11, 24)) == Month(2026, 11)
    assert [str(m) for m in Month(2026, 11).until(Month(2027, 2))] == [
        "2026-11",
        "2026-12",
        "2027-01",
        "2027-02",
    ]
    assert list(Month(2027, 1).until(Month(2026, 12))) == []
    assert Month(2026, 1).months_until(Month(2027, 1)) == 12


def test_adding_months_clamps_to_the_end_of_a_shorter_month() -> None:
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2026, 3, 31), -1) == date(2026, 2, 28)
    assert last_day_after_months(date(2026, 11, 1), 6) == date(2027, 4, 30)


@given(st.integers(1960, 9000), st.integers(1, 12), st.integers(-600, 600))
def test_stepping_there_and_back_is_the_same_month(year: int, month: int, steps: int) -> None:
    start = Month(year, month)
    there = start.plus(steps)
    assert there.plus(-steps) == start
    assert start.months_until(there) == steps
    assert Month.parse(str(there)) == there
