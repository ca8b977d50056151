"""The runner: plan is read-only, apply verifies, blocked steps stop the run, events reach observers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fhirdr.runbook.journal import JournalWriter, list_runs, read_journal, verified_steps
from fhirdr.runbook.model import Runbook, StepSpec
from fhirdr.runbook.runner import Runner
from fhirdr.steps.base import Change, Context, Step
from fhirdr.target import Target


class Switch(Step):
    """A step over a dict: wants state[key] == True. Facts are reads, apply is the only write."""

    def __init__(self, ctx: Context, state: dict[str, Any], key: str, fixable: bool = True, lag: int = 0) -> None:
        super().__init__(ctx)
        self.state, self.key, self.fixable, self.lag = state, key, fixable, lag
        self.applied = 0

    def facts(self) -> bool:
        if self.state.get(f"{self.key}-lag", 0) > 0:
            self.state[f"{self.key}-lag"] -= 1
            return False
        return bool(self.state.get(self.key))

    def observe(self, facts: bool) -> str:
        return "on" if facts else "off"

    def plan(self, facts: bool) -> list[Change]:
        return [] if facts else [Change("turn-on", self.key, f"turn {self.key} on", fixable=self.fixable)]

    def apply(self, change: Change) -> None:
        self.applied += 1
        self.state[self.key] = True
        self.state[f"{self.key}-lag"] = self.lag


class Clock:
    def __init__(self) -> None:
        self.slept = 0.0

    def sleep(self, seconds: float) -> None:
        self.slept += seconds


def _runner(state: dict[str, Any], *steps: tuple[str, dict[str, Any]]) -> tuple[Runner, list[dict], Clock]:
    target = Target(subscription="00000000-0000-0000-0000-000000000000", resource_group="rg", service="svc")
    clock = Clock()
    ctx = Context(target, clock)  # type: ignore[arg-type] - only sleep() is used by the runner
    specs = tuple(
        StepSpec(id=f"t.{key}", title=key, uses="instruction", owner="fhirdr", section="") for key, _ in steps
    )
    runbook = Runbook("test", "Test", "", "", specs, Path("test.yaml"))
    runner = Runner.__new__(Runner)
    events: list[dict] = []
    runner.runbook, runner.ctx, runner.observers = runbook, ctx, [events.append]
    runner.wait_timeout, runner.poll_interval, runner.stop_on_blocked = None, 60.0, True
    runner.steps = [(spec, Switch(ctx, state, key, **opts)) for spec, (key, opts) in zip(specs, steps, strict=True)]
    return runner, events, clock


def test_plan_changes_nothing_and_reports_each_step():
    state = {"a": True}
    runner, _, _ = _runner(state, ("a", {}), ("b", {}))
    outcome = runner.plan()
    assert [r.status for r in outcome.results] == ["in-sync", "changes"]
    assert outcome.status == "changes"
    assert state == {"a": True}


def test_apply_makes_changes_and_verifies_them():
    state: dict[str, Any] = {}
    runner, events, _ = _runner(state, ("a", {}), ("b", {}))
    outcome = runner.apply()
    assert outcome.status == "ok"
    assert [r.status for r in outcome.results] == ["applied", "applied"]
    assert [e["event"] for e in events if e["event"].startswith("step.v")] == ["step.verified", "step.verified"]
    assert events[-1] == {"event": "run.finished", "status": "ok", "duration_s": events[-1]["duration_s"]}


def test_verification_waits_for_eventual_consistency_on_the_context_clock():
    state: dict[str, Any] = {}
    runner, _, clock = _runner(state, ("a", {"lag": 2}))
    outcome = runner.apply()
    assert outcome.status == "ok"
    assert clock.slept > 0


def test_a_step_that_never_converges_fails_the_run():
    state: dict[str, Any] = {}
    runner, events, _ = _runner(state, ("a", {"lag": 100}), ("b", {}))
    outcome = runner.apply()
    assert outcome.status == "failed"
    assert [r.status for r in outcome.results] == ["failed", "not-run"]
    assert "did not reach the desired state: turn a on" in outcome.results[0].error
    assert "b" not in state


def test_a_blocked_step_stops_the_run_before_later_steps():
    state: dict[str, Any] = {}
    runner, _, _ = _runner(state, ("a", {"fixable": False}), ("b", {}))
    outcome = runner.apply()
    assert outcome.status == "blocked"
    assert [r.status for r in outcome.results] == ["blocked", "not-run"]
    assert state == {}


def test_skipped_steps_are_not_touched():
    state: dict[str, Any] = {}
    runner, _, _ = _runner(state, ("a", {}), ("b", {}))
    outcome = runner.apply(skip={"t.a"})
    assert [r.status for r in outcome.results] == ["skipped", "applied"]
    assert "a" not in state


def test_journal_records_every_transition_and_which_steps_are_verified():
    state: dict[str, Any] = {}
    runner, _, _ = _runner(state, ("a", {}), ("b", {"fixable": False}))
    journal = JournalWriter("20260101T000000Z-abcdef", "test")
    runner.observers = [journal]
    try:
        runner.apply()
    finally:
        journal.close()
    events = read_journal("20260101T000000Z-abcdef")
    assert [e["event"] for e in events][0] == "run.started"
    assert events[-1]["event"] == "run.finished" and events[-1]["status"] == "blocked"
    assert all(e["run_id"] == "20260101T000000Z-abcdef" and e["runbook"] == "test" for e in events)
    assert verified_steps(events) == {"t.a"}
    assert list_runs()[0]["status"] == "blocked"


def test_run_ids_are_checked_before_they_become_paths():
    from fhirdr.errors import BadInputError

    with pytest.raises(BadInputError):
        read_journal("../../etc/passwd")


def test_independent_checks_go_on_past_a_finding_a_person_must_fix():
    state: dict[str, Any] = {}
    runner, _, _ = _runner(state, ("a", {"fixable": False}), ("b", {}))
    runner.stop_on_blocked = False
    outcome = runner.apply()
    assert [r.status for r in outcome.results] == ["blocked", "applied"]
    assert state == {"b": True, "b-lag": 0}
