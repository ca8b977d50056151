"""configure-private-link for an AHDS target: Private Link on the workspace, plus the standby's endpoint.

Sources: learn.microsoft.com azure/healthcare-apis/healthcare-apis-configure-private-link (Private Link is
configured on the workspace and covers every FHIR and DICOM service in it; zones privatelink.azurehealthcareapis.com
and privatelink.dicom.azurehealthcareapis.com); azure-rest-api-specs healthcareapis stable/2024-03-31 examples
privatelink/PrivateLinkResourcesListByWorkspace.json (group healthcareworkspace, and its requiredZoneNames
privatelink.fhir.azurehealthcareapis.com, another naming: so the zones are read from the endpoint's DNS zone group)
and WorkspaceDeletePrivateEndpointConnection.json; network examples PrivateDnsZoneGroupGet.json (recordSets).
"""

from __future__ import annotations

from fhirdr.sim.providers.network import put_zone_group
from fhirdr.sim.providers.privatedns import put_link, put_record, put_zone
from tests.conftest import make_world

ZONES = ("privatelink.azurehealthcareapis.com", "privatelink.dicom.azurehealthcareapis.com")


def _network(world) -> str:
    return f"/subscriptions/{world.spec.subscription}/resourceGroups/fhir-dr-rg/providers/Microsoft.Network"


def _statuses(result) -> dict[str, str]:
    return {step["id"]: step["status"] for step in result.json()["steps"]}


def _secondary_links(world, zone: str) -> list:
    return [
        link
        for link in world.store.children(f"{_network(world)}/privateDnsZones/{zone}")
        if link.type == "microsoft.network/privatednszones/virtualnetworklinks"
        and link.body["properties"]["virtualNetwork"]["id"].endswith("fhir-vnet-westcentralus")
    ]


def test_check_finds_what_is_missing_for_the_workspace_and_the_standby(isolated, cli):
    make_world(isolated, kind="ahds")
    result = cli("--sim", "-o", "json", "configure-private-link")
    assert result.exit_code == 1, result.output
    statuses = _statuses(result)
    assert statuses["private-link.private-endpoint"] == "in-sync"
    assert statuses["private-link.a-record"] == "in-sync"  # the zone group keeps the primary's record
    for missing in ("secondary-vnet", "peer-primary-to-secondary", "peer-secondary-to-primary", "link-secondary-vnet"):
        assert statuses[f"private-link.{missing}"] == "changes", missing
    assert statuses["private-link.standby-endpoint"] == "blocked"
    readiness = cli("--sim", "-o", "json", "status").json()["readiness"]["private_link"]
    assert readiness["status"] == "findings", readiness
    assert "standby-endpoint" in readiness["summary"] and "link-secondary-vnet" in readiness["summary"]
    changes = {step["id"]: [c["summary"] for c in step["changes"]] for step in result.json()["steps"]}
    assert "`fhirdr enable --apply` creates it" in changes["private-link.standby-endpoint"][0]
    assert changes["private-link.link-secondary-vnet"] == [  # both zones of the workspace's zone group
        f"link zone {zone} to fhir-vnet-westcentralus (resolution-only)" for zone in ZONES
    ]


