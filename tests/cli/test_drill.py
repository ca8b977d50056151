"""drill and test-plan: numbers checked against what the sim did, reports that parse, resume, refusals."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from xml.etree import ElementTree as ET

import xmlschema

from fhirdr.runbook.journal import read_journal
from fhirdr.sim import lifecycle
from fhirdr.sim.store import Store
from tests.conftest import make_world


def _store(isolated: Path) -> Store:
    return Store(isolated / "state" / "sim.sqlite")


def _events(store: Store, kind: str) -> list[dict]:
    return [e for e in store.events(limit=100_000) if e["kind"] == kind]


def test_a_full_drill_measures_what_the_sim_did(isolated, cli):
    result = cli("--sim", "-o", "json", "drill", "--report-dir", "reports")
    assert result.exit_code == 0, result.output
    doc = result.json()
    store = _store(isolated)
    service = lifecycle.services(store)[0]

    lost_in_sim = {w["id"] for w in store.fhir_lost(service)}
    lost_in_drill = {c["id"] for c in doc["canaries"] if c["fate"] == "lost"}
    assert lost_in_drill == lost_in_sim and lost_in_sim  # the writes not replicated at the outage
    outage = _events(store, "region.outage")[0]["time"]
    failover = _events(store, "lifecycle.failover")[0]["time"]
    m = doc["measurements"]
    assert m["rto_seconds"] == failover - outage == 600
    earliest_lost = min(datetime.fromisoformat(c["at"]).timestamp() for c in doc["canaries"] if c["fate"] == "lost")
    assert m["rpo_seconds"] == outage - earliest_lost
    assert m["lost_by_failback"] == 0
    assert m["latency_ms"]["recovery"] > m["latency_ms"]["steady-before"]  # compute and data apart
    assert doc["passed"] is True

    # the drill leaves nothing behind
    assert store.fhir_all_latest(service, "Basic", store.fhir_last_seq(service)) == []

    reports = Path("reports")
    page = ET.parse(reports / "drill.html").getroot()
    assert page.tag == "{http://www.w3.org/1999/xhtml}html"
    assert page.find(".//{http://www.w3.org/2000/svg}svg") is not None
    assert "PASSED" in (reports / "drill.md").read_text()
    schema = xmlschema.XMLSchema(Path(__file__).parents[1] / "data" / "junit.xsd")
    schema.validate(reports / "drill.junit.xml")
    suites = ET.parse(reports / "drill.junit.xml").getroot()
    assert suites.tag == "testsuites"
    (suite,) = suites.findall("testsuite")
    cases = suite.findall("testcase")
    assert int(suite.get("tests")) == len(cases) == 12 and suite.get("failures") == "0"
    for attribute in ("name", "errors", "skipped", "time", "timestamp"):
        assert suite.get(attribute) is not None
    assert all(case.get("classname") and case.get("name") and case.get("time") is not None for case in cases)
    journal_lines = (reports / "drill.journal.jsonl").read_text().splitlines()
    assert all(json.loads(line)["run_id"] == doc["run_id"] for line in journal_lines)


def test_a_drill_that_misses_its_rto_exits_1_with_a_failing_test_case(isolated, cli):
    make_world(isolated, kind="self-hosted", dr_enabled=True, detection_delay_minutes=20)
    text = Path("fhirdr.toml").read_text().replace("rto_minutes = 60", "rto_minutes = 15")
    Path("fhirdr.toml").write_text(text)
    result = cli("--sim", "drill", "--report-dir", "reports")
    assert result.exit_code == 1, result.output
    xmlschema.XMLSchema(Path(__file__).parents[1] / "data" / "junit.xsd").validate("reports/drill.junit.xml")
    failures = ET.parse("reports/drill.junit.xml").getroot().findall(".//failure")
    assert [f.get("type") for f in failures] == ["TargetMissed"]
    assert failures[0].get("message") == "observed 20 min, target 15 min"


def test_a_drill_against_a_target_not_marked_as_test_is_refused(isolated, cli):
    world = make_world(isolated, kind="self-hosted", dr_enabled=True)
    text = world.target_file.read_text().replace("test_environment = true", "test_environment = false")
    world.target_file.write_text(text)
    result = cli("--sim", "drill")
    assert result.exit_code == 4, result.output
    assert "not marked as a test environment" in result.stderr
    assert world.store.fhir_last_seq(lifecycle.services(world.store)[0]) == 0


def test_a_drill_needs_dr_on(isolated, cli):
    make_world(isolated, kind="self-hosted")
    result = cli("--sim", "drill")
    assert result.exit_code == 1, result.output
    assert "DR is not on" in result.stderr


def test_an_interrupted_drill_resumes_and_still_measures_correctly(isolated, cli):
    world = make_world(isolated, kind="self-hosted", dr_enabled=True, replication_lag_ms=45_000)
    world.store.add_fault("POST", "*/failoverPriorityChange", "500", 50, 0)
    stopped = cli("--sim", "drill")
    assert stopped.exit_code == 3, stopped.output
    run_id = stopped.stderr.split("--resume ")[1].split("`")[0].strip()
    world.store.clear_faults()

    resumed = cli("--sim", "-o", "json", "drill", "--resume", run_id)
    assert resumed.exit_code == 0, resumed.output
    doc = resumed.json()
    events = read_journal(run_id)
    assert {e["attempt"] for e in events} == {1, 2}
    first_attempt_canaries = [e for e in events if e["event"] == "drill.canary" and e["attempt"] == 1]
    assert len(first_attempt_canaries) > 100
    assert len(doc["canaries"]) > len(first_attempt_canaries)
    lost_in_sim = {w["id"] for w in world.store.fhir_lost(lifecycle.services(world.store)[0])}
    assert {c["id"] for c in doc["canaries"] if c["fate"] == "lost"} == lost_in_sim
    assert doc["measurements"]["rto_seconds"] == 600


def test_a_manual_failover_drill_loses_nothing(isolated, cli):
    make_world(isolated, kind="self-hosted", dr_enabled=True, replication_lag_ms=45_000)
    result = cli("--sim", "-o", "json", "drill", "--disruption", "manual-failover", "--failed-over", "20m")
    assert result.exit_code == 0, result.output
    m = result.json()["measurements"]
    assert (m["lost_writes"], m["writes_failed"], m["rto_seconds"]) == (0, 0, 0.0)


def test_test_plan_for_a_managed_target_carries_the_ticket_and_the_checks_that_apply(world, cli):
    result = cli("test-plan")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "DR tests cover data, not compute" in text
    assert f"- Subscription: {world.spec.subscription}" in text
    assert "- Preferred failover region: westcentralus" in text and "- Service name: fhirdemo" in text
    assert "RPO: 15 min" in text and "RTO: 60 min" in text
    assert "### Private Link" in text and "Customer-managed key" not in text
    assert "costs about twice as much" in text

    document = cli("-o", "json", "test-plan").json()
    assert [s["owner"] for s in document["steps"]][:3] == ["customer", "fhirdr", "customer"]
    assert [c["area"] for c in document["configuration"]] == ["Private Link"]

    assert cli("test-plan", "--out", "plan.md").exit_code == 0
    assert Path("plan.md").read_text().startswith("# DR test plan — fhirdemo")


def test_ctrl_c_stops_a_drill_with_130_and_resume_finishes_it(isolated, cli):
    import os
    import signal
    import subprocess
    import sys
    import time

    world = make_world(isolated, kind="self-hosted", dr_enabled=True, replication_lag_ms=45_000)
    env = {**os.environ, "FHIRDR_SIM_LATENCY_MS": "25", "NO_COLOR": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "fhirdr", "--sim", "drill"],
        cwd=isolated,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    run_id = err.split("--resume ")[1].split("`")[0].strip()
    assert any(e["event"] == "drill.canary" for e in read_journal(run_id))

    resumed = cli("--sim", "-o", "json", "drill", "--resume", run_id)
    assert resumed.exit_code == 0, resumed.output
    service = lifecycle.services(world.store)[0]
    assert world.store.fhir_all_latest(service, "Basic", world.store.fhir_last_seq(service)) == []
    assert resumed.json()["measurements"]["rto_seconds"] == 600


def test_sim_init_can_build_a_world_with_dr_on_for_drills(isolated, cli):
    assert cli("sim", "init").exit_code == 0
    refused = cli("--sim", "drill")
    assert refused.exit_code == 1 and "--dr-enabled" in refused.stderr
    assert cli("sim", "init", "--force", "--kind", "self-hosted", "--dr-enabled").exit_code == 0
    result = cli("--sim", "drill", "--failed-over", "20m", "--steady", "5m")
    assert result.exit_code == 0, result.output


def test_a_drill_on_a_managed_world_fails_back_through_support(isolated, cli):
    assert cli("sim", "init", "--dr-enabled", "--replication-lag", "45").exit_code == 0
    result = cli("--sim", "-o", "json", "drill", "--failed-over", "30m", "--steady", "5m")
    assert result.exit_code == 0, result.output
    doc = result.json()
    assert doc["kind"] == "managed"
    assert doc["measurements"]["rto_seconds"] == 600 and doc["measurements"]["lost_by_failback"] == 0
