"""What an Azure CLI user expects: global options anywhere, -o tsv/none, --query tables, completion, help."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from fhirdr.cli.app import app
from fhirdr.sim import lifecycle
from fhirdr.sim.timeline import advance
from tests.conftest import make_world

FORMAT_DOC = "MicrosoftDocs/azure-docs-cli docs-ref-conceptual/format-output-azure-cli.md"


def at_80_columns(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env={"NO_COLOR": "1", "COLUMNS": "80"})
    return result.exit_code, result.stdout


def commands() -> list[list[str]]:
    """Every command path, sub-commands included: ["status"], ["sim", "fault", "add"], ..."""
    paths = []

    def walk(group, path):
        for name, command in group.commands.items():
            paths.append([*path, name])
            if hasattr(command, "commands"):
                walk(command, [*path, name])

    walk(typer.main.get_command(app), [])
    return paths


def test_global_options_are_accepted_after_the_command(world, cli):
    """`az vm list -g RG -o table`: az takes its global arguments after the command
    (MicrosoftDocs/azure-docs-cli docs-ref-conceptual/format-output-azure-cli.md)."""
    status = cli("status", "--sim", "-o", "json")
    assert status.exit_code in (0, 1), status.output
    assert status.json()["service"] == "fhirdemo"
    assert cli("sim", "show", "-o", "json").json()["subscription"] == world.spec.subscription
    assert cli("status", "--sim", "--output=json", "--query", "service").json() == "fhirdemo"
    assert cli("status", "--sim", "-ojson", "--query=kind").json() == "managed"
    # the later of two wins, as when both are written before the command
    assert cli("-o", "table", "status", "--sim", "-o", "json", "--query", "kind").json() == "managed"
    assert cli("status", "--sim", "-vv", "--debug", "-o", "json", "--query", "kind").json() == "managed"


def test_target_service_and_resource_group_after_the_command(world, cli):
    """The README's `fhirdr init -g RG -n SERVICE` form; --target after the command as well."""
    moved = world.target_file.rename(world.target_file.with_name("elsewhere.toml"))
    result = cli("status", "--sim", "--target", str(moved), "-o", "json", "--query", "service")
    assert result.exit_code in (0, 1), result.output
    assert result.json() == "fhirdemo"
    result = cli("init", "--sim", "--subscription", world.spec.subscription, "-g", "fhir-dr-rg", "-n", "fhirdemo")
    assert result.exit_code == 0, result.output
    assert 'service = "fhirdemo"' in (world.target_file.parent / "fhirdr.toml").read_text()


def test_an_option_value_that_looks_like_a_global_option_stays_a_value(world, cli):
    result = cli("sim", "fault", "add", "--kind", "500", "--path", "-ojson", "-o", "json")
    assert result.exit_code == 0, result.output
    faults = cli("sim", "fault", "list", "-o", "json").json()
    assert [f["pattern"] for f in faults] == ["-ojson"]
    typo = cli("stauts", "-o", "json")
    assert typo.exit_code == 2 and "No such command 'stauts'" in typo.stderr


def test_a_command_option_of_the_same_name_wins_over_the_global_one():
    """A command that defines -n itself gets it; the global -o after it is still moved ahead."""
    from fhirdr.cli.app import hoist_global_options

    demo = typer.Typer()

    @demo.callback()
    def root(service: str = typer.Option(None, "-n"), output: str = typer.Option("table", "-o")) -> None:
        """Root."""

    @demo.command("make")
    def make(name: str = typer.Option(..., "-n"), apply: bool = typer.Option(False, "--apply")) -> None:
        """Make."""

    group = typer.main.get_command(demo)
    hoisted = hoist_global_options(group, ["make", "-n", "x", "--apply", "-o", "json"])
    assert hoisted == ["-o", "json", "make", "-n", "x", "--apply"]
    assert hoist_global_options(group, ["make", "--", "-o", "json"]) == ["make", "--", "-o", "json"]


