"""Intake's domain errors: each means "rejected", never "retry"."""


class IntakeError(Exception):
    """Root of intake's errors."""


class ApplicationNotFound(IntakeError):
    """No case with that id."""


class CannotWithdraw(IntakeError):
    """The application is past the point where it can be withdrawn."""


class IdempotencyKeyReused(IntakeError):
    """The idempotency key was used before for a different application."""
