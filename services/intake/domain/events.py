"""How the Application's events are stored: an explicit type name (and schema version) for
each, never a Python path. Their JSON form follows their fields."""

from __future__ import annotations

from chassis.aggregate import StoredName
from services.intake.domain.application import (
    ApplicationSubmitted,
    ApplicationWithdrawn,
    DecisionNoted,
    WithdrawalOverruled,
)

STORED_EVENTS: dict[type, StoredName] = {
    ApplicationSubmitted: StoredName("intake.ApplicationSubmitted"),
    ApplicationWithdrawn: StoredName("intake.ApplicationWithdrawn"),
    DecisionNoted: StoredName("intake.DecisionNoted"),
    WithdrawalOverruled: StoredName("intake.WithdrawalOverruled"),
}