@pytest.mark.parametrize("path", commands(), ids=" ".join)
def test_every_command_help_lists_the_global_options(path, cli):
    result = cli(*path, "--help")
    assert result.exit_code == 0, result.output
    assert "Global options (before or after the command):" in result.stdout
    for flag in ("-o, --output FORMAT", "--query TEXT", "--subscription TEXT", "-g, --resource-group TEXT", "--sim"):
        assert flag in result.stdout
    assert "<" not in result.stdout  # Typer's `<str>`, `<float range>`: metavars are words


def test_tsv_prints_values_only_one_row_per_item(world, cli):
    """tsv: "tab- and newline-separated values without additional formatting, keys, or other
    symbols"; nested objects are not printed (MicrosoftDocs/azure-docs-cli
    docs-ref-conceptual/format-output-azure-cli.md)."""
    result = cli("sim", "show", "-o", "tsv", "--query", "resources[?location=='westus2'].[name, location]")
    assert result.exit_code == 0, result.output
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert ["fhirdemo", "westus2"] in rows and all(len(row) == 2 for row in rows)
    status = cli("status", "--sim", "-o", "tsv", "--query", "{service: service, split: split, dr: dr.enabled}")
    assert status.stdout == "fhirdemo\t\tfalse\n"


def test_output_none_prints_nothing_and_keeps_the_exit_code(world, cli):
    """none: "no output other than errors and warnings" (MicrosoftDocs/azure-docs-cli
    docs-ref-conceptual/format-output-azure-cli.md)."""
    as_json = cli("--sim", "-o", "json", "status")
    quiet = cli("--sim", "-o", "none", "status")
    assert quiet.stdout == ""
    assert quiet.exit_code == as_json.exit_code == 1  # DR is not on in the default world


def test_query_with_table_output_renders_a_table(world, cli):
    """`az vm list --query "[].{resource:resourceGroup, name:name}" --output table` prints a table
    with the keys as headings; nested objects are not included (MicrosoftDocs/azure-docs-cli
    docs-ref-conceptual/format-output-azure-cli.md)."""
    result = cli("--sim", "status", "--query", "{service: service, kind: kind, split: split}")
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["service", "kind"]
    assert lines[1].split() == ["fhirdemo", "managed"]
    readiness = cli("--sim", "status", "--query", "readiness").stdout
    assert "{" not in readiness
    assert readiness.splitlines()[0].split() == ["name", "status", "summary"]
    assert any(line.split()[:2] == ["cmk", "not-configured"] for line in readiness.splitlines())


def test_shell_completion_is_offered(cli, monkeypatch):
    # typer finds the shell from the process tree (shellingham), which a detached test run may not have.
    import shellingham

    monkeypatch.setattr(shellingham, "detect_shell", lambda: ("bash", "/bin/bash"))
    result = cli("--show-completion")
    assert result.exit_code == 0, result.output
    assert "_fhirdr_completion" in result.stdout and "complete " in result.stdout
    assert "--install-completion" in cli("--help").stdout


def test_help_lists_every_command_with_its_whole_first_sentence():
    code, out = at_80_columns("--help")
    assert code == 0
    listing = out.split("Commands:")[1].splitlines()[1:]
    assert not [line for line in listing if line.rstrip().endswith("...")]
    root = typer.main.get_command(app)
    for name, command in root.commands.items():
        first = command.get_short_help_str(limit=10_000)
        assert first.endswith("."), name
        assert any(line.split(None, 1) == [name, first] for line in listing), (name, listing)


def test_enable_contact_options_have_help(cli):
    out = cli("enable", "--help").stdout
    for line in (line for line in out.splitlines() if line.strip().startswith("--contact-")):
        assert len(line.split()) > 2, line