def test_apply_converges_with_the_standbys_endpoint_in_the_secondary_vnet_and_a_second_apply_changes_nothing(
    isolated, cli
):
    world = make_world(isolated, kind="ahds")
    assert cli("--sim", "enable", "--apply", "--yes").exit_code == 0
    result = cli("--sim", "configure-private-link", "--apply", "--yes")
    assert result.exit_code == 0, result.output

    endpoint = world.store.get(f"{_network(world)}/privateEndpoints/contosohealthdr-pe")
    assert endpoint.body["location"] == "westcentralus"
    assert "/virtualNetworks/fhir-vnet-westcentralus/subnets/" in endpoint.body["properties"]["subnet"]["id"]
    connection = endpoint.body["properties"]["privateLinkServiceConnections"][0]["properties"]
    assert connection["privateLinkServiceId"].endswith("/workspaces/contosohealthdr")
    assert connection["groupIds"] == ["healthcareworkspace"]
    nic = world.store.get(endpoint.body["properties"]["networkInterfaces"][0]["id"])
    standby_ip = nic.body["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"]
    assert standby_ip.startswith("10.20.")
    group = world.store.get(f"{endpoint.id}/privateDnsZoneGroups/default")
    zone_ids = [c["properties"]["privateDnsZoneId"] for c in group.body["properties"]["privateDnsZoneConfigs"]]
    assert sorted(z.rsplit("/", 1)[-1] for z in zone_ids) == sorted(ZONES)
    record = world.store.get(f"{_network(world)}/privateDnsZones/{ZONES[0]}/A/contosohealthdr-fhirdemo.fhir")
    assert [r["ipv4Address"] for r in record.body["properties"]["aRecords"]] == [standby_ip]
    for zone in ZONES:
        links = _secondary_links(world, zone)
        assert len(links) == 1
        assert links[0].body["properties"]["virtualNetworkLinkState"] == "Completed"
    peerings = world.store.by_type("Microsoft.Network/virtualNetworks/virtualNetworkPeerings")
    assert sorted(p.body["properties"]["peeringState"] for p in peerings) == ["Connected", "Connected"]
    workspace = cli("--sim", "-o", "json", "status").json()
    assert workspace["readiness"]["private_link"]["status"] == "ok", workspace["readiness"]

    check = cli("--sim", "configure-private-link")
    assert check.exit_code == 0, check.output
    assert "everything is in place" in check.stderr
    before = world.snapshot()
    again = cli("--sim", "-o", "json", "configure-private-link", "--apply", "--yes")
    assert again.exit_code == 0, again.output
    assert "applied" not in set(_statuses(again).values())
    assert world.snapshot() == before


def test_the_zones_are_the_ones_the_endpoints_zone_group_names(isolated, cli):
    """A workspace endpoint whose zone group uses privatelink.fhir.azurehealthcareapis.com (the name of the
    spec example's requiredZoneNames) gets that zone linked, not the one fhirdr would have assumed."""
    world = make_world(isolated, kind="ahds")
    network = _network(world)
    zone = "privatelink.fhir.azurehealthcareapis.com"
    zone_id = f"{network}/privateDnsZones/{zone}"
    put_zone(world.store, zone_id, zone, "etag-1", "Succeeded", {})
    put_link(
        world.store,
        f"{zone_id}/virtualNetworkLinks/fhir-vnet-westus2-link",
        zone_id,
        "fhir-vnet-westus2-link",
        "etag-2",
        f"{network}/virtualNetworks/fhir-vnet-westus2",
        False,
        "Succeeded",
        "Completed",
    )
    endpoint = world.store.get(f"{network}/privateEndpoints/contosohealth-pe")
    put_zone_group(world.store, endpoint, "default", [zone_id], 'W/"3"')
    assert cli("--sim", "enable", "--apply", "--yes").exit_code == 0

    result = cli("--sim", "configure-private-link", "--apply", "--yes")
    assert result.exit_code == 0, result.output
    assert len(_secondary_links(world, zone)) == 1
    assert _secondary_links(world, ZONES[0]) == []
    assert world.store.get(f"{zone_id}/A/contosohealthdr-fhirdemo") is not None


def test_an_unknown_workspace_is_bad_input_and_changes_nothing(isolated, cli):
    world = make_world(isolated, kind="ahds")
    text = world.target_file.read_text()
    world.target_file.write_text(text.replace('workspace = "contosohealth"', 'workspace = "nosuchws"'))
    before = world.snapshot()
    result = cli("--sim", "configure-private-link", "--apply", "--yes")
    assert result.exit_code == 2, result.output
    assert "workspace 'nosuchws' was not found" in result.stderr
    assert "Traceback" not in result.output
    assert world.snapshot() == before


def test_a_target_without_private_link_settings_is_bad_input(isolated, cli):
    world = make_world(isolated, kind="ahds")
    lines = world.target_file.read_text().split("\n[private_link]\n", 1)
    rest = lines[1].split("\n[", 1)
    world.target_file.write_text(lines[0] + ("\n[" + rest[1] if len(rest) > 1 else "\n"))
    result = cli("--sim", "configure-private-link")
    assert result.exit_code == 2, result.output
    assert "no [private_link] section" in result.stderr


