"""Commands whose issue has not landed yet: each says so in one line and exits 2."""

from __future__ import annotations

import typer

from fhirdr.errors import EXIT_USAGE

WHERE = {
    "enable": "request DR for the service (support ticket, or Cosmos DB and Traffic Manager)",
    "status": "show the DR state of the service at a glance",
    "init": "read an existing deployment and write the target file",
    "test-plan": "write the DR test plan for this target",
    "drill": "run a scripted DR drill and measure RPO and RTO",
    "failback": "move data back to the recovered region, behind safety gates",
    "check-cmk": "check the customer-managed key setup for DR",
    "check-export": "check the $export setup for DR",
    "check-iomt": "list IoMT connections to recreate after a failover",
}


def register(app: typer.Typer, names: list[str]) -> None:
    for name in names:
        app.command(
            name,
            help=f"{WHERE[name][0].upper()}{WHERE[name][1:]}. (Not available yet.)",
            context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        )(_not_yet(name))


def _not_yet(name: str):  # noqa: ANN202 - a Typer command factory
    def command(ctx: typer.Context) -> None:
        typer.echo(f"error: `fhirdr {name}` is not available in this version yet ({WHERE[name]}).", err=True)
        raise typer.Exit(EXIT_USAGE)

    command.__name__ = name.replace("-", "_")
    return command
