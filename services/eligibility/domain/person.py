"""What eligibility knows of a person beyond their applications: what the civil registry
reported. Kept as events, so every read model built on it can be rebuilt from the store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import ClassVar

from chassis.aggregate import Aggregate


@dataclass(frozen=True)
class DeathReported:
    """The civil registry reported the person dead on `date_of_death`."""

    national_id: str
    date_of_death: date
    reported_at: datetime


PersonEvent = DeathReported


@dataclass
class Person(Aggregate):
    stream_prefix: ClassVar[str] = "person"

    national_id: str
    date_of_death: date | None = None

    @property
    def aggregate_id(self) -> str:
        return self.national_id

    @classmethod
    def blank(cls, aggregate_id: str) -> Person:
        return cls(national_id=aggregate_id)

    def report_death(self, date_of_death: date, at: datetime) -> None:
        """Record the death; a repeated report of the same date changes nothing, a
        corrected date is recorded."""
        if self.date_of_death != date_of_death:
            self.record(DeathReported(self.national_id, date_of_death, at))

    def apply(self, event: PersonEvent) -> None:
        match event:
            case DeathReported():
                self.date_of_death = event.date_of_death
