"""Bad input and broken state: a clear message naming the problem, exit 2, and nothing changed."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from tests.conftest import make_world


@pytest.mark.parametrize(
    "args",
    [
        ("sim", "advance", "99999999h"),
        ("sim", "advance", "9999999999999999999999h"),
        ("sim", "advance", "0s"),
        ("sim", "fault", "add", "--kind", "429", "--count", "99999999999999999999999"),
        ("sim", "fault", "add", "--kind", "429", "--retry-after", "1000000000000"),
    ],
)
def test_out_of_range_durations_and_counts_are_refused_before_anything_changes(cli, world, args):
    clock, faults = world.store.now(), world.store.faults()
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert "internal error" not in result.output and "out of range" not in result.output
    assert args[-1] in result.output or "1000000" in result.output
    assert world.store.now() == clock and world.store.faults() == faults
    assert cli("sim", "show").exit_code == 0


def test_time_options_take_durations_and_bare_numbers_with_a_deprecation_warning(cli, isolated):
    new = cli("sim", "init", "--kind", "self-hosted", "--detection-delay", "5m", "--replication-lag", "45s")
    assert new.exit_code == 0, new.output
    old = cli("sim", "init", "--force", "--kind", "self-hosted", "--detection-delay", "5", "--replication-lag", "45")
    assert old.exit_code == 0, old.output
    assert "warning: --detection-delay 5 (a bare number) is deprecated" in old.stderr and "write 5m" in old.stderr
    assert "write 45s" in old.stderr
    for command in (("sim", "init"), ("failback",), ("drill",), ("enable",)):
        text = cli(*command, "--help").stdout
        assert "DURATION" in text and "FLOAT RANGE" not in text.upper(), command


def test_sim_advance_prints_events_as_a_table_and_a_json_document(cli, isolated):
    assert cli("sim", "init", "--kind", "self-hosted", "--dr-enabled").exit_code == 0
    assert cli("sim", "outage", "westus2").exit_code == 0
    table = cli("sim", "advance", "15m")
    assert table.exit_code == 0, table.output
    assert "event" in table.stdout and "{'" not in table.output
    quiet = cli("sim", "advance", "1m")
    assert "none" in quiet.stdout and "[]" not in quiet.output
    doc = cli("-o", "json", "sim", "advance", "1m").json()
    assert doc["events"] == [] and doc["advanced_seconds"] == 60
    outage = cli("-o", "json", "sim", "recover", "westus2").json()
    assert outage["region"] == "westus2" and outage["state"] == "up"
    init = cli("-o", "json", "sim", "init").json()
    assert init["created"] is False and init["target"]["kind"] == "self-hosted"


@pytest.mark.parametrize("content", [b"this is not a database at all" * 10, b"SQLite format 3\x00" + b"\x00" * 80])
def test_a_corrupt_sim_file_says_corrupt_and_how_to_rebuild(cli, isolated, content):
    path = isolated / "state" / "sim.sqlite"
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    result = cli("sim", "show")
    assert result.exit_code == 2, result.output
    assert "is corrupt" in result.stderr and "fhirdr sim init --force" in result.stderr
    assert "not initialised" not in result.stderr
    refused = cli("sim", "init")
    assert refused.exit_code == 2 and "--force" in refused.stderr
    assert path.read_bytes() == content  # nothing replaced without --force


def test_a_world_deleted_while_in_use_is_reported_as_vanished(world):
    """Through the real SDK: a new connection must not recreate an empty world ("no such table")."""
    from fhirdr.errors import SimWorldGoneError

    session = world.session()
    session.sim_store.get_meta("schema")  # this thread's connection is open
    for suffix in ("", "-wal", "-shm"):
        Path(str(world.path) + suffix).unlink(missing_ok=True)
    errors: list[BaseException] = []

    def read() -> None:
        try:
            list(session.network().virtual_networks.list("fhir-dr-rg"))
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            errors.append(exc)

    thread = threading.Thread(target=read)
    thread.start()
    thread.join()
    assert errors and isinstance(errors[0], SimWorldGoneError), errors
    assert "vanished" in errors[0].message and not world.path.exists()


def test_sim_init_on_an_existing_world_writes_the_worlds_target_not_the_flags(cli, isolated):
    assert cli("sim", "init", "--kind", "self-hosted").exit_code == 0
    Path("fhirdr.toml").unlink()
    again = cli("sim", "init", "--kind", "managed", "--service-name", "other")
    assert again.exit_code == 0, again.output
    assert "differs from these options" in again.stderr and "--force" in again.stderr
    text = Path("fhirdr.toml").read_text()
    assert 'kind = "self-hosted"' in text and 'service = "fhirdemo"' in text


def test_sim_without_a_target_file_uses_the_worlds_target(cli, isolated):
    assert cli("sim", "init", "--kind", "self-hosted", "--dr-enabled").exit_code == 0
    elsewhere = isolated / "elsewhere"
    elsewhere.mkdir()
    import os

    os.chdir(elsewhere)
    result = cli("--sim", "-o", "json", "status")
    assert "'subscription' is required" not in result.output
    assert "using the simulated world's target" in result.stderr
    assert result.json()["service"] == "fhirdemo"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        ("statefile", "statefile is a file, not a folder"),
        ("statefile/state", "statefile is a file, not a folder"),
    ],
)
def test_a_state_dir_that_is_a_file_is_refused(cli, isolated, monkeypatch, make, message):
    (isolated / "statefile").write_text("x")
    monkeypatch.setenv("FHIRDR_STATE_DIR", str(isolated / make))
    result = cli("sim", "init")
    assert result.exit_code == 2, result.output
    assert str(isolated / make) in result.stderr and message in result.stderr
    assert "internal error" not in result.output


def test_a_state_dir_under_a_file_is_refused_for_journals(cli, isolated, monkeypatch):
    world = make_world(isolated)
    (isolated / "blocker").write_text("x")
    monkeypatch.setenv("FHIRDR_SIM", str(world.path))
    monkeypatch.setenv("FHIRDR_STATE_DIR", str(isolated / "blocker" / "state"))
    result = cli("--sim", "configure-private-link", "--apply", "--yes")
    assert result.exit_code == 2, result.output
    assert "journal folder" in result.stderr and "blocker" in result.stderr
    assert "internal error" not in result.output


@pytest.mark.parametrize(
    "args",
    [
        ("test-plan", "--out", "missing/plan.md"),
        ("--target", "missing/fhirdr.toml", "sim", "init"),
    ],
)
def test_writing_into_a_missing_folder_names_the_folder(cli, world, args):
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert "folder missing does not exist" in result.stderr and "internal error" not in result.output


def test_ticket_draft_into_a_missing_folder_names_the_folder(isolated):
    from fhirdr.errors import BadInputError
    from fhirdr.steps.support import write_ticket_draft
    from fhirdr.target import load_target

    world = make_world(isolated)
    with pytest.raises(BadInputError) as error:
        write_ticket_draft(load_target(world.target_file), "enable", isolated / "nope" / "ticket.md")
    assert "folder" in error.value.message and "does not exist" in error.value.message


def test_init_takes_the_azure_cli_default_subscription_and_says_so(cli, isolated, monkeypatch):
    """The Azure CLI keeps its accounts in $AZURE_CONFIG_DIR/azureProfile.json (default ~/.azure), written with a
    UTF-8 BOM; the default subscription has isDefault true (learn.microsoft.com/cli/azure/azure-cli-configuration,
    MicrosoftDocs/azure-docs-cli docs-ref-conceptual/azure-cli-configuration.md; `az account show`)."""
    world = make_world(isolated)
    world.target_file.unlink()
    config = isolated / "azconfig"
    config.mkdir()
    profile = {
        "subscriptions": [
            {"id": "11111111-1111-1111-1111-111111111111", "name": "other", "isDefault": False},
            {"id": world.spec.subscription, "name": "Sim subscription", "isDefault": True},
        ]
    }
    (config / "azureProfile.json").write_text(json.dumps(profile), encoding="utf-8-sig")
    monkeypatch.setenv("AZURE_CONFIG_DIR", str(config))
    result = cli("--sim", "-g", "fhir-dr-rg", "-n", "fhirdemo", "-o", "json", "init")
    assert result.exit_code == 0, result.output
    assert f"subscription {world.spec.subscription} (Sim subscription): the Azure CLI's default" in result.stderr
    assert result.json()["subscription"] == world.spec.subscription
    assert world.spec.subscription in Path("fhirdr.toml").read_text()
