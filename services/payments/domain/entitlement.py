"""The Entitlement: what an approved case is owed, month by month (or once), and what was
paid, settled, returned; suspended after repeated returns, ended by death or by its end date.

The rules (../shared/DOMAIN.md): monthly entitlements start on the first day of the
application month; a run for period P pays every month from the start, at most 12 months
back, up to P that is not yet paid, in one instruction (arrears folded in), each month at
the amount in force in that month; a lump sum once. A returned payment is paid again in a
later run; after 3 returns the entitlement is suspended until new bank details are
recorded, and the months in between are then paid as arrears. A death ends the
entitlement at the end of the month of death; what was paid for later months is an
overpayment.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import ClassVar

from chassis.aggregate import Aggregate
from contracts.periods import Month, money
from services.payments.domain.errors import NotPayable, UnknownInstruction

MONTHLY, LUMP_SUM = "monthly", "lump_sum"
ACTIVE, SUSPENDED, TERMINATED, COMPLETED = "active", "suspended", "terminated", "completed"
ARREARS_MONTHS = 12
RETURNS_BEFORE_SUSPENSION = 3
KEPT_MONTHS = 24  # how far back paid months and instructions are remembered (>= arrears)
_INSTRUCTION_IDS = uuid.UUID("6f1c9f55-0d2b-4a43-9a53-7f0cbcfd6a01")


@dataclass(frozen=True)
class ScheduledAmount:
    """The monthly amount from a date on (the policy in force from then)."""

    effective_from: date
    amount: Decimal
    policy_version: str


@dataclass(frozen=True)
class MonthlyAmount:
    """One month an instruction pays, at the amount in force in that month."""

    month: Month
    amount: Decimal


# --- events ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class EntitlementGranted:
    entitlement_id: str
    case_id: str
    national_id: str
    payee_name: str
    benefit: str
    payment: str
    start_date: date
    end_date: date | None
    schedule: tuple[ScheduledAmount, ...]
    lump_sum: Decimal | None
    iban: str
    granted_at: datetime


@dataclass(frozen=True)
class PaymentInstructionIssued:
    instruction_id: str
    run_id: str
    period: Month
    lines: tuple[MonthlyAmount, ...]
    amount: Decimal
    iban: str
    issued_at: datetime


@dataclass(frozen=True)
class PaymentSettled:
    instruction_id: str
    settled_at: datetime


@dataclass(frozen=True)
class PaymentReturned:
    instruction_id: str
    reason: str
    returned_at: datetime


@dataclass(frozen=True)
class EntitlementSuspended:
    reason: str
    suspended_at: datetime


@dataclass(frozen=True)
class BankAccountChanged:
    iban: str
    changed_by: str
    changed_at: datetime


@dataclass(frozen=True)
class EntitlementResumed:
    resumed_at: datetime


@dataclass(frozen=True)
class EntitlementTerminated:
    reason: str  # "death" or "expired"
    ends_on: date
    terminated_at: datetime


@dataclass(frozen=True)
class OverpaymentDetected:
    instruction_ids: tuple[str, ...]
    months: tuple[Month, ...]
    amount: Decimal
    detected_at: datetime


EntitlementEvent = (
    EntitlementGranted
    | PaymentInstructionIssued
    | PaymentSettled
    | PaymentReturned
    | EntitlementSuspended
    | BankAccountChanged
    | EntitlementResumed
    | EntitlementTerminated
    | OverpaymentDetected
)


@dataclass
class Instruction:
    """What the entitlement remembers of an instruction it issued."""

    period: Month
    lines: tuple[MonthlyAmount, ...]
    amount: Decimal
    status: str = "issued"  # issued, settled, returned


# --- the aggregate ----------------------------------------------------------------------------


@dataclass
class Entitlement(Aggregate):
    stream_prefix: ClassVar[str] = "entitlement"

    entitlement_id: str
    case_id: str = ""
    national_id: str = ""
    payee_name: str = ""
    benefit: str = ""
    payment: str = MONTHLY
    start_date: date | None = None
    end_date: date | None = None
    schedule: tuple[ScheduledAmount, ...] = ()
    lump_sum: Decimal | None = None
    iban: str = ""
    status: str = ACTIVE
    covered: set[Month] = field(default_factory=set)
    instructions: dict[str, Instruction] = field(default_factory=dict)
    issued: int = 0
    returns: int = 0
    ends_on: date | None = None

    @property
    def aggregate_id(self) -> str:
        return self.entitlement_id

    @classmethod
    def blank(cls, aggregate_id: str) -> Entitlement:
        return cls(entitlement_id=aggregate_id)

    # --- commands -----------------------------------------------------------------------------

    @classmethod
    def grant(
        cls,
        *,
        case_id: str,
        national_id: str,
        payee_name: str,
        benefit: str,
        payment: str,
        start_date: date,
        end_date: date | None,
        schedule: Sequence[ScheduledAmount],
        lump_sum: Decimal | None,
        iban: str,
        at: datetime,
    ) -> Entitlement:
        """One entitlement per case: its id is the case id."""
        if payment == MONTHLY and not schedule:
            raise NotPayable("a monthly entitlement needs an amount schedule")
        if payment == LUMP_SUM and (lump_sum is None or lump_sum <= 0):
            raise NotPayable("a lump sum needs a positive amount")
        entitlement = cls(entitlement_id=case_id)
        entitlement.record(
            EntitlementGranted(
                entitlement_id=case_id,
                case_id=case_id,
                national_id=national_id,
                payee_name=payee_name,
                benefit=benefit,
                payment=payment,
                start_date=start_date,
                end_date=end_date,
                schedule=tuple(sorted(schedule, key=lambda s: s.effective_from)),
                lump_sum=money(lump_sum) if lump_sum is not None else None,
                iban=iban,
                granted_at=at,
            )
        )
        return entitlement

    def due(self, period: Month) -> tuple[MonthlyAmount, ...]:
        """What a run for `period` would pay now: every unpaid month from the start (at
        most 12 months back) up to `period` and the end, each at its month's amount; or
        the lump sum once."""
        if self.status != ACTIVE or self.start_date is None:
            return ()
        first = Month.of(self.start_date)
        if self.payment == LUMP_SUM:
            if first <= period and first not in self.covered and self.lump_sum is not None:
                return (MonthlyAmount(first, self.lump_sum),)
            return ()
        last = period
        if self.last_month is not None:
            last = min(last, self.last_month)
        first = max(first, period.plus(1 - ARREARS_MONTHS))
        return tuple(
            MonthlyAmount(month, self.amount_for(month))
            for month in first.until(last)
            if month not in self.covered
        )

    def issue_payment(self, period: Month, run_id: str, at: datetime) -> bool:
        """Issue one instruction for what is due in `period`; False if nothing is."""
        lines = self.due(period)
        if not lines:
            return False
        self.record(
            PaymentInstructionIssued(
                instruction_id=self.next_instruction_id(),
                run_id=run_id,
                period=period,
                lines=lines,
                amount=money(sum((line.amount for line in lines), Decimal(0))),
                iban=self.iban,
                issued_at=at,
            )
        )
        return True

    def expire_if_over(self, period: Month, at: datetime) -> bool:
        """An entitlement past its end date with nothing left to pay ends (`expired`)."""
        if (
            self.status == ACTIVE
            and self.end_date is not None
            and Month.of(self.end_date) < period
            and not self.due(period)
        ):
            self.record(EntitlementTerminated("expired", self.end_date, at))
            return True
        return False

    def settle(self, instruction_id: str, at: datetime) -> None:
        """The bank credited the beneficiary. A repeated settlement changes nothing."""
        instruction = self._instruction(instruction_id)
        if instruction.status == "issued":
            self.record(PaymentSettled(instruction_id, at))

    def return_payment(self, instruction_id: str, reason: str, at: datetime) -> None:
        """The bank returned the money: its months are owed again; the third return
        suspends the entitlement until new bank details are recorded."""
        instruction = self._instruction(instruction_id)
        if instruction.status == "returned":
            return
        self.record(PaymentReturned(instruction_id, reason, at))
        if self.status == ACTIVE and self.returns >= RETURNS_BEFORE_SUSPENSION:
            self.record(EntitlementSuspended("bank_details", at))

    def change_bank_account(self, iban: str, changed_by: str, at: datetime) -> None:
        """New bank details; a suspended entitlement resumes (its missed months are paid
        as arrears by the next run)."""
        if self.status == TERMINATED:
            raise NotPayable("the entitlement has ended")
        self.record(BankAccountChanged(iban, changed_by, at))
        if self.status == SUSPENDED:
            self.record(EntitlementResumed(at))

    def terminate_for_death(self, date_of_death: date, at: datetime) -> None:
        """The entitlement ends at the end of the month of death; what was paid for later
        months is reported as an overpayment. Months up to the death not paid yet are not
        paid by a run any more (the account of a dead person is closed; what is owed is
        settled with the estate). A repeated report changes nothing."""
        if self.status == TERMINATED:
            return
        death_month = Month.of(date_of_death)
        self.record(EntitlementTerminated("death", death_month.last_day, at))
        overpaid = [
            (instruction_id, line)
            for instruction_id, instruction in sorted(self.instructions.items())
            if instruction.status != "returned"
            for line in instruction.lines
            if line.month > death_month
        ]
        if overpaid:
            self.record(
                OverpaymentDetected(
                    instruction_ids=tuple(dict.fromkeys(i for i, _ in overpaid)),
                    months=tuple(sorted({line.month for _, line in overpaid})),
                    amount=money(sum((line.amount for _, line in overpaid), Decimal(0))),
                    detected_at=at,
                )
            )

    # --- queries -----------------------------------------------------------------------------

    @property
    def last_month(self) -> Month | None:
        """The last month owed, if the entitlement has an end."""
        ends = [day for day in (self.end_date, self.ends_on) if day is not None]
        return Month.of(min(ends)) if ends else None

    def amount_for(self, month: Month) -> Decimal:
        """The monthly amount in force in `month`."""
        amount = self.schedule[0].amount
        for scheduled in self.schedule:
            if scheduled.effective_from <= month.first_day:
                amount = scheduled.amount
        return amount

    def next_instruction_id(self) -> str:
        """The id the next instruction gets: the same for the same entitlement and issue
        count, so two runs deciding from the same state produce the same instruction (and
        the second is refused as a concurrent write) instead of two payments."""
        return uuid.uuid5(_INSTRUCTION_IDS, f"{self.entitlement_id}/{self.issued + 1}").hex

    def _instruction(self, instruction_id: str) -> Instruction:
        try:
            return self.instructions[instruction_id]
        except KeyError:
            raise UnknownInstruction(
                f"no instruction {instruction_id} of entitlement {self.entitlement_id}"
            ) from None

    # --- state --------------------------------------------------------------------------------

    def apply(self, event: EntitlementEvent) -> None:
        match event:
            case EntitlementGranted():
                self.case_id, self.national_id = event.case_id, event.national_id
                self.payee_name, self.benefit = event.payee_name, event.benefit
                self.payment, self.start_date = event.payment, event.start_date
                self.end_date, self.schedule = event.end_date, event.schedule
                self.lump_sum, self.iban = event.lump_sum, event.iban
                self.status = ACTIVE
            case PaymentInstructionIssued():
                self.issued += 1
                self.instructions[event.instruction_id] = Instruction(
                    event.period, event.lines, event.amount
                )
                self.covered |= {line.month for line in event.lines}
                self._forget_before(event.period.plus(-KEPT_MONTHS))
            case PaymentSettled():
                self.instructions[event.instruction_id].status = "settled"
                if self.payment == LUMP_SUM and self.status == ACTIVE:
                    self.status = COMPLETED
            case PaymentReturned():
                instruction = self.instructions[event.instruction_id]
                instruction.status = "returned"
                self.covered -= {line.month for line in instruction.lines}
                self.returns += 1
                if self.status == COMPLETED:
                    self.status = ACTIVE
            case EntitlementSuspended():
                self.status = SUSPENDED
            case BankAccountChanged():
                self.iban = event.iban
                self.returns = 0
            case EntitlementResumed():
                self.status = ACTIVE
            case EntitlementTerminated():
                self.status = TERMINATED
                self.ends_on = event.ends_on
            case OverpaymentDetected():
                pass

    def _forget_before(self, oldest: Month) -> None:
        """Keep the state small: months and instructions older than `oldest` can no longer
        be paid again or overpaid in a way the rules look at. (A lump sum keeps its one
        month for good: it is paid once, however long ago.)"""
        if self.payment == LUMP_SUM:
            return
        self.covered = {month for month in self.covered if month >= oldest}
        self.instructions = {
            instruction_id: instruction
            for instruction_id, instruction in self.instructions.items()
            if instruction.period >= oldest
        }
