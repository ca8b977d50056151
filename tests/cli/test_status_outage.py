"""status during a regional outage: the incident first, regions, the endpoint probe, each replica, what to do."""

from __future__ import annotations

import ast
import socket
import threading
import time
from pathlib import Path

from fhirdr.target import dump_toml
from tests.conftest import make_world

ARTICLE = "MicrosoftDocs/azure-docs articles/healthcare-apis/azure-api-for-fhir/disaster-recovery.md"


def _status(cli):
    result = cli("--sim", "-o", "json", "status")
    return result, result.json()


def test_self_hosted_status_right_after_the_outage_says_the_region_is_down_and_the_lag_unknown(isolated, cli):
    """Before the automatic failover the write region is down: nothing replicates, the endpoint answers 503
    (article, "Automatic failover"). It said "replication healthy, lag 1.5 s" and exit 0."""
    make_world(isolated, kind="backing", dr_enabled=True)
    assert cli("sim", "outage", "westus2").exit_code == 0
    result, doc = _status(cli)
    assert result.exit_code == 1, result.output
    assert doc["incident"]["active"] is True
    assert doc["incident"]["down_regions"] == ["westus2"]
    assert doc["incident"]["failed_over"] is False
    assert doc["summary"].startswith("degraded: westus2 is down; the data has not failed over (write region westus2)")
    assert doc["endpoint"]["answers"] is False and doc["endpoint"]["status"] == 503
    assert isinstance(doc["endpoint"]["latency_ms"], float)
    assert doc["replication"]["state"] == "unknown" and doc["replication"]["lag_seconds"] is None
    (replica,) = doc["replicas"]
    assert replica == {
        "region": "westcentralus",
        "state": "unknown",
        "lag_seconds": None,
        "as_of": None,
        "detail": "the write region westus2 is down, nothing replicates",
    }
    assert doc["regions"]["write"] == "westus2"
    assert doc["resource_health"]["state"] == "Unavailable"
    assert any("failover" in step for step in doc["next_steps"])
    table = cli("--sim", "status")
    assert table.exit_code == 1
    assert "primary westus2 (down), secondary westcentralus" in table.stdout
    assert "does not answer (HTTP 503)" in table.stdout


def test_self_hosted_status_after_the_failover_names_where_when_and_by_whom(isolated, cli):
    """`sim outage westus2; sim advance 10m; status` said healthy, exit 0, "primary westus2, secondary westus2"
    and "DR on: westus2 replicating" while westus2 was down."""
    make_world(isolated, kind="backing", dr_enabled=True)
    assert cli("sim", "outage", "westus2").exit_code == 0
    assert cli("sim", "advance", "10m").exit_code == 0
    result, doc = _status(cli)
    assert result.exit_code == 1, result.output
    assert (doc["primary_region"], doc["secondary_region"]) == ("westus2", "westcentralus")
    assert doc["regions"]["write"] == doc["regions"]["compute"] == "westcentralus"
    assert doc["regions"]["health"]["westus2"]["state"] == "down"
    assert doc["incident"]["failed_over"] is True
    failover = doc["last_failover"]
    assert failover["to"] == "westcentralus" and failover["from"] == "westus2"
    assert failover["direction"] == "failover"
    assert failover["by"] == "Azure Cosmos DB service-managed failover" and failover["time"]
    assert doc["summary"].startswith(
        f"degraded: westus2 is down; the data failed over to westcentralus at {failover['time']} by Azure Cosmos DB"
    )
    assert doc["endpoint"]["answers"] is True
    (replica,) = doc["replicas"]
    assert (replica["region"], replica["state"], replica["lag_seconds"]) == ("westus2", "unknown", None)
    assert replica["detail"] == "westus2 is down, its lag cannot be measured"
    assert "replicating" not in doc["dr"]["detail"]
    table = cli("--sim", "status").stdout
    assert "primary westus2 (down), secondary westcentralus; now: writes in westcentralus, compute in" in table
    assert "wait for westus2 to recover" in table


