"""`fhirdr sim ...`: build, inspect, reset and disturb the simulated Azure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from fhirdr.cli.settings import Settings
from fhirdr.durations import Duration, duration_option
from fhirdr.errors import BadInputError

# Bounds on what a fault rule may say: a count SQLite can store and a Retry-After that cannot
# move the simulated clock out of the calendar (1e12 s once moved it to year 33715).
MAX_FAULT_COUNT = 1_000_000
MAX_RETRY_AFTER = 86400.0

sim_app = typer.Typer(
    help="Drive the simulated Azure.\n\nIts state file: $FHIRDR_SIM or the state directory.", no_args_is_help=True
)
fault_app = typer.Typer(
    help="Fault rules: throttling, 5xx, dropped connections, failed async operations.", no_args_is_help=True
)
sim_app.add_typer(fault_app, name="fault")


def _settings(ctx: typer.Context) -> Settings:
    return ctx.find_root().obj


@sim_app.command("init")
def init(
    ctx: typer.Context,
    service: str = typer.Option("fhirdemo", "--service-name", help="Name of the simulated FHIR service."),
    pending_endpoint: bool = typer.Option(
        False, "--pending-endpoint", help="Leave the private endpoint connection Pending approval."
    ),
    page_size: int = typer.Option(100, "--page-size", min=1, help="Items per page in list answers."),
    kind: str = typer.Option(
        "managed",
        "--kind",
        help="managed (Azure API for FHIR), self-hosted (FHIR Server for Azure: App Service, Cosmos DB, "
        "Traffic Manager) or ahds (an Azure Health Data Services workspace and FHIR service, no standby).",
    ),
    workspace: str = typer.Option(
        "contosohealth", "--workspace", help="--kind ahds: the workspace of the FHIR service (--service-name)."
    ),
    data_gb: float = typer.Option(
        2.0, "--data-gb", min=0, metavar="GB", help="Data volume; initial replication takes longer with more."
    ),
    detection_delay: float = duration_option(
        "10m",
        "--detection-delay",
        allow_zero=True,
        legacy_unit=60,
        help="From a regional outage to automatic failover, e.g. 10m (a bare number meant minutes).",
    ),
    replication_lag: float = duration_option(
        "1.5s",
        "--replication-lag",
        allow_zero=True,
        legacy_unit=1,
        help="How far a secondary region is behind the write region, e.g. 45s.",
    ),
    dr_enabled: bool = typer.Option(False, "--dr-enabled", help="Build the world with DR already on."),
    cmk: bool = typer.Option(False, "--cmk", help="Give the service a customer-managed key in a key vault."),
    export: bool = typer.Option(False, "--export", help="Configure $export to a storage account."),
    iomt: bool = typer.Option(False, "--iomt", help="Add an IoMT connector with a connection."),
    mistake: list[str] = typer.Option(
        [], "--mistake", help="Build in a typical mistake (repeatable); `fhirdr sim init --mistake help` lists them."
    ),
    force: bool = typer.Option(False, "--force", help="Rebuild the world and rewrite the target file."),
    role_id_form: str = typer.Option(
        "subscription",
        "--role-id-form",
        help="How existing role assignments name their role: subscription or providers (management group).",
    ),
    graph_denied: bool = typer.Option(
        False, "--graph-denied", help="Microsoft Graph refuses to read service principals (403)."
    ),
    vault_resource_group: str | None = typer.Option(
        None, "--vault-resource-group", help="Put the key vault and export storage account in this other group."
    ),
    storage_access_rules: bool = typer.Option(
        False, "--storage-access-rules", help="Give the export account resource access and IPv6 firewall rules."
    ),
    support_plan: str = typer.Option(
        "premier",
        "--support-plan",
        help="The subscription's support plan: none, basic, developer, standard, professional-direct, premier or "
        "unified; the support API files tickets on the last three only.",
    ),
    support_history: list[str] = typer.Option(
        [],
        "--support-history",
        help="Tickets the subscription already has (repeatable): closed-unfulfilled, other-service.",
    ),
    without_support_role: bool = typer.Option(
        False, "--without-support-role", help="The caller lacks Support Request Contributor: ticket creation is 403."
    ),
    without_dr_classification: bool = typer.Option(
        False, "--without-dr-classification", help="Support lists no 'Disaster recovery / ...' problem classification."
    ),
    pe_dns: str = typer.Option(
        "custom",
        "--pe-dns",
        help="How the private endpoint shows its IP: custom (customDnsConfigs), zone-group (DNS managed by a "
        "private DNS zone group, customDnsConfigs empty) or updating (endpoint Updating, customDnsConfigs empty).",
    ),
) -> None:
    """Build a two-region world: a FHIR service in westus2 with Private Link; westcentralus empty."""
    from fhirdr.errors import SimNotInitialisedError
    from fhirdr.paths import check_writable, ensure_dir, write_text
    from fhirdr.sim.store import Store
    from fhirdr.sim.world import WorldSpec, build_world, target_for
    from fhirdr.target import dump_toml, parse_target

    settings = _settings(ctx)
    terminal = settings.terminal
    path = settings.sim_path
    target_file = settings.target_file_for_writing()
    from fhirdr.sim.world import MISTAKES

    if "help" in mistake:
        for name, (_, what) in MISTAKES.items():
            settings.terminal.write_data(f"{name:22} {what}")
        return
    unknown = [m for m in mistake if m not in MISTAKES]
    if unknown:
        listing = "; ".join(f"{name}: {what}" for name, (_, what) in MISTAKES.items())
        raise BadInputError(f"--mistake {unknown[0]!r} is not known", hint=listing)
    from fhirdr.sim.providers.support import PLANS
    from fhirdr.sim.world import SUPPORT_HISTORY

    if support_plan not in PLANS:
        raise BadInputError(f"--support-plan {support_plan!r} is not known", hint=f"use {', '.join(PLANS)}")
    unknown_history = [h for h in support_history if h not in SUPPORT_HISTORY]
    if unknown_history:
        listing = "; ".join(f"{name}: {what}" for name, what in SUPPORT_HISTORY.items())
        raise BadInputError(f"--support-history {unknown_history[0]!r} is not known", hint=listing)
    if pe_dns not in ("custom", "zone-group", "updating"):
        raise BadInputError(f"--pe-dns {pe_dns!r} is not known", hint="use custom, zone-group or updating")
    if role_id_form not in ("subscription", "providers"):
        raise BadInputError(f"--role-id-form {role_id_form!r} is not known", hint="use subscription or providers")
    from fhirdr.azure.clouds import get_cloud
    from fhirdr.kinds import kind_of
    from fhirdr.sim.world import CLOUD_REGIONS
    from fhirdr.target import KINDS, RENAMED_KINDS

    cloud = get_cloud(settings.cloud).name  # `fhirdr --cloud AzureUSGovernment sim init`: a world of that cloud
    if kind in RENAMED_KINDS:
        terminal.display_warning(f"--kind {kind} is now called {RENAMED_KINDS[kind]}; the old name goes next release")
        kind = RENAMED_KINDS[kind]
    if kind not in KINDS:
        raise BadInputError(f"--kind {kind!r} is not a target kind", hint=f"use {' or '.join(KINDS)}")
    if kind_of(kind).section == "standby" and dr_enabled:
        raise BadInputError(
            "--dr-enabled: an AHDS FHIR service has no DR of its own; fhirdr builds its standby",
            hint="build the world without it, then run `fhirdr --sim enable --apply`",
        )
    if kind_of(kind).resource_type is None and (cmk or export or iomt or mistake or pending_endpoint):
        raise BadInputError(
            "--cmk, --export, --iomt, --mistake and --pending-endpoint build parts of an Azure API for FHIR "
            "service; a self-hosted world has none",
            hint="drop them, or use --kind managed",
        )
    if not kind_of(kind).has_service_resource and pending_endpoint:
        raise BadInputError("--pending-endpoint builds part of an Azure API for FHIR service", hint="drop it")
    if not kind_of(kind).has_service_resource and pe_dns != "custom":
        raise BadInputError(
            "--pe-dns shapes the private endpoint of an Azure API for FHIR service; an ahds world's workspace "
            "endpoint always has a DNS zone group, and a self-hosted world has none",
            hint="drop it, or use --kind managed",
        )
    spec = WorldSpec(
        **CLOUD_REGIONS.get(cloud, {}),
        service=service,
        endpoint_pending=pending_endpoint,
        page_size=page_size,
        kind=kind,
        data_gb=data_gb,
        detection_delay_minutes=detection_delay / 60,
        replication_lag_ms=int(replication_lag * 1000),
        cmk=cmk or any(MISTAKES[m][0] == "cmk" for m in mistake),
        export=export or any(MISTAKES[m][0] == "export" for m in mistake),
        iomt=iomt,
        mistakes=tuple(mistake),
        dr_enabled=dr_enabled,
        role_id_form=role_id_form,
        graph_denied=graph_denied,
        vault_resource_group=vault_resource_group,
        storage_access_rules=storage_access_rules,
        support_plan=support_plan,
        support_history=tuple(support_history),
        support_role=not without_support_role,
        dr_classification=not without_dr_classification,
        cloud=cloud,
        workspace=workspace,
        pe_dns=pe_dns,
    )
    parse_target(target_for(spec), "--service-name", cloud=cloud)  # bad names are refused before anything is written
    check_writable(target_file, "target file")
    store = Store(path)
    problem = None if force else store.problem()
    if isinstance(problem, SimNotInitialisedError):
        problem = None
    if problem is not None:
        raise BadInputError(problem.message, hint="`fhirdr sim init --force` rebuilds it (this replaces the world)")
    wanted = target_for(spec)
    created = force or not store.exists()
    if created:
        store.close()
        ensure_dir(path.parent, "the simulated world's folder")
        _remove(path)
        store = build_world(path, spec)
        terminal.display_success(f"simulated Azure created at {path}")
        world = wanted
    else:
        world = _world_target(store, path)
        differs = sorted(_differences(wanted, world))
        if differs:
            terminal.display_warning(
                f"the simulated Azure at {path} already exists and differs from these options in "
                f"{', '.join(differs)}; kept it as it is (the target describes it): --force rebuilds it with them"
            )
        else:
            terminal.display_info(f"the simulated Azure already exists at {path}; kept as it is (--force rebuilds it)")
    written = force or not target_file.exists()
    if written:
        # The target describes the world that exists, never the options of a build that did not happen.
        write_text(target_file, dump_toml(world, header="fhirdr target, written by `fhirdr sim init`"), "target file")
        terminal.display_success(f"target file written to {target_file}")
    else:
        terminal.display_info(f"target file {target_file} already exists; kept as it is")
    terminal.display_info("next: fhirdr --sim configure-private-link")
    document = {
        "path": str(path),
        "created": created,
        "target_file": str(target_file),
        "target_written": written,
        "target": world,
    }
    _render_action(settings, document)


def _world_target(store: Any, path: Path) -> dict[str, Any]:
    """The target of the world in `store`, as `sim init` recorded it when it built the world."""
    recorded = store.recorded_target()
    if recorded is None:
        raise BadInputError(
            f"the simulated Azure at {path} was built by an older fhirdr and does not record its target",
            hint="rebuild it with `fhirdr sim init --force` (this replaces the world)",
        )
    return recorded


def _differences(wanted: dict[str, Any], world: dict[str, Any], prefix: str = "") -> list[str]:
    keys = set(wanted) | set(world)
    found: list[str] = []
    for key in keys:
        a, b = wanted.get(key), world.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            found += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            found.append(f"{prefix}{key}")
    return found


def _render_action(settings: Settings, document: dict[str, Any], table: Any = None) -> None:
    """Action commands: messages on stderr; with -o json/yaml (or --query) the document on stdout."""
    from fhirdr.cli.output import OutputFormat, render

    if settings.output is not OutputFormat.table or settings.query or table is not None:
        render(settings.terminal, document, settings.output, settings.query, table)


def _fault_count(value: int) -> int:
    if not 1 <= value <= MAX_FAULT_COUNT:
        raise typer.BadParameter(f"{value} is not between 1 and {MAX_FAULT_COUNT:,}")
    return value


def _remove(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)


@sim_app.command("show")
def show(ctx: typer.Context) -> None:
    """The resources of the simulated world, its clock and its fault rules."""
    from datetime import datetime, timezone

    from rich.markup import escape

    from fhirdr.cli.output import render
    from fhirdr.report.table import Column, FittedTable
    from fhirdr.sim.lifecycle import region_health
    from fhirdr.sim.transport import open_world

    settings = _settings(ctx)
    store = open_world(settings.sim_path)
    resources = []
    for resource in store.all_resources():
        props = resource.body.get("properties", {})
        state = props.get("peeringState") or props.get("virtualNetworkLinkState") or props.get("provisioningState", "")
        resources.append(
            {
                "type": resource.body.get("type", resource.type),
                "name": resource.body.get("name"),
                "location": resource.body.get("location", ""),
                "state": state,
                "id": resource.id,
            }
        )
    clock = datetime.fromtimestamp(store.now(), timezone.utc).isoformat()
    document = {
        "path": str(settings.sim_path),
        "subscription": store.get_meta("subscription"),
        "clock": clock,
        "regions_down": sorted(region for region, health in region_health(store).items() if health == "down"),
        "resources": resources,
        "faults": store.faults(),
    }

    def table(doc: dict) -> FittedTable:
        down = ", ".join(doc["regions_down"]) or "none"
        title = f"simulated Azure — clock {doc['clock']} — regions down: {down}"
        columns = [Column("name"), Column("type"), Column("location"), Column("state")]
        rows = [[escape(str(r[c.header] or "")) for c in columns] for r in doc["resources"]]
        return FittedTable(title, columns, rows)

    render(settings.terminal, document, settings.output, settings.query, table)


@sim_app.command("advance")
def advance_clock(
    ctx: typer.Context,
    duration: float = typer.Argument(
        ...,
        parser=Duration("DURATION"),
        metavar="DURATION",
        help="How much simulated time passes, e.g. 30m, 2h, 1h30m (at most 366d).",
    ),
) -> None:
    """Let simulated time pass: support works tickets, replication catches up, failovers happen."""
    from fhirdr.sim.timeline import advance
    from fhirdr.sim.transport import open_world

    settings = _settings(ctx)
    store = open_world(settings.sim_path)
    _clock_text(store.now() + duration)  # refused before anything moves when the clock would leave the calendar
    before = store.last_event_seq()
    now = advance(store, duration)
    happened = [
        {"time": _clock_text(e["time"]), "kind": e["kind"], "detail": _detail_text(e["detail"])}
        for e in store.events_after(before)
    ]
    clock = _clock_text(now)
    settings.terminal.display_success(f"simulated clock now {clock}")
    document = {"clock": clock, "advanced_seconds": duration, "events": happened}

    def table(doc: dict[str, Any]) -> Any:
        from rich.table import Table

        grid = Table(title=f"what happened (clock now {doc['clock']})", title_justify="left")
        for column in ("time", "event", "detail"):
            grid.add_column(column)
        for row in doc["events"]:
            grid.add_row(row["time"], row["kind"], row["detail"])
        if not doc["events"]:
            grid.add_row("", "none", "")
        return grid

    _render_action(settings, document, table)


def _clock_text(when: float) -> str:
    from datetime import datetime, timezone

    try:
        return datetime.fromtimestamp(when, timezone.utc).isoformat()
    except (OverflowError, ValueError, OSError):
        raise BadInputError(
            "the simulated clock would leave the calendar", hint="advance by less, or rebuild: fhirdr sim init --force"
        ) from None


def _detail_text(detail: Any) -> str:
    """An event's detail as words: 'service=fhirdemo, region=westus2', never a Python repr."""
    if isinstance(detail, dict):
        return ", ".join(f"{key}={_detail_text(value)}" for key, value in detail.items()) or "none"
    if isinstance(detail, list):
        return ", ".join(_detail_text(item) for item in detail) or "none"
    return "none" if detail is None else str(detail)


