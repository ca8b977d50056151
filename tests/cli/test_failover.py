"""`fhirdr failover` and `fhirdr failback` for an AHDS FHIR service: the Front Door switch, replication reversed.

What the switch relies on, and where Azure documents it:
- Front Door sends a request to the enabled origin with the lowest priority number among the healthy ones
  (learn.microsoft.com azure/frontdoor/routing-methods "Priority-based traffic-routing"; AFDOrigins_Create.json
  `priority`, `enabledState` in azure-rest-api-specs cdn stable/2024-02-01 examples).
- An incremental `$import` keeps versionId and lastUpdated and reports versions the service already has as
  errors, not applied (import-data.md, AZURE-FACTS "AHDS $import"), so replication can run either way.
- System-level `_history` with `_since` and `_before` lists every version in a window (FHIR R4 http.html#history;
  microsoft/fhir-server KnownQueryParameterNames `_before`), and vread `[type]/[id]/_history/[vid]` reads one
  version: how the lost window is read once the old primary is back.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fhirdr.fhir.client import FhirClient
from fhirdr.replication.state import ReplicationState
from fhirdr.replication.times import parse_instant
from fhirdr.sim import blob, lifecycle
from fhirdr.sim.providers.cdn import ENDPOINT_TYPE, ORIGIN_TYPE
from fhirdr.sim.timeline import advance
from tests.conftest import ahds_with_front_door, make_world

WS = "/subscriptions/5bd153b6-e28c-5725-b4d5-253e56d49e5d/resourceGroups/fhir-dr-rg/providers/Microsoft.HealthcareApis"
PRIMARY = f"{WS}/workspaces/contosohealth/fhirservices/fhirdemo"
STANDBY = f"{WS}/workspaces/contosohealthdr/fhirservices/fhirdemo"
PRIMARY_URL = "https://contosohealth-fhirdemo.fhir.azurehealthcareapis.com"
STANDBY_URL = "https://contosohealthdr-fhirdemo.fhir.azurehealthcareapis.com"
ANCHOR = "fhirdr-state/contosohealth-fhirdemo"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def ahds(isolated, cli):
    return ahds_with_front_door(isolated, cli)


def _front_door(world) -> FhirClient:
    (endpoint,) = world.store.by_type(ENDPOINT_TYPE)
    host = endpoint.body["properties"]["hostName"]
    return FhirClient(world.session(), "", retry=False, base_url=f"https://{host}", audience="api://contoso-fhir")


def _versions(world, service_id):
    rows = world.store._conn.execute(
        "SELECT rtype, rid, version, body FROM fhir_writes WHERE service = ?", (service_id.lower(),)
    )
    return {(r[0], r[1], r[2]): json.loads(r[3]) if r[3] else None for r in rows}


def _latest(world, service_id, skip_types=("Basic",)):
    """What a client reads: each live resource's latest version, (type, id) -> body without meta. A deleted
    resource and one never written read the same (410 and 404), so neither is listed."""
    latest: dict = {}
    for (rtype, rid, _version), body in sorted(_versions(world, service_id).items(), key=lambda kv: kv[0][2]):
        if rtype in skip_types:
            continue
        latest[(rtype, rid)] = None if body is None else {k: v for k, v in body.items() if k != "meta"}
    return {key: body for key, body in latest.items() if body is not None}


def _workload(cli, rate="120/min", duration="30m"):
    result = cli("--sim", "sim", "workload", "--rate", rate, "--duration", duration)
    assert result.exit_code == 0, result.output
    assert "azurefd.net" in result.output  # the clients write through the front door


def _replicate(cli, world, minutes=1.0):
    advance(world.store, minutes * 60)
    result = cli("--sim", "replicate")
    assert result.exit_code == 0, result.output
    return result


def _doc(world, name):
    found = blob.get_blob(world.store, "fhirdemoexports", "fhirdr-replication", f"{ANCHOR}/{name}")
    return json.loads(found.body) if found else None


def _origins(world):
    return {o.body["name"]: o.body["properties"] for o in world.store.by_type(ORIGIN_TYPE)}


def _switching_journal(isolated) -> Path | None:
    """The failover's journal once it has started moving the origins. Run ids name only the second a run
    started, so the fixture's enable runs of the same second may sort after it: look in every journal."""
    return next((path for path in (isolated / "state" / "runs").glob("*.jsonl") if _switching(path)), None)


