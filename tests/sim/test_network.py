"""Microsoft.Network in the sim, through the real NetworkManagementClient."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.network.models import AddressSpace, SubResource, VirtualNetwork, VirtualNetworkPeering

from tests.conftest import make_world

GROUP = "fhir-dr-rg"


def _vnet(location: str, prefix: str) -> VirtualNetwork:
    return VirtualNetwork(location=location, address_space=AddressSpace(address_prefixes=[prefix]))


def _peer(remote_id: str) -> VirtualNetworkPeering:
    return VirtualNetworkPeering(remote_virtual_network=SubResource(id=remote_id), allow_virtual_network_access=True)


def test_vnet_create_is_a_long_running_operation_that_ends_succeeded(world):
    network = world.session().network()
    created = network.virtual_networks.begin_create_or_update(GROUP, "v2", _vnet("westcentralus", "10.20.0.0/16"))
    vnet = created.result()
    assert vnet.provisioning_state == "Succeeded"
    assert vnet.address_space.address_prefixes == ["10.20.0.0/16"]
    assert vnet.etag.startswith('W/"')
    assert vnet.id.endswith(f"/resourceGroups/{GROUP}/providers/Microsoft.Network/virtualNetworks/v2")


def test_missing_vnet_is_a_404_with_the_arm_error_code(world):
    network = world.session().network()
    with pytest.raises(ResourceNotFoundError) as error:
        network.virtual_networks.get(GROUP, "nope")
    assert error.value.error.code == "ResourceNotFound"
    with pytest.raises(ResourceNotFoundError) as error:
        network.virtual_networks.get("no-such-group", "nope")
    assert error.value.error.code == "ResourceGroupNotFound"


def test_ids_match_case_insensitively(world):
    network = world.session().network()
    assert network.virtual_networks.get(GROUP.upper(), "FHIR-VNET-WESTUS2").name == "fhir-vnet-westus2"


def test_peering_is_initiated_until_the_reverse_exists_then_both_connected(world):
    network = world.session().network()
    primary = network.virtual_networks.get(GROUP, "fhir-vnet-westus2")
    secondary = network.virtual_networks.begin_create_or_update(
        GROUP, "v2", _vnet("westcentralus", "10.20.0.0/16")
    ).result()

    first = network.virtual_network_peerings.begin_create_or_update(
        GROUP, primary.name, "a", _peer(secondary.id)
    ).result()
    assert first.peering_state == "Initiated"

    second = network.virtual_network_peerings.begin_create_or_update(GROUP, "v2", "b", _peer(primary.id)).result()
    assert second.peering_state == "Connected"
    assert network.virtual_network_peerings.get(GROUP, primary.name, "a").peering_state == "Connected"
    embedded = network.virtual_networks.get(GROUP, primary.name).virtual_network_peerings
    assert [p.name for p in embedded] == ["a"]

    network.virtual_network_peerings.begin_delete(GROUP, "v2", "b").result()
    assert network.virtual_network_peerings.get(GROUP, primary.name, "a").peering_state == "Disconnected"


def test_overlapping_address_spaces_cannot_be_peered(world):
    network = world.session().network()
    network.virtual_networks.begin_create_or_update(GROUP, "clash", _vnet("westcentralus", "10.10.0.0/20")).result()
    clash_id = network.virtual_networks.get(GROUP, "clash").id
    with pytest.raises(HttpResponseError) as error:
        network.virtual_network_peerings.begin_create_or_update(GROUP, "fhir-vnet-westus2", "x", _peer(clash_id))
    assert error.value.status_code == 400
    assert error.value.error.code == "VnetAddressSpacesOverlap"
    assert "10.10.0.0/16" in error.value.error.message


def test_list_follows_next_link_across_pages(isolated):
    world = make_world(isolated, page_size=2)
    network = world.session().network()
    for index in range(3):
        network.virtual_networks.begin_create_or_update(
            GROUP, f"extra{index}", _vnet("westus2", f"10.{30 + index}.0.0/16")
        ).result()
    transport = world.session().transport
    session = world.session()
    names = [v.name for v in session.network().virtual_networks.list(GROUP)]
    assert names == ["fhir-vnet-westus2", "extra0", "extra1", "extra2"]
    assert transport is not None


def test_missing_api_version_is_refused(world):
    from azure.core.rest import HttpRequest

    network = world.session().network()
    response = network._client.send_request(
        HttpRequest(
            "GET", f"https://management.azure.com/subscriptions/{world.spec.subscription}/resourceGroups/{GROUP}"
        )
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "MissingApiVersionParameter"


def _raw(world, method: str, path: str, body: dict | None = None):
    from azure.core.rest import HttpRequest

    client = world.session().network()._client
    url = f"https://management.azure.com{path}"
    url += ("&" if "?" in url else "?") + "api-version=2024-05-01" if "api-version" not in url else ""
    return client.send_request(HttpRequest(method, url, json=body))


def _group_path(world) -> str:
    return f"/subscriptions/{world.spec.subscription}/resourceGroups/{GROUP}/providers/Microsoft.Network"


def test_a_delete_answers_202_with_async_operation_and_location_then_the_poller_polls(world):
    """Network deletes answer 202 with Azure-AsyncOperation (.../operations/{id}) and Location
    (.../operationResults/{id}); the result URL answers 202 while the operation runs, then 204
    (specs network examples VirtualNetworkDelete.json, VirtualNetworkPeeringDelete.json: 200/202/204)."""
    network = world.session().network()
    network.virtual_networks.begin_create_or_update(GROUP, "v2", _vnet("westcentralus", "10.20.0.0/16")).result()
    response = _raw(world, "DELETE", f"{_group_path(world)}/virtualNetworks/v2")
    assert response.status_code == 202
    assert "/operations/" in response.headers["Azure-AsyncOperation"]
    assert "/operationResults/" in response.headers["Location"]
    from azure.core.rest import HttpRequest

    client = network._client
    first = client.send_request(HttpRequest("GET", response.headers["Location"]))
    assert first.status_code == 202
    codes = [client.send_request(HttpRequest("GET", response.headers["Location"])).status_code for _ in range(2)]
    assert codes[-1] == 204

    network.virtual_networks.begin_create_or_update(GROUP, "v3", _vnet("westcentralus", "10.21.0.0/16")).result()
    poller = network.virtual_networks.begin_delete(GROUP, "v3")
    poller.result()
    assert poller.done() and poller.status() == "Succeeded"
    with pytest.raises(ResourceNotFoundError):
        network.virtual_networks.get(GROUP, "v3")


def test_peerings_read_only_through_lists_settle_like_a_get_and_page(isolated):
    """fhirdr reads peerings embedded in the VNet and through the peerings list: those answer the same bodies
    a GET answers, and a peering that is only ever listed still finishes its operation (azure-cli recording
    test_network_private_endpoint_private_dns_zone_group.yaml shows `virtualNetworkPeerings` embedded in the
    VNet GET; lists follow nextLink, spec example VirtualNetworkPeeringList.json)."""
    world = make_world(isolated, page_size=1)
    network = world.session().network()
    primary = network.virtual_networks.get(GROUP, "fhir-vnet-westus2")
    for index in range(2):
        remote = network.virtual_networks.begin_create_or_update(
            GROUP, f"r{index}", _vnet("westcentralus", f"10.{40 + index}.0.0/16")
        ).result()
        body = {"properties": {"remoteVirtualNetwork": {"id": remote.id}, "allowVirtualNetworkAccess": True}}
        created = _raw(world, "PUT", f"{primary.id}/virtualNetworkPeerings/to-r{index}", body)
        assert created.status_code == 201
        assert created.json()["properties"]["provisioningState"] == "Updating"

    states = [[p.provisioning_state for p in network.virtual_network_peerings.list(GROUP, primary.name)]]
    states.append(
        [p.provisioning_state for p in network.virtual_networks.get(GROUP, primary.name).virtual_network_peerings]
    )
    assert states[-1] == ["Succeeded", "Succeeded"]
    listed = [p.as_dict() for p in network.virtual_network_peerings.list(GROUP, primary.name)]
    embedded = [p.as_dict() for p in network.virtual_networks.get(GROUP, primary.name).virtual_network_peerings]
    got = [network.virtual_network_peerings.get(GROUP, primary.name, f"to-r{i}").as_dict() for i in range(2)]
    assert listed == embedded == got


def test_a_new_private_endpoint_is_updating_with_no_dns_configs_until_its_operation_ends(isolated):
    """PUT privateEndpoints answers 201 + Azure-AsyncOperation with provisioningState Updating and
    customDnsConfigs [] (recording test_network_private_endpoint_private_dns_zone_group.yaml); its NIC has the
    IP at once (NetworkInterfaceGet.json); when it ends, customDnsConfigs names the workspace's FHIR host and the
    workspace lists the connection (its private link covers every service in it)."""
    from azure.mgmt.network.models import PrivateEndpoint, PrivateLinkServiceConnection, Subnet

    world = make_world(isolated, kind="ahds")
    network = world.session().network()
    vnet = network.virtual_networks.get(GROUP, "fhir-vnet-westus2")
    workspace = world.session().healthcare().workspaces.get(GROUP, "contosohealth")
    body = {
        "location": "westus2",
        "properties": {
            "subnet": {"id": vnet.subnets[0].id},
            "privateLinkServiceConnections": [
                {"name": "c", "properties": {"privateLinkServiceId": workspace.id, "groupIds": ["healthcareworkspace"]}}
            ],
        },
    }
    created = _raw(world, "PUT", f"{_group_path(world)}/privateEndpoints/second-pe", body)
    assert created.status_code == 201
    assert "/operations/" in created.headers["Azure-AsyncOperation"]
    assert created.json()["properties"]["provisioningState"] == "Updating"
    assert created.json()["properties"]["customDnsConfigs"] == []
    nic_id = created.json()["properties"]["networkInterfaces"][0]["id"]
    nic = network.network_interfaces.get(GROUP, nic_id.rsplit("/", 1)[-1])
    assert nic.ip_configurations[0].private_ip_address == "10.10.1.5"  # .4 is the first endpoint's

    poller = network.private_endpoints.begin_create_or_update(
        GROUP,
        "third-pe",
        PrivateEndpoint(
            location="westus2",
            subnet=Subnet(id=vnet.subnets[0].id),
            private_link_service_connections=[
                PrivateLinkServiceConnection(
                    name="c", private_link_service_id=workspace.id, group_ids=["healthcareworkspace"]
                )
            ],
        ),
    )
    endpoint = poller.result()
    assert endpoint.provisioning_state == "Succeeded"
    assert [(c.fqdn, c.ip_addresses) for c in endpoint.custom_dns_configs] == [
        ("contosohealth-fhirdemo.fhir.azurehealthcareapis.com", ["10.10.1.6"])
    ]
    connections = world.session().healthcare().workspaces.get(GROUP, "contosohealth").properties
    names = sorted(c.private_endpoint.id.rsplit("/", 1)[-1] for c in connections.private_endpoint_connections)
    assert names == ["contosohealth-pe", "second-pe", "third-pe"]
