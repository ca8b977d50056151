"""`fhirdr status`: the DR state on one screen, or as a stable JSON document."""

from __future__ import annotations

from typing import Any

import typer

from fhirdr.cli.settings import Settings
from fhirdr.errors import EXIT_CHECK_FAILED, EXIT_OK


def status(ctx: typer.Context) -> None:
    """Show the DR state of the service on one screen.

    Service, regions, DR state, replication lag against the RPO, compute vs data region, tickets, readiness.
    """
    from fhirdr.cli.output import render
    from fhirdr.status import read_status
    from fhirdr.steps.base import Context

    settings: Settings = ctx.obj
    target = settings.load_target()
    session = settings.azure(target)
    with settings.terminal.status(f"reading the DR state of {target.service}"):
        document = read_status(Context(target, session))
    render(settings.terminal, document, settings.output, settings.query, _table)
    raise typer.Exit(EXIT_OK if document["healthy"] else EXIT_CHECK_FAILED)


def _table(doc: dict[str, Any]) -> Any:
    from rich.table import Table

    grid = Table(title=f"DR status — {doc['service']} ({doc['kind']})", title_justify="left", show_header=False)
    grid.add_column("what", style="bold", no_wrap=True)
    grid.add_column("value", overflow="fold")
    verdict = "[green]healthy[/]" if doc["healthy"] else f"[red]{doc['summary']}[/]"
    replication = doc["replication"]
    lag = replication["lag_seconds"]
    lag_text = "" if lag is None else f", lag {lag:g} s (RPO {replication['rpo_seconds']} s)"
    rows = [
        ("verdict", verdict),
        ("regions", f"primary {doc['primary_region']}, secondary {doc['secondary_region'] or '-'}"),
        ("DR", f"{doc['dr']['state']}: {doc['dr']['detail']}"),
        ("replication", f"{replication['state']}{lag_text}"),
        (
            "compute / data",
            f"{doc['compute_region']} / {doc['data_region']}"
            + (f"  [yellow](+{doc['split']['added_latency_ms']} ms per request)[/]" if doc["split"]["active"] else ""),
        ),
        ("last failover", _failover_text(doc["last_failover"])),
        (
            "throughput",
            f"{doc['throughput']['primary_ru']} RU/s primary, {doc['throughput']['secondary_ru'] or '-'} "
            f"RU/s secondary" + ("" if doc["throughput"]["parity"] is not False else "  [red](mismatch)[/]"),
        ),
        ("open tickets", ", ".join(f"{t['id']} {t['status']}" for t in doc["tickets"]) or "none"),
    ]
    if "standby" in doc:
        standby = doc["standby"]
        rows.append(
            (
                "standby",
                f"{standby['workspace']}/{standby['service']} in {standby['region'] or '-'}: "
                + (standby["provisioning_state"] if standby["exists"] else "missing"),
            )
        )
        rows += [
            (f"differs: {p['property']}", f"primary {p['primary']!r}, standby {p['standby']!r}") for p in doc["parity"]
        ]
    rows += [(f"readiness: {area}", f"{item['status']} — {item['summary']}") for area, item in doc["readiness"].items()]
    rows += [("warning", f"[yellow]{w}[/]") for w in doc["warnings"]]
    for name, value in rows:
        grid.add_row(name, value)
    return grid


def _failover_text(event: dict[str, Any] | None) -> str:
    if not event:
        return "none recorded"
    return f"{event['time']} to {event['to']} by {event['by']}"


def register(app: typer.Typer) -> None:
    app.command("status")(status)
