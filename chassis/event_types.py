"""The event-mapper registry: each domain event class under an explicit stored type name and
schema version, and its JSON form both ways.

Stored rows carry the name and version, never a Python path, so renaming or moving a class
orphans nothing. A domain event is a (frozen) dataclass of plain values: strings, numbers,
`Decimal`, dates, aware datetimes, tuples, mappings and other such dataclasses; pydantic
turns it into JSON and back (money as decimal strings, exactly). When an event's shape
changes, its version goes up and an upcaster turns rows of the old version into the new
shape on the way in; stored rows are never rewritten.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import TypeAdapter

from chassis.aggregate import StoredName
from chassis.eventstore import NewEvent, RecordedEvent

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class EventTypes:
    """Registered event classes, by class and by stored name."""

    def __init__(self) -> None:
        self._by_class: dict[type, StoredName] = {}
        self._by_name: dict[str, type] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}

    def register(self, event_class: type, name: str, version: int = 1) -> None:
        """Store `event_class` as `name` at schema `version` (idempotent)."""
        known = self._by_name.get(name)
        if known is not None and known is not event_class:
            raise ValueError(f"stored event name {name!r} is taken by {known.__name__}")
        self._by_class[event_class] = StoredName(name, version)
        self._by_name[name] = event_class

    def register_all(self, names: Mapping[type, StoredName | str]) -> None:
        """Register every class of a service's table of stored names."""
        for event_class, stored in names.items():
            stored = StoredName(stored) if isinstance(stored, str) else stored
            self.register(event_class, stored.name, stored.version)

    def upcaster(self, name: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Decorator: the function turns data of `name` at `from_version` into the shape
        of `from_version + 1`."""

        def register(upcast: Upcaster) -> Upcaster:
            self._upcasters[(name, from_version)] = upcast
            return upcast

        return register

    def stored_name(self, event: object) -> StoredName:
        try:
            return self._by_class[type(event)]
        except KeyError:
            raise LookupError(f"{type(event).__name__} is not a registered event") from None

    def to_new_event(self, event: object) -> NewEvent:
        """The row to append for `event`."""
        stored = self.stored_name(event)
        data = _adapter(type(event)).dump_python(event, mode="json")
        return NewEvent(stored.name, data, stored.version)

    def to_event(self, event_type: str, schema_version: int, data: dict[str, Any]) -> Any:
        """The domain event a stored row holds, upcast to its class's current version."""
        event_class = self._by_name.get(event_type)
        if event_class is None:
            raise LookupError(f"no event class is registered for stored type {event_type!r}")
        current = self._by_class[event_class].version
        for version in range(schema_version, current):
            upcast = self._upcasters.get((event_type, version))
            if upcast is None:
                raise LookupError(f"no upcaster for {event_type} from version {version}")
            data = upcast(data)
        return _adapter(event_class).validate_python(data)

    def from_recorded(self, recorded: RecordedEvent) -> Any:
        """The domain event of a row read from the store."""
        return self.to_event(recorded.event_type, recorded.schema_version, recorded.data)


_ADAPTERS: dict[type, TypeAdapter[Any]] = {}


def _adapter(event_class: type) -> TypeAdapter[Any]:
    adapter = _ADAPTERS.get(event_class)
    if adapter is None:
        adapter = _ADAPTERS[event_class] = TypeAdapter(event_class)
    return adapter


event_types = EventTypes()
"""The registry the services register their domain events in (see their domain/events.py)."""
