"""`fhirdr replicate` over time: --follow, signals, a runner killed mid-cycle, reconcile, $reindex, the workload."""

from __future__ import annotations

import json
import signal

from fhirdr.fhir.client import FhirClient
from fhirdr.sim import blob, fhir_jobs
from fhirdr.sim.timeline import advance
from tests.cli.test_replicate import (
    PRIMARY,
    STANDBY,
    STATE,
    _jobs,
    _latest,
    _primary,
    _runner,
    _seed,
    _versions,
    _wait_for,
    _watermark,
    ahds,  # noqa: F401 - the fixture
)


def _live(world, service_id):
    return {key for key, (version, body) in _latest(world, service_id).items() if body is not None}


def test_follow_runs_cycles_at_the_interval_while_a_workload_writes(ahds, cli):  # noqa: F811
    """`fhirdr sim workload` writes on the primary as simulated time passes; `--follow --interval 1m` keeps the
    standby within a cycle of it; `-o json` prints one document per cycle."""
    workload = cli("--sim", "sim", "workload", "--rate", "600/min", "--duration", "5m", "--deletes", "10")
    assert workload.exit_code == 0, workload.output
    result = cli("--sim", "-o", "json", "replicate", "--follow", "--interval", "1m", "--cycles", "8")
    assert result.exit_code == 0, result.output
    cycles = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(cycles) == 8 and {c["status"] for c in cycles} == {"ok"}
    starts = [c["started"] for c in cycles]
    assert starts == sorted(starts) and len(set(starts)) == 8
    assert max(c["rpo_seconds"] for c in cycles[1:]) <= 5 * 60
    assert _versions(ahds, STANDBY) == {
        key: body
        for key, body in _versions(ahds, PRIMARY).items()
        if body is None or body["meta"]["lastUpdated"] <= cycles[-1]["watermark"]
    }


def test_a_bad_workload_rate_is_refused(ahds, cli):  # noqa: F811
    result = cli("--sim", "sim", "workload", "--rate", "fast")
    assert result.exit_code == 2 and "1000/min" in result.output


def test_sigterm_ends_follow_cleanly_with_the_lease_released(ahds, isolated):  # noqa: F811
    """A container job is stopped with SIGTERM: the runner stops, releases its lease and keeps the verified
    watermark; the next runner starts at once."""
    _seed(ahds)
    follower = _runner(isolated, "--follow", "--interval", "1m", latency_ms=5)
    try:
        _wait_for(follower, "import:")
        follower.send_signal(signal.SIGTERM)
        out, err = follower.communicate(timeout=60)
    finally:
        if follower.poll() is None:
            follower.kill()
    assert follower.returncode in (0, 130), err
    assert "stopped by SIGTERM" in err and "Traceback" not in err
    assert blob.get_blob(ahds.store, "fhirdemoexports", "fhirdr-replication", f"{STATE}/lease.json") is None


def test_kill_9_mid_cycle_then_a_new_run_converges_with_nothing_lost_or_duplicated(ahds, cli, isolated):  # noqa: F811
    """kill -9 leaves the lease and a half-done cycle: the import job the dead runner started goes on in the
    service; the next runner waits out the lease, repeats the window, and every resource's versions are the
    same on both sides (duplicates reported by the import, never stored twice)."""
    _seed(ahds, 30)
    assert cli("--sim", "replicate").exit_code == 0
    _seed(ahds, 30)
    client = _primary(ahds)
    for key in list(_latest(ahds, PRIMARY))[:10]:
        client.request("PUT", f"{key[0]}/{key[1]}", {"resourceType": key[0], "id": key[1], "active": True})
    advance(ahds.store, 1)
    fhir_jobs.set_throughput(ahds.store, import_rate=0.5)  # a long import: the runner dies in its middle
    mark = _watermark(ahds)
    victim = _runner(isolated, latency_ms=10)
    _wait_for(victim, "import:")
    victim.kill()
    victim.wait(timeout=30)
    assert _watermark(ahds) == mark
    fhir_jobs.set_throughput(ahds.store, import_rate=1000)
    refused = cli("--sim", "replicate")
    assert refused.exit_code == 4, refused.output
    converged = cli("--sim", "replicate", "--wait")
    assert converged.exit_code == 0, converged.output
    assert _watermark(ahds) > mark
    assert _versions(ahds, STANDBY) == _versions(ahds, PRIMARY)
    rows = ahds.store._conn.execute(
        "SELECT COUNT(*), COUNT(DISTINCT rtype || '/' || rid || '/' || version) FROM fhir_writes WHERE service = ?",
        (STANDBY.lower(),),
    ).fetchone()
    assert rows[0] == rows[1]  # no version stored twice


