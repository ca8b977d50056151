"""`fhirdr replicate`: keep an AHDS standby in step with its primary by $export -> $import cycles."""

from __future__ import annotations

import signal
from typing import Any

import typer

from fhirdr.cli.settings import Settings
from fhirdr.durations import duration_option
from fhirdr.errors import EXIT_AZURE, EXIT_CHECK_FAILED, EXIT_INTERRUPTED, EXIT_OK

_EXIT = {"ok": EXIT_OK, "failed": EXIT_CHECK_FAILED, "unreachable": EXIT_AZURE}
MAX_BACKOFF_SECONDS = 15 * 60
LEASE_POLL_SECONDS = 15.0


class StopRequested(BaseException):
    """SIGTERM or SIGINT: stop at once, releasing the lease; the watermark stays where it was verified."""


def replicate(
    ctx: typer.Context,
    follow: bool = typer.Option(False, "--follow", help="Run cycles until stopped (SIGTERM or SIGINT end it cleanly)."),
    interval: float = duration_option(
        "1m", "--interval", help="With --follow: time from one cycle's start to the next, e.g. 1m.", minimum=1
    ),
    cycles: int | None = typer.Option(None, "--cycles", min=1, help="With --follow: stop after this many cycles."),
    reconcile: bool = typer.Option(
        False, "--reconcile", help="Also compare id sets per type and delete on the standby what the primary lacks."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="With --reconcile: count what would be deleted on the standby, delete nothing."
    ),
    wait: bool = typer.Option(False, "--wait", help="When another runner holds the lease, wait for it."),
    timeout: float = duration_option("30m", "--timeout", help="How long --wait waits for the lease."),
) -> None:
    """Replicate the AHDS primary to its standby.

    Each cycle exports what changed, imports it into the standby, verifies it, then moves the watermark.
    State (watermark, lease, cycle history) lives in the storage account, so any machine can run it.
    """
    from fhirdr.replication import preflight
    from fhirdr.replication.cycle import Replicator
    from fhirdr.steps.base import Context

    settings: Settings = ctx.obj
    if dry_run and not reconcile:
        raise typer.BadParameter("--dry-run goes with --reconcile", param_hint="--dry-run")
    target = settings.load_target()
    context = Context(target, settings.azure(target))
    with settings.terminal.status(f"checking that {target.workspace}/{target.service} can be replicated"):
        route = preflight.check(context)
    terminal = settings.terminal
    replicator = Replicator(context, route, progress=lambda text: terminal.display_info(f"  {text}"))
    terminal.display_info(
        f"replicating {route.primary_url} -> {route.standby_url} through {route.account}/{route.container} "
        f"as {replicator.holder}"
    )
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def stop(signum: int, frame: Any) -> None:
        raise StopRequested(signal.Signals(signum).name)

    for sig in previous:
        signal.signal(sig, stop)
    try:
        code = _loop(settings, replicator, follow, interval, cycles, reconcile, dry_run, wait, timeout)
    except StopRequested as stopped:
        terminal.display_info(f"stopped by {stopped}: the lease is released; the watermark is where it was verified")
        code = EXIT_OK if getattr(replicator, "between_cycles", False) else EXIT_INTERRUPTED
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    raise typer.Exit(code)


