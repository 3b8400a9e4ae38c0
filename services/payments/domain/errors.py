"""Payments' domain errors: each means "rejected", never "retry"."""


class PaymentsError(Exception):
    """Root of payments' errors."""


class EntitlementNotFound(PaymentsError):
    """No entitlement with that id."""


class UnknownInstruction(PaymentsError):
    """The bank reported on an instruction this entitlement never issued."""


class NotPayable(PaymentsError):
    """The entitlement cannot be granted or changed that way."""


class RunRefused(PaymentsError):
    """A payment run cannot start (another period's run is still going)."""


class PeriodNotAllowed(PaymentsError):
    """A payment run for a month too far ahead."""
