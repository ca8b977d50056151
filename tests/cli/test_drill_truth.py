"""A drill tests something or refuses, and every figure it reports is true, also after a resume."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
import xmlschema

from fhirdr.paths import journal_dir
from fhirdr.runbook import journal as journal_module
from fhirdr.runbook.journal import journal_path, read_journal
from fhirdr.sim import lifecycle
from tests.conftest import World, make_world

# Short enough for the suite, long enough that the failover (10 min detection) falls inside the window.
SHORT = ("--steady", "3m", "--failed-over", "15m")
SCHEMA = Path(__file__).parents[1] / "data" / "junit.xsd"


def _canaries_in_store(world: World) -> list[dict]:
    service = lifecycle.services(world.store)[0]
    return world.store.fhir_all_latest(service, "Basic", world.store.fhir_last_seq(service))


def _journals() -> list[Path]:
    return sorted(journal_dir().glob("*.jsonl")) if journal_dir().exists() else []


def _run_id(stderr: str) -> str:
    return stderr.split("--resume ")[1].split("`")[0].strip()


@pytest.fixture
def ctrl_c_after(monkeypatch: pytest.MonkeyPatch):
    """Ctrl-C right after the journal line `drill.phase-ended` of a phase is written (a phase boundary)."""

    def arm(phase: str) -> None:
        write = journal_module.JournalWriter.__call__
        fired = []

        def interrupting(self, event):  # type: ignore[no-untyped-def]
            write(self, event)
            if not fired and event.get("event") == "drill.phase-ended" and event.get("phase") == phase:
                fired.append(phase)
                raise KeyboardInterrupt

        monkeypatch.setattr(journal_module.JournalWriter, "__call__", interrupting)

    return arm


def _figures(doc: dict) -> dict:
    """Everything a drill measured, without what differs between two runs (run id, wall-clock stamps)."""
    m = doc["measurements"]
    return {
        "passed": doc["passed"],
        "criteria": [(c["name"], c["observed"], c["passed"], c.get("bound"), c.get("below")) for c in doc["criteria"]],
        "measurements": {k: v for k, v in m.items() if k not in ("outage_at", "writes_back_at")},
        "canaries": [(c["n"], c["phase"], c["status"], c["fate"]) for c in doc["canaries"]],
        "phases": sorted(doc["phases"]),
        "failed_phase": doc.get("failed_phase"),
    }


# -- 1. steady state first ------------------------------------------------------------------------------


def test_a_drill_after_an_unfailed_back_outage_is_refused_and_says_to_fail_back(isolated, cli):
    """After recovery the region is secondary and the data stays in the other region until a manual failback
    (MicrosoftDocs/azure-docs articles/healthcare-apis/azure-api-for-fhir/disaster-recovery.md, "Affected region
    recovery" and "Manual failback"): a drill started there measured RTO 0 and passed."""
    world = make_world(isolated, kind="backing", dr_enabled=True)
    for command in (("outage", "westus2"), ("advance", "15m"), ("recover", "westus2")):
        assert cli("sim", *command).exit_code == 0
    writes = world.store.fhir_last_seq(lifecycle.services(world.store)[0])

    refused = cli("--sim", "drill")
    assert refused.exit_code == 4, refused.output
    assert "not in a steady state" in refused.stderr
    assert "the data is in westcentralus, not in the primary westus2" in refused.stderr
    assert "fhirdr --sim failback" in refused.stderr
    assert world.store.fhir_last_seq(lifecycle.services(world.store)[0]) == writes  # not one canary
    assert _journals() == []

    assert cli("--sim", "failback", "--apply", "--yes").exit_code == 0
    result = cli("--sim", "-o", "json", "drill", *SHORT)
    assert result.exit_code == 0, result.output
    assert result.json()["measurements"]["rto_seconds"] == 600


def test_a_drill_while_the_secondary_is_down_is_refused(isolated, cli):
    """Replication into a region that is down cannot be measured (Cosmos DB ReplicationLatency has no points for
    it; MicrosoftDocs/azure-docs articles/cosmos-db/monitor-reference.md): no steady state to start from."""
    make_world(isolated, kind="backing", dr_enabled=True)
    assert cli("sim", "outage", "westcentralus").exit_code == 0
    assert cli("sim", "advance", "5m").exit_code == 0
    refused = cli("--sim", "drill")
    assert refused.exit_code == 4, refused.output
    assert "replication into westcentralus is not measured" in refused.stderr


def test_a_drill_during_an_outage_is_refused_and_says_to_wait_for_the_region(isolated, cli):
    """Before the automatic failover the primary's endpoint answers 503 and Traffic Manager serves from the
    secondary (MicrosoftDocs/azure-docs articles/healthcare-apis/azure-api-for-fhir/disaster-recovery.md,
    "Automatic failover"): no drill until the region is back."""
    make_world(isolated, kind="backing", dr_enabled=True)
    assert cli("sim", "outage", "westus2").exit_code == 0
    refused = cli("--sim", "drill")
    assert refused.exit_code == 4, refused.output
    assert "the FHIR endpoint does not answer /metadata (HTTP 503)" in refused.stderr
    assert "wait until every region is back" in refused.stderr
    assert _journals() == []


# -- 2. a phase that cannot do its part fails the drill, with every report ----------------------------


def test_a_drill_whose_failback_gates_never_open_fails_with_every_report(isolated, cli):
    """Replication 20 min behind keeps the failback gate closed (fhirdr/steps/failback.py, the article's manual
    failback waits for replication: MicrosoftDocs/azure-docs articles/healthcare-apis/azure-api-for-fhir/
    disaster-recovery.md). It exited 2 with no report."""
    world = make_world(isolated, kind="backing", dr_enabled=True, replication_lag_ms=1_200_000)
    result = cli("--sim", "-o", "json", "drill", *SHORT, "--failback-wait", "30m", "--report-dir", "reports")
    assert result.exit_code == 1, result.output
    doc = result.json()
    assert doc["failed_phase"]["phase"] == "failback"
    assert doc["failed_phase"]["error"].startswith("failback gates still refuse after waiting 30 min")
    assert "replication into westus2 is 1200 s behind" in doc["failed_phase"]["error"]
    assert doc["passed"] is False and doc["phases_not_run"] == ["steady-after"]
    assert "drill failed in phase failback" in result.stderr

    reports = Path("reports")
    assert sorted(p.name for p in reports.iterdir()) == [
        "drill.html",
        "drill.journal.jsonl",
        "drill.junit.xml",
        "drill.md",
    ]
    xmlschema.XMLSchema(SCHEMA).validate(reports / "drill.junit.xml")
    cases = {c.get("name"): c for c in ET.parse(reports / "drill.junit.xml").getroot().iter("testcase")}
    assert cases["failback"].find("failure").get("type") == "PhaseFailed"
    assert cases["steady-after"].find("skipped") is not None
    assert "The drill failed in phase failback" in (reports / "drill.md").read_text()
    assert "failed in phase failback" in (reports / "drill.html").read_text()
    assert _canaries_in_store(world) == []  # verify and cleanup still ran
    events = read_journal(doc["run_id"])
    assert [e["status"] for e in events if e["event"] == "run.finished"] == ["failed"]


# -- 3. the report folder is checked before anything happens ------------------------------------------


@pytest.mark.parametrize(
    ("report_dir", "words"),
    [("a-file", "is a file, not a folder"), ("a-file/reports", "cannot be created")],
)
def test_a_report_dir_that_cannot_hold_reports_is_refused_before_the_drill(isolated, cli, report_dir, words):
    world = make_world(isolated, kind="backing", dr_enabled=True)
    Path("a-file").write_text("not a folder")
    result = cli("--sim", "drill", "--report-dir", report_dir)
    assert result.exit_code == 2, result.output
    assert words in result.stderr and "Traceback" not in result.output
    assert world.store.fhir_last_seq(lifecycle.services(world.store)[0]) == 0
    assert _journals() == [] and not any(e["kind"] == "region.outage" for e in world.store.events(limit=1000))


# -- 4. a resumed drill keeps the run's options -------------------------------------------------------


def test_resume_uses_the_options_of_the_run_and_explicit_ones_win(isolated, cli, ctrl_c_after):
    make_world(isolated, kind="backing", dr_enabled=True, replication_lag_ms=45_000)
    ctrl_c_after("steady-before")
    stopped = cli("--sim", "drill", "--report-dir", "reports", "--rate", "20s", *SHORT)
    assert stopped.exit_code == 130, stopped.output
    run_id = _run_id(stopped.stderr)
    assert "keeps this run's options" in stopped.stderr
    context = next(e for e in read_journal(run_id) if e["event"] == "run.context")
    assert context["options"]["report_dir"] == "reports" and context["options"]["rate"] == "20s"

    resumed = cli("--sim", "-o", "json", "drill", "--resume", run_id, "--steady", "4m")
    assert resumed.exit_code == 0, resumed.output
    assert "--report-dir reports" in resumed.stderr and "--rate 20s" in resumed.stderr
    assert "--steady 4m (the run had 3m)" in resumed.stderr
    assert Path("reports/drill.md").exists()
    assert resumed.json()["measurements"]["canary_rate_seconds"] == 20


# -- 5. the RPO is a bound; every figure has its unit ----------------------------------------------------


def test_the_rpo_is_a_bound_of_the_canary_rate_and_every_figure_has_a_unit(isolated, cli):
    """45 s of replication lag loses the canary written 30 s before the outage, not the one 60 s before: the RPO
    is at least 30 s and the canaries cannot say more (Cosmos DB replication lag: MicrosoftDocs/azure-docs
    articles/cosmos-db/consistency-levels.md)."""
    make_world(isolated, kind="backing", dr_enabled=True, replication_lag_ms=45_000)
    result = cli("--sim", "drill", *SHORT, "--report-dir", "reports")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "≥ 30 s (canary every 30 s)" in text and "RPO ≥ 30 s (canary every 30 s)" in text
    assert "15 min" in text and "60 min" in text and "10 min" in text and "0 writes" in text
    assert "None" not in result.output
    md = Path("reports/drill.md").read_text()
    assert "| RPO | 15 min | ≥ 30 s (canary every 30 s) | pass |" in md
    assert "| RTO | 60 min | 10 min | pass |" in md
    assert "None" not in md and "None" not in Path("reports/drill.html").read_text()


def test_a_drill_that_loses_nothing_says_the_rpo_is_below_the_canary_gap(isolated, cli):
    make_world(isolated, kind="backing", dr_enabled=True, replication_lag_ms=45_000)
    result = cli("--sim", "drill", "--disruption", "manual-failover", *SHORT)
    assert result.exit_code == 0, result.output
    assert "< 30 s (none lost; canary every 30 s)" in result.stdout
    assert "None" not in result.output


# -- 6. rates that run for ever or measure nothing ------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--rate", "500ms"), "too fast"),
        (("--rate", "10m"), "fewer than 3 canaries"),
        (
            ("--rate", "6m", "--failed-over", "15m", "--steady", "30m"),
            "fewer than 3 canaries in the 900 s of --failed-over",
        ),
    ],
)
def test_rates_that_would_run_for_ever_or_measure_nothing_are_refused(isolated, cli, args, words):
    world = make_world(isolated, kind="backing", dr_enabled=True)
    result = cli("--sim", "drill", *args)
    assert result.exit_code == 2, result.output
    assert words in result.stderr
    assert world.store.fhir_last_seq(lifecycle.services(world.store)[0]) == 0


