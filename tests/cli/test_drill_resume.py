"""A drill stopped anywhere is finished by its resume, reports what the journal holds, and is not forgotten by the
next drill: a killed drill's canaries and mid-drill world are named, with the command that finishes it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from fhirdr.runbook.journal import journal_path, read_journal
from fhirdr.sim import lifecycle
from tests.cli import test_drill_truth as _truth
from tests.conftest import World, make_world

# The Ctrl-C-at-a-phase-boundary fixture and the run id reader are the drill truth tests'.
ctrl_c_after = _truth.ctrl_c_after
_run_id = _truth._run_id
SHORT = ("--steady", "3m", "--failed-over", "15m")


def _canaries_in_store(world: World) -> list[dict]:
    service = lifecycle.services(world.store)[0]
    return world.store.fhir_all_latest(service, "Basic", world.store.fhir_last_seq(service))


def _figures(doc: dict) -> dict:
    m = doc["measurements"]
    return {
        "criteria": [(c["name"], c["observed"], c["passed"]) for c in doc["criteria"]],
        "measurements": {k: v for k, v in m.items() if k not in ("outage_at", "writes_back_at")},
        "canaries": [(c["n"], c["phase"], c["status"], c["fate"]) for c in doc["canaries"]],
    }


def test_a_drill_killed_between_its_cleanup_and_its_verdict_resumes_to_its_report(isolated, cli):
    """It said "has finished (ended); there is nothing to resume" and its reports were never written."""
    make_world(isolated, kind="backing", dr_enabled=True, replication_lag_ms=45_000)
    done = cli("--sim", "-o", "json", "drill", *SHORT, "--report-dir", "reports")
    assert done.exit_code == 0, done.output
    run_id = done.json()["run_id"]
    shutil.rmtree("reports")
    # kill -9 after the cleanup phase: the journal, fsynced line by line, keeps exactly that prefix.
    path = journal_path(run_id)
    lines = path.read_text().splitlines()
    cut = next(
        i for i, line in enumerate(lines) if '"drill.phase-ended"' in line and json.loads(line)["phase"] == "cleanup"
    )
    path.write_text("\n".join(lines[: cut + 1]) + "\n")

    resumed = cli("--sim", "-o", "json", "drill", "--resume", run_id)
    assert resumed.exit_code == 0, resumed.output
    assert _figures(resumed.json()) == _figures(done.json())
    assert Path("reports/drill.md").exists()
    second = [e for e in read_journal(run_id) if e["attempt"] == 2]
    assert not [e for e in second if e["event"] in ("drill.canary", "drill.phase-started")]  # nothing ran again

    again = cli("--sim", "drill", "--resume", run_id)
    assert again.exit_code == 2, again.output
    assert "has finished (passed); there is nothing to resume" in again.stderr


def test_a_drill_after_a_killed_one_names_it_and_how_to_finish_it(isolated, cli, ctrl_c_after):
    """Killed after its disruption, the drill left the world failed over and its canaries in the store."""
    world = make_world(isolated, kind="backing", dr_enabled=True)
    ctrl_c_after("failed-over")
    stopped = cli("--sim", "drill", *SHORT)
    assert stopped.exit_code == 130, stopped.output
    run_id = _run_id(stopped.stderr)
    assert _canaries_in_store(world)

    refused = cli("--sim", "drill", *SHORT)
    assert refused.exit_code == 4, refused.output
    assert f"drill {run_id} did not finish" in refused.stderr
    assert f"`fhirdr --sim drill --resume {run_id}` finishes it" in refused.stderr

    resumed = cli("--sim", "drill", "--resume", run_id)
    assert resumed.exit_code == 0, resumed.output
    assert _canaries_in_store(world) == []
    after = cli("--sim", "drill", *SHORT)
    assert after.exit_code == 0, after.output
    assert "did not finish" not in after.stderr


def test_a_drill_after_a_killed_one_in_a_steady_world_says_it_removes_its_canaries(isolated, cli, ctrl_c_after):
    world = make_world(isolated, kind="backing", dr_enabled=True)
    ctrl_c_after("steady-before")
    stopped = cli("--sim", "drill", *SHORT)
    assert stopped.exit_code == 130, stopped.output
    run_id = _run_id(stopped.stderr)
    left = len(_canaries_in_store(world))

    result = cli("--sim", "drill", *SHORT)
    assert result.exit_code == 0, result.output
    assert f"earlier drill(s) did not finish ({run_id}): this drill removes the canaries they left" in result.stderr
    assert f"{left} canaries left by earlier drills removed" in result.stdout
    assert _canaries_in_store(world) == []
    again = cli("--sim", "drill", *SHORT)
    assert again.exit_code == 0, again.output
    assert "did not finish" not in again.stderr and "canaries left by earlier drills" not in again.stdout


@pytest.mark.parametrize("kind", ["drop-after", "drop"])
def test_a_manual_failover_whose_connection_drops_is_read_again(isolated, cli, kind):
    """The drill's failover is a POST (failoverPriorityChange), which azure-core does not retry after a dropped
    connection (azure/core/pipeline/policies/_retry.py, `_is_method_retryable`): it ended the drill with exit 3."""
    world = make_world(isolated, kind="self-hosted", dr_enabled=True, replication_lag_ms=45_000)
    world.store.add_fault("POST", "*/failoverPriorityChange", kind, 1, 0)
    result = cli("--sim", "-o", "json", "drill", "--disruption", "manual-failover", *SHORT)
    assert result.exit_code == 0, result.output
    changes = [e for e in world.store.events(limit=5000) if e["kind"] == "cosmos.failover-priority-change"]
    assert len(changes) == 2  # the drill's failover and its failback, each once
    assert result.json()["measurements"]["lost_writes"] == 0