def test_managed_status_during_the_outage_and_after_the_failover(isolated, cli):
    """Azure API for FHIR fails over inside Microsoft's subscription; the customer sees the endpoint and the
    Resource Health events of the service in its activity log (MicrosoftDocs/azure-docs articles/azure-monitor/
    essentials/activity-log-schema.md, "Resource health category"). It said healthy with last_failover null."""
    make_world(isolated, dr_enabled=True)
    assert cli("--sim", "configure-private-link", "--apply", "--yes").exit_code == 0
    assert cli("sim", "outage", "westus2").exit_code == 0
    result, doc = _status(cli)
    assert result.exit_code == 1, result.output
    assert doc["incident"]["down_regions"] == ["westus2"]
    assert doc["endpoint"]["answers"] is False and doc["endpoint"]["status"] == 503
    assert doc["last_failover"] is None
    assert doc["compute_region"] is None and doc["data_region"] == "westus2"
    assert doc["summary"].startswith("degraded: westus2 is down; the data has not failed over")

    assert cli("sim", "advance", "10m").exit_code == 0
    result, doc = _status(cli)
    assert result.exit_code == 1, result.output
    failover = doc["last_failover"]
    assert failover["to"] == "westcentralus" and failover["direction"] == "failover"
    assert failover["by"] == "Microsoft (platform-initiated)" and failover["time"]
    assert doc["data_region"] == doc["compute_region"] == "westcentralus"
    assert doc["endpoint"]["answers"] is True
    assert doc["incident"]["failed_over"] is True and doc["incident"]["down_regions"] == ["westus2"]
    assert doc["replication"]["state"] == "unknown"
    assert "last failover" in cli("--sim", "status").stdout

    # Back home: compute follows by itself, the data waits for support (article, "Manual failback").
    assert cli("sim", "recover", "westus2").exit_code == 0
    result, doc = _status(cli)
    assert result.exit_code == 1
    assert (doc["compute_region"], doc["data_region"]) == ("westus2", "westcentralus")
    assert doc["incident"]["down_regions"] == [] and doc["split"]["active"] is True
    assert any("fhirdr failback" in step for step in doc["next_steps"])
    assert cli("--sim", "failback", "--apply", "--yes").exit_code == 0
    assert cli("sim", "advance", "2h").exit_code == 0
    result, doc = _status(cli)
    assert result.exit_code == 0, doc["warnings"]
    assert (doc["last_failover"]["direction"], doc["last_failover"]["to"]) == ("failback", "westus2")
    assert doc["data_region"] == "westus2" and doc["incident"]["active"] is False


def test_ahds_status_during_an_outage_says_nothing_fails_over(isolated, cli):
    """The AHDS FHIR service has no cross-region DR (azure-docs articles/healthcare-apis/
    business-continuity-disaster-recovery.md): during an outage its endpoint fails and nothing fails over."""
    make_world(isolated, kind="ahds")
    assert cli("sim", "outage", "westus2").exit_code == 0
    result, doc = _status(cli)
    assert result.exit_code == 1
    assert doc["incident"]["down_regions"] == ["westus2"]
    assert doc["summary"].startswith("degraded: westus2 is down; nothing fails over by itself")
    assert doc["endpoint"]["status"] == 503 and doc["compute_region"] is None
    assert doc["resource_health"]["state"] == "Unavailable"
    assert doc["next_steps"][0].startswith("wait for the region to recover")
    assert list(doc)[-2:] == ["standby", "parity"]


def test_ahds_status_with_a_standby_during_an_outage_names_fhirdrs_failover(isolated, cli):
    """With a standby (fhirdr enable), the way out of a regional outage is fhirdr's own failover."""
    make_world(isolated, kind="ahds")
    assert cli("--sim", "enable", "--apply", "--yes").exit_code == 0
    assert cli("sim", "outage", "westus2").exit_code == 0
    _, doc = _status(cli)
    assert doc["summary"].startswith("degraded: westus2 is down; nothing fails over by itself")
    assert "fhirdr failover --apply --unplanned" in doc["next_steps"][0]


def test_split_compute_and_data_after_recovery_exits_1_and_says_failback(isolated, cli):
    """After recovery compute fails back by itself, data does not (article, "Affected region recovery")."""
    make_world(isolated, kind="self-hosted", dr_enabled=True)
    assert cli("sim", "outage", "westus2").exit_code == 0
    assert cli("sim", "advance", "10m").exit_code == 0
    assert cli("sim", "recover", "westus2").exit_code == 0
    assert cli("sim", "advance", "1h").exit_code == 0
    result, doc = _status(cli)
    assert result.exit_code == 1, result.output
    assert (doc["regions"]["compute"], doc["regions"]["write"]) == ("westus2", "westcentralus")
    assert doc["split"]["active"] is True
    assert doc["incident"]["down_regions"] == []
    assert doc["incident"]["failed_over"] is True
    assert any("fhirdr failback" in step for step in doc["next_steps"])


