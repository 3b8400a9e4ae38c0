"""The job that rebuilds eligibility's read models from its event store."""

from __future__ import annotations

from chassis.rebuild import ReadModelRebuild as StoreRebuild
from services.eligibility.projections.read_models import EligibilityTables, apply

KIND = "eligibility-read-models-rebuild"


def ReadModelRebuild(chunk: int = 2000) -> StoreRebuild[EligibilityTables]:
    """The `eligibility-read-models-rebuild` job kind."""
    return StoreRebuild(
        KIND,
        live=EligibilityTables.live,
        shadow=EligibilityTables.shadow,
        tables_of=EligibilityTables.all,
        fold=apply,
        chunk=chunk,
    )
