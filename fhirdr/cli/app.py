"""The Typer application: global options, the error boundary, and the command list."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

from fhirdr import __version__
from fhirdr.cli.output import OutputFormat
from fhirdr.cli.settings import Settings
from fhirdr.cli.terminal import Terminal
from fhirdr.errors import EXIT_AZURE, EXIT_CHECK_FAILED, EXIT_INTERRUPTED, FhirdrError


class FhirdrGroup(TyperGroup):
    """Maps fhirdr's errors to exit codes and one clear message; tracebacks only with --debug."""

    def list_commands(self, ctx: typer.Context) -> list[str]:
        return list(self.commands)

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except FhirdrError as exc:
            if _debug(ctx):
                raise
            _terminal(ctx).display_error(exc.message, exc.hint)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            _terminal(ctx).display_error(
                "interrupted", "run the same command again to resume; the journal records every step that finished"
            )
            ctx.exit(EXIT_INTERRUPTED)
        except Exception as exc:  # noqa: BLE001 - the one place unexpected errors become a message
            if _debug(ctx):
                raise
            from azure.core.exceptions import AzureError as SdkError

            if isinstance(exc, SdkError):
                _terminal(ctx).display_error(f"Azure error: {str(exc).splitlines()[0]}")
                ctx.exit(EXIT_AZURE)
            _terminal(ctx).display_error(
                f"internal error: {type(exc).__name__}: {exc}",
                "run again with --debug for the traceback, and report it",
            )
            ctx.exit(EXIT_CHECK_FAILED)


def _settings(ctx: typer.Context) -> Settings | None:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, Settings) else None


def _debug(ctx: typer.Context) -> bool:
    settings = _settings(ctx)
    return bool(settings and settings.debug)


def _terminal(ctx: typer.Context) -> Terminal:
    settings = _settings(ctx)
    return settings.terminal if settings else Terminal()


app = typer.Typer(
    cls=FhirdrGroup,
    name="fhirdr",
    help="Disaster-recovery runbooks for Azure API for FHIR: check, fix, drill and fail back.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"fhirdr {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    target: Path | None = typer.Option(None, "--target", help="Target file (default: ./fhirdr.toml when present)."),
    subscription: str | None = typer.Option(None, "--subscription", help="Subscription id (overrides the target)."),
    resource_group: str | None = typer.Option(None, "-g", "--resource-group", help="Resource group of the service."),
    service: str | None = typer.Option(None, "-n", "--service", help="Azure API for FHIR service name."),
    sim: bool = typer.Option(
        False, "--sim", help="Use the simulated Azure (state file: $FHIRDR_SIM or the state directory)."
    ),
    cloud: str = typer.Option("AzureCloud", "--cloud", help="AzureCloud, AzureUSGovernment or AzureChinaCloud."),
    output: OutputFormat = typer.Option(OutputFormat.table, "-o", "--output", help="Output format for data."),
    query: str | None = typer.Option(None, "--query", help="JMESPath query applied to the data."),
    verbose: int = typer.Option(0, "-v", "--verbose", count=True, help="More logging on stderr (-vv for debug)."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks and SDK debug logging."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """Global options go before the command, as in `fhirdr --sim configure-private-link`."""
    settings = Settings(
        target_path=target,
        subscription=subscription,
        resource_group=resource_group,
        service=service,
        sim=sim,
        cloud=cloud,
        output=output,
        query=query,
        verbose=verbose,
        debug=debug,
        terminal=Terminal(verbose),
    )
    ctx.obj = settings
    _configure_logging(verbose, debug)


def _configure_logging(verbose: int, debug: bool) -> None:
    import logging

    level = logging.DEBUG if debug or verbose >= 2 else logging.INFO if verbose == 1 else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    # azure-identity explains every credential it tried at WARNING; fhirdr says it in one line with a
    # hint, and -v shows the full story.
    logging.getLogger("azure.identity").setLevel(logging.WARNING if verbose or debug else logging.ERROR)
    # The SDK's HTTP logging policy redacts Authorization; keep its body logging off regardless.
    logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(
        logging.DEBUG if debug else logging.WARNING
    )


def _register() -> None:
    from fhirdr.cli import checks, drill, enable, failback, init, private_link, runs, sim, status, testplan

    enable.register(app)
    status.register(app)
    testplan.register(app)
    drill.register(app)
    failback.register(app)
    private_link.register(app)
    checks.register(app)
    init.register(app)
    runs.register(app)
    sim.register(app)


_register()
