"""The `dost` command: `dost up`, `dost token`, `dost topics`, `dost contracts export`."""

from __future__ import annotations

import argparse
import asyncio
import sys
import warnings
from datetime import date
from pathlib import Path

from chassis.auth import Role, mint_local_token
from chassis.settings import ChassisSettings


def _up(arguments: argparse.Namespace) -> int:
    from deploy.local.stack import run_stack

    return run_stack(ChassisSettings().state_dir)


def _demo(arguments: argparse.Namespace) -> int:
    from deploy.local.stack import run_stack

    return run_stack(
        ChassisSettings().state_dir,
        citizens=arguments.citizens,
        keep=arguments.keep,
        seed=arguments.seed,
    )


def _token(arguments: argparse.Namespace) -> int:
    settings = ChassisSettings()
    token = mint_local_token(
        settings.state_dir,
        roles=arguments.role,
        subject=arguments.subject or f"dev-{arguments.role[0]}",
        ttl_seconds=arguments.ttl,
    )
    print(token)
    return 0


def _topics(_arguments: argparse.Namespace) -> int:
    from deploy.topics import ensure_topics

    created = asyncio.run(ensure_topics(ChassisSettings().kafka_bootstrap_servers))
    print("\n".join(created) if created else "all topics exist")
    return 0


def _outbox_status(arguments: argparse.Namespace) -> int:
    from deploy.operations import print_outbox_status

    return asyncio.run(print_outbox_status(ChassisSettings(), arguments.schema, arguments.json))


def _outbox_retry(arguments: argparse.Namespace) -> int:
    from deploy.operations import retry_outbox

    return asyncio.run(retry_outbox(ChassisSettings(), arguments.schema, arguments.position))


def _dlq_list(arguments: argparse.Namespace) -> int:
    from deploy.operations import print_dead_letters

    return asyncio.run(
        print_dead_letters(ChassisSettings(), arguments.schema, arguments.subscription)
    )


def _dlq_redrive(arguments: argparse.Namespace) -> int:
    from deploy.operations import redrive_dead_letters

    return asyncio.run(
        redrive_dead_letters(
            ChassisSettings(),
            arguments.subscription,
            subject=arguments.subject,
            letter_id=arguments.id,
            wait=not arguments.no_wait,
        )
    )


def _dlq_discard(arguments: argparse.Namespace) -> int:
    from deploy.operations import discard_dead_letter

    return asyncio.run(discard_dead_letter(ChassisSettings(), arguments.subscription, arguments.id))


REBUILDS = {
    "tracker": ("intake", "tracker-rebuild"),
    "eligibility": ("eligibility", "eligibility-read-models-rebuild"),
}


def _rebuild(arguments: argparse.Namespace) -> int:
    from deploy.operations import submit_rebuild

    default_schema, kind = REBUILDS[arguments.read_models]
    return asyncio.run(
        submit_rebuild(
            ChassisSettings(), arguments.schema or default_schema, kind, not arguments.no_wait
        )
    )


def _case_show(arguments: argparse.Namespace) -> int:
    from deploy.inspection import show_case
    from services.intake.settings import IntakeSettings

    schema = arguments.schema or IntakeSettings().schema_name
    return asyncio.run(show_case(ChassisSettings(), arguments.case_id, schema, arguments.json))


def _consumers_lag(arguments: argparse.Namespace) -> int:
    from deploy.inspection import print_consumer_lag

    return asyncio.run(print_consumer_lag(ChassisSettings(), arguments.json))


def _projections_status(arguments: argparse.Namespace) -> int:
    from deploy.inspection import print_projections_status

    return asyncio.run(print_projections_status(ChassisSettings(), arguments.json))


def _payments_run(arguments: argparse.Namespace) -> int:
    from deploy.operations import start_payment_run

    return asyncio.run(
        start_payment_run(
            ChassisSettings(), arguments.schema, arguments.period, not arguments.no_wait
        )
    )