def test_a_service_created_after_the_workspaces_endpoint_gets_its_a_record(isolated, cli):
    """The zone group writes records for the services the workspace had when its endpoint was made; the
    healthcare-apis Private Link article has a step to add the DNS record of a service created afterwards.
    Here the zone group and the zone lack the FHIR service's record: the check finds it, --apply adds it."""
    world = make_world(isolated, kind="ahds")
    network = _network(world)
    group = world.store.get(f"{network}/privateEndpoints/contosohealth-pe/privateDnsZoneGroups/default")
    older = "contosohealth-older.fhir"  # a service the workspace had when its endpoint was made
    for record in group.body["properties"]["privateDnsZoneConfigs"][0]["properties"]["recordSets"]:
        record.update(recordSetName=older, fqdn=f"{older}.{ZONES[0]}")
    world.store.put(group.id, group.type, group.id.rsplit("/privateDnsZoneGroups/", 1)[0], group.body)
    zone_id = f"{network}/privateDnsZones/{ZONES[0]}"
    world.store.delete(f"{zone_id}/A/contosohealth-fhirdemo.fhir")
    put_record(
        world.store,
        f"{zone_id}/A/{older}",
        zone_id,
        "A",
        older,
        ZONES[0],
        "e",
        {"ttl": 10, "aRecords": [{"ipv4Address": "10.10.1.4"}]},
    )

    check = cli("--sim", "-o", "json", "configure-private-link")
    steps = {step["id"]: step for step in check.json()["steps"]}
    assert steps["private-link.a-record"]["status"] == "changes"
    assert [c["summary"] for c in steps["private-link.a-record"]["changes"]] == [
        "add A record contosohealth-fhirdemo.fhir -> 10.10.1.4"
    ]
    assert cli("--sim", "enable", "--apply", "--yes").exit_code == 0
    assert cli("--sim", "configure-private-link", "--apply", "--yes").exit_code == 0
    record = world.store.get(f"{network}/privateDnsZones/{ZONES[0]}/A/contosohealth-fhirdemo.fhir")
    assert [r["ipv4Address"] for r in record.body["properties"]["aRecords"]] == ["10.10.1.4"]


def test_a_zone_group_that_fails_half_way_is_made_by_the_next_run(isolated, cli):
    """The standby's endpoint is made, then its zone group's operation fails: exit 3, and a plain rerun sees the
    endpoint without a zone group and gives it one (nothing is created twice)."""
    world = make_world(isolated, kind="ahds")
    assert cli("--sim", "enable", "--apply", "--yes").exit_code == 0
    fault = ("sim", "fault", "add", "--method", "PUT", "--path", "*/privateDnsZoneGroups/*", "--kind", "fail-async")
    assert cli(*fault).exit_code == 0
    failed = cli("--sim", "configure-private-link", "--apply", "--yes")
    assert failed.exit_code == 3, failed.output
    assert world.store.get(f"{_network(world)}/privateEndpoints/contosohealthdr-pe") is not None

    again = cli("--sim", "-o", "json", "configure-private-link", "--apply", "--yes")
    assert again.exit_code == 0, again.output
    standby = next(s for s in again.json()["steps"] if s["id"] == "private-link.standby-endpoint")
    assert [c["action"] for c in standby["changes"]] == ["zone-group"]
    endpoints = world.store.by_type("Microsoft.Network/privateEndpoints")
    assert sorted(e.body["name"] for e in endpoints) == ["contosohealth-pe", "contosohealthdr-pe"]


def test_auto_registration_asked_for_the_secondary_vnet_goes_to_one_zone_only(isolated, cli):
    """A VNet can auto-register in one private DNS zone only (AZURE-FACTS, Private Link): with
    secondary_link_registration the workspace's first zone gets it, the DICOM zone stays resolution-only."""
    world = make_world(isolated, kind="ahds")
    text = world.target_file.read_text()
    world.target_file.write_text(
        text.replace("secondary_link_registration = false", "secondary_link_registration = true")
    )
    assert cli("--sim", "enable", "--apply", "--yes").exit_code == 0
    result = cli("--sim", "configure-private-link", "--apply", "--yes")
    assert result.exit_code == 0, result.output
    modes = [_secondary_links(world, zone)[0].body["properties"]["registrationEnabled"] for zone in ZONES]
    assert modes == [True, False]
    assert cli("--sim", "configure-private-link").exit_code == 0
