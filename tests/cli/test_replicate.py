"""`fhirdr replicate`: cycles of $export -> $import from an AHDS primary into its standby, against the sim."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fhirdr.fhir.client import FhirClient
from fhirdr.sim import blob, lifecycle
from fhirdr.sim.timeline import advance
from tests.conftest import make_world

PRIMARY_URL = "https://contosohealth-fhirdemo.fhir.azurehealthcareapis.com"
STANDBY_URL = "https://contosohealthdr-fhirdemo.fhir.azurehealthcareapis.com"
WS = "/subscriptions/5bd153b6-e28c-5725-b4d5-253e56d49e5d/resourceGroups/fhir-dr-rg/providers/Microsoft.HealthcareApis"
PRIMARY = f"{WS}/workspaces/contosohealth/fhirservices/fhirdemo"
STANDBY = f"{WS}/workspaces/contosohealthdr/fhirservices/fhirdemo"
STATE = "fhirdr-state/contosohealth-fhirdemo"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def ahds(isolated, cli):
    world = make_world(isolated, kind="ahds")
    result = cli("--sim", "enable", "--apply", "--yes")
    assert result.exit_code == 0, result.output
    return world


def _primary(world):
    return FhirClient(world.session(), "", base_url=PRIMARY_URL)


def _versions(world, service_id):
    """Every version a service holds: (type, id, version) -> the stored body (None for a delete)."""
    rows = world.store._conn.execute(
        "SELECT rtype, rid, version, body FROM fhir_writes WHERE service = ?", (service_id.lower(),)
    )
    return {(r[0], r[1], r[2]): json.loads(r[3]) if r[3] else None for r in rows}


def _latest(world, service_id):
    latest = {}
    for (rtype, rid, version), body in sorted(_versions(world, service_id).items()):
        latest[(rtype, rid)] = (version, body)
    return latest


def _watermark(world):
    found = blob.get_blob(world.store, "fhirdemoexports", "fhirdr-replication", f"{STATE}/watermark.json")
    return json.loads(found.body)["watermark"] if found else None


def _jobs(world, kind):
    world.store.ensure_tables()
    return world.store._conn.execute("SELECT COUNT(*) FROM fhir_jobs WHERE kind = ?", (kind,)).fetchone()[0]


def _seed(world, count=20):
    client = _primary(world)
    made = [client.create({"resourceType": "Patient", "name": [{"family": f"P{n}"}]}).body for n in range(count)]
    made += [client.create({"resourceType": "Observation", "status": "final"}).body for _ in range(count // 2)]
    advance(world.store, 1)
    return made


def test_a_seed_arrives_on_the_standby_with_the_same_versions_and_times(ahds, cli):
    """import-data.md: incremental mode keeps versionId and lastUpdated; the first cycle has no watermark and
    exports everything (export-data.md, system-level $export without _since)."""
    _seed(ahds)
    result = cli("--sim", "replicate")
    assert result.exit_code == 0, result.output
    assert "exported 30" in result.stdout and "imported 30" in result.stdout
    assert _latest(ahds, STANDBY) == _latest(ahds, PRIMARY) and len(_latest(ahds, STANDBY)) == 30
    assert _watermark(ahds) is not None
    # The cycle's files (patient data) are gone from the container once the import is verified.
    assert [n for n in blob_names(ahds) if not n.startswith("fhirdr-state/")] == []


def blob_names(world):
    return [r[0] for r in world.store._conn.execute("SELECT name FROM blobs WHERE container = 'fhirdr-replication'")]


def test_updates_soft_deletes_and_history_arrive_and_a_second_cycle_repeats_nothing(ahds, cli):
    """AZURE-FACTS (AHDS $export): includeAssociatedData=_history,_deleted carries every version and soft
    deletes; the overlap re-exports the versions just before the watermark, which the standby reports as
    duplicates and does not apply (import-data.md)."""
    made = _seed(ahds)
    assert cli("--sim", "replicate").exit_code == 0
    client = _primary(ahds)
    advance(ahds.store, 30)
    for resource in made[:5]:
        client.request("PUT", f"{resource['resourceType']}/{resource['id']}", {**resource, "active": True})
        client.request("PUT", f"{resource['resourceType']}/{resource['id']}", {**resource, "active": False})
    for resource in made[5:8]:
        client.delete(resource["resourceType"], resource["id"])
    advance(ahds.store, 1)
    result = cli("--sim", "-o", "json", "replicate")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["status"] == "ok" and document["exported"]["Patient"] >= 13
    assert document["rpo_seconds"] is not None and document["since"] < document["watermark_before"]
    assert _versions(ahds, STANDBY) == _versions(ahds, PRIMARY)  # every version, deletes included
    assert client.read(made[5]["resourceType"], made[5]["id"]).status == 410
    standby = FhirClient(ahds.session(), "", base_url=STANDBY_URL)
    assert standby.read(made[5]["resourceType"], made[5]["id"]).status == 410
    history = standby.request("GET", f"Patient/{made[0]['id']}/_history").body
    assert len(history["entry"]) == 3

    advance(ahds.store, 60)
    idle = cli("--sim", "-o", "json", "replicate")
    assert idle.exit_code == 0, idle.output
    repeated = json.loads(idle.stdout)
    assert sum(repeated["imported"].values()) == 0 and repeated["duplicates"] > 0  # the overlap, not applied
    assert _versions(ahds, STANDBY) == _versions(ahds, PRIMARY)


def test_a_failed_import_leaves_the_watermark_and_the_next_cycle_converges(ahds, cli):
    """import-data.md: an import status other than 200 is fatal; the watermark must not move past data the
    standby does not have. A `fail-async` fault rule fails the standby's next import job."""
    _seed(ahds)
    assert cli("--sim", "replicate").exit_code == 0
    mark = _watermark(ahds)
    made = _seed(ahds, 6)
    ahds.store.add_fault("POST", "/$import", "fail-async", 1, 0)
    failed = cli("--sim", "replicate")
    assert failed.exit_code == 1, failed.output
    assert "import failed" in failed.output and "watermark stays" in failed.output
    assert _watermark(ahds) == mark
    assert (made[0]["resourceType"], made[0]["id"]) not in _latest(ahds, STANDBY)
    again = cli("--sim", "replicate")
    assert again.exit_code == 0, again.output
    assert _latest(ahds, STANDBY) == _latest(ahds, PRIMARY)
    assert _watermark(ahds) > mark


