"""`fhirdr init`: read an existing deployment and write (or update) the target file."""

from __future__ import annotations

import os

import typer

from fhirdr.cli.settings import Settings


def init(
    ctx: typer.Context,
    kind: str | None = typer.Option(
        None, "--kind", help="managed (Azure API for FHIR, the default) or self-hosted (FHIR Server for Azure)."
    ),
    cosmos_account: str | None = typer.Option(
        None, "--cosmos-account", help="Cosmos DB account of a self-hosted FHIR server (needs --kind self-hosted)."
    ),
    traffic_manager: str | None = typer.Option(
        None, "--traffic-manager", help="Traffic Manager profile in front of the compute (self-hosted)."
    ),
    workspace: str | None = typer.Option(
        None, "--workspace", help="The AHDS workspace the FHIR service -n is in (needs --kind ahds)."
    ),
) -> None:
    """Write the target file from what is deployed.

    Re-running keeps what you wrote by hand.
    """
    from fhirdr.azure.session import AzureSession
    from fhirdr.errors import TargetError
    from fhirdr.kinds import kind_of
    from fhirdr.target import KINDS, RENAMED_KINDS, load_target, merge_toml_text, read_target_file

    settings: Settings = ctx.obj
    path = settings.target_file_for_writing()
    existing = read_target_file(path) if path.exists() else {}
    subscription = settings.subscription or existing.get("subscription")
    group = settings.resource_group or existing.get("resource_group")
    service = settings.service or existing.get("service")
    subscription = subscription or os.environ.get("AZURE_SUBSCRIPTION_ID")
    for value, flag in ((subscription, "--subscription"), (group, "-g/--resource-group"), (service, "-n/--service")):
        if not value:
            raise TargetError(f"fhirdr init needs {flag} (or the value in {path})")
    if settings.use_sim:
        from fhirdr.sim.transport import open_world

        open_world(settings.sim_path)
    session = AzureSession(subscription, settings.cloud, settings.sim_path if settings.use_sim else None)
    if not settings.use_sim:
        settings.warn_cloud_mismatch()
    kind = RENAMED_KINDS.get(kind or existing.get("kind") or "managed", kind or existing.get("kind") or "managed")
    if kind not in KINDS:
        raise TargetError(f"--kind {kind!r} is not a target kind", hint=f"use {' or '.join(KINDS)}")
    hosted = existing.get("self_hosted") or existing.get("backing") or {}
    named = {
        "cosmos_account": cosmos_account or hosted.get("cosmos_account"),
        "traffic_manager": traffic_manager or hosted.get("traffic_manager_profile"),
        "workspace": workspace or existing.get("workspace"),
    }
    flags = {"cosmos_account": cosmos_account, "traffic_manager": traffic_manager, "workspace": workspace}
    with settings.terminal.status(f"reading {service} in {group}"):
        found = kind_of(kind).discover(session, subscription, group, service, named, flags)
    text = path.read_text(encoding="utf-8") if path.exists() else "# fhirdr target, written by `fhirdr init`\n"
    new_text, written = merge_toml_text(text, found.updates, found.defaults)
    path.write_text(new_text, encoding="utf-8")
    load_target(path, cloud=settings.cloud)  # what was written must read back
    terminal = settings.terminal
    terminal.display_success(
        f"{path}: {len(written)} value(s) written" + (f" ({', '.join(written)})" if written else ", nothing changed")
    )
    for note in found.notes:
        terminal.display_warning(note)


def register(app: typer.Typer) -> None:
    app.command("init")(init)