def _loop(
    settings: Settings,
    replicator: Any,
    follow: bool,
    interval: float,
    cycles: int | None,
    reconcile: bool,
    dry_run: bool,
    wait: bool,
    timeout: float,
) -> int:
    from fhirdr.replication.direction import SWITCH_HOLDER_PREFIX
    from fhirdr.replication.state import LeaseHeld

    session = replicator.session
    every = replicator.settings.reconcile_every
    done = 0
    failures = 0
    waited = 0.0
    code = EXIT_OK
    while True:
        started = session.now()
        replicator.between_cycles = False
        if follow and done:
            switched = _follow_switch(settings, replicator)
            if switched is None:
                replicator.between_cycles = True
                session.sleep(interval)
                continue
            replicator = switched
        try:
            summary = replicator.cycle(
                reconcile=reconcile or bool(follow and every and (done + 1) % every == 0), dry_run_reconcile=dry_run
            )
        except LeaseHeld as held:
            if follow and held.holder.startswith(SWITCH_HOLDER_PREFIX):
                # A failover or failback is switching: cycles resume, in the new direction, once it is done.
                settings.terminal.display_info(f"  a switch is running ({held.holder}); waiting for it")
                replicator.between_cycles = True
                session.sleep(LEASE_POLL_SECONDS)
                continue
            if not wait or waited >= timeout:
                if wait:
                    settings.terminal.display_error(held.message, "the lease was not free within --timeout")
                    return EXIT_CHECK_FAILED
                raise
            settings.terminal.display_info(f"  waiting for the lease: {held.holder} holds it")
            replicator.between_cycles = True
            session.sleep(LEASE_POLL_SECONDS)
            waited += LEASE_POLL_SECONDS
            continue
        done += 1
        _render(settings, summary)
        code = _EXIT.get(summary["status"], EXIT_CHECK_FAILED)
        if not follow or (cycles is not None and done >= cycles):
            return code
        failures = failures + 1 if summary["status"] != "ok" else 0
        # A failing cycle is retried with backoff (the window is repeated: nothing is lost by waiting).
        pause = interval if not failures else min(MAX_BACKOFF_SECONDS, interval * 2 ** min(failures - 1, 8))
        replicator.between_cycles = True
        session.sleep(max(0.0, started + pause - session.now()))


def _follow_switch(settings: Settings, replicator: Any) -> Any | None:
    """After a failover or failback, replicate the other way: the new active side is the source (None: not yet
    possible, the loop waits an interval and asks again)."""
    from fhirdr.azure.session import azure_errors
    from fhirdr.replication import preflight
    from fhirdr.replication.cycle import Replicator

    with azure_errors("reading which service is active"):
        if not replicator.direction_changed():
            return replicator
    try:
        route = preflight.check(replicator.ctx)
    except preflight.ConfigurationError as exc:
        # Never go on the old way: that would carry the old primary's writes over the new active service.
        settings.terminal.display_error(f"the active service changed, but {exc.message}", exc.hint)
        return None
    settings.terminal.display_info(
        f"the active service changed: replicating {route.primary_url} -> {route.standby_url} from now on"
    )
    return Replicator(replicator.ctx, route, holder=replicator.holder, progress=replicator.progress)


def _render(settings: Settings, summary: dict[str, Any]) -> None:
    """One line per cycle; `-o json` one compact document per line, so `--follow -o json` is NDJSON."""
    import json

    from fhirdr.cli.output import OutputFormat, render

    document = {k: v for k, v in summary.items() if not k.endswith("_epoch")}
    if settings.query or settings.output not in (OutputFormat.json, OutputFormat.table):
        render(settings.terminal, document, settings.output, settings.query)
    elif settings.output is OutputFormat.json:
        settings.terminal.write_data(json.dumps(document, default=str))
    else:
        settings.terminal.write_data(summary_line(document))


def summary_line(doc: dict[str, Any]) -> str:
    """One line per cycle, for people and logs."""
    exported = sum(doc["exported"].values())
    imported = sum(doc["imported"].values())
    lag = "-" if doc.get("lag_seconds") is None else f"{doc['lag_seconds']:.0f}s"
    rpo = "-" if doc.get("rpo_seconds") is None else f"{doc['rpo_seconds']:.0f}s"
    text = (
        f"cycle {doc['cycle']} {doc['status']}: exported {exported}, imported {imported} "
        f"({doc['duplicates']} duplicates), watermark {doc['watermark'] or doc['watermark_before'] or '-'}, "
        f"lag {lag}, RPO {rpo}"
    )
    if doc.get("reindex"):
        text += ", standby reindexing"
    if doc.get("reconcile"):
        text += f", reconcile: {doc['reconcile']['summary']}"
    if doc["errors"]:
        text += " — " + doc["errors"][0]
    return text


def register(app: typer.Typer) -> None:
    app.command("replicate")(replicate)
