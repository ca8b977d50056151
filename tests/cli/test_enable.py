"""enable on managed and backing targets in the sim, to the end; region and input errors."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import make_world

TICKETS = "Microsoft.Support/supportTickets"


def _tickets(world):
    return world.store.by_type(TICKETS)


def test_managed_enable_files_one_ticket_and_waits_for_support(world, cli):
    check = cli("--sim", "enable")
    assert check.exit_code == 1, check.output
    assert "file a support ticket" in check.stdout

    applied = cli("--sim", "enable", "--apply", "--yes")
    assert applied.exit_code == 0, applied.output
    assert "waiting for support to work ticket" in applied.stderr
    (ticket,) = _tickets(world)
    description = ticket.body["properties"]["description"]
    assert f"Subscription: {world.spec.subscription}" in description
    assert "Service name: fhirdemo" in description
    assert "Preferred secondary region: westcentralus" in description
    assert ticket.body["properties"]["technicalTicketDetails"]["resourceId"].endswith("/services/fhirdemo")
    assert ticket.body["properties"]["contactDetails"]["primaryEmailAddress"] == "dana.operator@example.com"

    again = cli("--sim", "enable", "--apply", "--yes")
    assert again.exit_code == 0, again.output
    assert len(_tickets(world)) == 1

    assert cli("sim", "advance", "2h").exit_code == 0
    done = cli("--sim", "enable")
    assert done.exit_code == 0, done.output
    assert "everything is in place" in done.stderr
    assert _tickets(world)[0].body["properties"]["status"] == "Closed"


def test_managed_enable_with_wait_polls_until_support_is_done(world, cli):
    before = world.store.now()
    result = cli("--sim", "-o", "json", "enable", "--apply", "--yes", "--wait")
    assert result.exit_code == 0, result.output
    steps = {s["id"]: s["status"] for s in result.json()["steps"]}
    assert steps["enable.ticket"] == "applied"
    assert steps["enable.support-done"] == "in-sync"
    assert world.store.now() - before >= 30 * 60  # the desk picks tickets up after half an hour
    assert _tickets(world)[0].body["properties"]["status"] == "Closed"


def test_wait_that_times_out_exits_1(world, cli):
    result = cli("--sim", "enable", "--apply", "--yes", "--wait", "--timeout", "10m")
    assert result.exit_code == 1, result.output
    assert "still waiting after 600 s" in result.stdout


def test_backing_enable_adds_region_failover_and_endpoint_then_is_a_no_op(isolated, cli):
    world = make_world(isolated, kind="self-hosted")
    result = cli("--sim", "enable", "--apply", "--yes", "--wait")
    assert result.exit_code == 0, result.output
    account = world.store.by_type("Microsoft.DocumentDB/databaseAccounts")[0].body["properties"]
    assert [
        (loc["locationName"], loc["failoverPriority"], loc["provisioningState"]) for loc in account["locations"]
    ] == [("West US 2", 0, "Succeeded"), ("West Central US", 1, "Succeeded")]
    assert account["enableAutomaticFailover"] is True
    endpoints = world.store.by_type("Microsoft.Network/trafficManagerProfiles/externalEndpoints")
    assert sorted((e.body["properties"]["priority"], e.body["properties"]["target"]) for e in endpoints) == [
        (1, "fhirdemo-westus2.azurewebsites.net"),
        (2, "fhirdemo-westcentralus.azurewebsites.net"),
    ]
    assert _tickets(world) == []

    before = world.snapshot()
    rerun = cli("--sim", "-o", "json", "enable", "--apply", "--yes")
    assert rerun.exit_code == 0, rerun.output
    assert {s["status"] for s in rerun.json()["steps"]} == {"in-sync"}
    assert world.snapshot() == before


def test_backing_enable_without_wait_stops_at_initial_replication(isolated, cli):
    make_world(isolated, kind="self-hosted", data_gb=50)
    result = cli("--sim", "enable", "--apply", "--yes")
    assert result.exit_code == 0, result.output
    assert "waiting for initial replication into westcentralus (Creating)" in result.stderr
    status = cli("--sim", "-o", "json", "status")
    assert status.exit_code == 1
    assert status.json()["dr"]["state"] == "enabling"
    assert status.json()["replication"]["state"] == "initial-sync"


def test_secondary_not_offered_is_refused_with_candidates(world, cli):
    result = cli("--sim", "enable", "--secondary", "westus")
    assert result.exit_code == 2, result.output
    assert "westus is not a region where Azure API for FHIR is offered" in result.stderr
    assert "westcentralus" in result.stderr and "northeurope" in result.stderr


def test_secondary_same_as_primary_is_refused(world, cli):
    result = cli("--sim", "enable", "--secondary", "West US 2")
    assert result.exit_code == 2, result.output
    assert "must differ from the primary region (westus2)" in result.stderr
    assert "regions offering Azure API for FHIR" in result.stderr


def test_misspelled_secondary_is_refused_with_suggestion_and_candidates(world, cli):
    result = cli("--sim", "enable", "--secondary", "westcentralsu")
    assert result.exit_code == 2, result.output
    assert "'westcentralsu' is not an Azure region" in result.stderr
    assert "did you mean westcentralus" in result.stderr
    assert "regions offering Azure API for FHIR" in result.stderr


def test_paired_region_comes_from_the_subscription(world, cli):
    text = world.target_file.read_text().replace('secondary_region = "westcentralus"\n', "")
    world.target_file.write_text(text)
    result = cli("--sim", "-o", "json", "enable")
    assert result.exit_code == 1, result.output
    assert "primary westus2, secondary westcentralus" in result.stdout


def test_unpaired_primary_without_secondary_lists_candidates(isolated, cli):
    world = make_world(isolated, primary_region="eastus2")
    text = world.target_file.read_text().replace('secondary_region = "westcentralus"\n', "")
    world.target_file.write_text(text)
    result = cli("--sim", "enable")
    assert result.exit_code == 2, result.output
    assert "the paired region of eastus2 (centralus) does not offer Azure API for FHIR" in result.stderr
    assert "eastus," in result.stderr


def test_self_hosted_throughput_is_the_databases_in_every_region(isolated, cli):
    """Provisioned throughput of a Cosmos DB database applies to each region of the account
    (learn.microsoft.com azure/cosmos-db/set-throughput), so a self-hosted server is in parity by construction;
    there is no Azure API for FHIR offerThroughput to compare with."""
    make_world(isolated, kind="self-hosted", cosmos_throughput=800)
    result = cli("--sim", "-o", "json", "enable")
    parity = next(step for step in result.json()["steps"] if step["id"] == "enable.throughput-parity")
    assert parity["status"] == "in-sync", parity
    assert parity["observed"] == "Cosmos DB database 800 RU/s, the same in every region of the account"


def test_self_hosted_enable_reads_no_service_resource_and_refuses_a_server_that_does_not_answer(isolated, cli):
    world = make_world(isolated, kind="self-hosted")
    text = world.target_file.read_text()
    world.target_file.write_text(text.replace("fhirdemo-tm.trafficmanager.net", "elsewhere.example.org"))
    result = cli("--sim", "-o", "json", "enable")
    assert result.exit_code == 1, result.output
    server = next(step for step in result.json()["steps"] if step["id"] == "enable.fhir-server")
    assert server["status"] == "blocked"
    assert "does not answer at https://elsewhere.example.org/metadata" in server["changes"][0]["summary"]


def test_missing_contact_is_refused_before_anything_is_sent(world, cli):
    text = world.target_file.read_text()
    world.target_file.write_text(text[: text.index("[contact]")])
    result = cli("--sim", "enable", "--apply", "--yes")
    assert result.exit_code == 2, result.output
    assert "needs contact details" in result.stderr
    assert _tickets(world) == []


def test_bad_contact_flag_is_refused(world, cli):
    result = cli("--sim", "enable", "--apply", "--yes", "--contact-email", "not-an-email")
    assert result.exit_code == 2, result.output
    assert "'email' = 'not-an-email' is not an email address" in result.stderr
    assert _tickets(world) == []


def test_ticket_draft_writes_the_text_and_files_nothing(world, cli):
    result = cli("--sim", "enable", "--apply", "--yes", "--ticket-draft", "ticket.md")
    assert result.exit_code == 0, result.output
    text = Path("ticket.md").read_text()
    assert "Preferred secondary region: westcentralus" in text
    assert world.spec.subscription in text
    assert "waiting for the ticket drafted in ticket.md to be filed" in result.stderr
    assert _tickets(world) == []
