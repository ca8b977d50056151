"""`fhirdr sim ...`: build, inspect, reset and disturb the simulated Azure."""

from __future__ import annotations

from pathlib import Path

import typer

from fhirdr.cli.settings import Settings
from fhirdr.errors import BadInputError

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
        2.0, "--data-gb", min=0, help="Data volume; initial replication takes longer with more."
    ),
    detection_delay: float = typer.Option(
        10.0, "--detection-delay", min=0, help="Minutes from a regional outage to automatic failover."
    ),
    replication_lag: float = typer.Option(
        1.5, "--replication-lag", min=0, help="Seconds a secondary region is behind the write region."
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
) -> None:
    """Build a two-region world: a FHIR service in westus2 with Private Link; westcentralus empty."""
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
    spec = WorldSpec(
        **CLOUD_REGIONS.get(cloud, {}),
        service=service,
        endpoint_pending=pending_endpoint,
        page_size=page_size,
        kind=kind,
        data_gb=data_gb,
        detection_delay_minutes=detection_delay,
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
        cloud=cloud,
        workspace=workspace,
    )
    parse_target(target_for(spec), "--service-name", cloud=cloud)  # bad names are refused before anything is written
    if Store(path).exists() and not force:
        terminal.display_info(
            f"the simulated Azure already exists at {path}; kept as it is (use --force to rebuild it)"
        )
    else:
        _remove(path)
        build_world(path, spec)
        terminal.display_success(f"simulated Azure created at {path}")
    if target_file.exists() and not force:
        terminal.display_info(f"target file {target_file} already exists; kept as it is")
    else:
        target_file.write_text(
            dump_toml(target_for(spec), header="fhirdr target, written by `fhirdr sim init`"), encoding="utf-8"
        )
        terminal.display_success(f"target file written to {target_file}")
    terminal.display_info("next: fhirdr --sim configure-private-link")


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
    duration: str = typer.Argument(..., help="How much simulated time passes, e.g. 30m, 2h, 1h30m."),
) -> None:
    """Let simulated time pass: support works tickets, replication catches up, failovers happen."""
    from datetime import datetime, timezone

    from fhirdr.durations import parse_duration
    from fhirdr.sim.timeline import advance
    from fhirdr.sim.transport import open_world

    settings = _settings(ctx)
    seconds = parse_duration(duration)
    store = open_world(settings.sim_path)
    before = len(store.events(limit=10_000))
    now = advance(store, seconds)
    happened = store.events(limit=10_000)[before:]
    clock = datetime.fromtimestamp(now, timezone.utc).isoformat()
    settings.terminal.display_success(f"simulated clock now {clock}")
    for event in happened:
        settings.terminal.display_info(f"  {event['kind']}: {event['detail']}")


def _region_argument(region: str) -> str:
    from fhirdr.regions import validate_region

    return validate_region(region, "REGION")


@sim_app.command("outage")
def outage(ctx: typer.Context, region: str = typer.Argument(..., help="Region to take down, e.g. westus2.")) -> None:
    """Take a region down: its compute stops answering, its data stops replicating; failover follows."""
    from fhirdr.sim.lifecycle import outage as take_down
    from fhirdr.sim.transport import open_world

    settings = _settings(ctx)
    for note in take_down(open_world(settings.sim_path), _region_argument(region)):
        settings.terminal.display_info(note)


@sim_app.command("recover")
def recover(ctx: typer.Context, region: str = typer.Argument(..., help="Region that comes back.")) -> None:
    """Bring a region back: it returns as a secondary and catches up; compute fails back by itself."""
    from fhirdr.sim.lifecycle import recover as bring_back
    from fhirdr.sim.transport import open_world

    settings = _settings(ctx)
    for note in bring_back(open_world(settings.sim_path), _region_argument(region)):
        settings.terminal.display_info(note)


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
    kind: str = typer.Option(..., "--kind", help="429, 500, 503, drop or fail-async."),
    path: str = typer.Option("*", "--path", help="Glob on the request path, e.g. '*/virtualNetworkPeerings/*'."),
    method: str = typer.Option("*", "--method", help="HTTP method, or * for any."),
    count: int = typer.Option(1, "--count", min=1, help="How many matching requests it applies to."),
    retry_after: int = typer.Option(1, "--retry-after", min=0, help="Retry-After seconds for 429."),
) -> None:
    """Add a fault rule."""
    from fhirdr.sim.transport import FAULT_KINDS, open_world

    if kind not in FAULT_KINDS:
        raise BadInputError(f"--kind {kind!r} is not a fault kind", hint=f"use one of {', '.join(FAULT_KINDS)}")
    methods = ("*", "GET", "PUT", "PATCH", "POST", "DELETE", "HEAD")
    if method.upper() not in methods:
        raise BadInputError(f"--method {method!r} is not an HTTP method", hint=f"use one of {', '.join(methods)}")
    settings = _settings(ctx)
    fault_id = open_world(settings.sim_path).add_fault(method, path, kind, count, retry_after)
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
