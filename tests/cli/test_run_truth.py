"""A runbook run says what it verified, and only that: resumes re-read, overrides and warnings are named, the
result shows the state at the end, dropped connections are read again, and every way of stopping a run
(a prompt answered no, Ctrl-C, Ctrl-D, SIGTERM) leaves the journal closed with the documented exit code."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fhirdr.runbook.journal import read_journal
from fhirdr.sim import lifecycle
from fhirdr.sim.timeline import advance
from tests.conftest import make_world

REPO = Path(__file__).parents[2]
PEERINGS = "Microsoft.Network/virtualNetworks/virtualNetworkPeerings"


def _rows(stdout: str) -> dict[str, str]:
    """The table's rows by step id (a row's wrapped lines joined)."""
    rows: dict[str, str] = {}
    current = None
    for line in stdout.splitlines():
        if not line.startswith("│"):
            continue
        cells = [cell.strip() for cell in line.split("│")[1:-1]]
        if cells[0]:
            current = cells[0]
            rows[current] = " ".join(cells[1:])
        elif current:
            rows[current] += " " + " ".join(cells[1:])
    return rows


def _run_id(stderr: str) -> str:
    return stderr.split("--resume ")[1].split()[0].split("`")[0]


def _env(isolated: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "FHIRDR_STATE_DIR": str(isolated / "state"),
        "NO_COLOR": "1",
        "COLUMNS": "200",
        **extra,
    }


def _failed_back_world(isolated, cli, lag_ms: int):
    """A self-hosted world with DR on, failed over by an outage and recovered: ready for failback."""
    world = make_world(isolated, kind="self-hosted", replication_lag_ms=lag_ms)
    assert cli("--sim", "enable", "--apply", "--yes", "--wait").exit_code == 0
    lifecycle.outage(world.store, "westus2")
    advance(world.store, 10 * 60)
    lifecycle.recover(world.store, "westus2")
    return world


# -- resume re-reads what it skips, and refuses a run that finished -------------------------------------------


def test_resuming_a_finished_run_is_refused_and_points_to_a_plain_run(world, cli):
    """It skipped every step "verified earlier" after `sim init --force` had rebuilt the world, and said done."""
    done = cli("--sim", "-o", "json", "configure-private-link", "--apply", "--yes")
    assert done.exit_code == 0, done.output
    run_id = done.json()["run_id"]
    assert cli("sim", "init", "--force").exit_code == 0
    before = world.snapshot()

    again = cli("--sim", "configure-private-link", "--resume", run_id, "--yes")
    assert again.exit_code == 2, again.output
    assert f"run {run_id} finished (ok" in again.stderr and "there is nothing to resume" in again.stderr
    assert "`fhirdr --sim configure-private-link --apply`" in again.stderr
    assert "Traceback" not in again.output
    assert world.snapshot() == before
    assert [e["attempt"] for e in read_journal(run_id)] == [1] * len(read_journal(run_id))


def test_a_resumed_run_makes_again_what_was_verified_earlier_but_is_gone(world, cli):
    """Resume re-reads the facts of the steps verified in an earlier attempt (the plan reads them all,
    concurrently) and skips only those still in place."""
    world.store.add_fault("PUT", "*/virtualNetworkLinks/*", "500", 50, 0)
    stopped = cli("--sim", "configure-private-link", "--apply", "--yes")
    assert stopped.exit_code == 3, stopped.output
    run_id = _run_id(stopped.stderr)
    verified = {e["step"] for e in read_journal(run_id) if e["event"] == "step.verified"}
    assert "private-link.peer-primary-to-secondary" in verified
    world.store.clear_faults()
    primary_peering = next(p for p in world.store.by_type(PEERINGS) if "/fhir-vnet-westus2/" in p.id)
    world.store.delete(primary_peering.id)

    resumed = cli("--sim", "configure-private-link", "--resume", run_id, "--yes")
    assert resumed.exit_code == 0, resumed.output
    assert "no longer in place, so done again: private-link.peer-primary-to-secondary" in resumed.stderr
    second = [e for e in read_journal(run_id) if e["attempt"] == 2]
    assert ("change.applied", "private-link.peer-primary-to-secondary") in [(e["event"], e.get("step")) for e in second]
    skipped = {e["step"] for e in second if e["event"] == "step.skipped"}
    assert "private-link.secondary-vnet" in skipped and "private-link.peer-primary-to-secondary" not in skipped
    states = sorted(p.body["properties"]["peeringState"] for p in world.store.by_type(PEERINGS))
    assert states == ["Connected", "Connected"]


# -- overrides and warnings are said, not hidden under a check mark ------------------------------------------


def test_an_overridden_gate_is_named_in_the_progress_the_table_and_the_end(isolated, cli):
    """Replication 5 min behind keeps the gate closed; --force --reason overrides it (fhirdr/steps/failback.py)."""
    _failed_back_world(isolated, cli, lag_ms=300_000)
    result = cli("--sim", "failback", "--apply", "--yes", "--force", "--reason", "bridge call approved")
    assert result.exit_code == 0, result.output
    assert "✓ failback.replication-caught-up" not in result.stderr
    assert "! failback.replication-caught-up: --force: gate 'replication-caught-up' overridden by" in result.stderr
    assert "1 safety gate(s) overridden with --force" in result.stderr
    assert "everything is in place" not in result.stderr
    assert _rows(result.stdout)["failback.replication-caught-up"].startswith("overridden")


def test_warnings_that_remain_are_named_in_a_check_and_after_apply(isolated, cli):
    """An LRS export account keeps no copy in another region (AZURE-FACTS.md, $export: storage failover)."""
    make_world(isolated, cmk=True, export=True, mistakes=("lrs",))
    check = cli("--sim", "check-export")
    assert check.exit_code == 0, check.output
    assert "everything is in place" not in check.stderr
    assert "1 warning(s) remain" in check.stderr and "keeps no copy in another region" in check.stderr

    applied = cli("--sim", "check-export", "--apply", "--yes")
    assert applied.exit_code == 0, applied.output
    assert "✓ export.redundancy: in place" not in applied.stderr
    assert "! export.redundancy: in place, with a warning: " in applied.stderr
    assert "1 warning(s) remain" in applied.stderr and "everything is in place" not in applied.stderr


# -- the result shows the state at the end of the run ---------------------------------------------------------


def test_the_table_after_apply_shows_the_peerings_as_they_ended(world, cli):
    """The first peering is Initiated until its reverse exists, then both are Connected
    (azure-rest-api-specs specification/network/.../examples/VirtualNetworkPeeringCreate.json; AZURE-FACTS.md)."""
    result = cli("--sim", "configure-private-link", "--apply", "--yes")
    assert result.exit_code == 0, result.output
    rows = _rows(result.stdout)
    assert "Initiated" not in rows["private-link.peer-primary-to-secondary"]
    assert "Connected" in rows["private-link.peer-primary-to-secondary"]
    observed = next(e for e in reversed(read_journal(_journal_run(result))) if e["event"] == "run.observed")
    assert "Connected" in observed["observed"]["private-link.peer-primary-to-secondary"]


def test_the_table_after_failback_shows_the_lease_released(isolated, cli):
    _failed_back_world(isolated, cli, lag_ms=30_000)
    result = cli("--sim", "-o", "json", "failback", "--apply", "--yes")
    assert result.exit_code == 0, result.output
    steps = {s["id"]: s for s in result.json()["steps"]}
    assert steps["failback.lease"]["status"] == "applied"
    assert "held by" not in steps["failback.lease"]["observed"]
    assert steps["failback.lease"]["observed"].startswith("free")


def _journal_run(result) -> str:
    return result.stderr.rsplit("runs/", 1)[1].split(".jsonl")[0]


# -- a dropped connection on a POST or PATCH: read again, verify, or make it once more ------------------------


@pytest.mark.parametrize(
    ("kind", "event"),
    [("drop-after", "change.found-made"), ("drop", "change.retried")],
    ids=["dropped-after-the-change", "dropped-before-the-change"],
)
def test_a_patch_whose_connection_drops_is_read_again_not_failed(isolated, cli, kind, event):
    """azure-core retries no POST or PATCH after a connection error (azure/core/pipeline/policies/_retry.py,
    `_method_whitelist` and `_is_method_retryable`): the runner reads the step's facts to learn what happened."""
    world = make_world(isolated, kind="self-hosted", replication_lag_ms=30_000)
    fault = ("--kind", kind, "--method", "PATCH", "--path", "*/databaseAccounts/*")
    assert cli("sim", "fault", "add", *fault).exit_code == 0
    result = cli("--sim", "-o", "json", "enable", "--apply", "--yes", "--wait")
    assert result.exit_code == 0, result.output
    events = read_journal(result.json()["run_id"])
    kinds = [e["event"] for e in events if e.get("step") == "enable.cosmos-secondary"]
    assert "change.dropped" in kinds and event in kinds
    added = [e for e in world.store.events(limit=1000) if e["kind"] == "cosmos.region-added"]
    assert len(added) == 1  # made once, whether the first request got through or not