def test_planned_failover_loses_nothing_and_replication_runs_the_other_way(ahds, cli):
    """Planned: writes pause (the primary's origin disabled), a final cycle, then the switch; every version the
    primary acknowledged is on the standby at the switch, and writes through the front door land in the
    standby afterwards, which replication then carries back to the old primary."""
    _workload(cli)
    _replicate(cli, ahds, 5)
    _replicate(cli, ahds, 1)
    advance(ahds.store, 20)
    result = cli("--sim", "-o", "json", "failover", "--apply", "--yes")
    assert result.exit_code == 0, result.output
    steps = {s["id"]: s for s in result.json()["steps"]}
    assert steps["failover.final-cycle"]["status"] == "applied" and steps["failover.origins"]["status"] == "applied"
    # Loses nothing: every version the primary holds is on the standby, as it was written.
    primary, standby = _versions(ahds, PRIMARY), _versions(ahds, STANDBY)
    assert primary and set(primary) <= set(standby)
    assert all(standby[key] == body for key, body in primary.items())
    origins = _origins(ahds)
    assert (origins["standby"]["priority"], origins["standby"]["enabledState"]) == (1, "Enabled")
    assert (origins["primary"]["priority"], origins["primary"]["enabledState"]) == (2, "Disabled")
    assert len(origins) == 2
    assert _doc(ahds, "active.json")["active"] == "standby"
    status = cli("--sim", "-o", "json", "status").json()
    assert status["data_region"] == "westcentralus" and status["replication"]["direction"] == "standby -> primary"
    assert status["last_failover"]["by"].startswith("fhirdr failover (planned")
    # New writes land on the standby; replication now runs standby -> primary.
    before = len(_versions(ahds, PRIMARY))
    reverse = _replicate(cli, ahds, 2)
    assert f"replicating {STANDBY_URL} -> {PRIMARY_URL}" in reverse.output
    assert len(_versions(ahds, PRIMARY)) > before
    advance(ahds.store, 40 * 60)  # the workload ends
    _replicate(cli, ahds, 1)
    assert _latest(ahds, PRIMARY) == _latest(ahds, STANDBY)


def test_failback_after_a_planned_failover_converges_and_forward_replication_resumes(ahds, cli):
    """Failback runs the same gates the other way; after it forward replication resumes from where it was
    (the later of the two directions' watermarks) and both sides end with the same latest versions."""
    _workload(cli, duration="20m")
    _replicate(cli, ahds, 3)
    assert cli("--sim", "failover", "--apply", "--yes").exit_code == 0
    _replicate(cli, ahds, 2)
    back = cli("--sim", "-o", "json", "failback", "--apply", "--yes")
    assert back.exit_code == 0, back.output
    assert _doc(ahds, "active.json")["active"] == "primary"
    origins = _origins(ahds)
    assert (origins["primary"]["priority"], origins["primary"]["enabledState"]) == (1, "Enabled")
    assert (origins["standby"]["priority"], origins["standby"]["enabledState"]) == (2, "Disabled")
    forward = _replicate(cli, ahds, 1)
    assert f"replicating {PRIMARY_URL} -> {STANDBY_URL}" in forward.output
    advance(ahds.store, 30 * 60)
    _replicate(cli, ahds, 1)
    assert _latest(ahds, PRIMARY) == _latest(ahds, STANDBY)
    # A second failback changes nothing: already on the primary.
    again = cli("--sim", "-o", "json", "failback", "--apply", "--yes")
    assert again.exit_code == 0, again.output
    steps = {s["id"]: s["status"] for s in again.json()["steps"]}
    assert steps["failback.origins"] == "in-sync" and steps["failback.pause"] == "in-sync"


