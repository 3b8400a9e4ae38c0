"""The Entitlement, in memory: what each run pays, returns, suspension, death."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from chassis.event_types import EventTypes
from contracts.periods import Month
from services.payments.domain.entitlement import (
    ACTIVE,
    COMPLETED,
    LUMP_SUM,
    MONTHLY,
    SUSPENDED,
    TERMINATED,
    Entitlement,
    EntitlementSuspended,
    EntitlementTerminated,
    MonthlyAmount,
    OverpaymentDetected,
    PaymentInstructionIssued,
    ScheduledAmount,
)
from services.payments.domain.errors import NotPayable, UnknownInstruction
from services.payments.domain.events import STORED_EVENTS

NOW = datetime(2026, 11, 24, 9, tzinfo=UTC)
PENSION_2026 = ScheduledAmount(date(2026, 1, 1), Decimal("316.00"), "2026")
PENSION_2027 = ScheduledAmount(date(2027, 1, 1), Decimal("330.00"), "2027")
EVENT_TYPES = EventTypes()
EVENT_TYPES.register_all(STORED_EVENTS)


def granted(
    start: date = date(2026, 11, 1),
    *,
    end: date | None = None,
    schedule: tuple[ScheduledAmount, ...] = (PENSION_2026, PENSION_2027),
    payment: str = MONTHLY,
    lump_sum: Decimal | None = None,
) -> Entitlement:
    entitlement = Entitlement.grant(
        case_id="case-1",
        national_id="5ZK7PQM",
        payee_name="Aysel Mammadova",
        benefit="childbirth_allowance" if payment == LUMP_SUM else "old_age_pension",
        payment=payment,
        start_date=start,
        end_date=end,
        schedule=schedule,
        lump_sum=lump_sum,
        iban="AZ21NABZ00000000137010001944",
        at=NOW,
    )
    entitlement.mark_saved()
    return entitlement


def paid(entitlement: Entitlement, period: str) -> PaymentInstructionIssued:
    assert entitlement.issue_payment(Month.parse(period), f"run-{period}", NOW)
    issued = entitlement.pending[-1]
    assert isinstance(issued, PaymentInstructionIssued)
    entitlement.mark_saved()
    return issued


def months(issued: PaymentInstructionIssued) -> list[str]:
    return [str(line.month) for line in issued.lines]


def test_the_first_run_pays_the_start_month_at_its_amount() -> None:
    issued = paid(granted(), "2026-11")
    assert (months(issued), issued.amount) == (["2026-11"], Decimal("316.00"))
    assert issued.lines == (MonthlyAmount(Month(2026, 11), Decimal("316.00")),)


def test_arrears_are_folded_into_one_instruction_at_most_twelve_months_back() -> None:
    entitlement = granted(date(2025, 1, 1))
    issued = paid(entitlement, "2026-11")
    assert months(issued) == [str(m) for m in Month(2025, 12).until(Month(2026, 11))]
    assert issued.amount == Decimal("316.00") * 12


def test_each_month_is_paid_at_the_amount_in_force_in_that_month() -> None:
    entitlement = granted(date(2026, 12, 1))
    issued = paid(entitlement, "2027-01")  # December not paid yet: arrears
    assert issued.lines == (
        MonthlyAmount(Month(2026, 12), Decimal("316.00")),
        MonthlyAmount(Month(2027, 1), Decimal("330.00")),
    )
    assert issued.amount == Decimal("646.00")


def test_a_run_repeated_for_the_same_period_issues_nothing_twice() -> None:
    entitlement = granted()
    first = paid(entitlement, "2026-11")
    assert not entitlement.issue_payment(Month(2026, 11), "run-again", NOW)
    assert entitlement.pending == []
    second = paid(entitlement, "2026-12")
    assert months(second) == ["2026-12"]
    assert first.instruction_id != second.instruction_id


def test_instruction_ids_are_the_same_for_the_same_state_so_a_race_is_a_conflict() -> None:
    one, other = granted(), granted()
    assert one.next_instruction_id() == other.next_instruction_id()
    assert len(one.next_instruction_id()) <= 35  # a pain.001 EndToEndId


def test_an_entitlement_with_an_end_pays_up_to_it_and_then_expires() -> None:
    entitlement = granted(end=date(2027, 4, 30))
    issued = paid(entitlement, "2027-06")
    assert months(issued)[-1] == "2027-04"
    assert len(issued.lines) == 6
    assert entitlement.expire_if_over(Month(2027, 6), NOW)
    ended = entitlement.pending[-1]
    assert isinstance(ended, EntitlementTerminated)
    assert (ended.reason, ended.ends_on, entitlement.status) == (
        "expired",
        date(2027, 4, 30),
        TERMINATED,
    )
    assert entitlement.due(Month(2027, 7)) == ()


def test_an_entitlement_with_months_still_owed_does_not_expire_yet() -> None:
    entitlement = granted(end=date(2026, 12, 31))
    issued = paid(entitlement, "2026-12")
    entitlement.return_payment(issued.instruction_id, "AC04 account closed", NOW)
    assert not entitlement.expire_if_over(Month(2027, 1), NOW)
    assert [str(line.month) for line in entitlement.due(Month(2027, 1))] == ["2026-11", "2026-12"]


def test_a_lump_sum_is_paid_once() -> None:
    entitlement = granted(payment=LUMP_SUM, schedule=(), lump_sum=Decimal("500.00"))
    issued = paid(entitlement, "2026-11")
    assert (months(issued), issued.amount) == (["2026-11"], Decimal("500.00"))
    assert not entitlement.issue_payment(Month(2026, 12), "run", NOW)
    entitlement.settle(issued.instruction_id, NOW)
    assert entitlement.status == COMPLETED
    assert entitlement.due(Month(2030, 1)) == ()


def test_a_returned_payment_is_owed_again_and_the_third_return_suspends() -> None:
    entitlement = granted()
    for period in ("2026-11", "2026-12"):
        issued = paid(entitlement, period)
        entitlement.return_payment(issued.instruction_id, "AC01 incorrect account", NOW)
        entitlement.mark_saved()
    assert entitlement.status == ACTIVE
    third = paid(entitlement, "2027-01")
    assert months(third) == ["2026-11", "2026-12", "2027-01"]  # paid again with the new month
    entitlement.return_payment(third.instruction_id, "AC04 account closed", NOW)
    suspended = entitlement.pending[-1]
    assert isinstance(suspended, EntitlementSuspended)
    assert (suspended.reason, entitlement.status) == ("bank_details", SUSPENDED)
    entitlement.mark_saved()
    assert not entitlement.issue_payment(Month(2027, 2), "run", NOW)

    entitlement.change_bank_account("AZ96AZEJ00000000001234567890", "clerk-1", NOW)
    assert entitlement.status == ACTIVE
    entitlement.mark_saved()
    arrears = paid(entitlement, "2027-03")
    assert months(arrears) == ["2026-11", "2026-12", "2027-01", "2027-02", "2027-03"]
    assert arrears.iban == "AZ96AZEJ00000000001234567890"


def test_a_repeated_or_unknown_settlement_changes_nothing_or_is_refused() -> None:
    entitlement = granted()
    issued = paid(entitlement, "2026-11")
    entitlement.settle(issued.instruction_id, NOW)
    entitlement.mark_saved()
    entitlement.settle(issued.instruction_id, NOW)
    entitlement.return_payment(issued.instruction_id, "late", NOW)
    entitlement.mark_saved()
    entitlement.return_payment(issued.instruction_id, "again", NOW)
    assert entitlement.pending == []
    with pytest.raises(UnknownInstruction):
        entitlement.settle("not-ours", NOW)


def test_a_death_ends_the_entitlement_at_the_month_end_and_reports_later_months_paid() -> None:
    entitlement = granted(date(2026, 9, 1))
    paid(entitlement, "2026-10")  # September and October
    returned = paid(entitlement, "2026-11")
    entitlement.return_payment(returned.instruction_id, "AC04", NOW)  # not paid after all
    entitlement.mark_saved()
    december = paid(entitlement, "2026-12")  # November (again) and December
    entitlement.terminate_for_death(date(2026, 10, 17), NOW)
    ended, overpaid = entitlement.pending
    assert isinstance(ended, EntitlementTerminated)
    assert (ended.reason, ended.ends_on) == ("death", date(2026, 10, 31))
    assert isinstance(overpaid, OverpaymentDetected)
    assert overpaid.instruction_ids == (december.instruction_id,)
    assert [str(m) for m in overpaid.months] == ["2026-11", "2026-12"]
    assert overpaid.amount == Decimal("632.00")
    entitlement.mark_saved()
    entitlement.terminate_for_death(date(2026, 10, 17), NOW)
    assert entitlement.pending == []
    assert entitlement.due(Month(2027, 1)) == ()
    with pytest.raises(NotPayable):
        entitlement.change_bank_account("AZ96AZEJ00000000001234567890", "clerk-1", NOW)


def test_replaying_the_stored_events_gives_the_same_entitlement() -> None:
    entitlement = Entitlement.grant(
        case_id="case-1",
        national_id="5ZK7PQM",
        payee_name="Aysel",
        benefit="old_age_pension",
        payment=MONTHLY,
        start_date=date(2026, 11, 1),
        end_date=None,
        schedule=(PENSION_2027, PENSION_2026),
        lump_sum=None,
        iban="AZ21NABZ00000000137010001944",
        at=NOW,
    )
    entitlement.issue_payment(Month(2027, 1), "run", NOW)
    issued = entitlement.pending[-1]
    assert isinstance(issued, PaymentInstructionIssued)
    entitlement.return_payment(issued.instruction_id, "AC04", NOW)
    stored = [_through_json(event) for event in entitlement.pending]
    replayed = Entitlement.replay("case-1", stored)
    entitlement.mark_saved()
    assert replayed == entitlement
    assert replayed.due(Month(2027, 1)) == entitlement.due(Month(2027, 1))


def test_years_of_payments_keep_the_state_small_and_the_arrears_right() -> None:
    entitlement = granted(date(2026, 1, 1))
    for period in Month(2026, 1).until(Month(2030, 12)):
        paid(entitlement, str(period))
    assert len(entitlement.instructions) <= 25
    assert len(entitlement.covered) <= 25
    assert entitlement.due(Month(2031, 1)) == (MonthlyAmount(Month(2031, 1), Decimal("330.00")),)


def _through_json(event: Any) -> Any:
    row = EVENT_TYPES.to_new_event(event)
    return EVENT_TYPES.to_event(
        row.event_type, row.schema_version, json.loads(json.dumps(row.data))
    )
