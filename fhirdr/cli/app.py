"""The Typer application: global options, the error boundary, and the command list."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup
from typer.models import DefaultPlaceholder

from fhirdr import __version__
from fhirdr.cli.output import OutputFormat
from fhirdr.cli.settings import Settings
from fhirdr.cli.terminal import Terminal
from fhirdr.errors import EXIT_AZURE, EXIT_CHECK_FAILED, EXIT_INTERRUPTED, FhirdrError, Terminated, stopped_by

# Help shows what a value is, in words (TEXT, PATH), not Typer's `<str>` or `<float range>`; an option
# with a unit says so with its own metavar (SECONDS, DURATION, CIDR).
_METAVARS = {"str": "TEXT", "Path": "PATH", "int": "INTEGER", "float": "NUMBER", "list[str]": "TEXT"}


def _name_values(params: Iterable[Any]) -> None:
    for param in params:
        if param.metavar is not None:
            continue
        if param.param_type_name == "argument":
            param.metavar = param.name.upper()
            continue
        if param.is_flag or param.count:
            continue
        descriptor = param.type_descriptor
        if descriptor.is_choice:
            param.metavar = "[" + "|".join(str(getattr(c, "value", c)) for c in descriptor.choices or ()) + "]"
        else:
            bare = param.bare_type()
            param.metavar = _METAVARS.get(bare, bare.upper())


def global_options(root: Any) -> list[Any]:
    """The root options that every command also accepts after its name: those whose value the run
    uses (--version, --install-completion and --show-completion act on their own and exit)."""
    return [p for p in root.params if p.param_type_name == "option" and p.expose_value and not p.is_eager]


def _option_names(command: Any, params: Iterable[Any] | None = None) -> dict[str, bool]:
    """Every option name of `command` -> whether it takes a value."""
    names: dict[str, bool] = {}
    for param in command.params if params is None else params:
        if param.param_type_name == "option":
            for name in (*param.opts, *param.secondary_opts):
                names[name] = not (param.is_flag or param.count)
    return names


def hoist_global_options(root: Any, args: list[str]) -> list[str]:
    """Move global options written after the command path (`fhirdr status -o json`) ahead of it, as
    `az` accepts them anywhere. A command's own option of the same name wins (it is left where it
    is), the value of any option is never mistaken for an option, and `--` ends the scan."""
    global_names = _option_names(root, global_options(root))
    before: list[str] = []  # the user's own root options, ahead of the command name
    hoisted: list[str] = []
    rest: list[str] = []
    command: Any = root
    index = 0
    while index < len(args):
        token = args[index]
        index += 1
        if token == "--":
            rest.extend(args[index - 1 :])
            break
        if not token.startswith("-") or token == "-":
            subcommands = getattr(command, "commands", None)
            if subcommands is not None and token not in subcommands:  # click names the unknown command
                rest.extend(args[index - 1 :])
                break
            command = subcommands[token] if subcommands is not None else command
            rest.append(token)
            continue
        own = _option_names(command)
        name, attached = _split(token, own if command is not root else global_names, global_names)
        takes_value = own.get(name, global_names.get(name))
        if takes_value is None:  # unknown here: click says so, in its words
            (before if command is root else rest).append(token)
            continue
        taken = [token]
        if takes_value and not attached and index < len(args):
            taken.append(args[index])
            index += 1
        if command is root:
            before.extend(taken)
        elif name in own:
            rest.extend(taken)
        else:
            hoisted.extend(taken)
    return before + hoisted + rest


def _split(token: str, own: dict[str, bool], global_names: dict[str, bool]) -> tuple[str, bool]:
    """The option a token names and whether its value is attached (`--output=json`, `-ojson`, `-vv`)."""
    if token.startswith("--"):
        name, equals, _ = token.partition("=")
        return name, bool(equals)
    name = token[:2]
    if len(token) == 2:
        return name, False
    names = own if name in own else global_names
    if names.get(name):  # -gRG: the rest is the value
        return name, True
    # -vv: a cluster of flags; hoisted only when every letter is a global flag
    letters = {f"-{letter}" for letter in token[1:]}
    if all(global_names.get(letter) is False and letter not in own for letter in letters):
        return name, True
    return token, True


class GlobalOptionsHelp:
    """A command's --help also lists the global options it accepts after its name."""

    def format_options(self, ctx: typer.Context, formatter: Any) -> None:
        arguments, options = [], []
        for param in self.get_params(ctx):  # type: ignore[attr-defined]
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                # its name is its metavar (RUN_ID); Typer would add `<str>` after it
                arguments.append((param.metavar or record[0], record[1]))
            else:
                options.append(record)
        for title, records in (("Arguments", arguments), ("Options", options)):
            if records:
                with formatter.section(title):
                    formatter.write_dl(records)
        if hasattr(self, "format_commands"):
            self.format_commands(ctx, formatter)
        root = ctx.find_root()
        records = [p.get_help_record(root) for p in global_options(root.command)]
        with formatter.section("Global options (before or after the command)"):
            formatter.write_dl([record for record in records if record])


