"""`fhirdr check-cmk`, `check-export`, `check-iomt`: the article's configuration changes in DR, checked."""

from __future__ import annotations

from typing import Any

import typer

from fhirdr.cli.settings import Settings


def _run(
    ctx: typer.Context,
    runbook: str,
    command: str,
    apply: bool,
    yes: bool,
    resume: str | None,
    options: dict[str, Any] | None = None,
    before_apply: Any = None,
) -> None:
    from fhirdr.cli.runbook_command import RunRequest, run_runbook
    from fhirdr.kinds import kind_of, require_applicable
    from fhirdr.report.plan import findings_table

    settings: Settings = ctx.obj
    target = settings.load_target()
    require_applicable(target, runbook, command)
    request = RunRequest(
        kind_of(target).check_runbook(runbook),
        command,
        target,
        apply=apply,
        yes=yes,
        resume=resume,
        options=options or {},
        independent_steps=True,
        table=findings_table,
        before_apply=before_apply,
    )
    raise typer.Exit(run_runbook(settings, request))


APPLY = typer.Option(False, "--apply", help="Fix what can be fixed safely (shows the plan and asks first).")
YES = typer.Option(False, "--yes", "-y", help="Do not ask (irreversible changes still need their own flag).")
RESUME = typer.Option(None, "--resume", metavar="RUN_ID", help="Continue an earlier --apply run.")


def check_cmk(
    ctx: typer.Context,
    apply: bool = APPLY,
    yes: bool = YES,
    enable_purge_protection: bool = typer.Option(
        False, "--enable-purge-protection", help="Allow turning on soft delete and purge protection (permanent)."
    ),
    resume: str | None = RESUME,
) -> None:
    """Check the customer-managed key setup for DR.

    Vault, recovery options, network rules, key, Cosmos DB access, cross-tenant id.
    """
    settings: Settings = ctx.obj

    def confirm_irreversible(outcome: Any, options: dict[str, Any]) -> None:
        pending = [c for r in outcome.results for c in r.changes if c.data.get("irreversible") and not c.fixable]
        if not pending or options.get("allow_irreversible") or not settings.terminal.interactive:
            return
        if settings.terminal.confirm(f"{pending[0].summary.split(';')[0]}. This cannot be undone. Go ahead?"):
            options["allow_irreversible"] = True

    _run(
        ctx,
        "cmk",
        "check-cmk",
        apply,
        yes,
        resume,
        {"allow_irreversible": enable_purge_protection},
        confirm_irreversible,
    )


def check_export(ctx: typer.Context, apply: bool = APPLY, yes: bool = YES, resume: str | None = RESUME) -> None:
    """Check the $export setup for DR.

    Storage account, managed identity and role, network rules, redundancy.
    """
    _run(ctx, "export", "check-export", apply, yes, resume)


def check_iomt(ctx: typer.Context) -> None:
    """Check IoMT connectors and what a failover breaks.

    Connectors and connections, with the DR caveat and what to recreate after a failover.
    """
    _run(ctx, "iomt", "check-iomt", False, False, None)


def register(app: typer.Typer) -> None:
    app.command("check-cmk")(check_cmk)
    app.command("check-export")(check_export)
    app.command("check-iomt")(check_iomt)
