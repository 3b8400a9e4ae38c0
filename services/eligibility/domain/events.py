"""How the eligibility case's events are stored: an explicit type name (and schema version)
for each, never a Python path. Their JSON form follows their fields."""

from __future__ import annotations

from chassis.aggregate import StoredName
from services.eligibility.domain.case import (
    ApplicationReceived,
    AwardEnded,
    Decided,
    Referred,
    WithdrawalRejected,
    Withdrawn,
)
from services.eligibility.domain.person import DeathReported

STORED_EVENTS: dict[type, StoredName] = {
    ApplicationReceived: StoredName("eligibility.ApplicationReceived"),
    Decided: StoredName("eligibility.Decided"),
    Referred: StoredName("eligibility.Referred"),
    Withdrawn: StoredName("eligibility.Withdrawn"),
    WithdrawalRejected: StoredName("eligibility.WithdrawalRejected"),
    DeathReported: StoredName("eligibility.DeathReported"),
    AwardEnded: StoredName("eligibility.AwardEnded"),
}
