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
