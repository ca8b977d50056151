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