def test_replication_lag_is_the_last_metric_point_with_a_value(isolated, cli):
    """Azure Monitor answers one point per grain and the newest is often still empty (AZURE-FACTS "Where real
    Azure differs"; MetricValue requires only timeStamp in azure-rest-api-specs specification/monitor/
    resource-manager/Microsoft.Insights/stable/2023-10-01/metrics_API.json). The newest point was read, so the
    lag was None and status said "unknown"."""
    world = make_world(isolated, kind="self-hosted", dr_enabled=True)
    account = world.store.by_type("Microsoft.DocumentDB/databaseAccounts")[0]
    metrics = (
        world.session()
        .monitor()
        .metrics.list(account.id, metricnames="ReplicationLatency", filter="TargetRegion eq '*'")
    )
    (series,) = metrics.value[0].timeseries
    assert series.data[-1].maximum is None and series.data[-2].maximum == 1500.0
    result, doc = _status(cli)
    assert result.exit_code == 0, doc["warnings"]
    assert doc["replication"]["lag_seconds"] == 1.5
    (replica,) = doc["replicas"]
    assert replica["as_of"] == series.data[-2].time_stamp.isoformat()


def test_a_lag_no_metric_point_has_is_unknown_and_said_so(isolated, cli):
    """When no point of the window has a value yet, status says so and exits 1; the failback gate refuses."""
    make_world(isolated, kind="self-hosted", dr_enabled=True, metric_values="none")
    result, doc = _status(cli)
    assert result.exit_code == 1
    (replica,) = doc["replicas"]
    assert replica["state"] == "unknown" and replica["lag_seconds"] is None
    assert replica["detail"] == "none of the 4 ReplicationLatency points of the last 15 min has a value"
    assert doc["replication"]["state"] == "unknown"
    assert "replica westcentralus: none of the 4 ReplicationLatency points" in " ".join(doc["warnings"])


def test_failover_history_ignores_started_and_failed_events_and_tells_a_failback(isolated, cli):
    """An administrative action logs Started, then Succeeded or Failed, and its properties do not name the write
    region (activity-log-schema.md, "Administrative category"). The first matching event was taken, with
    `to` from a `writeRegion` property Azure does not send."""
    world = make_world(isolated, kind="self-hosted", dr_enabled=True)
    assert cli("sim", "outage", "westus2").exit_code == 0
    assert cli("sim", "advance", "10m").exit_code == 0
    assert cli("sim", "recover", "westus2").exit_code == 0
    assert cli("sim", "advance", "1h").exit_code == 0
    assert cli("--sim", "failback", "--apply", "--yes").exit_code == 0
    _, doc = _status(cli)
    failback = doc["last_failover"]
    assert (failback["direction"], failback["to"], failback["from"]) == ("failback", "westus2", "westcentralus")

    # A failover attempt that Azure refuses: Started then Failed in the activity log, newer than the failback.
    assert (
        cli("sim", "fault", "add", "--path", "*/failoverPriorityChange", "--kind", "500", "--count", "20").exit_code
        == 0
    )
    from azure.core.exceptions import HttpResponseError
    from azure.mgmt.cosmosdb.models import FailoverPolicies, FailoverPolicy

    cosmos = world.session().cosmos()
    policies = FailoverPolicies(
        failover_policies=[
            FailoverPolicy(location_name="West Central US", failover_priority=0),
            FailoverPolicy(location_name="West US 2", failover_priority=1),
        ]
    )
    try:
        cosmos.database_accounts.begin_failover_priority_change("fhir-dr-rg", "fhirdemo-cosmos", policies).result()
    except HttpResponseError:
        pass
    else:
        raise AssertionError("the fault rule should have refused the change")
    account = world.store.by_type("Microsoft.DocumentDB/databaseAccounts")[0]
    events = list(world.session().monitor().activity_logs.list(filter=f"resourceUri eq '{account.id}'"))
    assert [e.status.value for e in events[:2]] == ["Failed", "Started"]
    _, doc = _status(cli)
    assert doc["last_failover"] == failback


