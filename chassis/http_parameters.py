"""Request parameters every service's routes share, bounded so no value can reach the
database unchecked: ids in paths, the correlation id header, pagination."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, Path, Query

from contracts.types import SingleLineText

MAX_PAGE = 100_000
"""Far beyond any real listing, and small enough that (page - 1) * page_size stays a bigint."""
MAX_PAGE_SIZE = 200

PathId = Annotated[str, Path(min_length=1, max_length=200, description="The case id.")]
"""An id in a path, as long as an event's subject may be."""

CorrelationId = Annotated[
    SingleLineText | None,
    Header(
        alias="X-Correlation-Id", max_length=200, description="Becomes the events' correlationid."
    ),
]
"""The caller's correlation id for the events a request causes."""

Page = Annotated[int, Query(ge=1, le=MAX_PAGE, description="Page number, from 1.")]
PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Items per page.")]
