"""Private DNS in the sim: 202 + async operation, link states, record sets, conditional writes."""

from __future__ import annotations

import pytest
from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceModifiedError
from azure.core.rest import HttpRequest
from azure.mgmt.privatedns.models import ARecord, PrivateZone, RecordSet, SubResource, VirtualNetworkLink

GROUP = "fhir-dr-rg"
ZONE = "privatelink.azurehealthcareapis.com"


def _link(vnet_id: str, registration: bool = False) -> VirtualNetworkLink:
    return VirtualNetworkLink(
        location="global", virtual_network=SubResource(id=vnet_id), registration_enabled=registration
    )


def _vnet_id(world, name: str = "fhir-vnet-westus2") -> str:
    return (
        f"/subscriptions/{world.spec.subscription}/resourceGroups/{GROUP}/providers/Microsoft.Network/"
        f"virtualNetworks/{name}"
    )


def test_link_put_answers_202_with_async_operation_and_location(world):
    from azure.mgmt.network.models import AddressSpace, VirtualNetwork

    session = world.session()
    session.network().virtual_networks.begin_create_or_update(
        GROUP,
        "v2",
        VirtualNetwork(location="westcentralus", address_space=AddressSpace(address_prefixes=["10.20.0.0/16"])),
    ).result()
    url = (
        f"https://management.azure.com{_vnet_id(world).rsplit('/providers/', 1)[0]}/providers/Microsoft.Network/"
        f"privateDnsZones/{ZONE}/virtualNetworkLinks/v2-link?api-version=2024-06-01"
    )
    body = {
        "location": "global",
        "properties": {"virtualNetwork": {"id": _vnet_id(world, "v2")}, "registrationEnabled": False},
    }
    client = session.private_dns()._client
    response = client.send_request(HttpRequest("PUT", url, json=body))
    assert response.status_code == 202
    assert "/privateDnsOperationStatuses/" in response.headers["Azure-AsyncOperation"]
    assert "/privateDnsOperationResults/" in response.headers["Location"]

    link = session.private_dns().virtual_network_links.get(GROUP, ZONE, "v2-link")
    assert link.virtual_network_link_state == "InProgress"
    status_url = response.headers["Azure-AsyncOperation"]
    states = [client.send_request(HttpRequest("GET", status_url)).json()["status"] for _ in range(3)]
    assert states[-1] == "Succeeded"
    link = session.private_dns().virtual_network_links.get(GROUP, ZONE, "v2-link")
    assert link.virtual_network_link_state == "Completed"
    assert link.provisioning_state == "Succeeded"


def test_a_vnet_is_linked_to_a_zone_only_once(world):
    links = world.session().private_dns().virtual_network_links
    with pytest.raises(HttpResponseError) as error:
        links.begin_create_or_update(GROUP, ZONE, "again", _link(_vnet_id(world)))
    assert error.value.status_code == 409


def test_zone_location_must_be_global(world):
    zones = world.session().private_dns().private_zones
    with pytest.raises(HttpResponseError) as error:
        zones.begin_create_or_update(GROUP, "other.zone", PrivateZone(location="westus2"))
    assert error.value.error.code == "InvalidLocation"
    created = zones.begin_create_or_update(GROUP, "other.zone", PrivateZone(location="global")).result()
    assert created.provisioning_state == "Succeeded"
    assert created.number_of_record_sets == 1  # the SOA record every zone starts with


def test_record_create_if_missing_refuses_an_existing_record(world):
    records = world.session().private_dns().record_sets
    existing = records.get(GROUP, ZONE, "A", "fhirdemo")
    assert [r.ipv4_address for r in existing.a_records] == ["10.10.1.4"]
    assert existing.fqdn == f"fhirdemo.{ZONE}."
    with pytest.raises(ResourceExistsError):
        records.create_or_update(
            GROUP,
            ZONE,
            "A",
            "fhirdemo",
            RecordSet(ttl=10, a_records=[ARecord(ipv4_address="1.1.1.1")]),
            match_condition=MatchConditions.IfMissing,
        )
    updated = records.create_or_update(
        GROUP,
        ZONE,
        "A",
        "fhirdemo",
        RecordSet(ttl=10, a_records=[ARecord(ipv4_address="10.10.1.5")]),
        etag=existing.etag,
        match_condition=MatchConditions.IfNotModified,
    )
    assert updated.etag != existing.etag
    assert [r.ipv4_address for r in updated.a_records] == ["10.10.1.5"]


def test_a_write_with_a_stale_etag_is_412(world):
    records = world.session().private_dns().record_sets
    stale = records.get(GROUP, ZONE, "A", "fhirdemo")
    body = RecordSet(ttl=10, a_records=[ARecord(ipv4_address="10.10.1.6")])
    records.create_or_update(GROUP, ZONE, "A", "fhirdemo", body)
    with pytest.raises(ResourceModifiedError) as error:
        records.create_or_update(
            GROUP, ZONE, "A", "fhirdemo", body, etag=stale.etag, match_condition=MatchConditions.IfNotModified
        )
    assert error.value.status_code == 412
    assert error.value.error.code == "PreconditionFailed"


def test_links_read_only_through_the_list_complete_and_page(isolated):
    """fhirdr finds a zone's links by listing them: the list answers the bodies a GET answers and follows
    nextLink (privatedns stable/2024-06-01 example VirtualNetworkLinkList.json), and a link only ever listed
    completes its operation (InProgress -> Completed), as it does in Azure while time passes."""
    from azure.mgmt.network.models import AddressSpace, VirtualNetwork

    from tests.conftest import make_world

    world = make_world(isolated, page_size=1)
    session = world.session()
    for index in range(2):
        session.network().virtual_networks.begin_create_or_update(
            GROUP,
            f"v{index}",
            VirtualNetwork(
                location="westcentralus", address_space=AddressSpace(address_prefixes=[f"10.{50 + index}.0.0/16"])
            ),
        ).result()
        client = session.private_dns()._client
        url = (
            f"https://management.azure.com{_vnet_id(world).rsplit('/providers/', 1)[0]}/providers/Microsoft.Network/"
            f"privateDnsZones/{ZONE}/virtualNetworkLinks/v{index}-link?api-version=2024-06-01"
        )
        body = {"location": "global", "properties": {"virtualNetwork": {"id": _vnet_id(world, f"v{index}")}}}
        assert client.send_request(HttpRequest("PUT", url, json=body)).status_code == 202

    links = session.private_dns().virtual_network_links
    assert links.get(GROUP, ZONE, "v0-link").virtual_network_link_state == "InProgress"
    states = [{lk.name: lk.virtual_network_link_state for lk in links.list(GROUP, ZONE)} for _ in range(2)]
    assert list(states[-1]) == ["fhir-vnet-westus2-link", "v0-link", "v1-link"]  # three pages of one
    assert set(states[-1].values()) == {"Completed"}
    listed = [lk.as_dict() for lk in links.list(GROUP, ZONE)]
    assert listed == [
        links.get(GROUP, ZONE, name).as_dict() for name in ("fhir-vnet-westus2-link", "v0-link", "v1-link")
    ]
