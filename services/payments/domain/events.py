"""How the Entitlement's events are stored: an explicit type name (and schema version) for
each, never a Python path. Their JSON form follows their fields."""

from __future__ import annotations

from chassis.aggregate import StoredName
from services.payments.domain.entitlement import (
    BankAccountChanged,
    EntitlementGranted,
    EntitlementResumed,
    EntitlementSuspended,
    EntitlementTerminated,
    OverpaymentDetected,
    PaymentInstructionIssued,
    PaymentReturned,
    PaymentSettled,
)

STORED_EVENTS: dict[type, StoredName] = {
    EntitlementGranted: StoredName("payments.EntitlementGranted"),
    PaymentInstructionIssued: StoredName("payments.PaymentInstructionIssued"),
    PaymentSettled: StoredName("payments.PaymentSettled"),
    PaymentReturned: StoredName("payments.PaymentReturned"),
    EntitlementSuspended: StoredName("payments.EntitlementSuspended"),
    BankAccountChanged: StoredName("payments.BankAccountChanged"),
    EntitlementResumed: StoredName("payments.EntitlementResumed"),
    EntitlementTerminated: StoredName("payments.EntitlementTerminated"),
    OverpaymentDetected: StoredName("payments.OverpaymentDetected"),
}
