"""`dost demo`: the journey against a running stack, with a progress display, the summary
and the verdict."""

from __future__ import annotations

import asyncio
import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from contracts.application import agency_today
from deploy.journey.citizens import population
from deploy.journey.drive import Journey, JourneyError, Stack
from deploy.journey.report import broken_invariants, summary
from deploy.journey.stores import Schemas, figures


def run_journey(stack: Stack, citizens: int, *, seed: int = 2026, deadline_s: float = 300.0) -> int:
    """0 when every invariant holds; 1 naming what broke (or the step that did not end)."""
    console = Console(width=None if sys.stdout.isatty() else 110)
    people = population(citizens, seed)
    progress = Progress(
        TextColumn("{task.description:<32}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
    journey = Journey(stack, people, progress, seed=seed, deadline_s=deadline_s)
    with progress:
        try:
            did = asyncio.run(journey.run())
        except JourneyError as error:
            console.print(f"[red]the journey stopped: {error}[/red]")
            return 1
    found = asyncio.run(figures(stack.settings.database_url, Schemas.configured(), agency_today()))
    summary(console, found, did, people)
    broken = broken_invariants(found, did, people, stack.messages)
    for invariant in broken:
        console.print(f"[red]broken: {invariant}[/red]")
    if broken:
        return 1
    console.print("[green]every invariant holds[/green]")
    return 0