def test_a_failover_post_whose_answer_is_lost_is_verified_not_made_twice(isolated, cli):
    world = _failed_back_world(isolated, cli, lag_ms=30_000)
    world.store.add_fault("POST", "*/failoverPriorityChange", "drop-after", 1, 0)
    result = cli("--sim", "-o", "json", "failback", "--apply", "--yes")
    assert result.exit_code == 0, result.output
    events = read_journal(result.json()["run_id"])
    assert "change.found-made" in [e["event"] for e in events if e.get("step") == "failback.write-region"]
    manual = [e for e in world.store.events(limit=1000) if e["kind"] == "cosmos.failover-priority-change"]
    assert len([e for e in manual if "manual" in str(e)]) == 1


# -- --debug adds a traceback and keeps the exit code ----------------------------------------------------------


def test_debug_adds_the_traceback_and_keeps_the_exit_code(world, cli):
    world.store.add_fault("*", "*", "500", 1000, 0)
    plain = cli("--sim", "configure-private-link")
    debug = cli("--sim", "--debug", "configure-private-link")
    assert plain.exit_code == debug.exit_code == 3, debug.output
    assert "Traceback" not in plain.stderr and "Traceback" in debug.stderr
    world.store.clear_faults()
    bad = cli("--debug", "runs", "not/a/run")
    assert bad.exit_code == 2, bad.output and "Traceback" in bad.stderr


