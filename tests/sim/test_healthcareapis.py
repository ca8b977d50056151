"""Azure API for FHIR in the sim, through the real HealthcareApisManagementClient."""

from __future__ import annotations

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.healthcareapis.models import PrivateEndpointConnection, PrivateLinkServiceConnectionState

from tests.conftest import make_world


def test_service_has_its_shape_and_embedded_connections(world):
    service = world.session().healthcare().services.get("fhir-dr-rg", "fhirdemo")
    assert service.kind == "fhir-R4"
    assert service.location == "westus2"
    assert service.properties.cosmos_db_configuration.offer_throughput == 1000
    connections = service.properties.private_endpoint_connections
    assert len(connections) == 1
    assert connections[0].private_link_service_connection_state.status == "Approved"


def test_unknown_service_is_404(world):
    with pytest.raises(ResourceNotFoundError):
        world.session().healthcare().services.get("fhir-dr-rg", "other")


def test_approving_a_connection_updates_the_private_endpoint_too(isolated):
    world = make_world(isolated, endpoint_pending=True)
    healthcare = world.session().healthcare()
    connection = next(iter(healthcare.private_endpoint_connections.list_by_service("fhir-dr-rg", "fhirdemo")))
    assert connection.private_link_service_connection_state.status == "Pending"
    body = PrivateEndpointConnection(
        private_link_service_connection_state=PrivateLinkServiceConnectionState(status="Approved", description="ok")
    )
    approved = healthcare.private_endpoint_connections.begin_create_or_update(
        "fhir-dr-rg", "fhirdemo", connection.name, body
    ).result()
    assert approved.private_link_service_connection_state.status == "Approved"
    assert approved.provisioning_state == "Succeeded"
    endpoint = world.session().network().private_endpoints.get("fhir-dr-rg", "fhirdemo-pe")
    state = endpoint.manual_private_link_service_connections[0].private_link_service_connection_state
    assert state.status == "Approved"
