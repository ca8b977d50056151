"""`fhirdr runs`: the journals of earlier runs, newest first."""

from __future__ import annotations

import typer

from fhirdr.cli.settings import Settings


def runs(
    ctx: typer.Context,
    run_id: str | None = typer.Argument(None, help="Show the events of this run."),
    limit: int = typer.Option(20, "--limit", min=1, help="How many runs to list."),
) -> None:
    """List recorded runs, or show the journal of one run."""
    from fhirdr.cli.output import render
    from fhirdr.runbook.journal import list_runs, read_journal

    settings: Settings = ctx.obj
    if run_id:
        events = read_journal(run_id)
        keep = ("ts", "attempt", "event", "step", "status", "error")
        render(
            settings.terminal,
            [{k: e.get(k) for k in keep if k in e} for e in events]
            if not settings.query and settings.output.value == "table"
            else events,
            settings.output,
            settings.query,
        )
        return
    render(settings.terminal, list_runs(limit), settings.output, settings.query)


def register(app: typer.Typer) -> None:
    app.command("runs")(runs)
