"""Eligibility's domain errors: each means "rejected", never "retry"."""


class EligibilityError(Exception):
    """Root of eligibility's errors."""


class CaseNotFound(EligibilityError):
    """No eligibility case with that id."""


class NotReviewable(EligibilityError):
    """The case is not waiting for a review, or was already decided on review."""


class ReviewForbidden(EligibilityError):
    """The reviewer may not decide this case (four-eyes, or an override without a supervisor)."""


class ApprovalBlocked(EligibilityError):
    """What is known of the applicant now forbids an approval (death, an active award)."""


class NoPolicyInForce(EligibilityError):
    """No policy version covers the date."""
