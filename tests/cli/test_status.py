"""status before, during and after enablement, as a table and as a stable JSON document."""

from __future__ import annotations

from fhirdr.status import OUTAGE_KEYS, STATUS_KEYS
from tests.conftest import make_world


def test_status_json_keys_are_pinned(world, cli):
    """The keys pipelines read keep their names and order; what an outage needs follows them."""
    document = cli("--sim", "-o", "json", "status").json()
    assert tuple(document)[: len(STATUS_KEYS)] == (
        "service",
        "kind",
        "subscription",
        "resource_group",
        "primary_region",
        "secondary_region",
        "dr",
        "replication",
        "compute_region",
        "data_region",
        "split",
        "last_failover",
        "throughput",
        "tickets",
        "readiness",
        "healthy",
        "warnings",
        "summary",
    )
    assert tuple(document) == STATUS_KEYS + OUTAGE_KEYS
    assert OUTAGE_KEYS == ("incident", "regions", "endpoint", "replicas", "resource_health", "next_steps")
    assert set(document["regions"]) == {"primary", "secondary", "write", "compute", "health"}
    assert set(document["incident"]) == {"active", "down_regions", "failed_over", "summary"}
    assert set(document["endpoint"]) == {"url", "answers", "status", "latency_ms", "timed_out", "error"}
    assert set(document["dr"]) == {"enabled", "state", "detail"}
    assert set(document["replication"]) == {"state", "lag_seconds", "rpo_seconds", "within_rpo"}
    assert set(document["readiness"]) == {"private_link", "cmk", "export", "iomt"}


def test_managed_status_before_during_and_after_enablement(world, cli):
    before = cli("--sim", "-o", "json", "status")
    assert before.exit_code == 1
    assert before.json()["dr"]["state"] == "off"

    assert cli("--sim", "configure-private-link", "--apply", "--yes").exit_code == 0
    assert cli("--sim", "enable", "--apply", "--yes").exit_code == 0
    during = cli("--sim", "-o", "json", "status")
    assert during.exit_code == 1
    assert during.json()["dr"]["state"] == "requested"
    assert [t["status"] for t in during.json()["tickets"]] == ["Open"]

    assert cli("sim", "advance", "3h").exit_code == 0
    after = cli("--sim", "-o", "json", "status")
    assert after.exit_code == 0, after.output
    document = after.json()
    assert document["healthy"] is True
    assert document["dr"]["state"] == "on"
    assert document["secondary_region"] == "westcentralus"
    assert document["readiness"]["private_link"]["status"] == "ok"
    assert document["tickets"] == []

    table = cli("--sim", "status")
    assert table.exit_code == 0
    assert "healthy" in table.stdout and "westcentralus" in table.stdout


def test_self_hosted_status_measures_replication_lag_against_the_rpo(isolated, cli):
    world = make_world(isolated, kind="self-hosted")
    assert cli("--sim", "enable", "--apply", "--yes", "--wait").exit_code == 0
    document = cli("--sim", "-o", "json", "status").json()
    assert document["healthy"] is True, document["warnings"]
    assert document["replication"] == {"state": "healthy", "lag_seconds": 1.5, "rpo_seconds": 900, "within_rpo": True}
    assert document["compute_region"] == document["data_region"] == "westus2"

    account = world.store.by_type("Microsoft.DocumentDB/databaseAccounts")[0]
    world.store.set_json(f"cosmos:{account.id.lower()}", {"lag_ms": 1_200_000, "data_gb": 2})
    lagging = cli("--sim", "-o", "json", "status")
    assert lagging.exit_code == 1
    assert lagging.json()["replication"]["state"] == "lagging"
    assert "replication lag 1200 s is above the RPO of 900 s" in lagging.json()["warnings"]


def test_status_warns_when_compute_and_data_are_in_different_regions(isolated, cli):
    world = make_world(isolated, kind="self-hosted")
    assert cli("--sim", "enable", "--apply", "--yes", "--wait").exit_code == 0
    primary = next(
        e
        for e in world.store.by_type("Microsoft.Network/trafficManagerProfiles/externalEndpoints")
        if e.body["properties"]["priority"] == 1
    )
    primary.body["properties"]["endpointMonitorStatus"] = "Degraded"
    world.store.put(primary.id, primary.type, primary.id.rsplit("/", 2)[0], primary.body)
    document = cli("--sim", "-o", "json", "status").json()
    assert document["compute_region"] == "westcentralus"
    assert document["data_region"] == "westus2"
    assert document["split"] == {"active": True, "added_latency_ms": 22}
    assert any("every request crosses regions (about 22 ms more)" in w for w in document["warnings"])


def test_self_hosted_status_reads_no_service_resource(isolated, cli):
    """A self-hosted world has no Microsoft.HealthcareApis resource at all; status reads Cosmos DB and
    Traffic Manager, and the Azure API for FHIR configuration areas are not applicable."""
    world = make_world(isolated, kind="self-hosted", cosmos_throughput=800)
    assert world.store.by_type("Microsoft.HealthcareApis/services") == []
    document = cli("--sim", "-o", "json", "status").json()
    assert document["kind"] == "self-hosted"
    assert document["throughput"] == {"primary_ru": 800, "secondary_ru": 800, "parity": True}
    assert {area: item["status"] for area, item in document["readiness"].items()} == dict.fromkeys(
        ("private_link", "cmk", "export", "iomt"), "not-applicable"
    )
    assert document["tickets"] == []
