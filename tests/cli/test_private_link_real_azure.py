"""configure-private-link against private endpoints and DNS as real Azure shows them.

Sources: azure-rest-api-specs network stable/2024-05-01 examples PrivateEndpointGet.json (ipConfigurations,
networkInterfaces, customDnsConfigs), NetworkInterfaceGet.json, PrivateDnsZoneGroupGet.json (recordSets);
azure-cli recording network/tests/latest/recordings/test_network_private_endpoint_private_dns_zone_group.yaml
(customDnsConfigs `[]` while the endpoint is Updating; zone-group PUTs answer 200 + Azure-AsyncOperation).
"""

from __future__ import annotations

import pytest

from tests.conftest import make_world

ENDPOINT_STEPS = ("private-link.private-endpoint", "private-link.a-record")


def _statuses(cli) -> dict[str, str]:
    result = cli("--sim", "-o", "json", "configure-private-link")
    assert result.exit_code == 1, result.output
    return {step["id"]: step["status"] for step in result.json()["steps"]}


@pytest.mark.parametrize("pe_dns", ["custom", "zone-group", "updating"])
def test_the_endpoint_ip_is_found_however_the_endpoint_shows_it(isolated, cli, pe_dns):
    """custom: customDnsConfigs has the IP. zone-group: customDnsConfigs is [] and the IP is in ipConfigurations
    (PrivateEndpointGet.json). updating: customDnsConfigs is [] while the endpoint is Updating and only its NIC
    has the IP (test_network_private_endpoint_private_dns_zone_group.yaml, NetworkInterfaceGet.json)."""
    make_world(isolated, pe_dns=pe_dns)
    result = cli("--sim", "-o", "json", "configure-private-link")
    assert result.exit_code == 1, result.output
    steps = {step["id"]: step for step in result.json()["steps"]}
    assert steps["private-link.a-record"]["status"] == "in-sync", steps["private-link.a-record"]
    assert "10.10.1.4" in steps["private-link.private-endpoint"]["observed"]

    applied = cli("--sim", "configure-private-link", "--apply", "--yes")
    assert applied.exit_code == 0, applied.output
    assert "everything is in place" in cli("--sim", "configure-private-link").stderr


def test_the_ip_comes_from_the_zone_groups_record_sets_when_nothing_else_has_it(isolated, cli):
    """An endpoint whose customDnsConfigs and ipConfigurations are empty and whose NIC cannot be read (here: it
    is gone) still names its IP in its zone group's recordSets (PrivateDnsZoneGroupGet.json)."""
    world = make_world(isolated, pe_dns="zone-group")
    group = f"/subscriptions/{world.spec.subscription}/resourceGroups/fhir-dr-rg/providers/Microsoft.Network"
    endpoint = world.store.get(f"{group}/privateEndpoints/fhirdemo-pe")
    endpoint.body["properties"]["ipConfigurations"] = []
    world.store.put(endpoint.id, endpoint.type, endpoint.id.rsplit("/providers/", 1)[0], endpoint.body)
    world.store.delete(f"{group}/networkInterfaces/fhirdemo-pe.nic")

    assert _statuses(cli)["private-link.a-record"] == "in-sync"


def test_an_endpoint_that_shows_no_ip_anywhere_blocks_the_a_record_and_says_so(isolated, cli):
    """Only when no source has an IP does the A-record step need a person."""
    world = make_world(isolated, pe_dns="updating")
    group = f"/subscriptions/{world.spec.subscription}/resourceGroups/fhir-dr-rg/providers/Microsoft.Network"
    world.store.delete(f"{group}/networkInterfaces/fhirdemo-pe.nic")

    result = cli("--sim", "configure-private-link")
    assert result.exit_code == 1, result.output
    assert "no private endpoint IP to point the A record at" in result.stdout


def test_pe_dns_is_a_sim_init_option_and_unknown_values_are_refused(isolated, cli):
    assert cli("sim", "init", "--pe-dns", "zone-group").exit_code == 0
    assert _statuses(cli)["private-link.a-record"] == "in-sync"
    bad = cli("sim", "init", "--force", "--pe-dns", "dhcp")
    assert bad.exit_code == 2, bad.output
    assert "--pe-dns 'dhcp' is not known" in bad.output
    refused = cli("sim", "init", "--force", "--kind", "ahds", "--pe-dns", "updating")
    assert refused.exit_code == 2, refused.output


