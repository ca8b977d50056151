"""`fhirdr drill`: run the DR test plan as a script and measure RPO, RTO, data loss and latency."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import typer

from fhirdr.cli.settings import Settings
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
        help="outage (simulated regional outage) or "
        "manual-failover (Cosmos DB failover-priority change, self-hosted targets).",
    ),
    rate: str = typer.Option("30s", "--rate", help="One canary write every this long."),
    steady: str = typer.Option("15m", "--steady", help="Steady state before and after."),
    failed_over: str = typer.Option("75m", "--failed-over", help="How long to keep writing while failed over."),
    max_lag: float = typer.Option(60.0, "--max-lag", min=0, help="Failback gate: largest replication lag (s)."),
    resume: str | None = typer.Option(None, "--resume", metavar="RUN_ID", help="Continue an interrupted drill."),
) -> None:
    """Run a DR drill and measure RPO and RTO.

    Canaries through a disruption, failover, recovery and failback; a verdict against RPO and RTO.
    """
    from fhirdr.cli.output import render
    from fhirdr.cli.progress import Progress
    from fhirdr.drill import Drill, DrillSettings, DrillState, ManualFailover
    from fhirdr.durations import parse_duration
    from fhirdr.errors import BadInputError, CheckFailedError, FhirdrError, InterruptedRunError, SafetyGateError
    from fhirdr.kinds import kind_of
    from fhirdr.runbook.journal import JournalWriter, new_run_id, read_journal
    from fhirdr.status import read_status
    from fhirdr.steps.base import Context

    settings: Settings = ctx.obj
    terminal = settings.terminal
    if settings.use_sim:
        _ensure_world(settings)
    target = settings.load_target()
    if not target.test_environment:
        raise SafetyGateError(
            f"{target.service} is not marked as a test environment; a drill disrupts it",
            hint="set test_environment = true in the target file for a test deployment",
        )
    if disruption not in ("outage", "manual-failover"):
        raise BadInputError(f"--disruption {disruption!r} is not known", hint="use outage or manual-failover")
    drill_settings = DrillSettings(parse_duration(rate), parse_duration(steady), parse_duration(failed_over), max_lag)
    session = settings.azure(target)
    context = Context(target, session, {"force": False})
    status = read_status(context)
    if not status["dr"]["enabled"]:
        hint = "run `fhirdr enable --apply --wait` first"
        if session.simulated:
            hint += "; or `fhirdr sim init --force --kind self-hosted --dr-enabled` for a simulated world with DR on"
        raise CheckFailedError(f"DR is not on for {target.service} ({status['dr']['detail']})", hint=hint)
    target = dataclasses.replace(target, secondary_region=status["secondary_region"])
    context = Context(target, session, {"force": False})
    if disruption == "outage":
        if not session.simulated:
            raise BadInputError(
                "a regional outage can only be simulated",
                hint="use --disruption manual-failover on a self-hosted test environment",
            )
        from fhirdr.sim.disruption import SimulatedOutage

        chosen: Any = SimulatedOutage(session.sim_store, target.primary_region or "")
    else:
        if not kind_of(target).write_region_failover:
            raise BadInputError(
                f"a manual failover moves the Cosmos DB write region, which {kind_of(target).title} does not let "
                "you reach; the test failover is done by support",
                hint="see `fhirdr test-plan`",
            )
        chosen = ManualFailover(context)
        if not session.simulated and not yes:
            if not terminal.interactive:
                raise SafetyGateError("a drill fails the test environment over; refusing without --yes")
            if not typer.confirm(f"Fail {target.service} over to {target.secondary_region} for the drill?", err=True):
                raise SafetyGateError("not confirmed; nothing was changed")

    run_id = resume or new_run_id()
    state, attempt = DrillState(), 1
    if resume:
        events = read_journal(resume)
        if events and events[0].get("runbook") != "drill":
            raise BadInputError(f"run {resume} is not a drill")
        state = DrillState.from_events(events)
        attempt = max(e.get("attempt", 1) for e in events) + 1
    journal = JournalWriter(run_id, "drill", attempt)
    journal(
        {
            "event": "run.context",
            "command": "drill",
            "service": target.service,
            "disruption": chosen.name,
            "simulated": session.simulated,
            "resumed": bool(resume),
        }
    )
    resume_hint = f"fhirdr{' --sim' if settings.use_sim else ''} drill --resume {run_id}"
    progress = Progress(terminal)
    runner = Drill(context, chosen, drill_settings, run_id, lambda e: (journal(e), progress(_as_progress(e))), state)
    try:
        with progress:
            document = runner.run()
        journal({"event": "run.finished", "status": "passed" if document["passed"] else "failed"})
    except FhirdrError as exc:
        journal({"event": "run.finished", "status": "failed", "error": exc.message})
        exc.hint = f"resume with `{resume_hint}` (journal: {journal.path})"
        raise
    except KeyboardInterrupt:
        journal({"event": "run.finished", "status": "interrupted"})
        raise InterruptedRunError(
            f"drill interrupted; the journal has every canary so far ({journal.path})",
            hint=f"resume with `{resume_hint}`",
        ) from None
    finally:
        journal.close()
    if report_dir is not None:
        _write_reports(report_dir, document, journal.path)
        terminal.display_info(f"reports in {report_dir}")
    render(terminal, document, settings.output, settings.query, _table)
    if document["passed"]:
        terminal.display_success(f"drill passed; journal {journal.path}")
        raise typer.Exit(EXIT_OK)
    terminal.display_info(f"drill missed a target; journal {journal.path}")
    raise typer.Exit(EXIT_CHECK_FAILED)


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
    from rich.table import Table

    verdict = "[green]PASSED[/]" if doc["passed"] else "[red]FAILED[/]"
    table = Table(title=f"DR drill {doc['run_id']} — {doc['service']}: {verdict}", title_justify="left")
    for column in ("criterion", "target", "observed", "result"):
        table.add_column(column)
    for c in doc["criteria"]:
        table.add_row(
            c["name"],
            str(c["target"]),
            "-" if c["observed"] is None else str(c["observed"]),
            "[green]pass[/]" if c["passed"] else "[red]FAIL[/]",
        )
    m = doc["measurements"]
    table.caption = (
        f"{m['writes_acknowledged']} writes acknowledged, {m['lost_writes']} lost at failover, "
        f"median latency (ms): before {m['latency_ms']['steady-before']}, failed over "
        f"{m['latency_ms']['failed-over']}, recovered before failback {m['latency_ms']['recovery']}, "
        f"after failback {m['latency_ms']['steady-after']}"
    )
    return table


def register(app: typer.Typer) -> None:
    app.command("drill")(drill)
