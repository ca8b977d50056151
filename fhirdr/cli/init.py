"""`fhirdr init`: read an existing deployment and write (or update) the target file."""

from __future__ import annotations

import os

import typer

from fhirdr.cli.settings import Settings


def init(
    ctx: typer.Context,
    cosmos_account: str | None = typer.Option(
        None, "--cosmos-account", help="Cosmos DB account behind the service (makes a backing target)."
    ),
    traffic_manager: str | None = typer.Option(
        None, "--traffic-manager", help="Traffic Manager profile in front of the compute."
    ),
) -> None:
    """Write the target file from what is deployed.

    Re-running keeps what you wrote by hand.
    """
    from fhirdr.azure.session import AzureSession
    from fhirdr.discover import discover
    from fhirdr.errors import TargetError
    from fhirdr.target import load_target, merge_toml_text, read_target_file

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
    with settings.terminal.status(f"reading {service} in {group}"):
        found = discover(session, subscription, group, service, cosmos_account, traffic_manager)
    text = path.read_text(encoding="utf-8") if path.exists() else "# fhirdr target, written by `fhirdr init`\n"
    new_text, written = merge_toml_text(text, found.updates, found.defaults)
    path.write_text(new_text, encoding="utf-8")
    load_target(path)  # what was written must read back
    terminal = settings.terminal
    terminal.display_success(
        f"{path}: {len(written)} value(s) written" + (f" ({', '.join(written)})" if written else ", nothing changed")
    )
    for note in found.notes:
        terminal.display_warning(note)


def register(app: typer.Typer) -> None:
    app.command("init")(init)
