"""The DR lifecycle in the sim, and failback: gates, lease, crash and resume, force, no-op reruns."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from fhirdr.fhir.client import FhirClient
from fhirdr.runbook.journal import read_journal
from fhirdr.sim import lifecycle
from fhirdr.sim.timeline import advance
from tests.conftest import make_world

LEASE = "fhirdr-failback-lease"


def write(world, client, label: str, count: int, every: float) -> list[tuple[str, float]]:
    """Write `count` Basic resources `every` simulated seconds apart; returns (id, time) of each."""
    written = []
    for index in range(count):
        response = client.create(
            {
                "resourceType": "Basic",
                "code": {"text": f"{label}-{index}"},
                "meta": {"tag": [{"system": "https://fhirdr.dev/test", "code": label}]},
            }
        )
        assert response.status == 201, response.body
        written.append((response.body["id"], world.store.now()))
        advance(world.store, every)
    return written


def lease_holder(world):
    """A self-hosted server has no service resource: its failback lease is a tag on its Cosmos DB account."""
    return world.store.by_type("Microsoft.DocumentDB/databaseAccounts")[0]


def present(client, ids) -> set[str]:
    return {rid for rid in ids if client.read("Basic", rid).status == 200}


@pytest.fixture
def failed_over(isolated, cli):
    """A self-hosted target with DR on, data written, the primary down and automatic failover done."""
    world = make_world(isolated, kind="self-hosted", replication_lag_ms=30_000)
    assert cli("--sim", "enable", "--apply", "--yes", "--wait").exit_code == 0
    client = FhirClient(world.session(), "fhirdemo", base_url=world.spec.fhir_url)
    before = write(world, client, "before", 20, 10)
    outage_at = world.store.now()
    lifecycle.outage(world.store, "westus2")
    return world, client, before, outage_at


def test_outage_failover_loses_exactly_the_unreplicated_writes(failed_over, cli):
    world, client, before, outage_at = failed_over
    assert client.metadata().status == 503  # nothing answers until failover
    advance(world.store, 10 * 60)
    metadata = client.metadata()
    assert metadata.status == 200
    assert metadata.headers["x-ms-region"] == "westcentralus"
    expected_lost = {rid for rid, at in before if at > outage_at - 30}
    assert expected_lost  # the last 30 s of writes had not reached the secondary
    survivors = present(client, [rid for rid, _ in before])
    assert survivors == {rid for rid, _ in before} - expected_lost
    assert {lost["id"] for lost in world.store.fhir_lost(lifecycle.services(world.store)[0])} == expected_lost


def test_recovery_leaves_compute_and_data_apart_until_failback(failed_over, cli):
    world, client, before, _ = failed_over
    advance(world.store, 10 * 60)
    during = write(world, client, "during", 12, 100)  # 20 minutes of writes while failed over
    lifecycle.recover(world.store, "westus2")

    status = cli("--sim", "-o", "json", "status").json()
    assert (status["compute_region"], status["data_region"]) == ("westus2", "westcentralus")
    assert status["split"] == {"active": True, "added_latency_ms": 22}
    assert status["last_failover"]["to"] == "westcentralus"
    assert status["last_failover"]["by"] == "Azure Cosmos DB service-managed failover"
    assert client.metadata().headers["x-ms-region"] == "westus2"

    refused = cli("--sim", "failback", "--apply", "--yes")
    assert refused.exit_code == 4, refused.output
    assert "replication-caught-up: replication into westus2 is" in refused.stderr
    assert "limit 60 s" in refused.stderr

    assert cli("sim", "advance", "1h").exit_code == 0
    done = cli("--sim", "failback", "--apply", "--yes")
    assert done.exit_code == 0, done.output
    status = cli("--sim", "-o", "json", "status").json()
    assert (status["compute_region"], status["data_region"]) == ("westus2", "westus2")
    assert status["split"]["active"] is False
    assert status["last_failover"]["to"] == "westus2"
    assert status["healthy"] is True, status["warnings"]
    assert present(client, [rid for rid, _ in during]) == {rid for rid, _ in during}
    assert client.metadata().headers["x-ms-data-region"] == "westus2"

    snapshot = world.snapshot()
    again = cli("--sim", "-o", "json", "failback", "--apply", "--yes")
    assert again.exit_code == 0, again.output
    assert {s["status"] for s in again.json()["steps"]} == {"in-sync"}
    assert world.snapshot() == snapshot


def test_failback_refuses_while_the_region_is_down(failed_over, cli):
    world, _, _, _ = failed_over
    advance(world.store, 10 * 60)
    before = world.snapshot()
    result = cli("--sim", "failback", "--apply", "--yes")
    assert result.exit_code == 4, result.output
    assert "region-healthy: westus2 is not healthy" in result.stderr
    assert "compute endpoint Degraded" in result.stderr
    assert world.snapshot() == before


def test_failback_refuses_when_another_failback_holds_the_lease(failed_over, cli):
    world, _, _, _ = failed_over
    advance(world.store, 10 * 60)
    lifecycle.recover(world.store, "westus2")
    advance(world.store, 3600)
    account = lease_holder(world)
    account.body["tags"] = {LEASE: "run=20261127T080000Z-aaaaaa;by=alex;at=2026-11-27T08:00:00+00:00"}
    world.store.put(account.id, account.type, account.id.split("/providers/")[0], account.body)
    result = cli("--sim", "failback", "--apply", "--yes")
    assert result.exit_code == 4, result.output
    assert "lease held by alex (run 20261127T080000Z-aaaaaa) since 2026-11-27T08:00:00+00:00" in result.stderr


def test_force_overrides_a_gate_and_the_journal_records_who_and_why(failed_over, cli):
    world, client, _, _ = failed_over
    advance(world.store, 10 * 60)
    write(world, client, "during", 12, 100)
    lifecycle.recover(world.store, "westus2")
    result = cli(
        "--sim", "-o", "json", "failback", "--apply", "--yes", "--force", "--reason", "bridge call approved lag"
    )
    assert result.exit_code == 0, result.output
    run_id = result.json()["run_id"]
    events = read_journal(run_id)
    context = next(e for e in events if e["event"] == "run.context")
    assert context["force"] is True and context["reason"] == "bridge call approved lag" and context["user"]
    overrides = [e["change"] for e in events if e["event"] == "change.applied" and e["change"]["action"] == "override"]
    assert [o["resource"] for o in overrides] == ["replication-caught-up"]
    assert "bridge call approved lag" in overrides[0]["summary"]


def test_a_crash_in_the_middle_resumes_without_repeating_completed_changes(failed_over, cli):
    world, _, _, _ = failed_over
    advance(world.store, 10 * 60)
    lifecycle.recover(world.store, "westus2")
    advance(world.store, 3600)
    world.store.add_fault("POST", "*/failoverPriorityChange", "500", 50, 0)
    crashed = cli("--sim", "failback", "--apply", "--yes")
    assert crashed.exit_code == 3, crashed.output
    run_id = crashed.stderr.split("--resume ")[1].split()[0]
    assert f"run={run_id}" in lease_holder(world).body["tags"][LEASE]  # the run still holds its lease

    world.store.clear_faults()
    other = cli("--sim", "failback", "--apply", "--yes")
    assert other.exit_code == 4, other.output  # a new run must not barge in

    resumed = cli("--sim", "failback", "--yes", "--resume", run_id)
    assert resumed.exit_code == 0, resumed.output
    events = read_journal(run_id)
    applied = [(e["attempt"], e["step"]) for e in events if e["event"] == "change.applied"]
    assert (1, "failback.lease") in applied and (2, "failback.lease") not in applied
    assert (2, "failback.write-region") in applied
    assert LEASE not in lease_holder(world).body["tags"]


def test_two_failbacks_at_once_only_one_proceeds(failed_over, cli, isolated):
    world, _, _, _ = failed_over
    advance(world.store, 10 * 60)
    lifecycle.recover(world.store, "westus2")
    advance(world.store, 3600)
    env = {**os.environ, "FHIRDR_SIM_LATENCY_MS": "40", "NO_COLOR": "1"}
    command = [sys.executable, "-m", "fhirdr", "--sim", "-o", "json", "failback", "--apply", "--yes"]
    runs = [
        subprocess.Popen(command, cwd=isolated, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = [(proc.wait(timeout=120), *proc.communicate()) for proc in runs]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 4], results
    loser = next(err for code, _, err in results if code == 4)
    assert "another failback of fhirdemo" in loser
    winner = json.loads(next(out for code, out, _ in results if code == 0))
    assert {s["id"]: s["status"] for s in winner["steps"]}["failback.write-region"] == "applied"


def test_max_lag_above_the_rpo_and_force_without_reason_are_bad_input(world, cli):
    result = cli("--sim", "failback", "--max-lag", "1200")
    assert result.exit_code == 2
    assert "--max-lag 1200 s is above the RPO of 900 s" in result.stderr
    result = cli("--sim", "failback", "--force")
    assert result.exit_code == 2
    assert "--force needs --reason" in result.stderr


def test_failback_without_yes_and_without_a_terminal_changes_nothing(failed_over, cli):
    world, _, _, _ = failed_over
    advance(world.store, 10 * 60)
    lifecycle.recover(world.store, "westus2")
    advance(world.store, 3600)
    before = world.snapshot()
    result = cli("--sim", "failback", "--apply")
    assert result.exit_code == 4, result.output
    assert world.snapshot() == before


def test_managed_lifecycle_and_failback_through_support(isolated, cli):
    world = make_world(isolated, replication_lag_ms=30_000)
    assert cli("--sim", "enable", "--apply", "--yes", "--wait").exit_code == 0
    client = FhirClient(world.session(), "fhirdemo")
    write(world, client, "before", 5, 10)
    lifecycle.outage(world.store, "westus2")
    advance(world.store, 10 * 60)
    assert client.metadata().headers["x-ms-data-region"] == "westcentralus"
    during = write(world, client, "during", 5, 10)
    lifecycle.recover(world.store, "westus2")

    first = cli("--sim", "failback", "--apply", "--yes")
    assert first.exit_code == 0, first.output
    assert "waiting for support to work ticket" in first.stderr
    run_id = first.stderr.split("--resume ")[1].split()[0]
    assert cli("sim", "advance", "1h").exit_code == 0
    done = cli("--sim", "failback", "--yes", "--resume", run_id)
    assert done.exit_code == 0, done.output
    assert client.metadata().headers["x-ms-data-region"] == "westus2"
    assert present(client, [rid for rid, _ in during]) == {rid for rid, _ in during}
    tickets = [t.body["properties"] for t in world.store.by_type("Microsoft.Support/supportTickets")]
    assert sum("failback" in t["problemClassificationDisplayName"].lower() for t in tickets) == 1


SERVICE = "Microsoft.HealthcareApis/services"


def _service_without_lease(world) -> dict:
    body = dict(world.store.by_type(SERVICE)[0].body)
    body.pop("etag")
    body["tags"] = {k: v for k, v in body["tags"].items() if k != LEASE}
    return body


def _service_lease(world) -> str | None:
    return world.store.by_type(SERVICE)[0].body["tags"].get(LEASE)


def test_managed_lease_is_a_conditional_patch_of_tags_that_leaves_the_service_as_it_was(isolated, cli):
    """The lease is a PATCH of tags with If-Match (healthcareapis stable/2024-03-31/examples/legacy/
    ServicePatch.json; azure-resource-manager-rpc v1.0/Addendum.md "ETags for Resources"), never a full PUT
    (ServiceCreate.json: a long-running service update that re-sends every property and the private endpoint
    connections). A fault on every PUT of the service proves no PUT is sent."""
    world = make_world(isolated, dr_enabled=True)
    before = _service_without_lease(world)
    world.store.add_fault("PUT", "*/Microsoft.HealthcareApis/services/*", "500", 100, 0)
    taken = cli("--sim", "failback", "--apply", "--yes")
    assert taken.exit_code == 0, taken.output
    run_id = taken.stderr.split("--resume ")[1].split()[0]
    assert f"run={run_id}" in _service_lease(world)
    assert _service_without_lease(world) == before

    assert cli("sim", "advance", "1h").exit_code == 0
    released = cli("--sim", "failback", "--yes", "--resume", run_id)
    assert released.exit_code == 0, released.output
    assert _service_lease(world) is None
    assert _service_without_lease(world) == before


def test_a_lease_write_whose_operation_fails_but_was_made_is_this_runs_lease(isolated, cli):
    """A failed async operation does not prove the write did not happen (ARM async-api-reference.md: the
    status is of the operation, the resource is read to know its state): the lease is read back."""
    world = make_world(isolated, dr_enabled=True)
    world.store.add_fault("*", "*/Microsoft.HealthcareApis/services/fhirdemo", "fail-async", 1, 0)
    result = cli("--sim", "failback", "--apply", "--yes")
    assert result.exit_code == 0, result.output
    assert "Azure refused" not in result.output
    run_id = result.stderr.split("--resume ")[1].split()[0]
    assert f"run={run_id}" in _service_lease(world)
    assert "waiting for support to work ticket" in result.stderr


def test_a_lease_held_by_a_stopped_run_of_this_machine_points_to_resume_not_force(isolated, cli):
    world = make_world(isolated, dr_enabled=True)
    world.store.add_fault("PUT", "*/Microsoft.Support/supportTickets/*", "500", 50, 0)
    crashed = cli("--sim", "failback", "--apply", "--yes")
    assert crashed.exit_code == 3, crashed.output
    run_id = crashed.stderr.split("--resume ")[1].split()[0]
    assert f"run={run_id}" in _service_lease(world)
    world.store.clear_faults()

    plain = cli("--sim", "failback", "--apply", "--yes")
    assert plain.exit_code == 4, plain.output
    assert f"resume it with --resume {run_id}" in plain.stderr
    assert "--force" not in plain.stderr

    resumed = cli("--sim", "failback", "--yes", "--resume", run_id)
    assert resumed.exit_code == 0, resumed.output
    assert "waiting for support to work ticket" in resumed.stderr


def test_a_lease_held_by_someone_else_says_wait_and_names_force_as_the_last_resort(isolated, cli):
    world = make_world(isolated, dr_enabled=True)
    service = world.store.by_type(SERVICE)[0]
    service.body["tags"] = {LEASE: "run=20261127T080000Z-aaaaaa;by=alex;at=2026-11-27T08:00:00+00:00"}
    world.store.put(service.id, service.type, service.id.split("/providers/")[0], service.body)
    result = cli("--sim", "failback", "--apply", "--yes")
    assert result.exit_code == 4, result.output
    assert "held by alex (run 20261127T080000Z-aaaaaa)" in result.stderr
    assert "wait for it to finish" in result.stderr
    assert "only if that run is dead, --force --reason TEXT" in result.stderr


def test_two_managed_failbacks_at_once_take_the_lease_once(isolated, cli):
    """Two lease takers race on the service's etag: If-Match lets one PATCH through and answers the other
    412 (Addendum.md "ETags for Resources")."""
    world = make_world(isolated, dr_enabled=True)
    env = {**os.environ, "FHIRDR_SIM_LATENCY_MS": "40", "NO_COLOR": "1"}
    command = [sys.executable, "-m", "fhirdr", "--sim", "-o", "json", "failback", "--apply", "--yes"]
    runs = [
        subprocess.Popen(command, cwd=isolated, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = [(proc.wait(timeout=120), *proc.communicate()) for proc in runs]
    assert sorted(code for code, _, _ in results) == [0, 4], results
    winner = json.loads(next(out for code, out, _ in results if code == 0))
    assert f"run={winner['run_id']}" in _service_lease(world)
    tickets = [t.body["properties"] for t in world.store.by_type("Microsoft.Support/supportTickets")]
    assert sum("failback" in t["problemClassificationDisplayName"].lower() for t in tickets) == 1


def test_a_self_hosted_lease_write_whose_operation_fails_but_was_made_goes_on(failed_over, cli):
    world, _, _, _ = failed_over
    advance(world.store, 10 * 60)
    lifecycle.recover(world.store, "westus2")
    advance(world.store, 3600)
    world.store.add_fault("PATCH", "*/databaseAccounts/*", "fail-async", 1, 0)
    result = cli("--sim", "-o", "json", "failback", "--apply", "--yes")
    assert result.exit_code == 0, result.output
    steps = {s["id"]: s["status"] for s in result.json()["steps"]}
    assert steps["failback.lease"] == "applied" and steps["failback.write-region"] == "applied"
    assert LEASE not in lease_holder(world).body["tags"]
