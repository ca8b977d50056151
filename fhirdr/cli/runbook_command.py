"""The shared flow of a runbook command: plan, show, confirm, apply with a journal, verify, render."""

from __future__ import annotations

import getpass
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fhirdr.cli.progress import Progress
from fhirdr.cli.settings import Settings
from fhirdr.errors import (
    EXIT_CHECK_FAILED,
    EXIT_OK,
    EXIT_SAFETY,
    BadInputError,
    FhirdrError,
    InterruptedRunError,
    SafetyGateError,
    stopped_by,
)
from fhirdr.target import Target


@dataclass
class RunRequest:
    """What a runbook command asks for; the flow below is the same for every command."""

    runbook: str
    command: str
    target: Target
    apply: bool = False
    yes: bool = False
    resume: str | None = None
    runbook_file: Path | None = None
    options: dict[str, Any] = field(default_factory=dict)
    wait_timeout: float | None = None
    session: Any = None
    # Runs after the plan and before anything changes; raises to refuse (e.g. missing contact details).
    before_apply: Callable[[Any, dict[str, Any]], None] | None = None
    # Instead of a yes/no question, the operator must type this (the service name, for failback).
    confirm_by_typing: str | None = None
    # How to act on what a check found, in this command's words.
    apply_hint: str = "run again with --apply to make them"
    # Checks of independent settings: fix what can be fixed even when another finding needs a person.
    independent_steps: bool = False
    table: Callable[[Any], Any] | None = None


def run_runbook(settings: Settings, request: RunRequest) -> int:
    """Exit code: 0 in place, converged or waiting on someone else; 1 findings left or a step failed;
    4 refused by a safety gate."""
    from fhirdr.cli.output import render
    from fhirdr.report.plan import plan_document, plan_table
    from fhirdr.runbook.journal import JournalWriter, new_run_id, read_journal, verified_steps
    from fhirdr.runbook.loader import load_runbook, shipped_runbook
    from fhirdr.runbook.runner import Runner
    from fhirdr.steps.base import Context

    terminal = settings.terminal
    target = request.target
    runbook = load_runbook(request.runbook_file or shipped_runbook(request.runbook))
    session = request.session or settings.azure(target)
    run_id = request.resume or new_run_id()
    options = {**request.options, "run_id": run_id, "user": _user()}
    runner = Runner(
        runbook,
        Context(target, session, options),
        wait_timeout=request.wait_timeout,
        stop_on_blocked=not request.independent_steps,
    )
    table = request.table or plan_table

    apply, verified, attempt = request.apply, set(), 1
    if request.resume:
        events = read_journal(request.resume)
        if events and events[0].get("runbook") != runbook.name:
            raise FhirdrError(f"run {request.resume} is a '{events[0].get('runbook')}' run, not '{runbook.name}'")
        _refuse_finished(settings, request, events)
        verified = verified_steps(events)
        attempt = max(e.get("attempt", 1) for e in events) + 1
        apply = True

    with Progress(terminal) as progress:
        runner.observers.append(progress)
        outcome = runner.plan()
    # A step verified in an earlier attempt is skipped only if it is still in place now: the world may have
    # changed since (a peering deleted, a world rebuilt). The plan has just read every step's facts.
    in_place = {r.spec.id for r in outcome.results if r.status in ("in-sync", "warning")}
    skip = verified & in_place
    gone = [r.spec.id for r in outcome.results if r.spec.id in verified - in_place]
    if gone:
        terminal.display_warning(
            "verified in an earlier attempt but no longer in place, so done again: " + ", ".join(gone)
        )
    document = plan_document(runbook, target.service, "check", outcome)
    if not apply:
        render(terminal, document, settings.output, settings.query, table)
        return _report_check(settings, request, outcome)

    if outcome.refusals:
        if settings.output.value == "table":
            terminal.err.print(table(document))
        own = [c.data["hint"] for r in outcome.results if r.status == "refused" for c in r.changes if "hint" in c.data]
        raise SafetyGateError(
            "refused: " + "; ".join(outcome.refusals),
            hint="nothing was changed; "
            + ("; ".join(own) if own else "--force --reason TEXT overrides a gate, and the journal records it"),
        )
    try:
        if request.before_apply is not None:
            request.before_apply(outcome, options)
        _confirm(settings, request, outcome, document, skip)
    except KeyboardInterrupt as exc:
        raise InterruptedRunError(f"{stopped_by(exc)} at the confirmation; nothing was changed") from None

    journal = JournalWriter(run_id, runbook.name, attempt)
    context = {
        "event": "run.context",
        "command": request.command,
        "service": target.service,
        "subscription": target.subscription,
        "resource_group": target.resource_group,
        "secondary_region": target.secondary_region,
        "simulated": session.simulated,
        "user": options["user"],
        "runbook_file": str(runbook.source),
    }
    if options.get("force"):
        context.update({"force": True, "reason": options.get("reason")})
    journal(context)
    runner.observers = [journal]
    resume_hint = f"fhirdr{' --sim' if settings.use_sim else ''} {request.command} --resume {run_id} --yes"
    try:
        with Progress(terminal) as progress:
            runner.observers.append(progress)
            result = runner.apply(skip=skip, resumed_from=request.resume)
    except FhirdrError as exc:
        if not isinstance(exc, SafetyGateError):
            exc.hint = f"fix the cause, then resume with `{resume_hint}` (journal: {journal.path})"
        raise
    except KeyboardInterrupt as exc:
        raise InterruptedRunError(
            f"{stopped_by(exc)}; the journal is closed and records every step that finished ({journal.path})",
            hint=f"resume with `{resume_hint}`",
        ) from None
    finally:
        journal.close()
    render(
        terminal,
        plan_document(runbook, target.service, "apply", result, run_id),
        settings.output,
        settings.query,
        table,
    )
    if result.status == "ok" and not any(r.status == "blocked" for r in result.results):
        _report_done(terminal, result, f"journal {journal.path}")
        return EXIT_OK
    if result.status == "refused":
        raise SafetyGateError("refused: " + "; ".join(result.refusals), hint=f"journal: {journal.path}")
    if result.status == "waiting":
        terminal.display_info(
            f"waiting for {'; '.join(result.waiting_for)}. Nothing else to do now: run the same command again "
            f"later, add --wait to keep polling, or `{resume_hint}`"
        )
        return EXIT_OK
    terminal.display_info(f"stopped at a step that needs a person or did not converge; journal {journal.path}")
    return EXIT_CHECK_FAILED