def _runner(tmp: Path, *args: str, latency_ms: int = 0) -> subprocess.Popen:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "FHIRDR_STATE_DIR": str(tmp / "state"),
        "NO_COLOR": "1",
        "FHIRDR_SIM_LATENCY_MS": str(latency_ms),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "fhirdr", "--sim", "replicate", *args],
        cwd=tmp,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(process: subprocess.Popen, text: str, limit: float = 60) -> str:
    seen = ""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        seen += line
        if text in line:
            return seen
        if not line and process.poll() is not None:
            break
    raise AssertionError(f"{text!r} never appeared: {seen}")


def test_two_runners_at_once_exactly_one_cycles_and_the_other_names_the_holder(ahds, cli, isolated):
    """Two runners (a laptop and a scheduled job) share the state in the storage account: the lease blob,
    written with If-None-Match/If-Match (rest/api/storageservices conditional headers), lets one cycle; the
    other exits 4 naming the holder. A slow export (low sim throughput) keeps the first one busy."""
    from fhirdr.sim import fhir_jobs

    _seed(ahds, 40)
    fhir_jobs.set_throughput(ahds.store, export_rate=0.5)  # 60 versions: 2 simulated minutes of polls
    first = _runner(isolated, latency_ms=20)
    try:
        seen = _wait_for(first, "export:")
        holder = seen.split(" as ", 1)[1].split()[0]
        second = cli("--sim", "replicate")
        assert second.exit_code == 4, second.output
        assert f"{holder} holds the lease" in second.output
        out, err = first.communicate(timeout=120)
        assert first.returncode == 0, out + err
    finally:
        if first.poll() is None:
            first.kill()
    assert _jobs(ahds, "export") == 1 and _jobs(ahds, "import") == 1
    assert _latest(ahds, STANDBY) == _latest(ahds, PRIMARY)


