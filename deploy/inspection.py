"""What an operator reads: a case's whole story (`dost case show`), how far every consumer
group is behind (`dost consumers lag`) and the state of the read models
(`dost projections status`). Tables for people, `--json` for scripts. Read-only."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from chassis.consumer_lag import consumer_lag
from chassis.database import checked_schema, connect
from chassis.settings import ChassisSettings

# Who acted, in each kind of event: the first of these fields it carries.
_ACTORS = ("submitted_by", "withdrawn_by", "decided_by", "reviewed_by", "requested_by")
REBUILD_KINDS = ("tracker-rebuild", "eligibility-read-models-rebuild")


def _print_json(document: Any) -> None:
    print(json.dumps(document, indent=2, default=str, ensure_ascii=False))


async def show_case(settings: ChassisSettings, case_id: str, schema: str, as_json: bool) -> int:
    """The case's timeline from every context (as intake's tracker holds it): when, which
    context, what, who, and why; then each rule of its decision with its inputs."""
    connection = await connect(settings.database_url)
    try:
        case = await connection.fetchrow(
            f"SELECT case_id, benefit, center_id, status, submitted_at, updated_at"
            f" FROM {checked_schema(schema)}.tracker_cases WHERE case_id = $1",
            case_id,
        )
        events = await connection.fetch(
            f"SELECT event_id, event_type, source, occurred_at, data"
            f" FROM {checked_schema(schema)}.tracker_timeline WHERE case_id = $1"
            " ORDER BY occurred_at, position",
            case_id,
        )
    finally:
        await connection.close()
    if case is None:
        print(f"no case {case_id}")
        return 1
    timeline = [
        {
            "time": row["occurred_at"],
            "context": row["source"].removeprefix("urn:dost:"),
            "event": row["event_type"],
            "event_id": row["event_id"],
            "data": row["data"] if isinstance(row["data"], dict) else json.loads(row["data"]),
        }
        for row in events
    ]
    decision = next(
        (
            e
            for e in reversed(timeline)
            if e["event"].startswith("dost.eligibility.EligibilityDecided")
        ),
        None,
    )
    if as_json:
        _print_json({**dict(case), "timeline": timeline})
        return 0
    console = Console()
    console.print(
        escape(f"case {case['case_id']}  {case['benefit']} at {case['center_id']}: ")
        + f"[bold]{escape(case['status'])}[/bold]"
    )
    table = Table(title="Timeline")
    for column in ("time", "context", "what", "who", "why"):
        table.add_column(column, overflow="fold")
    for entry in timeline:  # free text (notes, reasons) is shown as text, never as markup
        table.add_row(
            _when(entry["time"]),
            escape(entry["context"]),
            entry["event"].removeprefix("dost.").rsplit(".", 1)[0],
            escape(_who(entry["data"])),
            escape(_why(entry["data"])),
        )
    console.print(table)
    if decision is not None:
        rules = Table(title=f"Rules of the decision (policy {decision['data']['policy_version']})")
        for column in ("rule", "inputs", "passed", "reason"):
            rules.add_column(column, overflow="fold")
        for rule in decision["data"]["rules"]:
            inputs = ", ".join(f"{name}={value}" for name, value in rule["inputs"].items())
            rules.add_row(
                rule["rule"], inputs, "yes" if rule["passed"] else "no", rule["reason"] or ""
            )
        console.print(rules)
    return 0


def _when(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _who(data: dict[str, Any]) -> str:
    return next((str(data[field]) for field in _ACTORS if data.get(field)), "")


def _why(data: dict[str, Any]) -> str:
    """The few words that explain the event."""
    parts = []
    if data.get("outcome"):
        parts.append(str(data["outcome"]))
    if data.get("reasons"):
        parts.append("reasons: " + ", ".join(data["reasons"]))
    if data.get("review_reasons"):
        parts.append("review: " + ", ".join(data["review_reasons"]))
    if (award := data.get("award")) and isinstance(award, dict):
        parts.append(f"{award['amount']} AZN {award['payment']} from {award['start_date']}")
    for field in ("reason", "note", "amount", "period", "kind", "channel", "language"):
        if data.get(field) and field not in ("reasons",):
            parts.append(f"{field} {data[field]}")
    return "; ".join(parts)


async def print_consumer_lag(settings: ChassisSettings, as_json: bool) -> int:
    from deploy.asyncapi_docs import consumer_groups

    lags = await consumer_lag(settings.kafka_bootstrap_servers, consumer_groups())
    if as_json:
        _print_json(
            [
                {
                    "group": lag.group,
                    "topic": lag.topic,
                    "partition": lag.partition,
                    "committed": lag.committed,
                    "end": lag.end,
                    "lag": lag.lag,
                }
                for lag in lags
            ]
        )
        return 0
    table = Table(title="Consumer lag")
    for column in ("group", "topic", "partition", "committed", "end", "lag"):
        table.add_column(column, justify="right" if column not in ("group", "topic") else "left")
    for lag in lags:
        table.add_row(
            lag.group, lag.topic, str(lag.partition), str(lag.committed), str(lag.end), str(lag.lag)
        )
    Console().print(table)
    print(f"total lag: {sum(lag.lag for lag in lags)}")
    return 0


async def print_projections_status(settings: ChassisSettings, as_json: bool) -> int:
    """Each service's read-model rebuilds (the latest of each kind) and the checkpoints of
    the projections fed from an event store."""
    connection = await connect(settings.database_url)
    try:
        schemas = [
            row["table_schema"]
            for row in await connection.fetch(
                "SELECT table_schema FROM information_schema.tables WHERE table_name = 'jobs'"
                " ORDER BY table_schema"
            )
        ]
        rebuilds, checkpoints = [], []
        for schema in schemas:
            rebuilds += [
                {"schema": schema, **dict(row)}
                for row in await connection.fetch(
                    "SELECT DISTINCT ON (kind) kind, name, status, done, total, error,"
                    " created_at, finished_at"
                    f" FROM {checked_schema(schema)}.jobs WHERE kind = ANY($1::text[])"
                    " ORDER BY kind, created_at DESC",
                    list(REBUILD_KINDS),
                )
            ]
            checkpoints += [
                {"schema": schema, **dict(row)}
                for row in await connection.fetch(
                    "SELECT projection, position, updated_at"
                    f" FROM {checked_schema(schema)}.projection_checkpoints ORDER BY projection"
                )
            ]
    finally:
        await connection.close()
    if as_json:
        _print_json({"rebuilds": rebuilds, "checkpoints": checkpoints})
        return 0
    console = Console()
    table = Table(title="Read-model rebuilds (the latest of each)")
    for column in ("schema", "kind", "status", "progress", "started", "finished"):
        table.add_column(column)
    for rebuild in rebuilds:
        table.add_row(
            rebuild["schema"],
            rebuild["kind"],
            rebuild["status"] + (f": {rebuild['error']}" if rebuild["error"] else ""),
            f"{rebuild['done']}/{rebuild['total'] if rebuild['total'] is not None else '?'}",
            _when(rebuild["created_at"]),
            _when(rebuild["finished_at"]) if rebuild["finished_at"] else "",
        )
    console.print(table if rebuilds else "no read model has been rebuilt yet")
    if checkpoints:
        positions = Table(title="Projection checkpoints")
        for column in ("schema", "projection", "position", "updated"):
            positions.add_column(column)
        for checkpoint in checkpoints:
            positions.add_row(
                checkpoint["schema"],
                checkpoint["projection"],
                str(checkpoint["position"]),
                _when(checkpoint["updated_at"]),
            )
        console.print(positions)
    return 0