def test_reconcile_removes_hard_deletes_on_the_standby_only_after_a_dry_run_shows_them(ahds, cli):  # noqa: F811
    """Hard deletes leave no trace in $export (AZURE-FACTS, AHDS): reconcile compares id sets with paged
    `_elements=id` searches and deletes on the standby what the primary no longer has at all; a soft delete
    (410 on the primary) is left for the next cycle to carry."""
    made = _seed(ahds, 20)
    assert cli("--sim", "replicate").exit_code == 0
    client = _primary(ahds)
    for resource in made[:3]:
        client.request("DELETE", f"{resource['resourceType']}/{resource['id']}", params={"_hardDelete": "true"})
    primary_before = _versions(ahds, PRIMARY)
    advance(ahds.store, 60)
    dry = cli("--sim", "-o", "json", "replicate", "--reconcile", "--dry-run")
    assert dry.exit_code == 0, dry.output
    counts = json.loads(dry.stdout)["reconcile"]
    assert counts["dry_run"] is True and counts["types"]["Patient"]["gone_on_primary"] == 3
    assert "would delete 3" in counts["summary"]
    assert len(_live(ahds, STANDBY)) == 30
    client.delete(made[4]["resourceType"], made[4]["id"])  # soft, after this cycle's window
    done = cli("--sim", "replicate", "--reconcile")
    assert done.exit_code == 0, done.output
    assert "deleted 3" in done.stdout
    assert _live(ahds, STANDBY) == _live(ahds, PRIMARY)  # the soft delete arrived with the cycle
    assert (made[0]["resourceType"], made[0]["id"]) not in _latest(ahds, STANDBY)  # hard-deleted there too
    after = _versions(ahds, PRIMARY)
    assert all(after[key] == body for key, body in primary_before.items())  # reconcile never deletes there
    assert cli("--sim", "replicate").exit_code == 0
    assert _live(ahds, STANDBY) == _live(ahds, PRIMARY)


def test_changed_search_parameters_make_the_standby_reindex_once(ahds, cli):  # noqa: F811
    """Custom search parameters are data (SearchParameter resources) and replicate like any resource; the
    standby must $reindex to use them (azure-docs articles/healthcare-apis/fhir/how-to-run-a-reindex.md)."""
    _seed(ahds, 4)
    client = _primary(ahds)
    client.create(
        {
            "resourceType": "SearchParameter",
            "url": "http://example.org/SearchParameter/patient-nickname",
            "name": "nickname",
            "status": "active",
            "code": "nickname",
            "base": ["Patient"],
            "type": "string",
            "expression": "Patient.name.where(use='nickname').given",
        }
    )
    advance(ahds.store, 1)
    first = cli("--sim", "-o", "json", "replicate")
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["reindex"] and _jobs(ahds, "reindex") == 1
    advance(ahds.store, 30)
    again = cli("--sim", "-o", "json", "replicate")
    assert json.loads(again.stdout)["reindex"] is None and _jobs(ahds, "reindex") == 1
    standby = FhirClient(ahds.session(), "", base_url="https://contosohealthdr-fhirdemo.fhir.azurehealthcareapis.com")
    assert standby.search("SearchParameter", _count="10").body["entry"][0]["resource"]["code"] == "nickname"