# -- credentials resolved once, before reads fan out ----------------------------------------------------------


def test_without_credentials_status_fails_in_one_line_after_one_sign_in_attempt(world, isolated):
    """Without a credential every reading thread ran DefaultAzureCredential's chain (148 attempts, 17 s).
    AZURE_TOKEN_CREDENTIALS selects one credential of the chain (azure-identity 1.27,
    azure/identity/_credentials/default.py); AzureCliCredential runs `az account get-access-token`, here an
    `az` that answers as a signed-out Azure CLI does."""
    bin_dir = isolated / "bin"
    bin_dir.mkdir()
    calls = isolated / "az-calls"
    az = bin_dir / "az"
    az.write_text(
        f'#!/bin/sh\necho "$*" >> {calls}\necho "ERROR: Please run \'az login\' to setup account." >&2\nexit 1\n'
    )
    az.chmod(0o755)
    env = _env(
        isolated,
        PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        AZURE_TOKEN_CREDENTIALS="AzureCliCredential",
        AZURE_CONFIG_DIR=str(isolated / "azure-config"),
    )
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "fhirdr", "status"], cwd=isolated, env=env, capture_output=True, text=True, timeout=60
    )
    elapsed = time.monotonic() - started
    assert proc.returncode == 3, proc.stderr
    assert len(calls.read_text().splitlines()) == 1  # one sign-in, not one per reading thread
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("error: authentication failed while signing in to Azure"), lines
    assert lines[1].startswith("hint: sign in with `az login`")
    assert "Connection pool is full" not in proc.stderr and proc.stdout == ""
    assert elapsed < 15


