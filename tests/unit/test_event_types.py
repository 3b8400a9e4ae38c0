"""The event-mapper registry: explicit stored names, exact JSON, upcasting, no surprises."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, ClassVar

import pytest

from chassis.aggregate import Aggregate, StoredName
from chassis.event_types import EventTypes


@dataclass(frozen=True)
class Line:
    label: str
    amount: Decimal


@dataclass(frozen=True)
class Priced:
    order_id: str
    lines: tuple[Line, ...]
    due: date
    at: datetime
    notes: dict[str, Any]


@dataclass(frozen=True)
class Renamed:
    order_id: str
    title: str


@dataclass
class Order(Aggregate):
    stream_prefix: ClassVar[str] = "order"

    order_id: str
    total: Decimal = Decimal("0.00")
    title: str = ""

    @property
    def aggregate_id(self) -> str:
        return self.order_id

    @classmethod
    def blank(cls, aggregate_id: str) -> Order:
        return cls(order_id=aggregate_id)

    def apply(self, event: Any) -> None:
        match event:
            case Priced():
                self.total = sum((line.amount for line in event.lines), Decimal("0.00"))
            case Renamed():
                self.title = event.title


def registry() -> EventTypes:
    types = EventTypes()
    types.register_all({Priced: StoredName("shop.Priced"), Renamed: "shop.Renamed"})
    return types


def through_json(data: dict[str, Any]) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(json.dumps(data))
    return loaded


PRICED = Priced(
    order_id="o-1",
    lines=(Line("pension", Decimal("316.00")), Line("arrears", Decimal("0.10"))),
    due=date(2026, 12, 1),
    at=datetime(2026, 11, 24, 9, 30, tzinfo=UTC),
    notes={"source": "test", "n": 1},
)


def test_an_event_is_stored_under_its_name_and_comes_back_equal_with_exact_money() -> None:
    types = registry()
    row = types.to_new_event(PRICED)
    assert (row.event_type, row.schema_version) == ("shop.Priced", 1)
    assert row.data["lines"][0]["amount"] == "316.00"  # a decimal string, never a float
    back = types.to_event(row.event_type, row.schema_version, through_json(dict(row.data)))
    assert back == PRICED
    assert back.lines[1].amount == Decimal("0.10")
    assert back.at.tzinfo is not None


def test_an_aggregate_replays_its_events_and_counts_its_version() -> None:
    order = Order.blank("o-1")
    order.record(PRICED)
    order.record(Renamed("o-1", "first"))
    assert (order.total, order.title, order.version, len(order.pending)) == (
        Decimal("316.10"),
        "first",
        0,
        2,
    )
    saved = order.mark_saved()
    assert (order.version, order.pending, len(saved)) == (2, [], 2)
    replayed = Order.replay("o-1", saved)
    assert (replayed.total, replayed.title, replayed.version) == (Decimal("316.10"), "first", 2)
    assert replayed.stream_id == "order-o-1"


def test_an_old_row_is_upcast_to_the_current_shape_on_the_way_in() -> None:
    types = EventTypes()
    types.register(Renamed, "shop.Renamed", version=2)

    @types.upcaster("shop.Renamed", from_version=1)
    def name_became_title(data: dict[str, Any]) -> dict[str, Any]:
        data = dict(data)
        data["title"] = data.pop("name")
        return data

    old_row = {"order_id": "o-1", "name": "from 2026"}
    assert types.to_event("shop.Renamed", 1, old_row) == Renamed("o-1", "from 2026")
    assert types.to_new_event(Renamed("o-1", "x")).schema_version == 2


def test_a_row_without_a_way_to_read_it_is_an_error_not_a_guess() -> None:
    types = EventTypes()
    types.register(Renamed, "shop.Renamed", version=2)
    with pytest.raises(LookupError, match="no upcaster"):
        types.to_event("shop.Renamed", 1, {"order_id": "o-1", "name": "x"})
    with pytest.raises(LookupError, match="no event class"):
        types.to_event("shop.Unknown", 1, {})
    with pytest.raises(LookupError, match="not a registered event"):
        types.to_new_event(Line("x", Decimal(1)))


def test_one_stored_name_belongs_to_one_class() -> None:
    types = registry()
    types.register(Priced, "shop.Priced")  # the same again is fine
    with pytest.raises(ValueError, match="taken"):
        types.register(Renamed, "shop.Priced")