# -- 7. the failback inside a drill does not end the drill's run ----------------------------------------


def test_a_drill_killed_after_its_failback_is_not_listed_as_finished(isolated, cli):
    make_world(isolated, kind="backing", dr_enabled=True)
    result = cli("--sim", "-o", "json", "drill", *SHORT)
    assert result.exit_code == 0, result.output
    run_id = result.json()["run_id"]
    events = read_journal(run_id)
    assert [e["event"] for e in events if e["event"].startswith("run.")] == ["run.context", "run.finished"]
    assert [e["status"] for e in events if e["event"] == "runbook.finished"] == ["ok"]

    # kill -9 right after the failback phase: the journal is fsynced line by line, so it keeps exactly a prefix.
    path = journal_path(run_id)
    lines = path.read_text().splitlines()
    cut = next(
        i for i, line in enumerate(lines) if '"drill.phase-ended"' in line and json.loads(line)["phase"] == "failback"
    )
    path.write_text("\n".join(lines[: cut + 1]) + "\n")
    listed = cli("-o", "json", "runs").json()
    assert [(r["run_id"], r["status"]) for r in listed] == [(run_id, "unfinished")]


# -- 8. a resumed drill reports what an uninterrupted one does, phase by phase ---------------------------


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The figures of a drill nobody interrupted (45 s lag: one lost write, RPO at least 30 s)."""
    import os

    from typer.testing import CliRunner

    from fhirdr.cli.app import app

    home = tmp_path_factory.mktemp("uninterrupted")
    make_world(home, kind="backing", dr_enabled=True, replication_lag_ms=45_000)
    env = {"NO_COLOR": "1", "COLUMNS": "220", "FHIRDR_STATE_DIR": str(home / "state")}
    cwd = os.getcwd()
    os.chdir(home)
    try:
        result = CliRunner().invoke(app, ["--sim", "-o", "json", "drill", *SHORT], env=env)
    finally:
        os.chdir(cwd)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize(
    "boundary", ["steady-before", "disruption", "failed-over", "recovery", "failback", "steady-after", "verify"]
)
def test_a_drill_resumed_at_a_phase_boundary_reports_the_figures_of_an_uninterrupted_one(
    isolated, cli, ctrl_c_after, uninterrupted, boundary
):
    """Resumed after verify it said 0 lost writes and RPO 0 where the uninterrupted drill measured 1 and 30 s."""
    world = make_world(isolated, kind="backing", dr_enabled=True, replication_lag_ms=45_000)
    ctrl_c_after(boundary)
    stopped = cli("--sim", "drill", *SHORT)
    assert stopped.exit_code == 130, stopped.output

    resumed = cli("--sim", "-o", "json", "drill", "--resume", _run_id(stopped.stderr))
    assert resumed.exit_code == 0, resumed.output
    doc = resumed.json()
    assert _figures(doc) == _figures(uninterrupted)
    assert (doc["measurements"]["lost_writes"], doc["measurements"]["rpo_seconds"]) == (1, 30.0)
    assert _canaries_in_store(world) == []


# -- 9. a finished drill is not resumed; a killed drill's canaries are found and removed -----------------


def test_resuming_a_finished_drill_is_refused(isolated, cli):
    make_world(isolated, kind="backing", dr_enabled=True)
    done = cli("--sim", "-o", "json", "drill", *SHORT)
    assert done.exit_code == 0, done.output
    again = cli("--sim", "drill", "--resume", done.json()["run_id"])
    assert again.exit_code == 2, again.output
    assert "has finished (passed); there is nothing to resume" in again.stderr
    assert "fhirdr --sim drill" in again.stderr


def test_a_new_drill_removes_the_canaries_a_killed_drill_left(isolated, cli, ctrl_c_after):
    """Canaries are found by their tag with a token search on the system alone (`_tag=system|`), which the FHIR
    service supports (MicrosoftDocs/azure-docs articles/healthcare-apis/azure-api-for-fhir/overview-of-search.md,
    common search parameters: _tag)."""
    world = make_world(isolated, kind="backing", dr_enabled=True)
    ctrl_c_after("steady-before")  # once: the next drill runs through
    stopped = cli("--sim", "drill", *SHORT)
    assert stopped.exit_code == 130, stopped.output
    left = _canaries_in_store(world)
    assert len(left) >= 5  # stopped before its disruption: the world is still in a steady state

    result = cli("--sim", "-o", "json", "drill", *SHORT)
    assert result.exit_code == 0, result.output
    doc = result.json()
    assert doc["measurements"]["earlier_canaries_removed"] == len(left)
    assert any(
        f"removed {len(left)} canaries left by earlier drills (run {_run_id(stopped.stderr)})" in n["text"]
        for n in doc["notes"]
    )
    assert _canaries_in_store(world) == []
    text = cli("--sim", "drill", *SHORT)
    assert text.exit_code == 0 and "canaries left by earlier drills" not in text.stdout
