"""`fhirdr status`: the DR state on one screen, or as a stable JSON document."""

from __future__ import annotations

from typing import Any

import typer

from fhirdr.cli.settings import Settings
from fhirdr.errors import EXIT_CHECK_FAILED, EXIT_OK


def status(ctx: typer.Context) -> None:
    """Show the DR state of the service on one screen.

    The incident first (regions down, failover, whether the endpoint answers), then regions, DR state,
    each replica's lag against the RPO, compute vs data region, tickets, readiness, what to do next.
    Exit 1 when anything is degraded.
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
    regions = doc["regions"]
    health = regions["health"]
    endpoint = doc["endpoint"]
    rows = [
        ("verdict", verdict),
        (
            "regions",
            f"primary {_region_text(regions['primary'], health)}, "
            f"secondary {_region_text(regions['secondary'], health)}; "
            f"now: writes in {regions['write'] or 'unknown'}, "
            + (f"compute in {regions['compute']}" if regions["compute"] else "no compute serving"),
        ),
        ("endpoint", _endpoint_text(endpoint)),
        ("DR", f"{doc['dr']['state']}: {doc['dr']['detail']}"),
        ("replication", f"{replication['state']}{lag_text}" + _direction_text(replication)),
    ]
    rows += [(f"replica {r['region']}", f"{r['state']}: {r['detail']}") for r in doc["replicas"]]
    rows += [
        (
            "compute / data",
            f"{doc['compute_region'] or '-'} / {doc['data_region']}"
            + (f"  [yellow](+{doc['split']['added_latency_ms']} ms per request)[/]" if doc["split"]["active"] else ""),
        ),
        ("last failover", _failover_text(doc["last_failover"])),
        ("resource health", _health_text(doc["resource_health"])),
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
    rows += [("next", step) for step in doc["next_steps"]]
    for name, value in rows:
        grid.add_row(name, value)
    return grid


def _direction_text(replication: dict[str, Any]) -> str:
    """Which way an AHDS standby's replication runs, once a failover reversed it."""
    direction = replication.get("direction")
    return f", {direction}" if direction and not direction.startswith("primary") else ""


def _failover_text(event: dict[str, Any] | None) -> str:
    if not event:
        return "none recorded"
    return f"{event.get('direction', 'failover')} to {event['to'] or 'unknown'} at {event['time']} by {event['by']}"


def _region_text(region: str | None, health: dict[str, Any]) -> str:
    if not region:
        return "-"
    state = health.get(region, {}).get("state", "unknown")
    return region if state == "up" else f"{region} [red]({state})[/]" if state != "unknown" else f"{region} (unknown)"


def _endpoint_text(endpoint: dict[str, Any] | None) -> str:
    if endpoint is None:
        return "no URL to probe"
    if endpoint["answers"]:
        return f"{endpoint['url']} answers (HTTP {endpoint['status']}) in {endpoint['latency_ms']:.0f} ms"
    why = "timed out" if endpoint.get("timed_out") else (endpoint["error"] or "no answer")
    return f"[red]{endpoint['url']} does not answer ({why}) after {endpoint['latency_ms']:.0f} ms[/]"


def _health_text(health: dict[str, Any]) -> str:
    if not health["readable"]:
        return f"{health['summary']} (needs Microsoft.ResourceHealth/availabilityStatuses/read)"
    return f"{health['state']}: {health['summary']}"


def register(app: typer.Typer) -> None:
    app.command("status")(status)
