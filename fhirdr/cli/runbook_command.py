"""The shared flow of a runbook command: plan, show, confirm, apply with a journal, verify, render."""

from __future__ import annotations

import getpass
from pathlib import Path

import typer

from fhirdr.cli.progress import Progress
from fhirdr.cli.settings import Settings
from fhirdr.errors import EXIT_CHECK_FAILED, EXIT_OK, FhirdrError, SafetyGateError
from fhirdr.target import Target


def run_runbook(
    settings: Settings,
    runbook_name: str,
    target: Target,
    *,
    apply: bool,
    yes: bool,
    resume: str | None,
    runbook_file: Path | None,
) -> int:
    """Returns the exit code: 0 in place (or converged), 1 findings left or a step failed."""
    from fhirdr.cli.output import render
    from fhirdr.report.plan import plan_document, plan_table
    from fhirdr.runbook.journal import JournalWriter, new_run_id, read_journal, verified_steps
    from fhirdr.runbook.loader import load_runbook, shipped_runbook
    from fhirdr.runbook.runner import Runner
    from fhirdr.steps.base import Context

    terminal = settings.terminal
    runbook = load_runbook(runbook_file or shipped_runbook(runbook_name))
    session = settings.azure(target)
    runner = Runner(runbook, Context(target, session))

    skip: set[str] = set()
    attempt = 1
    if resume:
        events = read_journal(resume)
        if events and events[0].get("runbook") != runbook.name:
            raise FhirdrError(f"run {resume} is a '{events[0].get('runbook')}' run, not '{runbook.name}'")
        skip = verified_steps(events)
        attempt = max(e.get("attempt", 1) for e in events) + 1
        apply = True

    with Progress(terminal) as progress:
        runner.observers.append(progress)
        outcome = runner.plan()
    mode = "apply" if apply else "check"
    document = plan_document(runbook, target.service, "check", outcome)
    if not apply:
        render(terminal, document, settings.output, settings.query, plan_table)
        if outcome.status == "ok":
            terminal.display_success("everything is in place")
            return EXIT_OK
        if outcome.status == "changes":
            terminal.display_info(f"{outcome.pending_changes} change(s) needed; run again with --apply to make them")
        else:
            terminal.display_info("some findings need a person (owner column); fhirdr cannot fix those")
        return EXIT_CHECK_FAILED

    todo = [r for r in outcome.results if r.status == "changes" and r.spec.id not in skip]
    if todo and not yes:
        if settings.output.value == "table":
            terminal.err.print(plan_table(document))
        if not terminal.interactive:
            raise SafetyGateError(
                f"{len(todo)} step(s) would change Azure; refusing without confirmation",
                hint="pass --yes to apply without a prompt",
            )
        if not typer.confirm(f"Apply the changes above to {target.service}?", default=False, err=True):
            raise SafetyGateError("not confirmed; nothing was changed")

    run_id = resume or new_run_id()
    journal = JournalWriter(run_id, runbook.name, attempt)
    journal(
        {
            "event": "run.context",
            "service": target.service,
            "subscription": target.subscription,
            "resource_group": target.resource_group,
            "simulated": session.simulated,
            "user": _user(),
            "runbook_file": str(runbook.source),
        }
    )
    runner.observers = [journal]
    try:
        with Progress(terminal) as progress:
            runner.observers.append(progress)
            result = runner.apply(skip=skip, resumed_from=resume)
    except FhirdrError as exc:
        exc.hint = (
            f"fix the cause, then resume with `fhirdr{_sim_flag(settings)} {_command(runbook_name)} "
            f"--apply --resume {run_id}` (journal: {journal.path})"
        )
        raise
    finally:
        journal.close()
    render(
        terminal,
        plan_document(runbook, target.service, mode, result, run_id),
        settings.output,
        settings.query,
        plan_table,
    )
    if result.status == "ok":
        terminal.display_success(f"done; journal {journal.path}")
        return EXIT_OK
    terminal.display_info(f"stopped at a step that needs a person or did not converge; journal {journal.path}")
    return EXIT_CHECK_FAILED


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name is not an error worth stopping for
        return "unknown"


def _command(runbook_name: str) -> str:
    return {"private-link": "configure-private-link"}.get(runbook_name, runbook_name)


def _sim_flag(settings: Settings) -> str:
    return " --sim" if settings.sim else ""
