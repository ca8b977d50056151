"""`fhirdr --sim drill` on an ahds target: canaries through the Front Door, replication, an outage, fhirdr's
unplanned failover, replication reversed, failback, and the data loss measured from the canaries.

Azure offers no DR for the AHDS FHIR service (AZURE-FACTS, AHDS), so the failover is fhirdr's own runbook;
Front Door's priority routing (learn.microsoft.com azure/frontdoor/routing-methods) is what moves clients.
"""

from __future__ import annotations

import json

import pytest

from fhirdr.replication.times import parse_instant
from tests.conftest import ahds_with_front_door, make_world


@pytest.fixture
def ahds(isolated, cli):
    world = ahds_with_front_door(isolated, cli)
    assert "test_environment = true" in world.target_file.read_text()
    assert cli("--sim", "replicate").exit_code == 0
    return world


def _events(isolated, run_id):
    path = isolated / "state" / "runs" / f"{run_id}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_an_unplanned_drill_loses_exactly_the_canaries_after_the_last_watermark(ahds, cli, isolated):
    """The canaries the primary acknowledged after the last verified watermark never reached the standby: the
    drill counts them as lost (real data loss), and only them; every canary written while failed over survives
    the failback; RTO is the time from the first refused write to the first accepted one after the switch."""
    result = cli("--sim", "-o", "json", "drill", "--rate", "20s", "--steady", "5m", "--failed-over", "10m")
    assert result.exit_code in (0, 1), result.output
    document = result.json()
    assert document["kind"] == "ahds" and document["failed_phase"] is None
    events = _events(isolated, document["run_id"])
    outage = parse_instant(document["measurements"]["outage_at"])
    forward = [
        e
        for e in events
        if e.get("event") == "drill.replication" and e["status"] == "ok" and e["direction"] == "primary"
    ]
    last = max(parse_instant(e["watermark"]) for e in forward if e["at"] < outage)
    canaries = document["canaries"]
    expected = {
        c["n"]
        for c in canaries
        if c["status"] == 201 and c["phase"] in ("steady-before", "disruption") and parse_instant(c["at"]) >= last
    }
    lost = {c["n"] for c in canaries if c["fate"] == "lost"}
    assert lost and lost == expected
    assert document["measurements"]["lost_writes"] == len(lost)
    assert document["measurements"]["lost_by_failback"] == 0
    rto = document["measurements"]["rto_seconds"]
    assert 120 <= rto <= 600  # the detection delay, then the switch
    assert {"failover", "failback"} <= {e.get("step", "").split(".")[0] for e in events if e.get("step")}
    left = [c for c in canaries if c["fate"] == "unknown"]
    assert not left and document["criteria"][-1]["observed"] == 0  # verified and cleaned up


def test_a_drill_refuses_an_ahds_target_without_a_front_door(isolated, cli):
    """The canaries are the clients: they need the one endpoint (configure-endpoint) to write through."""
    make_world(isolated, kind="ahds")
    assert cli("--sim", "enable", "--apply", "--yes").exit_code == 0
    assert cli("--sim", "replicate").exit_code == 0
    result = cli("--sim", "drill")
    assert result.exit_code == 2, result.output
    assert "configure-endpoint" in result.output
