"""`fhirdr drill`: run the DR test plan as a script and measure RPO, RTO, data loss and latency."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import typer

from fhirdr.cli.settings import Settings
from fhirdr.durations import duration_option
from fhirdr.errors import EXIT_CHECK_FAILED, EXIT_OK


def drill(
    ctx: typer.Context,
    yes: bool = typer.Option(False, "--yes", "-y", help="Disrupt a real test environment without asking."),
    report_dir: Path | None = typer.Option(
        None, "--report-dir", help="Write drill.md, drill.html, drill.junit.xml and the journal here."
    ),
    disruption: str = typer.Option(
        "outage",
        "--disruption",
        help="outage (simulated regional outage) or manual-failover (self-hosted: a Cosmos DB failover-priority "
        "change; ahds: the primary's origin disabled in the front door).",
    ),
    rate: float = duration_option("30s", "--rate", help="One canary write every this long."),
    steady: float = duration_option("15m", "--steady", help="Steady state before and after."),
    failed_over: float = duration_option("75m", "--failed-over", help="How long to keep writing while failed over."),
    max_lag: float = duration_option(
        "60s", "--max-lag", allow_zero=True, legacy_unit=1, help="Failback gate: largest replication lag, e.g. 60s."
    ),
    failback_wait: float = duration_option(
        "3h", "--failback-wait", help="How long to wait for the failback gates to open before the drill fails."
    ),
    resume: str | None = typer.Option(None, "--resume", metavar="RUN_ID", help="Continue an interrupted drill."),
) -> None:
    """Run a DR drill and measure RPO and RTO.

    Canaries through a disruption, failover, recovery and failback; a verdict against RPO and RTO.
    """
    from fhirdr.cli.output import render
    from fhirdr.cli.progress import Progress
    from fhirdr.drill import (
        Drill,
        DrillSettings,
        DrillState,
        ManualFailover,
        steady_state_problems,
        unfinished_drills,
    )
    from fhirdr.durations import describe, parse_duration
    from fhirdr.errors import (
        BadInputError,
        CheckFailedError,
        FhirdrError,
        InterruptedRunError,
        SafetyGateError,
        stopped_by,
    )
    from fhirdr.kinds import kind_of
    from fhirdr.runbook.journal import JournalWriter, new_run_id, read_journal
    from fhirdr.status import read_status
    from fhirdr.steps.base import Context

    settings: Settings = ctx.obj
    terminal = settings.terminal
    sim = " --sim" if settings.use_sim else ""
    given = {
        "report_dir": None if report_dir is None else str(report_dir),
        "disruption": disruption,
        # Durations as text: the journal, the resume line and the report read as the user typed them.
        "rate": describe(rate),
        "steady": describe(steady),
        "failed_over": describe(failed_over),
        "max_lag": describe(max_lag),
        "failback_wait": describe(failback_wait),
    }
    run_id = resume or new_run_id()
    state, attempt, saved = DrillState(), 1, {}
    if resume:
        events = read_journal(resume)
        if events and events[0].get("runbook") != "drill":
            raise BadInputError(f"run {resume} is not a drill")
        state = DrillState.from_events(events)
        if state.finished:
            raise BadInputError(
                f"drill {resume} has finished ({state.reported}); there is nothing to resume",
                hint=f"start a new drill with `fhirdr{sim} drill`",
            )
        attempt = max(e.get("attempt", 1) for e in events) + 1
        saved = next((e for e in events if e.get("event") == "run.context"), {})
        given = _resumed_options(ctx, given, saved.get("options") or {}, terminal)
    report_dir = None if given["report_dir"] is None else Path(given["report_dir"])
    if settings.use_sim:
        _ensure_world(settings)
    target = settings.load_target()
    if not target.test_environment:
        raise SafetyGateError(
            f"{target.service} is not marked as a test environment; a drill disrupts it",
            hint="set test_environment = true in the target file for a test deployment",
        )
    if given["disruption"] not in ("outage", "manual-failover"):
        raise BadInputError(f"--disruption {given['disruption']!r} is not known", hint="use outage or manual-failover")
    drill_settings = DrillSettings(
        parse_duration(given["rate"]),
        parse_duration(given["steady"]),
        parse_duration(given["failed_over"]),
        parse_duration(given["max_lag"], "--max-lag", allow_zero=True),
        parse_duration(given["failback_wait"]),
    )
    drill_settings.check()
    session = settings.azure(target)
    context = Context(target, session, {"force": False})
    if resume:
        # Mid-drill the world is failed over by design: the secondary is the one the drill started with.
        secondary = saved.get("secondary_region") or target.secondary_region
    else:
        status = read_status(context)
        if not status["dr"]["enabled"]:
            hint = "run `fhirdr enable --apply --wait` first"
            if session.simulated:
                hint += "; or `fhirdr sim init --force --kind self-hosted --dr-enabled` for a simulated world with DR"
            raise CheckFailedError(f"DR is not on for {target.service} ({status['dr']['detail']})", hint=hint)
        problems = steady_state_problems(context, status)
        earlier = unfinished_drills(target.service)
        if problems:
            remedies = []
            if any(remedy == "recovery" for _, remedy in problems):
                remedies.append(
                    "wait until every region is back"
                    + (" (`fhirdr sim recover REGION` in the simulated Azure)" if session.simulated else "")
                )
            if any(remedy == "failback" for _, remedy in problems):
                remedies.append(
                    f"`fhirdr{sim} failback --apply` moves data and compute back to {target.primary_region} once both "
                    "regions are up"
                )
            hint = "get back first: " + ", then ".join(remedies)
            if earlier:
                hint = (
                    f"drill {earlier[0]} did not finish and may have left the world mid-drill: `fhirdr{sim} drill "
                    f"--resume {earlier[0]}` finishes it (failback, verify, cleanup of its canaries); otherwise " + hint
                )
            raise SafetyGateError(
                f"{target.service} is not in a steady state, so a drill would measure nothing: "
                + "; ".join(text for text, _ in problems),
                hint=hint + f"; `fhirdr{sim} status` shows where things are",
            )
        if earlier:
            terminal.display_warning(
                f"earlier drill(s) did not finish ({', '.join(earlier)}): this drill removes the canaries they left; "
                f"`fhirdr{sim} drill --resume {earlier[0]}` would have finished the newest instead"
            )
        if status["replication"]["state"] == "lagging":
            terminal.display_warning(
                f"replication lags {status['replication']['lag_seconds']:g} s, above the RPO: the drill will show it"
            )
        secondary = status["secondary_region"]
    target = dataclasses.replace(target, secondary_region=secondary)
    context = Context(target, session, {"force": False})
    if given["disruption"] == "outage":
        if not session.simulated:
            raise BadInputError(
                "a regional outage can only be simulated",
                hint="use --disruption manual-failover on a self-hosted test environment",
            )
        from fhirdr.sim.disruption import SimulatedOutage

        chosen: Any = SimulatedOutage(session.sim_store, target.primary_region or "")
    elif kind_of(target).failover_runbook:
        from fhirdr.drill_ahds import FrontDoorCut

        chosen = FrontDoorCut(context)
        if not session.simulated and not yes and not resume:
            if not terminal.interactive:
                raise SafetyGateError("a drill cuts the test environment's primary off; refusing without --yes")
            try:
                confirmed = terminal.confirm(
                    f"Disable {target.service}'s primary origin in the front door for the drill?"
                )
            except KeyboardInterrupt as exc:
                raise InterruptedRunError(f"{stopped_by(exc)} at the confirmation; nothing was changed") from None
            if not confirmed:
                raise SafetyGateError("not confirmed; nothing was changed")
    else:
        if not kind_of(target).write_region_failover:
            raise BadInputError(
                f"a manual failover moves the Cosmos DB write region, which {kind_of(target).title} does not let "
                "you reach; the test failover is done by support",
                hint="see `fhirdr test-plan`",
            )
        chosen = ManualFailover(context)
        if not session.simulated and not yes and not resume:
            if not terminal.interactive:
                raise SafetyGateError("a drill fails the test environment over; refusing without --yes")
            try:
                confirmed = terminal.confirm(f"Fail {target.service} over to {target.secondary_region} for the drill?")
            except KeyboardInterrupt as exc:
                raise InterruptedRunError(f"{stopped_by(exc)} at the confirmation; nothing was changed") from None
            if not confirmed:
                raise SafetyGateError("not confirmed; nothing was changed")

    if report_dir is not None:
        _check_report_dir(report_dir)
    journal = JournalWriter(run_id, "drill", attempt)
    journal(
        {
            "event": "run.context",
            "command": "drill",
            "service": target.service,
            "disruption": chosen.name,
            "simulated": session.simulated,
            "resumed": bool(resume),
            "secondary_region": target.secondary_region,
            "options": given,
        }
    )
    resume_hint = f"fhirdr{sim} drill --resume {run_id}"
    progress = Progress(terminal)
    drill_class: Any = Drill
    if kind_of(target).failover_runbook:
        from fhirdr.drill_ahds import AhdsDrill

        drill_class = AhdsDrill
    runner = drill_class(
        context, chosen, drill_settings, run_id, lambda e: (journal(e), progress(_as_progress(e))), state
    )
    try:
        with progress:
            document = runner.run()
        journal({"event": "run.finished", "status": "passed" if document["passed"] else "failed"})
    except FhirdrError as exc:
        journal({"event": "run.finished", "status": "failed", "error": exc.message})
        exc.hint = f"resume with `{resume_hint}`, which keeps this run's options (journal: {journal.path})"
        raise
    except KeyboardInterrupt as exc:
        journal({"event": "run.finished", "status": "interrupted"})
        raise InterruptedRunError(
            f"drill {stopped_by(exc)}; the journal is closed and has every canary so far ({journal.path})",
            hint=f"resume with `{resume_hint}`, which keeps this run's options",
        ) from None
    finally:
        journal.close()
    if report_dir is not None:
        _write_reports(report_dir, document, journal.path)
        terminal.display_info(f"reports in {report_dir}")
    render(terminal, document, settings.output, settings.query, _table)
    if document["failed_phase"]:
        failed = document["failed_phase"]
        terminal.display_error(f"drill failed in phase {failed['phase']}: {failed['error']}; journal {journal.path}")
        raise typer.Exit(EXIT_CHECK_FAILED)
    if document["passed"]:
        terminal.display_success(f"drill passed; journal {journal.path}")
        raise typer.Exit(EXIT_OK)
    terminal.display_info(f"drill missed a target; journal {journal.path}")
    raise typer.Exit(EXIT_CHECK_FAILED)


def _resumed_options(ctx: typer.Context, given: dict[str, Any], saved: dict[str, Any], terminal: Any) -> dict[str, Any]:
    """The run's own options, except those given again on this command line (they win, and we say so)."""
    options, overridden = {}, []
    for name, value in given.items():
        # By name: typer and click each have a ParameterSource enum, and which one a context uses varies.
        explicit = getattr(ctx.get_parameter_source(name), "name", None) == "COMMANDLINE"
        if explicit or name not in saved:
            options[name] = value
            if explicit and name in saved and saved[name] != value:
                overridden.append(f"{_flag(name)} {value} (the run had {saved[name]})")
        else:
            options[name] = saved[name]
    kept = " ".join(f"{_flag(k)} {v}" for k, v in options.items() if v is not None)
    terminal.display_info(f"resuming with the run's options: {kept}")
    if overridden:
        terminal.display_warning("given on this command line, these win: " + "; ".join(overridden))
    return options


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _check_report_dir(directory: Path) -> None:
    """Before the drill starts: reports that cannot be written would be lost after hours of work."""
    from fhirdr.paths import ensure_dir

    ensure_dir(directory, "--report-dir", hint="name a folder you can write to")