def _region_argument(region: str) -> str:
    from fhirdr.regions import validate_region

    return validate_region(region, "REGION")


@sim_app.command("workload")
def workload(
    ctx: typer.Context,
    rate: str = typer.Option(
        "1000/min", "--rate", metavar="N/UNIT", help="Writes per second, minute or hour: 1000/min."
    ),
    duration: float = duration_option("2h", "--duration", help="For how much simulated time, e.g. 2h."),
    updates: float = typer.Option(25.0, "--updates", metavar="PERCENT", help="Percent of writes that update."),
    deletes: float = typer.Option(5.0, "--deletes", metavar="PERCENT", help="Percent of writes that soft-delete."),
    hard_deletes: float = typer.Option(0.0, "--hard-deletes", metavar="PERCENT", help="Percent that hard-delete."),
    direct: bool = typer.Option(
        False, "--direct", help="Write to the primary itself, not through the world's Front Door endpoint."
    ),
) -> None:
    """Write, update and delete resources on the primary at a rate, as simulated time passes.

    Where the world has a Front Door endpoint, the clients write through it (to the active service)."""
    from fhirdr.sim import workload as load
    from fhirdr.sim.transport import open_world

    settings = _settings(ctx)
    per_second = _rate(rate)
    if min(updates, deletes, hard_deletes) < 0 or updates + deletes + hard_deletes > 100:
        raise BadInputError("--updates, --deletes and --hard-deletes are percentages from 0 that add up to at most 100")
    store = open_world(settings.sim_path)
    service_id = _primary_service(store)
    front_door = None if direct else _front_door_host(store)
    scheduled = load.start(
        store, service_id, per_second, duration, updates / 100, deletes / 100, hard_deletes / 100, front_door
    )
    settings.terminal.display_success(
        f"workload {scheduled['workload']}: {scheduled['writes']} writes on "
        f"{front_door or service_id.rsplit('/', 1)[-1]} until "
        f"{_clock_text(scheduled['until'])}, as simulated time passes (`fhirdr sim advance`, or a replicator's polls)"
    )
    _render_action(settings, {**scheduled, "until": _clock_text(scheduled["until"])})