def test_unplanned_failover_loses_exactly_the_writes_after_the_watermark_and_failback_lists_them(ahds, cli, isolated):
    """Unplanned: the primary's region is down, so no final cycle; what the primary acknowledged after the last
    verified watermark is lost until it comes back. Failback writes exactly those versions to the review
    file, gives every resource they touched the standby's latest version (never the other way round), and
    the two sides converge."""
    _workload(cli, duration="60m")
    _replicate(cli, ahds, 5)
    advance(ahds.store, 150)  # writes the primary acknowledges that no cycle carries
    watermark = _doc(ahds, "watermark.json")["watermark"]
    lost = {k for k in set(_versions(ahds, PRIMARY)) - set(_versions(ahds, STANDBY))}
    assert lost
    lifecycle.outage(ahds.store, "westus2")
    planned = cli("--sim", "failover", "--apply", "--yes")
    assert planned.exit_code == 4 and "--unplanned" in planned.output  # a planned switch needs the primary
    result = cli("--sim", "-o", "json", "failover", "--apply", "--yes", "--unplanned")
    assert result.exit_code == 0, result.output
    steps = {s["id"]: s for s in result.json()["steps"]}
    assert watermark[:19] in steps["failover.caught-up"]["observed"]
    assert steps["failover.final-cycle"]["status"] == "in-sync"  # skipped: nothing answers
    failover_run = _doc(ahds, "active.json")["run"]
    assert _doc(ahds, "active.json")["mode"] == "unplanned"
    # Clients write to the standby now.
    advance(ahds.store, 5 * 60)
    assert _front_door(ahds).metadata().ok
    lifecycle.recover(ahds.store, "westus2")
    _replicate(cli, ahds, 1)  # reverse: the standby's writes reach the old primary
    back = cli("--sim", "-o", "json", "failback", "--apply", "--yes")
    assert back.exit_code == 0, back.output
    run = _doc(ahds, "active.json")  # now the failback's record; the failover's report is kept by its run
    assert run["active"] == "primary"
    observed = {s["id"]: s["observed"] for s in back.json()["steps"]}
    assert "never reached the standby" in observed["failback.lost-window"]  # read again after the switch back
    assert "given the standby's latest version" in observed["failback.resolve"]
    report_blob = _doc(ahds, f"lost-window/{failover_run}.json")
    listed = [json.loads(line) for line in Path(report_blob["file"]).read_text().splitlines()]
    assert {(row["resourceType"], row["id"], int(row["versionId"])) for row in listed} == lost
    assert report_blob["lost"] == len(lost) and report_blob["resolved"] is not None
    advance(ahds.store, 60 * 60)
    _replicate(cli, ahds, 1)
    assert _latest(ahds, PRIMARY) == _latest(ahds, STANDBY)


@pytest.mark.parametrize(
    "gate, setup, says",
    [
        ("caught-up", "stale", "s behind (limit 300 s)"),
        ("target-healthy", "standby-down", "the standby does not answer"),
        ("source-down", "unplanned-but-up", "the primary answers"),
    ],
)
def test_each_gate_refuses_with_what_it_measured_and_changes_nothing(ahds, cli, gate, setup, says):
    """Refusals exit 4 with the measured value and change nothing; --force --reason overrides a gate and the
    journal records the override (as for the other kinds' failback)."""
    _workload(cli, duration="5m")
    _replicate(cli, ahds, 3)
    args = ["--sim", "failover", "--apply", "--yes"]
    if setup == "stale":
        advance(ahds.store, 3600)
    elif setup == "standby-down":
        lifecycle.outage(ahds.store, "westcentralus")
    else:
        args.append("--unplanned")
    before = _origins(ahds)
    refused = cli(*args)
    assert refused.exit_code == 4, refused.output
    assert says in refused.output and gate in refused.output
    assert _origins(ahds) == before and _doc(ahds, "active.json") is None
    if setup == "stale":
        forced = cli(*args, "--force", "--reason", "drill: the lag is known")
        assert forced.exit_code == 0, forced.output
        assert _doc(ahds, "active.json")["active"] == "standby"


