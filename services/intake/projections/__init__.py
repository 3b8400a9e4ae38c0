"""Intake's read models: the case tracker, and the job that rebuilds it."""

from services.intake.projections.tracker import (
    TRACKED_TOPICS,
    CaseSummary,
    CaseView,
    TimelineEntry,
    TrackerTables,
    case_view,
    fold_case,
    record_event,
    record_events,
    search_cases,
)
from services.intake.projections.tracker_rebuild import TrackerRebuild

__all__ = [
    "TRACKED_TOPICS",
    "CaseSummary",
    "CaseView",
    "TimelineEntry",
    "TrackerRebuild",
    "TrackerTables",
    "case_view",
    "fold_case",
    "record_event",
    "record_events",
    "search_cases",
]
