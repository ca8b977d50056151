"""`fhirdr configure-endpoint`: the one endpoint clients use in front of an AHDS FHIR service and its standby."""

from __future__ import annotations

from pathlib import Path

import typer

from fhirdr.cli.settings import Settings


def configure_endpoint(
    ctx: typer.Context,
    apply: bool = typer.Option(False, "--apply", help="Create or correct what differs (asks first unless --yes)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    resume: str | None = typer.Option(None, "--resume", metavar="RUN_ID", help="Continue an earlier apply run."),
    runbook: Path | None = typer.Option(None, "--runbook", help="Use this runbook file instead of the shipped one."),
) -> None:
    """Check and build the Front Door clients use (AHDS).

    In front of the primary and the standby: profile, endpoint, origin group probing /metadata,
    origins by priority, route, one token audience.
    """
    from fhirdr.cli.runbook_command import RunRequest, run_runbook
    from fhirdr.errors import TargetError
    from fhirdr.kinds import kind_of

    settings: Settings = ctx.obj
    target = settings.load_target()
    kind = kind_of(target)
    if kind.endpoint_runbook is None:
        raise TargetError(
            f"configure-endpoint is for kind 'ahds'; a {kind.title} has its own endpoint: {kind.endpoint_note}"
        )
    target.require_endpoint()
    target.require_standby()
    request = RunRequest(
        kind.endpoint_runbook, "configure-endpoint", target, apply=apply, yes=yes, resume=resume, runbook_file=runbook
    )
    raise typer.Exit(run_runbook(settings, request))


def register(app: typer.Typer) -> None:
    app.command("configure-endpoint")(configure_endpoint)
