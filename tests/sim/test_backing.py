"""Subscriptions, Cosmos DB, Traffic Manager, Monitor and the support desk in the sim, via the real SDKs."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.cosmosdb.models import DatabaseAccountUpdateParameters, FailoverPolicies, FailoverPolicy, Location
from azure.mgmt.trafficmanager.models import Endpoint

from fhirdr.durations import parse_duration
from fhirdr.sim.timeline import advance
from tests.conftest import make_world

GROUP = "fhir-dr-rg"


@pytest.fixture
def backing(isolated):
    return make_world(isolated, kind="self-hosted", data_gb=4)


def test_locations_carry_paired_region_metadata(world):
    locations = {
        loc.name: loc for loc in world.session().subscriptions().subscriptions.list_locations(world.spec.subscription)
    }
    assert locations["westus2"].display_name == "West US 2"
    assert [p.name for p in locations["westus2"].metadata.paired_region] == ["westcentralus"]
    assert locations["polandcentral"].metadata.paired_region == []


def test_a_new_cosmos_region_replicates_for_a_time_that_grows_with_data(backing):
    cosmos = backing.session().cosmos()
    body = DatabaseAccountUpdateParameters(
        locations=[
            Location(location_name="West US 2", failover_priority=0),
            Location(location_name="westcentralus", failover_priority=1),
        ]
    )
    added_at = backing.store.now()
    account = cosmos.database_accounts.begin_update(GROUP, "fhirdemo-cosmos", body).result()
    assert [(loc.location_name, loc.provisioning_state) for loc in account.locations] == [
        ("West US 2", "Succeeded"),
        ("West Central US", "Creating"),
    ]
    ready_at = added_at + 10 * 60 + 4 * 5 * 60  # 10 minutes plus 5 per GB
    advance(backing.store, ready_at - 1 - backing.store.now())
    assert cosmos.database_accounts.get(GROUP, "fhirdemo-cosmos").locations[1].provisioning_state == "Creating"
    advance(backing.store, 2)
    assert cosmos.database_accounts.get(GROUP, "fhirdemo-cosmos").locations[1].provisioning_state == "Succeeded"
    metrics = backing.session().monitor().metrics.list(account.id, metricnames="ReplicationLatency")
    (series,) = metrics.value[0].timeseries
    assert series.data[0].average == 1500.0


def test_the_write_region_moves_only_through_failover_priority_change(backing):
    cosmos = backing.session().cosmos()
    cosmos.database_accounts.begin_update(
        GROUP,
        "fhirdemo-cosmos",
        DatabaseAccountUpdateParameters(
            locations=[
                Location(location_name="West US 2", failover_priority=0),
                Location(location_name="West Central US", failover_priority=1),
            ]
        ),
    ).result()
    swap = [
        Location(location_name="West US 2", failover_priority=1),
        Location(location_name="West Central US", failover_priority=0),
    ]
    with pytest.raises(HttpResponseError) as error:
        cosmos.database_accounts.begin_update(GROUP, "fhirdemo-cosmos", DatabaseAccountUpdateParameters(locations=swap))
    assert "failoverPriorityChange" in error.value.message
    policies = FailoverPolicies(
        failover_policies=[
            FailoverPolicy(location_name="West Central US", failover_priority=0),
            FailoverPolicy(location_name="West US 2", failover_priority=1),
        ]
    )
    with pytest.raises(HttpResponseError, match="not ready to take writes"):
        cosmos.database_accounts.begin_failover_priority_change(GROUP, "fhirdemo-cosmos", policies)
    advance(backing.store, 3600)
    cosmos.database_accounts.begin_failover_priority_change(GROUP, "fhirdemo-cosmos", policies).result()
    account = cosmos.database_accounts.get(GROUP, "fhirdemo-cosmos")
    assert account.write_locations[0].location_name == "West Central US"


def test_traffic_manager_refuses_a_priority_already_in_use(backing):
    endpoints = backing.session().traffic_manager().endpoints
    with pytest.raises(HttpResponseError) as error:
        endpoints.create_or_update(
            GROUP,
            "fhirdemo-tm",
            "ExternalEndpoints",
            "other",
            Endpoint(target="x.example", priority=1, endpoint_status="Enabled"),
        )
    assert "Priority 1 is already used" in error.value.message


def test_the_desk_works_a_dr_ticket_as_simulated_time_passes(world, cli):
    assert cli("--sim", "enable", "--apply", "--yes").exit_code == 0
    support = world.session().support()
    (ticket,) = list(support.support_tickets.list())
    assert ticket.status == "Open"
    advance(world.store, parse_duration("30m"))
    messages = [c.subject for c in support.communications.list(ticket.name)]
    assert messages == ["Disaster recovery is being enabled"]
    advance(world.store, parse_duration("15m") + parse_duration("10m"))  # 15 min + 5 min per GB x 2 GB
    assert support.support_tickets.get(ticket.name).status == "Closed"
    assert [c.subject for c in support.communications.list(ticket.name)][-1] == "Disaster recovery is enabled"


def test_ticket_creation_validates_contact_details(world):
    from azure.mgmt.support.models import ContactProfile, SupportTicketDetails

    support = world.session().support()
    service = next(iter(support.services.list()))
    problem = next(iter(support.problem_classifications.list(service.name)))
    details = SupportTicketDetails(
        title="t",
        description="d",
        problem_classification_id=problem.id,
        service_id=service.id,
        severity="minimal",
        advanced_diagnostic_consent="Yes",
        contact_details=ContactProfile(
            first_name="a",
            last_name="b",
            preferred_contact_method="email",
            primary_email_address="nope",
            preferred_time_zone="UTC",
            country="USA",
            preferred_support_language="en-US",
        ),
    )
    with pytest.raises(HttpResponseError) as error:
        support.support_tickets.begin_create("t1", details)
    assert "primaryEmailAddress is not a valid email address" in error.value.message


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("30m", 1800), ("1h30m", 5400), ("2d", 172800)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "10", "5x"])
def test_bad_durations_are_refused(text):
    from fhirdr.errors import BadInputError

    with pytest.raises(BadInputError):
        parse_duration(text)