def _as_progress(event: dict[str, Any]) -> dict[str, Any]:
    """Drill events as the progress display understands them."""
    if event.get("event") == "drill.phase-started":
        return {"event": "step.started", "step": f"drill.{event['phase']}"}
    if event.get("event") == "drill.phase-ended":
        return {"event": "phase.done", "step": f"drill.{event['phase']}"}
    return event


def _ensure_world(settings: Settings) -> None:
    """`fhirdr --sim drill` on a fresh machine: a self-hosted test world with DR on, and its target file."""
    from fhirdr.sim.store import Store
    from fhirdr.sim.world import WorldSpec, build_world, target_for
    from fhirdr.target import dump_toml

    if Store(settings.sim_path).exists():
        return
    spec = WorldSpec(kind="self-hosted", dr_enabled=True, replication_lag_ms=45_000)
    build_world(settings.sim_path, spec)
    target_file = settings.target_file_for_writing()
    if not target_file.exists():
        target_file.write_text(
            dump_toml(target_for(spec), header="fhirdr target, written by `fhirdr --sim drill`"), encoding="utf-8"
        )
    settings.terminal.display_info(
        f"simulated Azure created at {settings.sim_path} (self-hosted target, DR on); target file {target_file}"
    )


def _write_reports(directory: Path, document: dict[str, Any], journal: Path) -> None:
    from fhirdr.report.drill import html_page, junit_xml, markdown

    directory.mkdir(parents=True, exist_ok=True)
    (directory / "drill.md").write_text(markdown(document), encoding="utf-8")
    (directory / "drill.html").write_text(html_page(document), encoding="utf-8")
    (directory / "drill.junit.xml").write_text(junit_xml(document), encoding="utf-8")
    shutil.copyfile(journal, directory / "drill.journal.jsonl")


