"""`fhirdr failback`: move the data back to the recovered region, behind gates and a lease."""

from __future__ import annotations

from pathlib import Path

import typer

from fhirdr.cli.settings import Settings
from fhirdr.cli.ticket_options import consent_option, severity_option
from fhirdr.durations import duration_option


def failback(
    ctx: typer.Context,
    apply: bool = typer.Option(False, "--apply", help="Act: take the lease and move the data (asks first)."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Show the gates and the plan; change nothing (the default without --apply)."
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="With --apply: do not ask to type the service name."),
    max_lag: float | None = duration_option(
        None,
        "--max-lag",
        allow_zero=True,
        legacy_unit=1,
        help="Largest replication lag allowed into the recovered region, e.g. 60s (default 60s; 5m for ahds, whose "
        "final cycle carries the rest while writes pause); never above the RPO.",
    ),
    force: bool = typer.Option(False, "--force", help="Override refusing gates (needs --reason; journaled)."),
    reason: str | None = typer.Option(None, "--reason", help="Why the gates are overridden."),
    wait: bool = typer.Option(False, "--wait", help="Keep polling while support works (managed targets)."),
    timeout: float = duration_option("4h", "--timeout", help="How long --wait polls, e.g. 90m or 4h."),
    ticket_draft: Path | None = typer.Option(
        None, "--ticket-draft", help="Write the support ticket to this file instead of filing it (managed targets)."
    ),
    severity: str | None = severity_option(),
    diagnostic_consent: str | None = consent_option(),
    resume: str | None = typer.Option(None, "--resume", metavar="RUN_ID", help="Continue an earlier failback run."),
) -> None:
    """Fail the data back to the recovered region.

    Plans by default; with --apply: gates, lease, move, verify.
    """
    from fhirdr.cli.runbook_command import RunRequest, run_runbook
    from fhirdr.durations import parse_duration
    from fhirdr.errors import BadInputError
    from fhirdr.kinds import kind_of

    settings: Settings = ctx.obj
    if apply and dry_run:
        raise BadInputError("--apply and --dry-run contradict each other", hint="--dry-run is the default; drop one")
    target = settings.load_target()
    kind = kind_of(target)
    if kind.failover_runbook:
        from fhirdr.cli.failover import switch_options

        request = RunRequest(
            kind.failback_runbook,
            "failback",
            target,
            apply=apply,
            yes=yes,
            resume=resume,
            options=switch_options(target, "failback", max_lag, force, reason),
            wait_timeout=target.replication.lease_seconds * 2,
            confirm_by_typing=target.service,
        )
        raise typer.Exit(run_runbook(settings, request))
    if max_lag is None:
        max_lag = 60.0
    if not target.primary_region:
        raise BadInputError("the target has no primary_region: the region to fail back to")
    rpo = target.objectives.rpo_minutes * 60
    if max_lag > rpo:
        raise BadInputError(f"--max-lag {max_lag:g} s is above the RPO of {rpo} s", hint=f"use at most {rpo}")
    if force and not (reason and reason.strip()):
        raise BadInputError("--force needs --reason TEXT: overriding a safety gate is recorded with why")
    options: dict = {"max_lag": max_lag, "force": force, "reason": reason}
    if kind_of(target).support_operated:
        from fhirdr.cli.ticket_options import ticket_choices
        from fhirdr.steps.support import write_ticket_draft

        options.update(ticket_choices(settings, severity, diagnostic_consent, yes or not apply, outage=apply))
        if ticket_draft is not None:
            write_ticket_draft(target, "failback", ticket_draft, options)
            settings.terminal.display_success(f"ticket text written to {ticket_draft}")
            options["ticket_draft"] = str(ticket_draft)
    request = RunRequest(
        kind_of(target).failback_runbook,
        "failback",
        target,
        apply=apply,
        yes=yes,
        resume=resume,
        options=options,
        wait_timeout=parse_duration(timeout) if wait else None,
        confirm_by_typing=target.service,
    )
    raise typer.Exit(run_runbook(settings, request))


def register(app: typer.Typer) -> None:
    app.command("failback")(failback)
