"""`fhirdr configure-private-link`: the article's private-link section, checked and fixed."""

from __future__ import annotations

from pathlib import Path

import typer

from fhirdr.cli.settings import Settings


def configure_private_link(
    ctx: typer.Context,
    apply: bool = typer.Option(False, "--apply", help="Create what is missing (asks first unless --yes)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    resume: str | None = typer.Option(None, "--resume", metavar="RUN_ID", help="Continue an earlier apply run."),
    runbook: Path | None = typer.Option(None, "--runbook", help="Use this runbook file instead of the shipped one."),
) -> None:
    """Check and fix the Private Link setup for DR.

    Endpoint, secondary VNet, peerings, DNS zone links (ahds: the workspace's, plus the standby's endpoint).
    """
    from fhirdr.cli.runbook_command import RunRequest, run_runbook

    settings: Settings = ctx.obj
    from fhirdr.kinds import kind_of, require_applicable

    target = settings.load_target()
    require_applicable(target, "private_link", "configure-private-link")
    target.require_private_link()
    target.require_regions()
    request = RunRequest(
        kind_of(target).check_runbook("private-link"),
        "configure-private-link",
        target,
        apply=apply,
        yes=yes,
        resume=resume,
        runbook_file=runbook,
    )
    code = run_runbook(settings, request)
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    app.command("configure-private-link")(configure_private_link)