# -- a prompt answered no, Ctrl-C or Ctrl-D at it -------------------------------------------------------------


def _at_the_prompt(isolated: Path, keys: bytes) -> tuple[int, str]:
    """Run `configure-private-link --apply` on a terminal, type `keys` at its confirmation prompt."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: fhirdr on the terminal
        os.chdir(isolated)
        command = [sys.executable, "-m", "fhirdr", "--sim", "configure-private-link", "--apply"]
        os.execve(sys.executable, command, _env(isolated))
    output = b""
    deadline = time.monotonic() + 60
    typed = False
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
        if not typed and b"[y/N]" in output:
            os.write(fd, keys)
            typed = True
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), output.decode(errors="replace")


@pytest.mark.parametrize(
    ("keys", "code", "words"),
    [
        (b"\x03", 130, "interrupted at the confirmation; nothing was changed"),
        (b"\x04", 4, "not confirmed; nothing was changed"),
        (b"n\r", 4, "not confirmed; nothing was changed"),
    ],
    ids=["ctrl-c", "ctrl-d", "no"],
)
def test_the_confirmation_prompt_answers_with_the_documented_exit_codes(world, isolated, keys, code, words):
    before = world.snapshot()
    exit_code, output = _at_the_prompt(isolated, keys)
    assert exit_code == code, output
    assert words in output and "Aborted!" not in output and "Traceback" not in output
    assert world.snapshot() == before


# -- SIGTERM stops a run as Ctrl-C does ------------------------------------------------------------------------


def _terminate_after(isolated: Path, args: list[str], seconds: float) -> tuple[int, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "fhirdr", *args],
        cwd=isolated,
        env=_env(isolated, FHIRDR_SIM_LATENCY_MS="25"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(seconds)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err


def test_sigterm_during_an_apply_closes_the_journal_and_the_run_resumes(world, isolated, cli):
    # The zone link's operation runs until the fault is cleared: the run is caught at work, polling it.
    world.store.add_fault("PUT", "*/virtualNetworkLinks/*", "stuck-async", 1, 0)
    code, err = _terminate_after(isolated, ["--sim", "configure-private-link", "--apply", "--yes"], 4)
    assert code == 130, err
    assert "terminated (SIGTERM); the journal is closed" in err and "Traceback" not in err
    run_id = _run_id(err)
    events = read_journal(run_id)
    assert ("step.interrupted", "private-link.link-secondary-vnet") in [(e["event"], e.get("step")) for e in events]
    assert events[-1]["event"] == "run.finished" and events[-1]["status"] == "interrupted"
    world.store.clear_faults()
    resumed = cli("--sim", "configure-private-link", "--resume", run_id, "--yes")
    assert resumed.exit_code == 0, resumed.output


def test_sigterm_during_a_drill_closes_the_journal_and_the_drill_resumes(isolated, cli):
    world = make_world(isolated, kind="self-hosted", dr_enabled=True, replication_lag_ms=45_000)
    code, err = _terminate_after(isolated, ["--sim", "drill"], 3)
    assert code == 130, err
    assert "drill terminated (SIGTERM); the journal is closed" in err and "Traceback" not in err
    run_id = _run_id(err)
    events = read_journal(run_id)
    assert events[-1] == {**events[-1], "event": "run.finished", "status": "interrupted"}
    resumed = cli("--sim", "-o", "json", "drill", "--resume", run_id)
    assert resumed.exit_code == 0, resumed.output
    service = lifecycle.services(world.store)[0]
    assert world.store.fhir_all_latest(service, "Basic", world.store.fhir_last_seq(service)) == []