def test_a_dead_runners_lease_expires_and_wait_takes_over(ahds, cli):
    """A runner killed mid-cycle leaves its lease: the next one waits (--wait) until the lease's expiry, then
    cycles; without --wait it exits 4 and says who holds it."""
    _seed(ahds)
    with ahds.store.transaction():
        blob.ensure_container(ahds.store, "fhirdemoexports", "fhirdr-replication")
        lease = {"holder": "ci-job-7/pid-1/abc", "expires": ahds.store.now() + 120, "cycle": "x"}
        blob.put_blob(
            ahds.store, "fhirdemoexports", "fhirdr-replication", f"{STATE}/lease.json", json.dumps(lease).encode()
        )
    refused = cli("--sim", "replicate")
    assert refused.exit_code == 4 and "ci-job-7/pid-1/abc holds the lease" in refused.output
    assert _jobs(ahds, "export") == 0
    waited = cli("--sim", "replicate", "--wait")
    assert waited.exit_code == 0, waited.output
    assert "waiting for the lease" in waited.output
    assert _latest(ahds, STANDBY) == _latest(ahds, PRIMARY)


def _standby_body(world):
    return world.store.get(STANDBY)


def _put(world, resource):
    with world.store.transaction():
        world.store.put(resource.id, resource.type, resource.id.rsplit("/fhirservices/", 1)[0], resource.body)


@pytest.mark.parametrize(
    "mistake, says",
    [
        ("import-off", "import is not enabled"),
        ("initial-mode", "initial import mode is on"),
        ("no-role", "cannot read fhirdemoexports"),
        ("no-container", "the container fhirdr-replication does not exist"),
    ],
)
def test_bad_configuration_is_refused_before_any_export(ahds, cli, mistake, says):
    """configure-import-data.md: importConfiguration enabled, initialImportMode false and the Storage Blob Data
    Contributor role; export-data.md: the _container must exist. Each is found before the first export,
    exit 2, with the fix."""
    _seed(ahds)
    standby = _standby_body(ahds)
    config = standby.body["properties"]["importConfiguration"]
    if mistake == "import-off":
        config["enabled"] = False
        _put(ahds, standby)
    elif mistake == "initial-mode":
        config["initialImportMode"] = True
        _put(ahds, standby)
    elif mistake == "no-role":
        principal = standby.body["identity"]["principalId"]
        with ahds.store.transaction():
            for assignment in ahds.store.by_type("Microsoft.Authorization/roleAssignments"):
                if assignment.body["properties"]["principalId"] == principal:
                    ahds.store.delete(assignment.id)
    else:
        with ahds.store.transaction():
            ahds.store.ensure_tables()
            ahds.store._conn.execute("DELETE FROM blob_containers WHERE name = 'fhirdr-replication'")
    result = cli("--sim", "replicate")
    assert result.exit_code == 2, result.output
    assert says in result.output and "fhirdr enable --apply" in result.output
    assert "Traceback" not in result.output
    assert _jobs(ahds, "export") == 0


def test_no_standby_is_refused_with_the_command_that_makes_it(isolated, cli):
    make_world(isolated, kind="ahds")
    result = cli("--sim", "replicate")
    assert result.exit_code == 2 and "fhirdr enable --apply" in result.output


def test_a_primary_that_does_not_answer_is_reported_with_the_growing_rpo(ahds, cli):
    """With the primary's region down the FHIR endpoint answers 503 (azure-core retries it first): the cycle
    exits 3 saying since when and how large the RPO has grown; the watermark stays."""
    _seed(ahds)
    assert cli("--sim", "replicate").exit_code == 0
    mark = _watermark(ahds)
    advance(ahds.store, 600)
    lifecycle.outage(ahds.store, "westus2")
    down = cli("--sim", "replicate")
    assert down.exit_code == 3, down.output
    assert "primary unreachable since" in down.output and "min and growing" in down.output
    advance(ahds.store, 600)
    later = cli("--sim", "-o", "json", "replicate")
    document = json.loads(later.stdout)
    assert later.exit_code == 3 and document["status"] == "unreachable"
    first = down.stdout.split("primary unreachable since ", 1)[1].split(";")[0]
    assert document["unreachable_since"] == first  # carried from the first failing cycle
    from fhirdr.replication.times import parse_instant

    grown = round((ahds.store.now() - parse_instant(mark)) / 60)
    assert f"RPO now {grown} min and growing" in document["errors"][0] and grown >= 20
    assert _watermark(ahds) == mark