def _front_door_host(store: Any) -> str | None:
    from fhirdr.sim.providers.cdn import ENDPOINT_TYPE

    hosts = sorted(e.body["properties"].get("hostName") or "" for e in store.by_type(ENDPOINT_TYPE))
    return next((h for h in hosts if h), None)


def _rate(text: str) -> float:
    import re

    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*/\s*(s|sec|min|m|h|hour)\s*", text or "")
    if not match or float(match.group(1)) <= 0:
        raise BadInputError(
            f"--rate {text!r} is not a rate", hint="write it as writes per unit: 1000/min, 20/s, 50000/h"
        )
    per = {"s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600, "hour": 3600}[match.group(2)]
    value = float(match.group(1)) / per
    if value > 10_000:
        raise BadInputError(f"--rate {text!r} is more than 10,000 writes per second", hint="the sim models up to that")
    return value


def _primary_service(store: Any) -> str:
    """The FHIR service the world's target names as its primary."""
    from fhirdr.sim.servers import fhir_servers

    target = store.recorded_target() or {}
    servers = fhir_servers(store)
    for key in servers:
        parts = key.lower().split("/")
        if target.get("service", "").lower() == parts[-1] and (
            not target.get("workspace") or f"workspaces/{target['workspace'].lower()}/" in key.lower()
        ):
            return key
    if not servers:
        raise BadInputError("the simulated world has no FHIR service", hint="run `fhirdr sim init` first")
    return servers[0]


@sim_app.command("outage")
def outage(ctx: typer.Context, region: str = typer.Argument(..., help="Region to take down, e.g. westus2.")) -> None:
    """Take a region down: its compute stops answering, its data stops replicating; failover follows."""
    from fhirdr.sim.lifecycle import outage as take_down
    from fhirdr.sim.transport import open_world

    settings = _settings(ctx)
    name = _region_argument(region)
    notes = take_down(open_world(settings.sim_path), name)
    for note in notes:
        settings.terminal.display_info(note)
    _render_action(settings, {"region": name, "state": "down", "notes": notes})


@sim_app.command("recover")
def recover(ctx: typer.Context, region: str = typer.Argument(..., help="Region that comes back.")) -> None:
    """Bring a region back: it returns as a secondary and catches up; compute fails back by itself."""
    from fhirdr.sim.lifecycle import recover as bring_back
    from fhirdr.sim.transport import open_world

    settings = _settings(ctx)
    name = _region_argument(region)
    notes = bring_back(open_world(settings.sim_path), name)
    for note in notes:
        settings.terminal.display_info(note)
    _render_action(settings, {"region": name, "state": "up", "notes": notes})


@sim_app.command("reset")
def reset(ctx: typer.Context) -> None:
    """Delete the simulated world (the target file is left alone)."""
    settings = _settings(ctx)
    path = settings.sim_path
    if not path.exists():
        settings.terminal.display_info(f"nothing to reset at {path}")
        return
    _remove(path)
    settings.terminal.display_success(f"simulated Azure at {path} removed; `fhirdr sim init` builds a new one")


@fault_app.command("add")
def fault_add(
    ctx: typer.Context,
    kind: str = typer.Option(
        ...,
        "--kind",
        help="429, 500, 503, drop (before the request is carried out), drop-after (after it, before the answer), "
        "fail-async, stuck-async (InProgress until `sim fault clear`), or race (another client's identical write "
        "lands first).",
    ),
    path: str = typer.Option("*", "--path", help="Glob on the request path, e.g. '*/virtualNetworkPeerings/*'."),
    method: str = typer.Option("*", "--method", help="HTTP method, or * for any."),
    count: int = typer.Option(
        1,
        "--count",
        metavar="N",
        callback=_fault_count,
        help=f"How many matching requests it applies to (1 to {MAX_FAULT_COUNT:,}).",
    ),
    retry_after: float = duration_option(
        "1s",
        "--retry-after",
        allow_zero=True,
        maximum=MAX_RETRY_AFTER,
        legacy_unit=1,
        help="Retry-After for 429, e.g. 5s (whole seconds; at most 1d).",
    ),
) -> None:
    """Add a fault rule."""
    from fhirdr.sim.transport import FAULT_KINDS, open_world

    if kind not in FAULT_KINDS:
        raise BadInputError(f"--kind {kind!r} is not a fault kind", hint=f"use one of {', '.join(FAULT_KINDS)}")
    methods = ("*", "GET", "PUT", "PATCH", "POST", "DELETE", "HEAD")
    if method.upper() not in methods:
        raise BadInputError(f"--method {method!r} is not an HTTP method", hint=f"use one of {', '.join(methods)}")
    settings = _settings(ctx)
    fault_id = open_world(settings.sim_path).add_fault(method, path, kind, count, int(retry_after))
    settings.terminal.display_success(f"fault rule {fault_id} added: {kind} on {method.upper()} {path} x{count}")


@fault_app.command("list")
def fault_list(ctx: typer.Context) -> None:
    """List the fault rules still armed."""
    from fhirdr.cli.output import render
    from fhirdr.sim.transport import open_world

    settings = _settings(ctx)
    render(settings.terminal, open_world(settings.sim_path).faults(), settings.output, settings.query)


@fault_app.command("clear")
def fault_clear(ctx: typer.Context) -> None:
    """Remove every fault rule."""
    from fhirdr.sim.transport import open_world

    settings = _settings(ctx)
    removed = open_world(settings.sim_path).clear_faults()
    settings.terminal.display_success(f"{removed} fault rule(s) removed")


def register(app: typer.Typer) -> None:
    app.add_typer(sim_app, name="sim")