def _period(text: str) -> str:
    """A `YYYY-MM` argument, refused before anything is touched when it is not a month."""
    from contracts.periods import Month

    try:
        return str(Month.parse(text))
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _import_statement(arguments: argparse.Namespace) -> int:
    from deploy.operations import import_statement

    try:
        document = Path(arguments.file).read_bytes()
    except OSError as error:
        print(f"not imported: {error}")
        return 1
    return asyncio.run(import_statement(ChassisSettings(), document))


def _export_contracts(_arguments: argparse.Namespace) -> int:
    from contracts.compatibility import export
    from deploy.asyncapi_docs import export as export_asyncapi

    for path in [*export(), *export_asyncapi()]:
        print(path)
    return 0


def _simulate(arguments: argparse.Namespace) -> int:
    from deploy.what_if import run_simulation

    return run_simulation(arguments.policy, arguments.as_of)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dost", description="DOST case platform")
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", help="run the whole local stack in the foreground")
    up.set_defaults(run=_up)

    demo = commands.add_parser(
        "demo", help="start the stack, drive a day of citizens through it, check the invariants"
    )
    demo.add_argument("--citizens", type=int, default=200, help="how many apply (default 200)")
    demo.add_argument("--seed", type=int, default=2026, help="the population's random seed")
    demo.add_argument(
        "--keep", action="store_true", help="leave the stack running afterwards, to explore"
    )
    demo.set_defaults(run=_demo)

    token = commands.add_parser("token", help="print a development bearer token")
    token.add_argument(
        "--role", action="append", required=True, choices=[role.value for role in Role]
    )
    token.add_argument("--subject", help="who the token names (default dev-<role>)")
    token.add_argument("--ttl", type=int, default=8 * 3600, help="lifetime in seconds")
    token.set_defaults(run=_token)

    topics = commands.add_parser("topics", help="create the public topics and their DLQs")
    topics.set_defaults(run=_topics)

    outbox = commands.add_parser("outbox", help="messages waiting to leave for Kafka")
    outbox_commands = outbox.add_subparsers(dest="outbox_command", required=True)
    status = outbox_commands.add_parser(
        "status", help="queued and parked messages per service schema, with their errors"
    )
    status.add_argument("--schema", help="one service schema (default: every one)")
    status.add_argument("--json", action="store_true", help="JSON for scripts")
    status.set_defaults(run=_outbox_status)
    retry = outbox_commands.add_parser("retry", help="send parked messages again now")
    retry.add_argument("--schema", required=True, help="the service schema, e.g. intake")
    retry.add_argument("--position", type=int, help="only this message (default: all parked)")
    retry.set_defaults(run=_outbox_retry)

    dlq = commands.add_parser("dlq", help="dead letters: list, redrive, discard")
    dlq_commands = dlq.add_subparsers(dest="dlq_command", required=True)
    listing = dlq_commands.add_parser("list", help="open dead letters, oldest first")
    listing.add_argument("--subscription", help="e.g. eligibility.applications")
    listing.add_argument("--schema", help="one service schema (default: every one)")
    listing.set_defaults(run=_dlq_list)
    redriving = dlq_commands.add_parser(
        "redrive", help="re-run dead letters through their handlers, case by case, in order"
    )
    redriving.add_argument("--subscription", required=True, help="e.g. eligibility.applications")
    redriving.add_argument("--subject", help="only this case")
    redriving.add_argument("--id", type=int, help="only this dead letter")
    redriving.add_argument("--no-wait", action="store_true", help="submit and return")
    redriving.set_defaults(run=_dlq_redrive)
    discarding = dlq_commands.add_parser("discard", help="give a dead letter up for good")
    discarding.add_argument("--subscription", required=True)
    discarding.add_argument("--id", type=int, required=True)
    discarding.set_defaults(run=_dlq_discard)

    rebuild = commands.add_parser(
        "rebuild", help="rebuild read models in the background, with progress"
    )
    rebuild.add_argument("read_models", choices=sorted(REBUILDS), help="which read models")
    rebuild.add_argument("--schema", help="the service's schema (default: its name)")
    rebuild.add_argument("--no-wait", action="store_true", help="submit and return")
    rebuild.set_defaults(run=_rebuild)

    case = commands.add_parser("case", help="one case, from every context")
    case_commands = case.add_subparsers(dest="case_command", required=True)
    showing = case_commands.add_parser(
        "show", help="the case's whole timeline: who did what and why, and its decision's rules"
    )
    showing.add_argument("case_id")
    showing.add_argument("--schema", help="intake's schema (default: INTAKE_SCHEMA_NAME)")
    showing.add_argument("--json", action="store_true", help="JSON for scripts")
    showing.set_defaults(run=_case_show)

    consumers = commands.add_parser("consumers", help="the platform's consumer groups")
    consumers_commands = consumers.add_subparsers(dest="consumers_command", required=True)
    lag = consumers_commands.add_parser("lag", help="how far each group is behind, per partition")
    lag.add_argument("--json", action="store_true", help="JSON for scripts")
    lag.set_defaults(run=_consumers_lag)

    projections = commands.add_parser("projections", help="read models: status and rebuilds")
    projections_commands = projections.add_subparsers(dest="projections_command", required=True)
    projections_status = projections_commands.add_parser(
        "status", help="the latest rebuild of each read model, and projection checkpoints"
    )
    projections_status.add_argument("--json", action="store_true", help="JSON for scripts")
    projections_status.set_defaults(run=_projections_status)
    projections_rebuild = projections_commands.add_parser(
        "rebuild", help="rebuild a read model while the service runs, with progress"
    )
    projections_rebuild.add_argument("read_models", choices=sorted(REBUILDS))
    projections_rebuild.add_argument("--schema", help="the service's schema")
    projections_rebuild.add_argument("--no-wait", action="store_true", help="submit and return")
    projections_rebuild.set_defaults(run=_rebuild)

    payments = commands.add_parser("payments", help="payment runs and bank statements")
    payments_commands = payments.add_subparsers(dest="payments_command", required=True)
    run = payments_commands.add_parser(
        "run", help="start the payment run of a month and follow it with a progress bar"
    )
    run.add_argument("--period", required=True, type=_period, help="YYYY-MM")
    run.add_argument("--schema", default="payments", help="the payments service's schema")
    run.add_argument("--no-wait", action="store_true", help="start it and return")
    run.set_defaults(run=_payments_run)
    statement = payments_commands.add_parser(
        "import-statement", help="publish the settlements and returns of a camt.054 file"
    )
    statement.add_argument("file", help="an ISO 20022 camt.054 debit notification")
    statement.set_defaults(run=_import_statement)

    contracts = commands.add_parser("contracts", help="event contracts")
    contracts_commands = contracts.add_subparsers(dest="contracts_command", required=True)
    export = contracts_commands.add_parser(
        "export", help="write contracts/schemas/*.json and docs/asyncapi/*.json"
    )
    export.set_defaults(run=_export_contracts)
    eligibility = commands.add_parser("eligibility", help="eligibility tools")
    eligibility_commands = eligibility.add_subparsers(dest="eligibility_command", required=True)
    simulate = eligibility_commands.add_parser(
        "simulate", help="what a proposed policy would change, writing nothing"
    )
    simulate.add_argument("--policy", type=Path, required=True, help="proposed policy file")
    simulate.add_argument(
        "--as-of", type=date.fromisoformat, default=None, help="YYYY-MM-DD (default today)"
    )
    simulate.set_defaults(run=_simulate)
    return parser


def main(argv: list[str] | None = None) -> None:
    warnings.filterwarnings("ignore", module="platformdirs")
    arguments = build_parser().parse_args(argv)
    sys.exit(arguments.run(arguments))
