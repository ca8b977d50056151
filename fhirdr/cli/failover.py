"""`fhirdr failover`: switch an AHDS FHIR service's clients to its standby, planned or unplanned."""

from __future__ import annotations

from typing import Any

import typer

from fhirdr.cli.settings import Settings
from fhirdr.durations import duration_option

# The gate on replication lag before a planned switch: the final cycle carries the rest while writes pause,
# so this bounds the pause (the RTO), not the data: nothing acknowledged is lost in a planned switch.
AHDS_MAX_LAG_SECONDS = 300.0


def failover(
    ctx: typer.Context,
    apply: bool = typer.Option(False, "--apply", help="Act: gates, final cycle, the switch, verification (asks)."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Show the gates, the switch and the data at risk; change nothing (the default)."
    ),
    unplanned: bool = typer.Option(
        False, "--unplanned", help="The primary is down: switch now; the report names the window that is lost."
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="With --apply: do not ask to type the service name."),
    max_lag: float | None = duration_option(
        None,
        "--max-lag",
        allow_zero=True,
        help="Planned: largest replication lag allowed before the switch (default 5m, never above the RPO).",
    ),
    force: bool = typer.Option(False, "--force", help="Override refusing gates (needs --reason; journaled)."),
    reason: str | None = typer.Option(None, "--reason", help="Why the gates are overridden."),
    resume: str | None = typer.Option(None, "--resume", metavar="RUN_ID", help="Continue an earlier failover run."),
) -> None:
    """Switch an AHDS FHIR service's clients to its standby.

    Planned: writes pause, a final replication cycle, the switch of the front door, verification, then
    replication reversed. With --unplanned the primary is down: switch now and name the window at risk.
    """
    from fhirdr.cli.runbook_command import RunRequest, run_runbook
    from fhirdr.errors import BadInputError
    from fhirdr.kinds import kind_of

    settings: Settings = ctx.obj
    if apply and dry_run:
        raise BadInputError("--apply and --dry-run contradict each other", hint="--dry-run is the default; drop one")
    target = settings.load_target()
    kind = kind_of(target)
    if not kind.failover_runbook:
        raise BadInputError(
            f"`fhirdr failover` is for kind ahds, and this target is kind {target.kind}: {kind.failover_note}"
        )
    options = switch_options(target, "failover", max_lag, force, reason, unplanned=unplanned)
    request = RunRequest(
        kind.failover_runbook,
        "failover",
        target,
        apply=apply,
        yes=yes,
        resume=resume,
        options=options,
        wait_timeout=target.replication.lease_seconds * 2,
        confirm_by_typing=target.service,
    )
    raise typer.Exit(run_runbook(settings, request))


def switch_options(
    target: Any, command: str, max_lag: float | None, force: bool, reason: str | None, unplanned: bool = False
) -> dict[str, Any]:
    """The options the switch steps read, after refusing contradictions (exit 2, nothing changed)."""
    from fhirdr.errors import BadInputError
    from fhirdr.paths import state_dir

    rpo = target.objectives.rpo_minutes * 60
    if unplanned and max_lag is not None:
        raise BadInputError("--max-lag is for a planned switch; an unplanned one names the window at risk instead")
    if max_lag is None:
        max_lag = min(AHDS_MAX_LAG_SECONDS, rpo)
    if max_lag > rpo:
        raise BadInputError(f"--max-lag {max_lag:g} s is above the RPO of {rpo} s", hint=f"use at most {rpo}")
    if force and not (reason and reason.strip()):
        raise BadInputError("--force needs --reason TEXT: overriding a safety gate is recorded with why")
    return {
        "max_lag": max_lag,
        "force": force,
        "reason": reason,
        "unplanned": unplanned,
        "command": command,
        "state_dir": str(state_dir() / "lost-window"),
    }


def register(app: typer.Typer) -> None:
    app.command("failover")(failover)
