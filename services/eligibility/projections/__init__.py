"""Eligibility's read models, and the job that rebuilds them from the event store."""

from services.eligibility.projections.read_models import (
    EligibilityTables,
    QueuedReview,
    apply,
    circumstances,
    queued_cases_of,
    review_queue,
)
from services.eligibility.projections.rebuild import ReadModelRebuild

__all__ = [
    "EligibilityTables",
    "QueuedReview",
    "ReadModelRebuild",
    "apply",
    "circumstances",
    "queued_cases_of",
    "review_queue",
]
