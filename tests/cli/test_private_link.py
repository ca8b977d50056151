"""configure-private-link end to end: check, apply, re-check, idempotency, bad input, faults, resume."""

from __future__ import annotations

import json
from pathlib import Path

from fhirdr.runbook.journal import read_journal
from tests.conftest import make_world


def test_check_reports_what_is_missing_and_exits_1(world, cli):
    result = cli("--sim", "configure-private-link")
    assert result.exit_code == 1, result.output
    rows = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if line.startswith("│")}
    for missing in ("secondary-vnet", "peer-primary-to-secondary", "peer-secondary-to-primary", "link-secondary-vnet"):
        assert " changes " in rows[f"private-link.{missing}"]
    assert " in-sync " in rows["private-link.private-endpoint"]
    assert "create VNet fhir-vnet-westcentralus (10.20.0.0/16) in westcentralus" in result.stdout
    assert "run again with --apply" in result.stderr


def test_check_json_lists_each_step_with_status(world, cli):
    result = cli("--sim", "-o", "json", "configure-private-link")
    assert result.exit_code == 1, result.output
    document = result.json()
    statuses = {step["id"]: step["status"] for step in document["steps"]}
    assert statuses == {
        "private-link.service": "in-sync",
        "private-link.private-endpoint": "in-sync",
        "private-link.primary-vnet": "in-sync",
        "private-link.secondary-vnet": "changes",
        "private-link.peer-primary-to-secondary": "changes",
        "private-link.peer-secondary-to-primary": "changes",
        "private-link.dns-zone": "in-sync",
        "private-link.a-record": "in-sync",
        "private-link.link-primary-vnet": "in-sync",
        "private-link.link-secondary-vnet": "changes",
        "private-link.test-vms": "instruction",
    }
    assert document["pending_changes"] == 4
    assert document["status"] == "changes"


def test_query_selects_from_the_document(world, cli):
    result = cli("--sim", "-o", "json", "--query", "steps[?status=='changes'].id", "configure-private-link")
    assert result.exit_code == 1, result.output
    assert result.json() == [
        "private-link.secondary-vnet",
        "private-link.peer-primary-to-secondary",
        "private-link.peer-secondary-to-primary",
        "private-link.link-secondary-vnet",
    ]


def test_apply_creates_what_is_missing_then_check_passes(world, cli):
    result = cli("--sim", "configure-private-link", "--apply", "--yes")
    assert result.exit_code == 0, result.output

    store = world.store
    group = f"/subscriptions/{world.spec.subscription}/resourceGroups/fhir-dr-rg/providers"
    secondary = store.get(f"{group}/Microsoft.Network/virtualNetworks/fhir-vnet-westcentralus")
    assert secondary.body["location"] == "westcentralus"
    assert secondary.body["properties"]["addressSpace"]["addressPrefixes"] == ["10.20.0.0/16"]
    peerings = store.by_type("Microsoft.Network/virtualNetworks/virtualNetworkPeerings")
    assert sorted(p.body["properties"]["peeringState"] for p in peerings) == ["Connected", "Connected"]
    assert all(p.body["properties"]["allowVirtualNetworkAccess"] for p in peerings)
    links = store.by_type("Microsoft.Network/privateDnsZones/virtualNetworkLinks")
    secondary_link = [lk for lk in links if lk.body["properties"]["virtualNetwork"]["id"].endswith("westcentralus")]
    assert secondary_link[0].body["properties"]["virtualNetworkLinkState"] == "Completed"
    assert secondary_link[0].body["properties"]["registrationEnabled"] is False

    check = cli("--sim", "configure-private-link")
    assert check.exit_code == 0, check.output
    assert "everything is in place" in check.stderr


def test_apply_twice_changes_nothing_the_second_time(world, cli):
    assert cli("--sim", "configure-private-link", "--apply", "--yes").exit_code == 0
    before = world.snapshot()
    second = cli("--sim", "-o", "json", "configure-private-link", "--apply", "--yes")
    assert second.exit_code == 0, second.output
    assert {step["status"] for step in second.json()["steps"]} == {"in-sync", "instruction"}
    assert world.snapshot() == before


def test_apply_approves_a_pending_private_endpoint_connection(isolated, cli):
    world = make_world(isolated, endpoint_pending=True)
    check = cli("--sim", "-o", "json", "configure-private-link")
    endpoint = next(s for s in check.json()["steps"] if s["id"] == "private-link.private-endpoint")
    assert endpoint["status"] == "changes"
    assert endpoint["changes"][0]["action"] == "approve"

    assert cli("--sim", "configure-private-link", "--apply", "--yes").exit_code == 0
    connection = world.store.by_type("Microsoft.HealthcareApis/services/privateEndpointConnections")[0]
    assert connection.body["properties"]["privateLinkServiceConnectionState"]["status"] == "Approved"
    endpoint_body = world.store.by_type("Microsoft.Network/privateEndpoints")[0].body
    manual = endpoint_body["properties"]["manualPrivateLinkServiceConnections"][0]
    assert manual["properties"]["privateLinkServiceConnectionState"]["status"] == "Approved"