@pytest.fixture
def recovered(isolated, cli):
    """A backing target with DR on, after an outage, failover and recovery: failback has work to do."""
    world = make_world(isolated, kind="backing", dr_enabled=True)
    lifecycle.outage(world.store, "westus2")
    advance(world.store, 10 * 60)
    lifecycle.recover(world.store, "westus2")
    advance(world.store, 3600)
    return world


def test_failback_plans_by_default_and_acts_with_apply(recovered, cli):
    before = recovered.snapshot()
    for plan in (cli("--sim", "failback", "--yes"), cli("--sim", "failback", "--dry-run")):
        assert plan.exit_code == 1, plan.output
        assert "run again with --apply" in plan.stderr
        assert recovered.snapshot() == before
    document = cli("--sim", "failback", "-o", "json").json()
    assert document["mode"] == "check" and document["pending_changes"]
    both = cli("--sim", "failback", "--apply", "--dry-run")
    assert both.exit_code == 2 and "--apply and --dry-run" in both.stderr
    done = cli("--sim", "failback", "--apply", "--yes", "-o", "json")
    assert done.exit_code == 0, done.output
    assert {s["id"]: s["status"] for s in done.json()["steps"]}["failback.write-region"] == "applied"


def test_json_after_the_command_is_the_same_document_as_before_it(world, cli):
    before = cli("--sim", "-o", "json", "configure-private-link").json()
    after = cli("configure-private-link", "--sim", "-o", "json").json()
    assert json.dumps(before, sort_keys=True) == json.dumps(after, sort_keys=True)


def table_rows(stdout: str) -> dict[str, list[str]]:
    """The cells of a boxed table's first line per row, by the row's first cell."""
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in stdout.splitlines() if line.startswith("│")]
    return {row[0]: row for row in rows if row[0]}


def test_plan_tables_show_the_step_ids_and_status_words_of_the_json(world, cli):
    document = cli("--sim", "-o", "json", "configure-private-link").json()
    rows = table_rows(cli("--sim", "configure-private-link").stdout)
    assert {step["id"]: step["status"] for step in document["steps"]} == {
        step_id: next(cell for cell in row if cell in ("in-sync", "changes", "instruction"))
        for step_id, row in rows.items()
    }


def test_a_column_with_one_value_is_said_once(isolated, cli):
    make_world(isolated, cmk=True)
    out = cli("--sim", "check-cmk").stdout
    title, header = out.splitlines()[0], out.splitlines()[2]
    assert "(section: CMK)" in title and "section" not in header
    assert "cmk.configured" in table_rows(out)
    plan = cli("--sim", "configure-private-link").stdout
    owners = {row[1] for row in table_rows(plan).values()}
    assert owners == {"", "customer"}  # fhirdr is the usual owner; only someone else's step says so


def test_tables_at_80_columns_keep_ids_and_names_whole(world, cli):
    assert cli("--sim", "configure-private-link", "--apply", "--yes").exit_code == 0
    run_id = cli("runs", "-o", "json").json()[0]["run_id"]
    for args, names in (
        (["--sim", "configure-private-link"], ["private-link.peer-secondary-to-primary", "fhir-vnet-westcentralus"]),
        (["runs"], [run_id, "private-link"]),
        (
            ["sim", "show"],
            ["Microsoft.Network/privateDnsZones/virtualNetworkLinks", "Microsoft.HealthcareApis/services"],
        ),
    ):
        code, out = at_80_columns(*args)
        assert code == 0, out
        assert max(len(line) for line in out.splitlines()) <= 80, out
        words = out.split()
        for name in names:
            assert name in words or any(word.startswith(name) for word in words), (name, out)
        assert "…" not in out


def test_piped_output_wraps_to_120_columns(world, isolated):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    result = subprocess.run(
        [sys.executable, "-m", "fhirdr", "--sim", "configure-private-link"],
        cwd=isolated,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    widths = [len(line) for line in result.stdout.splitlines()]
    assert 100 < max(widths) <= 120, result.stdout