@pytest.mark.parametrize(
    "table, says",
    [
        ({"container": "Bad_Name"}, "'container' = 'Bad_Name' is not a blob container name"),
        ({"overlap": "soon"}, "'overlap': 'soon' is not a duration"),
        ({"reconcile_every": -1}, "'reconcile_every' must be a whole number"),
        ({"lease": "5s"}, "'lease'"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_a_bad_replication_table_names_the_key(isolated, cli, table, says):
    world = make_world(isolated, kind="ahds")
    text = (
        world.target_file.read_text()
        + "\n[replication]\n"
        + "".join(f"{key} = {json.dumps(value)}\n" for key, value in table.items())
    )
    world.target_file.write_text(text)
    result = cli("--sim", "replicate")
    assert result.exit_code == 2, result.output
    assert says in result.output and "Traceback" not in result.output


def test_status_shows_the_watermark_lag_and_measured_rpo_against_the_target(ahds, cli):
    """DESIGN.md (Replication for the AHDS FHIR service): the RPO is measured, now minus the watermark of the
    last verified import; status reads it from the state in the storage account."""
    before = cli("--sim", "-o", "json", "status").json()
    assert before["replication"]["state"] == "not-configured"
    _seed(ahds)
    for _ in range(3):
        assert cli("--sim", "replicate").exit_code == 0
        _seed(ahds, 2)
        advance(ahds.store, 60)
    document = cli("--sim", "-o", "json", "status").json()
    replication = document["replication"]
    assert replication["state"] == "replicating" and replication["within_rpo"] is True
    assert replication["rpo_seconds"] == 900 and replication["watermark"]
    assert 60 <= replication["lag_seconds"] < 120
    measured = replication["measured_rpo"]
    assert measured["cycles"] == 2 and measured["p50"] <= measured["p99"] <= measured["max"] < 900
    assert replication["last_cycle"]["status"] == "ok" and replication["lease"] is None
    assert document["dr"]["state"] == "replicating" and document["dr"]["enabled"] is True
    advance(ahds.store, 3600)
    lagging = cli("--sim", "-o", "json", "status").json()
    assert lagging["replication"]["state"] == "lagging" and lagging["replication"]["within_rpo"] is False
    assert lagging["dr"]["enabled"] is False


@pytest.mark.parametrize(
    "mistake, says",
    [
        ("no-role", "the primary's identity has no Storage Blob Data Contributor role on fhirdemoexports"),
        ("other-subscription", "storage account fhirexternalacct is not in subscription"),
    ],
)
def test_a_primary_that_cannot_export_is_refused_before_any_export(isolated, cli, mistake, says):
    """AZURE-FACTS ($export): the service's identity needs Storage Blob Data Contributor on the account, and the
    account must be in the service's subscription (export-data.md)."""
    world = make_world(isolated, kind="ahds", export=True, mistakes=(mistake,))
    cli("--sim", "enable", "--apply", "--yes")  # the standby is built as far as it can be
    result = cli("--sim", "replicate")
    assert result.exit_code == 2, result.output
    assert says in result.output
    assert _jobs(world, "export") == 0


def test_throttling_is_ridden_out_by_azure_core(ahds, cli):
    """AZURE-FACTS (Azure SDK behaviour): azure-core retries 429 honouring Retry-After; fhirdr does not retry on
    top. Two throttled export requests and one throttled status poll still make one verified cycle."""
    _seed(ahds)
    ahds.store.add_fault("GET", "/$export", "429", 2, 1)
    ahds.store.add_fault("GET", "/_operations/export/*", "429", 1, 1)
    result = cli("--sim", "replicate")
    assert result.exit_code == 0, result.output
    assert _jobs(ahds, "export") == 1 and _latest(ahds, STANDBY) == _latest(ahds, PRIMARY)