def _confirm(settings: Settings, request: RunRequest, outcome: Any, document: Any, skip: set[str]) -> None:
    """Act only with --yes or after the operator confirms at a terminal."""
    from fhirdr.report.plan import plan_table

    todo = [r for r in outcome.results if r.status == "changes" and r.spec.id not in skip]
    if not todo:
        return
    terminal = settings.terminal
    if settings.output.value == "table":
        # The plan is shown before anything changes, also with --yes (on stderr: stdout gets the result).
        terminal.err.print((request.table or plan_table)(document))
    if request.yes:
        return
    if not terminal.interactive:
        raise SafetyGateError(
            f"{len(todo)} step(s) would change Azure; refusing without confirmation",
            hint="pass --yes to act without a prompt",
        )
    if request.confirm_by_typing:
        typed = terminal.ask(f"Type the service name ({request.confirm_by_typing}) to proceed")
        if typed is None:
            raise SafetyGateError("no answer (end of input); nothing was changed")
        if typed.strip() != request.confirm_by_typing:
            raise SafetyGateError("the name typed does not match; nothing was changed")
    elif not terminal.confirm(f"Apply the changes above to {request.target.service}?"):
        raise SafetyGateError("not confirmed; nothing was changed")


def _refuse_finished(settings: Settings, request: RunRequest, events: list[dict[str, Any]]) -> None:
    """A run that reached its end has nothing to resume: its steps were verified then, not now."""
    finished = [e for e in events if e.get("event") == "run.finished"]
    if not finished or finished[-1].get("status") != "ok":
        return
    sim = " --sim" if settings.use_sim else ""
    raise BadInputError(
        f"run {request.resume} finished ({finished[-1].get('status')}, {finished[-1].get('ts')}); there is nothing "
        "to resume",
        hint=f"to check again and fix what changed since, run `fhirdr{sim} {request.command} --apply`",
    )


def _report_done(terminal: Any, outcome: Any, where: str) -> None:
    """The end of a run or a check that changed or found nothing more to do: overrides and warnings named."""
    overrides, warnings = outcome.overrides, outcome.warnings
    for summary in overrides:
        terminal.display_warning(summary)
    for summary in warnings:
        terminal.display_warning(summary)
    if not overrides and not warnings:
        terminal.display_success("everything is in place" + (f"; {where}" if where else ""))
        return
    said = []
    if overrides:
        said.append(f"{len(overrides)} safety gate(s) overridden with --force")
    if warnings:
        said.append(f"{len(warnings)} warning(s) remain")
    terminal.display_info(f"in place, but {' and '.join(said)} (above)" + (f"; {where}" if where else ""))


def _report_check(settings: Settings, request: RunRequest, outcome: Any) -> int:
    terminal = settings.terminal
    if outcome.status == "ok":
        _report_done(terminal, outcome, "")
        return EXIT_OK
    if outcome.status == "waiting":
        terminal.display_info(f"waiting for {'; '.join(outcome.waiting_for)}")
        return EXIT_OK
    if outcome.status == "refused":
        terminal.display_info("a safety gate would refuse: " + "; ".join(outcome.refusals))
        return EXIT_SAFETY
    fixable = sum(1 for r in outcome.results if r.status == "changes" for c in r.changes if c.fixable)
    manual = sum(1 for r in outcome.results if r.status == "blocked" for c in r.changes if not c.fixable)
    if fixable:
        terminal.display_info(f"{fixable} change(s) needed; {request.apply_hint}")
    if manual:
        terminal.display_info(f"{manual} finding(s) need a person; fhirdr cannot fix those")
    return EXIT_CHECK_FAILED


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name is not an error worth stopping for
        return "unknown"