def test_a_traffic_manager_endpoint_without_endpoint_location_is_placed_by_its_target(isolated, cli):
    """endpointLocation is required only for Performance routing (azure-rest-api-specs specification/
    trafficmanager/resource-manager/Microsoft.Network/stable/2022-04-01/trafficmanager.json,
    EndpointProperties.endpointLocation): with Priority routing it may be absent."""
    make_world(isolated, kind="self-hosted", dr_enabled=True, endpoint_location=False)
    result, doc = _status(cli)
    assert result.exit_code == 0, doc["warnings"]
    assert doc["compute_region"] == "westus2"
    assert doc["regions"]["health"]["westus2"]["evidence"][1] == "Traffic Manager endpoint fhirdemo-westus2 Online"


def test_an_endpoint_that_cannot_be_placed_is_unknown_and_never_passes_the_region_gate(isolated, cli):
    """Without endpointLocation and without the compute hosts in the target, the serving region is unknown: status
    exits 1 and failback's region-healthy gate refuses (it passed: no endpoint matched, so none was checked)."""
    world = make_world(isolated, kind="self-hosted", dr_enabled=True, endpoint_location=False)
    assert cli("sim", "outage", "westus2").exit_code == 0
    assert cli("sim", "advance", "10m").exit_code == 0
    assert cli("sim", "recover", "westus2").exit_code == 0
    assert cli("sim", "advance", "1h").exit_code == 0
    import tomllib

    target = tomllib.loads(world.target_file.read_text())
    del target["self_hosted"]["compute"]
    world.target_file.write_text(dump_toml(target))
    result, doc = _status(cli)
    assert result.exit_code == 1
    assert doc["compute_region"] == "unknown"
    assert any("the compute region is unknown" in w for w in doc["warnings"])
    refused = cli("--sim", "failback", "--apply", "--yes")
    assert refused.exit_code == 4, refused.output
    assert "region-healthy" in refused.output and "compute endpoint not found" in refused.output


def test_resource_health_that_cannot_be_read_is_said_not_an_error(isolated, cli):
    """Reading availabilityStatuses needs Microsoft.ResourceHealth/availabilityStatuses/read; without it ARM
    answers 403 (azure-rest-api-specs specification/resourcehealth/resource-manager/Microsoft.ResourceHealth/
    stable/2022-10-01/examples/AvailabilityStatus_GetByResource.json is the readable answer)."""
    make_world(isolated, kind="self-hosted", dr_enabled=True, resource_health=False)
    result, doc = _status(cli)
    assert result.exit_code == 0, result.output
    assert doc["resource_health"] == {
        "readable": False,
        "state": None,
        "summary": "not readable (HTTP 403)",
        "since": None,
    }
    assert "not readable (HTTP 403)" in cli("--sim", "status").stdout


def test_a_probe_that_gets_no_answer_times_out_and_counts_as_a_failure():
    """azure-core's default read timeout is 300 s; a probe gives up within its own timeouts and says so."""
    from fhirdr.azure.clouds import get_cloud
    from fhirdr.fhir.client import FhirClient

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: accepted.append(listener.accept()[0]), daemon=True).start()

    class Token:
        def get_token(self, *scopes, **kwargs):
            from azure.core.credentials import AccessToken

            return AccessToken("token", int(time.time()) + 3600)

    class Session:
        cloud = get_cloud("AzureCloud")
        credential = Token()
        transport = None

    port = listener.getsockname()[1]
    client = FhirClient(Session(), "x", retry=False, base_url=f"https://127.0.0.1:{port}", timeouts=(0.5, 0.5))
    started = time.perf_counter()
    answer = client.metadata()
    assert time.perf_counter() - started < 5
    assert answer.status == 0 and answer.timed_out is True
    assert answer.body["error"].startswith("timed out after")
    listener.close()


def test_no_lower_layer_imports_status():
    """Status readers that steps use live in fhirdr/steps/health.py; steps, the sim and the FHIR client never
    import fhirdr.status (DESIGN.md, "Layers")."""
    root = Path(__file__).resolve().parents[2] / "fhirdr"
    offenders = []
    for package in ("steps", "sim", "fhir", "runbook", "azure", "kinds"):
        for path in (root / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module in ("fhirdr.status", "fhirdr.standby_status"):
                    offenders.append(str(path.relative_to(root)))
    assert offenders == []