class WholeDescriptions:
    """A command list shows each command's whole first sentence, never cut with "..."."""

    def format_commands(self, ctx: typer.Context, formatter: Any) -> None:
        rows = [
            (name, command.get_short_help_str(limit=10_000))
            for name in self.list_commands(ctx)  # type: ignore[attr-defined]
            if (command := self.get_command(ctx, name)) is not None and not command.hidden  # type: ignore[attr-defined]
        ]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


class FhirdrCommand(GlobalOptionsHelp, TyperCommand):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _name_values(self.params)


class FhirdrSubGroup(GlobalOptionsHelp, WholeDescriptions, TyperGroup):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _name_values(self.params)


class FhirdrGroup(WholeDescriptions, TyperGroup):
    """Maps fhirdr's errors to exit codes and one clear message; tracebacks only with --debug."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _name_values(self.params)

    def list_commands(self, ctx: typer.Context) -> list[str]:
        return list(self.commands)

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_global_options(self, args))

    def invoke(self, ctx: typer.Context) -> Any:
        with _sigterm_as_interrupt():
            return self._invoke(ctx)

    def _invoke(self, ctx: typer.Context) -> Any:
        # --debug adds the traceback; the exit code stays the one the error has without it.
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except FhirdrError as exc:
            _traceback_if_debug(ctx)
            _terminal(ctx).display_error(exc.message, exc.hint)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt as exc:
            _terminal(ctx).display_error(
                stopped_by(exc),
                "run the same command again to resume; the journal records every step that finished",
            )
            ctx.exit(EXIT_INTERRUPTED)
        except Exception as exc:  # noqa: BLE001 - the one place unexpected errors become a message
            _traceback_if_debug(ctx)
            from azure.core.exceptions import AzureError as SdkError

            if isinstance(exc, SdkError):
                _terminal(ctx).display_error(f"Azure error: {str(exc).splitlines()[0]}")
                ctx.exit(EXIT_AZURE)
            _terminal(ctx).display_error(
                f"internal error: {type(exc).__name__}: {exc}",
                "run again with --debug for the traceback, and report it",
            )
            ctx.exit(EXIT_CHECK_FAILED)


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM stops a command as Ctrl-C does: the run closes its journal and can be resumed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminated(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, previous)  # a second SIGTERM is not caught again
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _traceback_if_debug(ctx: typer.Context) -> None:
    if _debug(ctx):
        import traceback

        traceback.print_exc(file=sys.stderr)


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
    add_completion=True,
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
    output: OutputFormat = typer.Option(
        OutputFormat.table, "-o", "--output", metavar="FORMAT", help="table, json, yaml, tsv or none."
    ),
    query: str | None = typer.Option(None, "--query", help="JMESPath query applied to the data."),
    verbose: int = typer.Option(0, "-v", "--verbose", count=True, help="More logging on stderr (-vv for debug)."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks and SDK debug logging."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """Global options go before or after the command: `fhirdr --sim status`, `fhirdr status -o json`."""
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
    from fhirdr.cli import (
        checks,
        drill,
        enable,
        endpoint,
        failback,
        failover,
        init,
        private_link,
        runs,
        sim,
        status,
        testplan,
    )

    enable.register(app)
    status.register(app)
    testplan.register(app)
    drill.register(app)
    failover.register(app)
    failback.register(app)
    private_link.register(app)
    endpoint.register(app)
    checks.register(app)
    init.register(app)
    runs.register(app)
    sim.register(app)
    __import__("fhirdr.cli.replicate", fromlist=["register"]).register(app)
    _use_fhirdr_classes(app)


def _use_fhirdr_classes(typer_app: typer.Typer) -> None:
    """Every command and sub-group, whoever registered it, gets the help that lists global options."""
    for command in typer_app.registered_commands:
        if command.cls in (None, TyperCommand):
            command.cls = FhirdrCommand
    for group in typer_app.registered_groups:
        if group.cls in (None, TyperGroup) or isinstance(group.cls, DefaultPlaceholder):
            group.cls = FhirdrSubGroup
        if group.typer_instance is not None:
            _use_fhirdr_classes(group.typer_instance)


_register()