def test_failover_is_for_ahds_targets_only(isolated, cli):
    """Azure API for FHIR fails over by itself (disaster-recovery.md "automatic failover"): nothing to switch."""
    make_world(isolated)
    result = cli("--sim", "failover", "--apply", "--yes")
    assert result.exit_code == 2 and "fails over by itself" in result.output


def test_bad_options_are_refused_before_anything(ahds, cli):
    assert cli("--sim", "failover", "--unplanned", "--max-lag", "1m").exit_code == 2
    assert cli("--sim", "failover", "--max-lag", "2h").exit_code == 2
    assert cli("--sim", "failover", "--apply", "--force").exit_code == 2
    assert _doc(ahds, "active.json") is None


def _failover_process(tmp: Path, *args: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "FHIRDR_STATE_DIR": str(tmp / "state"),
        "NO_COLOR": "1",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "fhirdr", "--sim", "failover", "--apply", "--yes", *args],
        cwd=tmp,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp / "failover.err", "w"),  # noqa: SIM115 - the child writes it; read after the kill
    )


def _switching(journal: Path) -> bool:
    for line in journal.read_text().splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue  # a line still being written
        if event.get("event") == "change.started" and event.get("step") == "failover.origins":
            return True
    return False


def test_kill_9_mid_switch_then_resume_converges_with_one_switch_and_no_duplicate_origin(ahds, cli, isolated):
    """kill -9 in the middle of the switch (the primary's origin already stepped aside, the standby's update still
    in progress: a stuck async operation holds it there): the journal says where it stopped; --resume reads
    every step again, updates the origins by name (AFDOrigins_Create.json is a PUT on the origin's name, so it
    is idempotent) and finishes with the standby active once, nothing lost."""
    _workload(cli, duration="10m")
    _replicate(cli, ahds, 3)
    stuck = cli(
        "--sim", "sim", "fault", "add", "--kind", "stuck-async", "--path", "*/origins/standby", "--method", "PUT"
    )
    assert stuck.exit_code == 0, stuck.output
    process = _failover_process(isolated)
    journal = None
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            journal = _switching_journal(isolated)
            if journal is not None:
                break
            time.sleep(0.02)
        time.sleep(1.0)
        process.kill()
        process.wait(timeout=30)
        # It may have got there between two looks, and ended (the assertions below say how).
        journal = journal or _switching_journal(isolated)
    finally:
        if process.poll() is None:
            process.kill()
    assert journal is not None, "the failover never reached the switch: " + (isolated / "failover.err").read_text()
    assert '"run.finished"' not in journal.read_text()  # it really stopped half-way
    assert _origins(ahds)["primary"]["priority"] == 3  # half-way: the primary stepped aside
    assert cli("--sim", "sim", "fault", "clear").exit_code == 0
    resumed = cli("--sim", "-o", "json", "failover", "--resume", journal.stem, "--yes")
    assert resumed.exit_code == 0, resumed.output
    origins = _origins(ahds)
    assert sorted(origins) == ["primary", "standby"]
    assert origins["standby"]["priority"] == 1 and origins["primary"]["priority"] == 2
    assert _doc(ahds, "active.json")["active"] == "standby" and _doc(ahds, "active.json")["run"] == journal.stem
    primary, standby = _versions(ahds, PRIMARY), _versions(ahds, STANDBY)
    assert set(primary) <= set(standby)


