"""Run a runbook: plan every step read-only, then apply step by step and verify each."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from tenacity import RetryError, Retrying, retry_if_result, stop_after_attempt, wait_exponential

from fhirdr.azure.session import azure_errors, concurrently
from fhirdr.errors import AzureConnectionError, FhirdrError
from fhirdr.runbook.model import Runbook, StepSpec
from fhirdr.steps import registry
from fhirdr.steps.base import OVERRIDE, REFUSE, WAIT, Change, Context, Step

Observer = Callable[[dict[str, Any]], None]

# Re-reads after apply until the step reports nothing left to do (Azure is eventually consistent:
# a link goes InProgress -> Completed, a peering Initiated -> Connected).
VERIFY_ATTEMPTS = 6


@dataclass
class StepResult:
    spec: StepSpec
    # in-sync | warning | changes | waiting | blocked | refused | instruction | applied | overridden | failed |
    # skipped | not-run
    status: str
    observed: str = ""
    changes: list[Change] = field(default_factory=list)
    error: str | None = None
    duration: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.spec.id,
            "title": self.spec.title,
            "owner": self.spec.owner,
            "section": self.spec.section,
            "status": self.status,
            "observed": self.observed,
            "changes": [c.to_dict() for c in self.changes],
            "error": self.error,
        }


@dataclass
class RunOutcome:
    status: str  # ok | changes | waiting | blocked | failed | interrupted
    results: list[StepResult]

    @property
    def pending_changes(self) -> int:
        return sum(len(r.changes) for r in self.results if r.status in ("changes", "blocked"))

    @property
    def refusals(self) -> list[str]:
        return [c.summary for r in self.results if r.status == "refused" for c in r.changes]

    @property
    def waiting_for(self) -> list[str]:
        return [c.summary for r in self.results if r.status == "waiting" for c in r.changes if c.action == WAIT]

    @property
    def overrides(self) -> list[str]:
        """Gates a --force overrode in this run: it went on although they said no."""
        return [c.summary for r in self.results for c in r.changes if c.action == OVERRIDE]

    @property
    def warnings(self) -> list[str]:
        """Findings that do not fail the run but remain: in place is not all there is to say."""
        return [f"{r.spec.id}: {c.summary}" for r in self.results for c in r.changes if c.severity == "warning"]


class Runner:
    """Drives one runbook against one context, telling observers about every transition."""

    # A runbook run inside another run (the drill's failback) shares its parent's journal: it must not
    # start or end the parent's run there, so it says runbook.started / runbook.finished instead.
    nested = False

    def __init__(
        self,
        runbook: Runbook,
        ctx: Context,
        observers: list[Observer] | None = None,
        wait_timeout: float | None = None,
        poll_interval: float = 60.0,
        stop_on_blocked: bool = True,
        nested: bool = False,
    ) -> None:
        self.runbook = runbook
        self.nested = nested
        self.ctx = ctx
        self.observers = list(observers or [])
        self.wait_timeout = wait_timeout
        self.poll_interval = poll_interval
        # Checks of independent settings go on past a finding a person must fix; runbooks whose steps
        # build on each other stop there.
        self.stop_on_blocked = stop_on_blocked
        impls = registry()
        self.steps: list[tuple[StepSpec, Step]] = [(spec, impls[spec.uses](ctx, **spec.args)) for spec in runbook.steps]

    def emit(self, event: str, **data: Any) -> None:
        for observer in self.observers:
            observer({"event": event, **data})

    # -- read-only ---------------------------------------------------------------------------

    def plan(self, parallel: bool = True) -> RunOutcome:
        """Read facts and plan every step; nothing is changed. Facts are read concurrently."""
        for spec, _ in self.steps:
            self.emit("step.checking", step=spec.id)
        started = time.monotonic()
        facts = self._gather_facts(parallel)
        results = []
        for (spec, step), fact in zip(self.steps, facts, strict=True):
            changes = step.plan(fact)
            result = StepResult(
                spec, _status_of(step, changes), step.observe(fact), changes, duration=time.monotonic() - started
            )
            self.emit(
                "step.planned",
                step=spec.id,
                status=result.status,
                observed=result.observed,
                changes=[c.to_dict() for c in changes],
            )
            results.append(result)
        status = "ok"
        for candidate in ("waiting", "changes", "blocked", "refused"):
            if any(r.status == candidate for r in results):
                status = candidate
        return RunOutcome(status, results)

    def _gather_facts(self, parallel: bool) -> list[Any]:
        def read(item: tuple[StepSpec, Step]) -> Any:
            spec, step = item
            with azure_errors(f"reading the facts of {spec.id}"):
                return step.facts()

        if not parallel or len(self.steps) < 2:
            return [read(item) for item in self.steps]
        with ThreadPoolExecutor(max_workers=min(16, len(self.steps)), thread_name_prefix="facts") as pool:
            return list(pool.map(read, self.steps))

    # -- acting ------------------------------------------------------------------------------

    def apply(self, skip: set[str] | None = None, resumed_from: str | None = None) -> RunOutcome:
        """Bring each step to its desired state in order; stop at the first that cannot get there."""
        skip = skip or set()
        results: list[StepResult] = []
        status = "failed"
        run = "runbook" if self.nested else "run"
        self.emit(f"{run}.started", mode="apply", resumed_from=resumed_from, skipping=sorted(skip))
        started_run = time.monotonic()
        try:
            for spec, step in self.steps:
                if spec.id in skip:
                    results.append(StepResult(spec, "skipped", "verified in an earlier attempt of this run"))
                    self.emit("step.skipped", step=spec.id, reason="verified earlier")
                    continue
                result = self._apply_step(spec, step)
                results.append(result)
                if result.status == "blocked" and not self.stop_on_blocked:
                    continue
                if result.status in ("blocked", "failed", "waiting", "refused"):
                    status = result.status
                    break
            else:
                # Steps that went on past a blocked one leave the run blocked: the journal's status is
                # the outcome the command exits with, never "ok" over a step that needs a person.
                status = "blocked" if any(r.status == "blocked" for r in results) else "ok"
            self._observe_again(results)
        except KeyboardInterrupt:
            status = "interrupted"
            raise
        finally:
            done = {r.spec.id for r in results}
            results.extend(StepResult(spec, "not-run") for spec, _ in self.steps if spec.id not in done)
            self.emit(f"{run}.finished", status=status, duration_s=round(time.monotonic() - started_run, 3))
        return RunOutcome(status, results)

    def _observe_again(self, results: list[StepResult]) -> None:
        """What each step observed when it was verified may have changed since: a later step made the reverse
        peering, or released the lease. Read every step that ran once more, concurrently, so the result shows
        the state at the end of the run, not the one seen on the way."""
        ran = [r for r in results if r.status in _SETTLED]
        by_id = {spec.id: step for spec, step in self.steps}

        def observe(result: StepResult) -> str:
            step = by_id[result.spec.id]
            try:
                with azure_errors(f"reading the facts of {result.spec.id} again"):
                    return step.observe(step.facts())
            except FhirdrError as exc:
                return f"could not be read again after the run: {exc.message}"

        if not ran:
            return
        observed = concurrently(*(partial(observe, result) for result in ran))
        for result, now in zip(ran, observed, strict=True):
            result.observed = now
        self.emit(f"{'runbook' if self.nested else 'run'}.observed", observed={r.spec.id: r.observed for r in ran})

    def _apply_step(self, spec: StepSpec, step: Step) -> StepResult:
        started = time.monotonic()
        self.emit("step.started", step=spec.id, owner=spec.owner)
        try:
            if step.instruction:
                observed = step.observe(None)
                self.emit("step.instruction", step=spec.id, owner=spec.owner, text=observed)
                return StepResult(spec, "instruction", observed, duration=time.monotonic() - started)
            with azure_errors(f"reading the facts of {spec.id}"):
                facts = step.facts()
            changes = step.plan(facts)
            warnings = [c for c in changes if c.severity == "warning"]
            changes = [c for c in changes if c.severity != "warning"]
            if not changes:
                self.emit(
                    "step.verified",
                    step=spec.id,
                    changes=[],
                    warnings=[c.to_dict() for c in warnings],
                    duration_s=_since(started),
                )
                status = "warning" if warnings else "in-sync"
                return StepResult(spec, status, step.observe(facts), warnings, duration=time.monotonic() - started)
            refused = [c for c in changes if c.action == REFUSE]
            if refused:
                self.emit("step.refused", step=spec.id, changes=[c.to_dict() for c in refused])
                return StepResult(spec, "refused", step.observe(facts), refused, duration=time.monotonic() - started)
            blocked = [c for c in changes if not c.fixable and c.action != WAIT]
            if blocked:
                self.emit("step.blocked", step=spec.id, changes=[c.to_dict() for c in blocked])
                return StepResult(spec, "blocked", step.observe(facts), blocked, duration=time.monotonic() - started)
            self.emit("step.planned", step=spec.id, status="changes", changes=[c.to_dict() for c in changes])
            for change in (c for c in changes if c.action != WAIT):
                self._make(spec, step, change)
            remaining, observed = self._verify(step)
            if remaining and all(c.action == WAIT for c in remaining):
                remaining, observed = self._wait(spec, step, remaining, observed)
                if remaining and self.wait_timeout is None:
                    self.emit("step.waiting", step=spec.id, waiting_for=[c.summary for c in remaining])
                    return StepResult(spec, "waiting", observed, remaining, duration=time.monotonic() - started)
                if remaining:
                    error = f"still waiting after {self.wait_timeout:g} s: " + "; ".join(c.summary for c in remaining)
                    self.emit("step.failed", step=spec.id, error=error, duration_s=_since(started))
                    return StepResult(spec, "failed", observed, remaining, error, time.monotonic() - started)
            if remaining:
                error = "did not reach the desired state: " + "; ".join(c.summary for c in remaining)
                self.emit("step.failed", step=spec.id, error=error, duration_s=_since(started))
                return StepResult(spec, "failed", observed, remaining, error, time.monotonic() - started)
            made = [c for c in changes if c.action != WAIT]
            self.emit("step.verified", step=spec.id, changes=[c.to_dict() for c in made], duration_s=_since(started))
            status = "overridden" if any(c.action == OVERRIDE for c in made) else "applied" if made else "in-sync"
            return StepResult(spec, status, observed, made, duration=time.monotonic() - started)
        except FhirdrError as exc:
            self.emit("step.failed", step=spec.id, error=exc.message, duration_s=_since(started))
            raise
        except KeyboardInterrupt:
            self.emit("step.interrupted", step=spec.id, duration_s=_since(started))
            raise

    def _make(self, spec: StepSpec, step: Step, change: Change) -> None:
        """Make one change. When the connection drops before Azure's answer (azure-core retries no POST or
        PATCH), the change may or may not have been made: read the step's facts again; if the change is no
        longer needed it was made, and is verified like any other; if it still is, make it once more."""
        started = time.monotonic()
        self.emit("change.started", step=spec.id, change=change.to_dict())
        try:
            with azure_errors(f"{change.summary} ({spec.id})"):
                step.apply(change)
        except AzureConnectionError as exc:
            self.emit("change.dropped", step=spec.id, change=change.to_dict(), error=exc.message)
            with azure_errors(f"reading the facts of {spec.id} after the connection dropped"):
                facts = step.facts()
            again = next(
                (c for c in step.plan(facts) if (c.action, c.resource) == (change.action, change.resource)), None
            )
            if again is None:
                self.emit("change.found-made", step=spec.id, change=change.to_dict())
            else:
                self.emit("change.retried", step=spec.id, change=again.to_dict())
                with azure_errors(f"{again.summary} ({spec.id}), made again after the connection dropped"):
                    step.apply(again)
        self.emit("change.applied", step=spec.id, change=change.to_dict(), duration_s=_since(started))

    def _wait(self, spec: StepSpec, step: Step, remaining: list[Change], observed: str) -> tuple[list[Change], str]:
        """Poll a step that waits on someone else until it is done or the allowed time has passed."""
        if self.wait_timeout is None:
            return remaining, observed
        deadline = self.ctx.azure.now() + self.wait_timeout
        while remaining and self.ctx.azure.now() < deadline:
            self.emit("step.polling", step=spec.id, waiting_for=[c.summary for c in remaining])
            self.ctx.azure.sleep(min(self.poll_interval, max(1.0, deadline - self.ctx.azure.now())))
            with azure_errors(f"checking on {spec.id}"):
                facts = step.facts()
            observed = step.observe(facts)
            remaining = step.plan(facts)
        return remaining, observed

    def _verify(self, step: Step) -> tuple[list[Change], str]:
        """Re-read facts until nothing is left to do, or the attempts run out."""
        observed = ""

        def check() -> list[Change]:
            nonlocal observed
            with azure_errors("verifying"):
                facts = step.facts()
            observed = step.observe(facts)
            return [c for c in step.plan(facts) if c.action != OVERRIDE and c.severity != "warning"]

        retrying = Retrying(
            stop=stop_after_attempt(VERIFY_ATTEMPTS),
            wait=wait_exponential(multiplier=2, max=60),
            retry=retry_if_result(bool),
            sleep=self.ctx.azure.sleep,
        )
        try:
            remaining = retrying(check)
        except RetryError as exc:
            remaining = exc.last_attempt.result()
        return remaining, observed


# Steps that ended where the run wanted them: what they observe is read once more at the end of the run.
_SETTLED = ("in-sync", "warning", "applied", "overridden", "skipped")


def _status_of(step: Step, changes: list[Change]) -> str:
    if step.instruction:
        return "instruction"
    if not changes:
        return "in-sync"
    if all(c.severity == "warning" for c in changes):
        return "warning"
    if any(c.action == REFUSE for c in changes):
        return "refused"
    if any(not c.fixable and c.action != WAIT for c in changes):
        return "blocked"
    return "waiting" if all(c.action == WAIT for c in changes) else "changes"


def _since(started: float) -> float:
    return round(time.monotonic() - started, 3)
