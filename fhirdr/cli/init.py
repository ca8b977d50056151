"""`fhirdr init`: read an existing deployment and write (or update) the target file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer

from fhirdr.cli.settings import Settings
from fhirdr.errors import TargetError


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
    from fhirdr.cli.output import OutputFormat, render
    from fhirdr.kinds import kind_of
    from fhirdr.paths import write_text
    from fhirdr.target import KINDS, RENAMED_KINDS, load_target, merge_toml_text, read_target_file

    settings: Settings = ctx.obj
    path = settings.target_file_for_writing()
    existing = read_target_file(path) if path.exists() else {}
    subscription = settings.subscription or existing.get("subscription")
    group = settings.resource_group or existing.get("resource_group")
    service = settings.service or existing.get("service")
    subscription = subscription or os.environ.get("AZURE_SUBSCRIPTION_ID")
    if not subscription:
        subscription = azure_cli_default_subscription(settings)
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
    write_text(path, new_text, "target file")
    load_target(path, cloud=settings.cloud)  # what was written must read back
    terminal = settings.terminal
    terminal.display_success(
        f"{path}: {len(written)} value(s) written" + (f" ({', '.join(written)})" if written else ", nothing changed")
    )
    for note in found.notes:
        terminal.display_warning(note)
    if settings.output is not OutputFormat.table or settings.query:
        document = {"target_file": str(path), "subscription": subscription, "written": written, "notes": found.notes}
        render(terminal, document, settings.output, settings.query)


def azure_cli_default_subscription(settings: Settings) -> str | None:
    """The Azure CLI's default subscription (`az account show`), read from its profile file, said aloud.

    The profile is $AZURE_CONFIG_DIR/azureProfile.json (default ~/.azure); the subscription marked
    isDefault is the one `az account set` chose. The Azure CLI writes the file with a UTF-8 BOM.
    """
    config_dir = Path(os.environ.get("AZURE_CONFIG_DIR") or Path.home() / ".azure").expanduser()
    profile = config_dir / "azureProfile.json"
    if not profile.is_file():
        return None
    try:
        data = json.loads(profile.read_text(encoding="utf-8-sig"))
        subscriptions = data.get("subscriptions", []) if isinstance(data, dict) else []
    except (OSError, ValueError) as exc:
        raise TargetError(
            f"cannot read the Azure CLI's profile {profile}: {exc}", hint="give --subscription, or run `az login`"
        ) from None
    default = next((s for s in subscriptions if isinstance(s, dict) and s.get("isDefault") and s.get("id")), None)
    if default is None:
        return None
    name = default.get("name")
    settings.terminal.display_info(
        f"subscription {default['id']}{f' ({name})' if name else ''}: the Azure CLI's default, from {profile} "
        "(--subscription chooses another)"
    )
    return str(default["id"])


def register(app: typer.Typer) -> None:
    app.command("init")(init)