def test_a_following_replicator_waits_for_the_switch_then_replicates_the_other_way(ahds, cli, isolated):
    """`replicate --follow` running while the failover switches: it finds the switch's lease (it waits, it does
    not exit), then reads active.json and replicates from the new active side, with nobody telling it."""
    _workload(cli, duration="20m")
    _replicate(cli, ahds, 3)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "FHIRDR_STATE_DIR": str(isolated / "state"),
        "NO_COLOR": "1",
        "FHIRDR_SIM_LATENCY_MS": "15",
    }
    changed = f"the active service changed: replicating {STANDBY_URL} -> {PRIMARY_URL}"
    with (isolated / "follower.out").open("w") as stdout:
        follower = subprocess.Popen(
            [sys.executable, "-m", "fhirdr", "--sim", "replicate", "--follow", "--interval", "1m", "--cycles", "1000"],
            cwd=isolated,
            env=env,
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
        )
        seen = ""
        try:
            time.sleep(1.5)  # a few cycles forward
            switched = cli("--sim", "failover", "--apply", "--yes")
            assert switched.exit_code == 0, switched.output
            deadline = time.monotonic() + 120
            while changed not in seen and time.monotonic() < deadline and follower.poll() is None:
                seen += follower.stderr.readline()
            follower.send_signal(signal.SIGTERM)  # a person stopping it: the lease is released
            seen += follower.communicate(timeout=60)[1]
        finally:
            if follower.poll() is None:
                follower.kill()
    out = (isolated / "follower.out").read_text()
    assert changed in seen, seen
    assert follower.returncode in (0, 130), seen  # 0 between cycles, 130 when stopped inside one
    # A cycle may lose its lease to the switch here: in the sim both processes move one clock, so the switch's
    # waiting can outrun the runner's renewals; that cycle is abandoned safely (its watermark stays). Nothing
    # else may fail.
    failed = [line for line in out.splitlines() if " failed: " in line]
    assert all("lease was taken by fhirdr-switch/" in line for line in failed), failed
    advance(ahds.store, 30 * 60)
    _replicate(cli, ahds, 1)
    assert _latest(ahds, PRIMARY) == _latest(ahds, STANDBY)


def _runner_lease(world, expires_in: float) -> float:
    """A replication runner's lease on the forward direction, taken the way every cycle takes it."""
    state = ReplicationState(world.session(), "fhirdemoexports", "fhirdr-replication", ANCHOR.split("/", 1)[1])
    return state.acquire("vm/pid-1/dead00", expires_in, "c-1").expires


def test_a_runner_that_died_holding_the_lease_is_waited_out_then_the_switch_goes_on(ahds, cli):
    """A runner killed mid-cycle leaves its lease until it expires: the switch waits for the expiry (it does not
    break a lease that may still be working) and then switches."""
    _workload(cli)
    _replicate(cli, ahds, 5)
    expiry = _runner_lease(ahds, 240)
    result = cli("--sim", "-o", "json", "failover", "--apply", "--yes")
    assert result.exit_code == 0, result.output
    record = _doc(ahds, f"switches/failover-{result.json()['run_id']}.json")
    assert parse_instant(record["lease_taken"]) >= expiry  # it waited for the lease to expire, in simulated time
    assert _doc(ahds, "active.json")["active"] == "standby"
    assert _doc(ahds, "lease-queue.json") is None


def test_a_cycle_that_outlasts_the_wait_stops_the_switch_before_anything_changes(ahds, cli):
    """A runner whose lease stays live for longer than the switch waits (30 min) is never overtaken: the switch
    stops at the lease, exits 4 naming the holder, and leaves the origins and the queue as they were."""
    _workload(cli)
    _replicate(cli, ahds, 5)
    started = ahds.store.now()
    _runner_lease(ahds, 2 * 3600)
    before = _origins(ahds)
    result = cli("--sim", "failover", "--apply", "--yes")
    assert result.exit_code == 4, result.output
    assert "vm/pid-1/dead00" in result.output
    assert 30 * 60 <= ahds.store.now() - started < 2 * 3600
    assert _origins(ahds) == before
    assert _doc(ahds, "lease-queue.json") is None  # runners are not kept waiting for a switch that gave up
    assert (_doc(ahds, "active.json") or {}).get("active", "primary") == "primary"


