"""Fault rules, seen through the real SDK: throttling, 5xx, dropped connections, failed operations."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError, ServiceRequestError
from azure.mgmt.network.models import AddressSpace, VirtualNetwork

GROUP = "fhir-dr-rg"


def test_429_with_retry_after_is_retried_by_azure_core_and_costs_simulated_time_only(world):
    world.store.add_fault("GET", "*/virtualNetworks/*", "429", 3, 7)
    session = world.session()
    before = world.store.now()
    vnet = session.network().virtual_networks.get(GROUP, "fhir-vnet-westus2")
    assert vnet.name == "fhir-vnet-westus2"
    assert world.store.faults() == []
    assert world.store.now() - before >= 21  # three Retry-After: 7 waits, on the simulated clock


def test_persistent_500_surfaces_as_http_response_error(world):
    world.store.add_fault("*", "*/virtualNetworks/*", "500", 50, 0)
    with pytest.raises(HttpResponseError) as error:
        world.session().network().virtual_networks.get(GROUP, "fhir-vnet-westus2")
    assert error.value.status_code == 500
    remaining = world.store.faults()[0]["remaining"]
    assert remaining < 50  # the SDK retried before giving up


def test_a_dropped_connection_is_retried(world):
    world.store.add_fault("GET", "*/privateEndpoints/*", "drop", 1, 0)
    endpoint = world.session().network().private_endpoints.get(GROUP, "fhirdemo-pe")
    assert endpoint.name == "fhirdemo-pe"


def test_dropped_connections_beyond_retries_raise(world):
    world.store.add_fault("GET", "*/privateEndpoints/*", "drop", 50, 0)
    with pytest.raises(ServiceRequestError):
        world.session().network().private_endpoints.get(GROUP, "fhirdemo-pe")


def test_failed_async_operation_fails_the_poller_and_marks_the_resource_failed(world):
    world.store.add_fault("PUT", "*/virtualNetworks/v2", "fail-async", 1, 0)
    network = world.session().network()
    body = VirtualNetwork(location="westcentralus", address_space=AddressSpace(address_prefixes=["10.20.0.0/16"]))
    with pytest.raises(HttpResponseError):
        network.virtual_networks.begin_create_or_update(GROUP, "v2", body).result()
    assert network.virtual_networks.get(GROUP, "v2").provisioning_state == "Failed"
    assert network.virtual_networks.begin_create_or_update(GROUP, "v2", body).result().provisioning_state == "Succeeded"


def test_rules_match_method_and_path(world):
    world.store.add_fault("PUT", "*/virtualNetworks/*", "500", 5, 0)
    assert world.session().network().virtual_networks.get(GROUP, "fhir-vnet-westus2")
    assert world.store.faults()[0]["remaining"] == 5
