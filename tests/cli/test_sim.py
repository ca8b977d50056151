"""The `fhirdr sim` commands and the CLI surface."""

from __future__ import annotations

from pathlib import Path


def test_sim_init_builds_the_world_and_writes_the_target(cli, isolated):
    result = cli("sim", "init")
    assert result.exit_code == 0, result.output
    text = Path("fhirdr.toml").read_text()
    assert 'primary_region = "westus2"' in text and 'secondary_region = "westcentralus"' in text
    assert 'secondary_address_space = ["10.20.0.0/16"]' in text
    show = cli("-o", "json", "sim", "show")
    assert show.exit_code == 0, show.output
    names = {(r["type"], r["name"]) for r in show.json()["resources"]}
    assert ("Microsoft.HealthcareApis/services", "fhirdemo") in names
    assert ("Microsoft.Network/privateEndpoints", "fhirdemo-pe") in names
    assert ("Microsoft.Network/privateDnsZones/virtualNetworkLinks", "fhir-vnet-westus2-link") in names
    assert not any(r["location"] == "westcentralus" for r in show.json()["resources"])


def test_sim_init_again_keeps_the_world_unless_forced(cli, isolated):
    assert cli("sim", "init").exit_code == 0
    assert cli("--sim", "configure-private-link", "--apply", "--yes").exit_code == 0
    again = cli("sim", "init")
    assert again.exit_code == 0
    assert "kept as it is" in again.stderr
    assert cli("--sim", "configure-private-link").exit_code == 0
    assert cli("sim", "init", "--force").exit_code == 0
    assert cli("--sim", "configure-private-link").exit_code == 1


def test_sim_init_writes_to_the_target_option_and_fhirdr_sim_path(cli, isolated, monkeypatch):
    monkeypatch.setenv("FHIRDR_SIM", str(isolated / "elsewhere.sqlite"))
    result = cli("--target", "custom.toml", "sim", "init")
    assert result.exit_code == 0, result.output
    assert Path("custom.toml").exists() and (isolated / "elsewhere.sqlite").exists()
    check = cli("--target", "custom.toml", "configure-private-link")  # FHIRDR_SIM turns the sim on
    assert check.exit_code == 1, check.output


def test_fault_rules_can_be_added_listed_and_cleared(cli, isolated):
    assert cli("sim", "init").exit_code == 0
    added = cli(
        "sim", "fault", "add", "--kind", "429", "--method", "put", "--path", "*/virtualNetworks/*", "--count", "2"
    )
    assert added.exit_code == 0, added.output
    listed = cli("-o", "json", "sim", "fault", "list")
    assert listed.json() == [
        {"id": 1, "method": "PUT", "pattern": "*/virtualNetworks/*", "kind": "429", "remaining": 2, "retry_after": 1}
    ]
    assert cli("sim", "fault", "clear").exit_code == 0
    assert cli("-o", "json", "sim", "fault", "list").json() == []


def test_bad_fault_kind_is_refused(cli, isolated):
    assert cli("sim", "init").exit_code == 0
    result = cli("sim", "fault", "add", "--kind", "418")
    assert result.exit_code == 2
    assert "--kind '418' is not a fault kind" in result.stderr


def test_sim_reset_removes_the_world(cli, isolated):
    assert cli("sim", "init").exit_code == 0
    assert cli("sim", "reset").exit_code == 0
    result = cli("sim", "show")
    assert result.exit_code == 2
    assert "fhirdr sim init" in result.stderr


def test_help_lists_every_command(cli):
    result = cli("--help")
    assert result.exit_code == 0
    for command in (
        "enable",
        "status",
        "test-plan",
        "drill",
        "failback",
        "configure-private-link",
        "check-cmk",
        "check-export",
        "check-iomt",
        "init",
        "sim",
    ):
        assert command in result.stdout


def test_unknown_option_is_a_usage_error(cli):
    result = cli("--sim", "configure-private-link", "--frobnicate")
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_bad_query_is_bad_input(cli, isolated):
    assert cli("sim", "init").exit_code == 0
    result = cli("--sim", "-o", "json", "--query", "steps[?", "configure-private-link")
    assert result.exit_code == 2
    assert "not a valid JMESPath expression" in result.stderr


def test_unknown_cloud_is_bad_input(cli, isolated):
    assert cli("sim", "init").exit_code == 0
    result = cli("--sim", "--cloud", "Mars", "configure-private-link")
    assert result.exit_code == 2
    assert "unknown cloud 'Mars'" in result.stderr


def test_yaml_output(cli, isolated):
    assert cli("sim", "init").exit_code == 0
    result = cli("--sim", "-o", "yaml", "configure-private-link")
    assert result.exit_code == 1
    import yaml

    assert yaml.safe_load(result.stdout)["runbook"] == "private-link"


def test_debug_logging_never_shows_the_token(isolated, cli, caplog):
    import logging

    assert cli("sim", "init").exit_code == 0
    caplog.set_level(logging.DEBUG)
    result = cli("--sim", "--debug", "-o", "json", "status")
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "'Authorization': 'REDACTED'" in logged  # the SDK's request logging ran, and redacted the header
    assert "sim-token" not in logged and "sim-token" not in result.output


def test_outage_and_recover_show_in_sim_show(cli, isolated):
    assert cli("sim", "init").exit_code == 0
    outage = cli("sim", "outage", "West US 2")
    assert outage.exit_code == 0, outage.output
    assert "westus2 is down" in outage.stderr
    assert cli("-o", "json", "sim", "show").json()["regions_down"] == ["westus2"]
    assert cli("sim", "recover", "westus2").exit_code == 0
    assert cli("-o", "json", "sim", "show").json()["regions_down"] == []
    bad = cli("sim", "outage", "westus9")
    assert bad.exit_code == 2 and "'westus9' is not an Azure region" in bad.stderr


def test_runs_lists_journals_and_shows_one(cli, isolated):
    assert cli("sim", "init").exit_code == 0
    applied = cli("--sim", "-o", "json", "configure-private-link", "--apply", "--yes")
    run_id = applied.json()["run_id"]
    listed = cli("-o", "json", "runs").json()
    assert listed[0]["run_id"] == run_id and listed[0]["status"] == "ok" and listed[0]["steps_verified"] == 10
    events = cli("-o", "json", "runs", run_id).json()
    assert events[0]["event"] == "run.context" and events[-1]["event"] == "run.finished"
    missing = cli("runs", "20200101T000000Z-000000")
    assert missing.exit_code == 2 and "no journal for run" in missing.stderr