def test_a_switch_that_stopped_half_way_is_finished_before_any_other(ahds, cli):
    """active.json says a failover was moving the origins when it stopped: a failback (or another failover) is
    refused with the run to resume, so it cannot flip the origins back over writes made on the standby."""
    _replicate(cli, ahds, 1)
    pending = {
        "active": "primary",
        "switching": {"to": "standby", "run": "20261203T000000Z-abcdef", "command": "failover"},
    }
    with ahds.store.transaction():
        blob.put_blob(
            ahds.store, "fhirdemoexports", "fhirdr-replication", f"{ANCHOR}/active.json", json.dumps(pending).encode()
        )
    before = _origins(ahds)
    for command in ("failback", "failover"):
        refused = cli("--sim", command, "--apply", "--yes")
        assert refused.exit_code == 4, refused.output
        assert "fhirdr failover --resume 20261203T000000Z-abcdef" in refused.output
    assert _origins(ahds) == before


def test_an_unplanned_switch_to_a_standby_that_never_received_anything_is_refused(ahds, cli):
    """With no verified watermark the standby is empty: sending clients there is refused unless forced."""
    lifecycle.outage(ahds.store, "westus2")
    refused = cli("--sim", "failover", "--apply", "--yes", "--unplanned")
    assert refused.exit_code == 4 and "nothing was ever replicated" in refused.output, refused.output
    assert _doc(ahds, "active.json") is None


def test_reconcile_never_deletes_on_the_old_primary(ahds, cli):
    """Reversed, the target of replication is the old primary: what only it holds may be an unplanned failover's
    lost window, which failback writes for review; reconcile skips (replicate's issue: it never deletes there)."""
    _workload(cli, duration="5m")
    _replicate(cli, ahds, 3)
    assert cli("--sim", "failover", "--apply", "--yes").exit_code == 0
    advance(ahds.store, 60)
    result = cli("--sim", "-o", "json", "replicate", "--reconcile")
    assert result.exit_code == 0, result.output
    assert "skipped" in json.loads(result.stdout)["reconcile"]["summary"]


def test_with_automatic_failover_the_pause_stops_writes_on_both_sides(isolated, cli):
    """automatic_failover = true keeps the standby's origin enabled at priority 2: Front Door would send writes
    there as soon as the primary's origin is disabled (routing-methods "Priority"), before the final cycle. The
    pause disables both; nothing the primary acknowledged is missing on the standby at the switch."""
    world = make_world(isolated, kind="ahds")
    text = world.target_file.read_text()
    world.target_file.write_text(
        text.replace(
            'profile = "contosohealth-fd"\n',
            'profile = "contosohealth-fd"\naudience = "api://contoso-fhir"\nautomatic_failover = true\n',
        )
    )
    assert cli("--sim", "enable", "--apply", "--yes").exit_code == 0
    assert cli("--sim", "configure-endpoint", "--apply", "--yes").exit_code == 0
    assert _origins(world)["standby"]["enabledState"] == "Enabled"
    _workload(cli)
    _replicate(cli, world, 3)
    advance(world.store, 20)
    result = cli("--sim", "failover", "--apply", "--yes")
    assert result.exit_code == 0, result.output
    primary, standby = _versions(world, PRIMARY), _versions(world, STANDBY)
    assert set(primary) <= set(standby) and all(standby[k] == v for k, v in primary.items())
    origins = _origins(world)
    assert (origins["standby"]["priority"], origins["primary"]["priority"]) == (1, 2)
    assert origins["primary"]["enabledState"] == "Enabled"  # automatic_failover: the other one stays enabled