def test_apply_without_yes_and_without_a_terminal_is_refused_and_changes_nothing(world, cli):
    before = world.snapshot()
    result = cli("--sim", "configure-private-link", "--apply")
    assert result.exit_code == 4, result.output
    assert "pass --yes" in result.stderr
    assert world.snapshot() == before


def test_overlapping_secondary_range_is_refused_before_any_change(world, cli):
    text = world.target_file.read_text().replace('"10.20.0.0/16"', '"10.10.128.0/17"')
    world.target_file.write_text(text)
    before = world.snapshot()
    result = cli("--sim", "configure-private-link", "--apply", "--yes")
    assert result.exit_code == 2, result.output
    assert "10.10.128.0/17 overlaps the primary VNet's range 10.10.0.0/16" in result.stderr
    assert "Traceback" not in result.output
    assert world.snapshot() == before


def test_unknown_service_is_bad_input(world, cli):
    before = world.snapshot()
    result = cli("--sim", "-n", "nosuchservice", "configure-private-link", "--apply", "--yes")
    assert result.exit_code == 2, result.output
    assert "service 'nosuchservice' was not found in resource group 'fhir-dr-rg'" in result.stderr
    assert world.snapshot() == before


def test_misspelled_region_is_bad_input_with_a_suggestion(world, cli):
    text = world.target_file.read_text().replace('"westcentralus"', '"westcentralsu"')
    world.target_file.write_text(text)
    result = cli("--sim", "configure-private-link")
    assert result.exit_code == 2, result.output
    assert "'secondary_region': 'westcentralsu' is not an Azure region" in result.stderr
    assert "westcentralus" in result.stderr


def test_malformed_target_toml_is_bad_input(world, cli):
    world.target_file.write_text('service = "fhirdemo"\nprimary_region = westus2\n')
    result = cli("--sim", "configure-private-link")
    assert result.exit_code == 2, result.output
    assert "fhirdr.toml: not valid TOML" in result.stderr
    assert "line 2" in result.stderr


def test_malformed_runbook_yaml_is_bad_input_naming_the_step_and_field(world, cli, tmp_path: Path):
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "runbook: private-link\ntitle: broken\nsteps:\n"
        "  - id: private-link.secondary-vnet\n    title: x\n    uses: network.virtual-network\n"
        "    owner: fhirdr\n    with:\n      role: tertiary\n"
    )
    before = world.snapshot()
    result = cli("--sim", "configure-private-link", "--apply", "--yes", "--runbook", str(broken))
    assert result.exit_code == 2, result.output
    assert "broken.yaml: step private-link.secondary-vnet: field 'with.role' must be one of" in result.stderr
    assert world.snapshot() == before

    broken.write_text("runbook: x\nsteps: [\n")
    result = cli("--sim", "configure-private-link", "--runbook", str(broken))
    assert result.exit_code == 2, result.output
    assert "not valid YAML" in result.stderr


def test_sim_before_init_says_what_to_run(isolated, cli):
    Path("fhirdr.toml").write_text(
        'subscription = "00000000-0000-0000-0000-000000000001"\nresource_group = "rg"\nservice = "fhirdemo"\n'
        'primary_region = "westus2"\nsecondary_region = "westcentralus"\n[private_link]\nprimary_vnet = "vnet-a"\n'
        'secondary_vnet = "vnet-b"\nsecondary_address_space = ["10.20.0.0/16"]\n'
    )
    result = cli("--sim", "configure-private-link")
    assert result.exit_code == 2, result.output
    assert "the simulated Azure is not initialised" in result.stderr
    assert "fhirdr sim init" in result.stderr


def test_a_burst_of_429s_is_ridden_out(world, cli):
    world.store.add_fault("PUT", "*/virtualNetworkPeerings/*", "429", 4, 1)
    result = cli("--sim", "configure-private-link", "--apply", "--yes")
    assert result.exit_code == 0, result.output
    assert world.store.faults() == []
    assert cli("--sim", "configure-private-link").exit_code == 0


