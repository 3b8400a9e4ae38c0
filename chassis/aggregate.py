"""The aggregate kernel: an event-sourced aggregate changes state only by applying its own
events, keeps the events it recorded until they are saved, and knows its version.

Pure Python, no I/O: a service's domain builds on it and stays testable without a database
or an event loop. Loading and saving are the unit of work's
(:meth:`chassis.unit_of_work.UnitOfWork.load` and :meth:`~chassis.unit_of_work.UnitOfWork.save`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self


@dataclass(frozen=True)
class StoredName:
    """How a domain event class is stored: its type name and current schema version (see
    :mod:`chassis.event_types`)."""

    name: str
    version: int = 1


@dataclass(kw_only=True)
class Aggregate:
    """Base of event-sourced aggregates (subclass it as a dataclass).

    A subclass names its stream (`stream_prefix`), says how to start from nothing
    (:meth:`blank`) and how each of its events changes it (:meth:`apply`, which must never
    fail: replaying a stream is deterministic). Its commands check their rules, then
    :meth:`record` an event."""

    stream_prefix: ClassVar[str]

    version: int = 0
    """How many of its events are stored (the expected version of the next save)."""
    pending: list[Any] = field(default_factory=list)
    """Events recorded since it was loaded, not yet saved."""

    @property
    def aggregate_id(self) -> str:
        raise NotImplementedError

    @classmethod
    def blank(cls, aggregate_id: str) -> Self:
        """The aggregate before its first event."""
        raise NotImplementedError

    def apply(self, event: Any) -> None:
        """Change state as `event` says."""
        raise NotImplementedError

    @classmethod
    def stream_of(cls, aggregate_id: str) -> str:
        """The id of the event stream of the aggregate `aggregate_id`."""
        return f"{cls.stream_prefix}-{aggregate_id}"

    @property
    def stream_id(self) -> str:
        return self.stream_of(self.aggregate_id)

    @classmethod
    def replay(cls, aggregate_id: str, events: Iterable[Any]) -> Self:
        """The aggregate as its stored events, in order, describe it."""
        aggregate = cls.blank(aggregate_id)
        for event in events:
            aggregate.apply(event)
            aggregate.version += 1
        return aggregate

    def record(self, event: Any) -> None:
        """Apply a new event and keep it for the next save."""
        self.apply(event)
        self.pending.append(event)

    def mark_saved(self) -> list[Any]:
        """The pending events, now stored: the version moves past them."""
        saved, self.pending = self.pending, []
        self.version += len(saved)
        return saved