def _table(doc: dict[str, Any]) -> Any:
    from rich.markup import escape
    from rich.table import Table

    from fhirdr.report.drill import figure, latency, rpo_text

    verdict = "[green]PASSED[/]" if doc["passed"] else "[red]FAILED[/]"
    table = Table(title=f"DR drill {doc['run_id']} — {doc['service']}: {verdict}", title_justify="left")
    for column in ("criterion", "target", "observed", "result"):
        table.add_column(column)
    for c in doc["criteria"]:
        table.add_row(
            c["name"],
            escape(figure(c, "target")),
            escape(figure(c, "observed")),
            "[green]pass[/]" if c["passed"] else "[red]FAIL[/]",
        )
    m = doc["measurements"]
    ms = m["latency_ms"]
    lines = [
        f"{m['writes_acknowledged']} writes acknowledged, {m['lost_writes']} lost at failover; {rpo_text(m)}",
        f"median latency: before {latency(ms['steady-before'])}, failed over {latency(ms['failed-over'])}, "
        f"recovered before failback {latency(ms['recovery'])}, after failback {latency(ms['steady-after'])}",
    ]
    if m.get("earlier_canaries_removed"):
        lines.append(f"{m['earlier_canaries_removed']} canaries left by earlier drills removed")
    if doc.get("failed_phase"):
        lines.append(f"failed in phase {doc['failed_phase']['phase']}: {doc['failed_phase']['error']}")
    table.caption = escape("\n".join(lines))
    return table


def register(app: typer.Typer) -> None:
    app.command("drill")(drill)