def test_failure_mid_apply_exits_3_and_resume_converges(world, cli):
    world.store.add_fault("PUT", "*/virtualNetworkLinks/*", "500", 50, 0)
    failed = cli("--sim", "configure-private-link", "--apply", "--yes")
    assert failed.exit_code == 3, failed.output
    assert "HTTP 500" in failed.stderr
    run_id = failed.stderr.split("--resume ")[1].split()[0]

    world.store.clear_faults()
    resumed = cli("--sim", "configure-private-link", "--apply", "--yes", "--resume", run_id)
    assert resumed.exit_code == 0, resumed.output

    events = read_journal(run_id)
    assert {e["attempt"] for e in events} == {1, 2}
    first = [e for e in events if e["attempt"] == 1]
    second = [e for e in events if e["attempt"] == 2]
    assert any(e["event"] == "step.failed" and e["step"] == "private-link.link-secondary-vnet" for e in first)
    assert [e["status"] for e in first if e["event"] == "run.finished"] == ["failed"]
    skipped = {e["step"] for e in second if e["event"] == "step.skipped"}
    assert "private-link.secondary-vnet" in skipped and "private-link.peer-secondary-to-primary" in skipped
    assert [e["status"] for e in second if e["event"] == "run.finished"] == ["ok"]
    assert cli("--sim", "configure-private-link").exit_code == 0


def test_a_second_run_without_resume_also_converges(world, cli):
    world.store.add_fault("PUT", "*/virtualNetworkPeerings/*", "fail-async", 1, 0)
    failed = cli("--sim", "configure-private-link", "--apply", "--yes")
    assert failed.exit_code == 3, failed.output
    rerun = cli("--sim", "configure-private-link", "--apply", "--yes")
    assert rerun.exit_code == 0, rerun.output
    assert cli("--sim", "configure-private-link").exit_code == 0


def test_journal_never_contains_the_token(world, cli):
    assert cli("--sim", "configure-private-link", "--apply", "--yes").exit_code == 0
    journals = list((world.path.parent / "runs").glob("*.jsonl"))
    assert journals
    for journal in journals:
        text = journal.read_text()
        assert "sim-token" not in text and "Bearer" not in text
        assert all(json.loads(line)["runbook"] == "private-link" for line in text.splitlines())


def test_fixing_a_peering_keeps_the_gateway_settings_of_a_hub_and_spoke_network(world, cli):
    """A peering update is a full PUT: properties not sent are reset (AZURE-FACTS "Where real Azure
    differs"; the REST spec's VirtualNetworkPeeringCreate.json sends allowForwardedTraffic,
    allowGatewayTransit and useRemoteGateways with every PUT, and `az network vnet peering update` is a
    GET then PUT of the whole object). Fixing VNet access on a hub peering must not cut gateway transit."""
    assert cli("--sim", "configure-private-link", "--apply", "--yes").exit_code == 0
    network = world.session().network()
    group, vnet = "fhir-dr-rg", "fhir-vnet-westus2"
    (name,) = [p.name for p in network.virtual_network_peerings.list(group, vnet)]
    peering = network.virtual_network_peerings.get(group, vnet, name)
    peering.allow_virtual_network_access = False
    peering.allow_forwarded_traffic = True
    peering.allow_gateway_transit = True
    network.virtual_network_peerings.begin_create_or_update(group, vnet, name, peering).result()

    check = cli("--sim", "configure-private-link")
    assert check.exit_code == 1 and f"allow VNet access on peering {name}" in check.stdout, check.output
    fixed = cli("--sim", "configure-private-link", "--apply", "--yes")
    assert fixed.exit_code == 0, fixed.output
    after = network.virtual_network_peerings.get(group, vnet, name)
    assert after.allow_virtual_network_access is True
    assert after.allow_forwarded_traffic is True and after.allow_gateway_transit is True
    assert after.peering_state == "Connected"


def test_an_operation_still_running_at_the_timeout_fails_the_step_and_resume_converges(world, cli, monkeypatch):
    """azure-core's LROPoller.result(timeout) returns None when the timeout passes and does not raise
    (azure-core docs, azure.core.polling.LROPoller.result: "timeout: Time in seconds to wait for the
    operation to complete"; the operation goes on). A step must not be reported applied while Azure still
    works on it: `done()` is checked and the run stops with the resume command."""
    monkeypatch.setenv("FHIRDR_LRO_TIMEOUT", "1s")
    world.store.add_fault("PUT", "*/virtualNetworks/fhir-vnet-westcentralus", "stuck-async", 1, 0)
    failed = cli("--sim", "configure-private-link", "--apply", "--yes")
    assert failed.exit_code == 3, failed.output
    assert "still running after 1s" in failed.stderr, failed.stderr
    run_id = failed.stderr.split("--resume ")[1].split()[0]
    events = read_journal(run_id)
    assert any(e["event"] == "step.failed" and e["step"] == "private-link.secondary-vnet" for e in events)
    assert not any(e["event"] == "change.applied" and e["step"] == "private-link.secondary-vnet" for e in events)

    world.store.clear_faults()  # the operation finishes at its next poll
    resumed = cli("--sim", "configure-private-link", "--apply", "--yes", "--resume", run_id)
    assert resumed.exit_code == 0, resumed.output
    assert cli("--sim", "configure-private-link").exit_code == 0