@pytest.mark.parametrize(
    ("pattern", "remove"),
    [
        ("*/virtualNetworkLinks/*", None),
        ("*/A/*", "privateDnsZones/privatelink.azurehealthcareapis.com/A/fhirdemo"),
        ("*/privateDnsZones/*", "privateDnsZones/privatelink.azurehealthcareapis.com"),
    ],
)
def test_two_applies_at_once_converge_when_the_other_run_creates_first(isolated, cli, pattern, remove):
    """Two `configure-private-link --apply` at once: the second create of a zone, record or link meets the one the
    other run just made, and Azure answers 412 to its If-None-Match: * (the SDK's MatchConditions.IfMissing; azure-cli
    recording test_dns_if_none_match.yaml). That is convergence: re-read, verify, exit 0, one resource."""
    world = make_world(isolated)
    group = f"/subscriptions/{world.spec.subscription}/resourceGroups/fhir-dr-rg/providers/Microsoft.Network"
    if remove:
        for child in world.store.children(f"{group}/{remove}"):
            world.store.delete(child.id)
        world.store.delete(f"{group}/{remove}")
    assert cli("sim", "fault", "add", "--method", "PUT", "--path", pattern, "--kind", "race").exit_code == 0

    result = cli("--sim", "configure-private-link", "--apply", "--yes")
    assert result.exit_code == 0, result.output
    assert "412" not in result.output
    assert world.store.faults() == []  # the rival write happened
    links = world.store.by_type("Microsoft.Network/privateDnsZones/virtualNetworkLinks")
    secondary = [lk for lk in links if lk.body["properties"]["virtualNetwork"]["id"].endswith("westcentralus")]
    assert len(secondary) == 1
    assert secondary[0].body["properties"]["virtualNetworkLinkState"] == "Completed"
    record = world.store.get(f"{group}/privateDnsZones/privatelink.azurehealthcareapis.com/A/fhirdemo")
    assert [r["ipv4Address"] for r in record.body["properties"]["aRecords"]] == ["10.10.1.4"]
    assert "everything is in place" in cli("--sim", "configure-private-link").stderr


def test_a_create_refused_for_another_reason_still_fails(isolated, cli):
    """Only 409/412 on a create-if-missing is a lost race; a failed operation is still an Azure error (exit 3)."""
    make_world(isolated)
    assert (
        cli(
            "sim",
            "fault",
            "add",
            "--method",
            "PUT",
            "--path",
            "*/virtualNetworkLinks/*",
            "--kind",
            "500",
            "--count",
            "9",
        ).exit_code
        == 0
    )
    result = cli("--sim", "configure-private-link", "--apply", "--yes")
    assert result.exit_code == 3, result.output


def test_an_update_refused_because_another_run_updated_first_converges(isolated, cli):
    """The A record points at a stale IP; both runs update it, the other first: this run's If-Match meets the new
    etag (412, spec examples RecordSetPut / the privatedns `etag` + IfNotModified), re-reads, finds it right."""
    world = make_world(isolated)
    group = f"/subscriptions/{world.spec.subscription}/resourceGroups/fhir-dr-rg/providers/Microsoft.Network"
    record = world.store.get(f"{group}/privateDnsZones/privatelink.azurehealthcareapis.com/A/fhirdemo")
    record.body["properties"]["aRecords"] = [{"ipv4Address": "10.10.1.99"}]
    world.store.put(record.id, record.type, record.id.rsplit("/A/", 1)[0], record.body)
    assert cli("sim", "fault", "add", "--method", "PUT", "--path", "*/A/*", "--kind", "race").exit_code == 0

    result = cli("--sim", "configure-private-link", "--apply", "--yes")
    assert result.exit_code == 0, result.output
    assert world.store.faults() == []
    record = world.store.get(record.id)
    assert [r["ipv4Address"] for r in record.body["properties"]["aRecords"]] == ["10.10.1.4"]
