"""A scripted DR drill: canaries written at a steady rate through a disruption, failover, recovery and
failback, with RPO, RTO, data loss and latency measured from what the FHIR endpoint really answered."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol

from fhirdr.errors import AzureConnectionError, AzureError, BadInputError, FhirdrError
from fhirdr.fhir.client import FhirResponse
from fhirdr.kinds import kind_of
from fhirdr.steps.base import Context, Reader
from fhirdr.steps.fhir_server import fhir_client

CANARY_SYSTEM = "https://fhirdr.dev/drill"

# Below this many canaries a phase measures nothing: one write cannot show when loss started or ended.
MIN_CANARIES_PER_PHASE = 3
MIN_RATE_SECONDS = 1.0
# How often the failback gates are asked again while they refuse (the failback runner polls as often).
GATE_POLL_SECONDS = 300.0
# The scenario in order; verify and cleanup run also after a phase failed, so nothing is left behind.
SCENARIO = ("steady-before", "disruption", "failed-over", "recovery", "failback", "steady-after")
CLOSING = ("verify", "cleanup")


class DrillPhaseFailed(FhirdrError):
    """A phase of the drill could not do its part (failback gates never opened): the drill fails, it is no stop."""


class Disruption(Protocol):
    name: str

    def start(self) -> list[str]: ...

    def end(self) -> list[str]: ...


class ManualFailover:
    """Backing targets outside the sim: a Cosmos DB failover-priority change to the secondary (graceful)."""

    name = "Cosmos DB manual failover"

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def start(self) -> list[str]:
        from fhirdr.azure.session import azure_errors
        from fhirdr.steps.cosmos import make_write_region, read_account, write_region

        secondary = self.ctx.target.secondary_region or ""
        reader = Reader(self.ctx)
        action = "failing the Cosmos DB account over to the secondary region"
        try:
            with azure_errors(action):
                make_write_region(reader, secondary)
        except AzureConnectionError:
            # azure-core does not retry a POST whose connection dropped: read what happened, make it once more if not.
            with azure_errors(f"reading the Cosmos DB account after the connection dropped while {action}"):
                moved = write_region(read_account(reader)) == secondary
            if moved:
                return [f"write region moved to {secondary} (the connection dropped before Azure answered)"]
            with azure_errors(f"{action}, once more after the connection dropped"):
                make_write_region(reader, secondary)
        return [f"write region moved to {secondary}"]

    def end(self) -> list[str]:
        return ["nothing to recover: the primary region never went down"]


def steady_state_problems(ctx: Context, status: dict[str, Any]) -> list[tuple[str, str]]:
    """What keeps the target from the steady state a drill must start from ([] when it is there), each with
    what brings it back: "failback" (data or compute away from the primary) or "recovery" (a region is down).

    Read from `fhirdr status`'s document, plus a FHIR probe: a drill that starts failed over, split or with
    replication unknown would measure the state it found, not a failover."""
    primary = status["primary_region"]
    secondary = status.get("secondary_region")
    problems = []
    if status["data_region"] != primary:
        problems.append(
            (
                f"the data is in {status['data_region']}, not in the primary {primary} (a failover moved the "
                "write region)",
                "failback",
            )
        )
    if status["compute_region"] != primary:
        problems.append((f"compute serves from {status['compute_region']}, not from the primary {primary}", "failback"))
    if status["split"]["active"] and not problems:
        problems.append(
            (f"compute ({status['compute_region']}) and data ({status['data_region']}) are apart", "failback")
        )
    replication = status["replication"]
    if replication["state"] in ("unknown", "initial-sync", "not-configured"):
        problems.append(
            (
                f"replication into {secondary} is not measured ({replication['state']}): is {secondary} down or "
                "still catching up?",
                "recovery",
            )
        )
    probe = fhir_client(ctx, retry=False).metadata()
    if not probe.ok:
        detail = f"HTTP {probe.status}" if probe.status else (probe.body or {}).get("error", "no answer")
        problems.append((f"the FHIR endpoint does not answer /metadata ({detail})", "recovery"))
    return problems


def unfinished_drills(service: str, limit: int = 20) -> list[str]:
    """Recent drills of `service` that did not run to their verdict (killed, interrupted, stopped by an error),
    newest first: their canaries may still be in the FHIR store, and the world may be mid-drill. Those older than
    the newest finished drill are not counted: it started from a steady state and its cleanup removed them."""
    from fhirdr.runbook.journal import list_runs, read_journal

    unfinished = []
    for run in list_runs(limit):
        if run["runbook"] != "drill":
            continue
        events = read_journal(run["run_id"])
        context = next((e for e in events if e.get("event") == "run.context"), {})
        if context.get("service") != service:
            continue
        if DrillState.from_events(events).finished:
            break
        unfinished.append(run["run_id"])
    return unfinished


@dataclass
class Canary:
    n: int
    at: float
    phase: str
    status: int
    id: str | None = None
    latency_ms: float | None = None
    fate: str = "unknown"  # written | failed | lost | survived

    @property
    def acknowledged(self) -> bool:
        return self.status == 201 and self.id is not None


@dataclass
class DrillSettings:
    rate_seconds: float = 30.0
    steady_seconds: float = 900.0
    failed_over_seconds: float = 4500.0
    max_lag_seconds: float = 60.0
    failback_wait_seconds: float = 3 * 3600.0

    def check(self) -> None:
        """Refuse settings under which the drill would run for ever or measure nothing."""
        if self.rate_seconds < MIN_RATE_SECONDS:
            raise BadInputError(
                f"--rate {self.rate_seconds:g} s is too fast: one canary at least every {MIN_RATE_SECONDS:g} s",
                hint="the default is 30s",
            )
        for option, seconds in (("--steady", self.steady_seconds), ("--failed-over", self.failed_over_seconds)):
            if seconds / self.rate_seconds < MIN_CANARIES_PER_PHASE:
                raise BadInputError(
                    f"--rate {self.rate_seconds:g} s writes fewer than {MIN_CANARIES_PER_PHASE} canaries in the "
                    f"{seconds:g} s of {option}: the phase would measure nothing",
                    hint=f"use --rate {seconds / MIN_CANARIES_PER_PHASE:g}s or less, or a longer {option}",
                )


@dataclass
class DrillState:
    """Everything a drill knows, rebuilt from its journal when it resumes."""

    canaries: list[Canary] = field(default_factory=list)
    phases: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[dict[str, Any]] = field(default_factory=list)
    failed: dict[str, Any] | None = None
    # The verdict the drill reported after its cleanup (passed / failed); None until it did.
    reported: str | None = None

    def done(self, phase: str) -> bool:
        return "ended" in self.phases.get(phase, {})

    @property
    def finished(self) -> bool:
        """The drill ran to its end (cleanup done) and reported its verdict: there is nothing left to resume.
        Killed between its cleanup and its verdict, a resume runs no phase again and reports from the journal."""
        return self.done(CLOSING[-1]) and self.reported is not None

    @classmethod
    def from_events(cls, events: list[dict[str, Any]]) -> DrillState:
        state = cls()
        for event in events:
            kind = event.get("event")
            if kind == "drill.canary":
                state.canaries.append(Canary(**event["canary"]))
            elif kind == "drill.phase-started":
                state.phases.setdefault(event["phase"], {})["started"] = event["at"]
            elif kind == "drill.phase-ended":
                state.phases.setdefault(event["phase"], {})["ended"] = event["at"]
            elif kind == "drill.note":
                state.notes.append({"at": event["at"], "text": event["text"], "phase": event.get("phase")})
            elif kind == "drill.measured":
                state.phases.setdefault(event["phase"], {})[event["key"]] = event["value"]
            elif kind == "drill.verified":
                # Journals written before fates were kept name only the lost canaries.
                lost = set(event.get("lost", []))
                fallback = {
                    str(c.n): "lost" if c.n in lost else ("survived" if c.acknowledged else "failed")
                    for c in state.canaries
                }
                fates = event.get("fates") or fallback
                for canary in state.canaries:
                    canary.fate = fates.get(str(canary.n), canary.fate)
            elif kind == "run.finished" and state.done(CLOSING[-1]) and event.get("status") in ("passed", "failed"):
                state.reported = event["status"]
            elif kind == "drill.phase-failed":
                state.failed = {"phase": event["phase"], "error": event["error"], "at": event["at"]}
                state.phases.setdefault(event["phase"], {})["failed"] = event["error"]
        return state


class Drill:
    def __init__(
        self,
        ctx: Context,
        disruption: Disruption,
        settings: DrillSettings,
        run_id: str,
        emit: Callable[[dict[str, Any]], None],
        state: DrillState | None = None,
    ) -> None:
        self.ctx = ctx
        self.disruption = disruption
        self.settings = settings
        self.run_id = run_id
        self.emit = emit
        self.state = state or DrillState()
        self.client = fhir_client(ctx, retry=False)

    # -- helpers -----------------------------------------------------------------------------

    def now(self) -> float:
        return self.ctx.azure.now()

    def note(self, phase: str, text: str) -> None:
        self.state.notes.append({"at": self.now(), "text": text, "phase": phase})
        self.emit({"event": "drill.note", "phase": phase, "at": self.now(), "text": text})

    def record(self, phase: str, key: str, value: Any) -> None:
        """Keep a measurement in the state and in the journal, so a resumed drill reports the same figure."""
        self.state.phases.setdefault(phase, {})[key] = value
        self.emit({"event": "drill.measured", "phase": phase, "key": key, "value": value})

    def write_canary(self, phase: str) -> Canary:
        n = len(self.state.canaries) + 1
        resource = {
            "resourceType": "Basic",
            "code": {"text": f"fhirdr drill canary #{n} (run {self.run_id}) - synthetic, safe to delete"},
            "meta": {"tag": [{"system": CANARY_SYSTEM, "code": self.run_id, "display": "fhirdr DR drill canary"}]},
            "extension": [{"url": f"{CANARY_SYSTEM}/sequence", "valueInteger": n}],
        }
        at = self.now()
        response = self.client.create(resource)
        canary = Canary(
            n,
            at,
            phase,
            response.status,
            _id(response),
            _latency(response),
            "written" if response.status == 201 else "failed",
        )
        self.state.canaries.append(canary)
        self.emit({"event": "drill.canary", "canary": asdict(canary)})
        return canary

    def write_for(self, phase: str, seconds: float, until: Callable[[Canary], bool] | None = None) -> None:
        """Write a canary every rate_seconds for `seconds` (continuing a resumed phase where it stopped)."""
        started = self.state.phases[phase]["started"]
        while self.now() < started + seconds:
            canary = self.write_canary(phase)
            if until is not None and until(canary):
                return
            self.ctx.azure.sleep(self.settings.rate_seconds)

    def phase(self, name: str, action: Callable[[], None]) -> None:
        if self.state.done(name):
            return
        if "started" not in self.state.phases.get(name, {}):
            self.state.phases.setdefault(name, {})["started"] = self.now()
            self.emit({"event": "drill.phase-started", "phase": name, "at": self.now()})
        action()
        self.state.phases[name]["ended"] = self.now()
        self.emit({"event": "drill.phase-ended", "phase": name, "at": self.now()})

    # -- the phases --------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        actions: dict[str, Callable[[], None]] = {
            "steady-before": self._steady_before,
            "disruption": self._disrupt,
            "failed-over": self._failed_over,
            "recovery": self._recover,
            "failback": self._failback,
            "steady-after": lambda: self.write_for("steady-after", self.settings.steady_seconds),
            "verify": self._verify,
            "cleanup": self._cleanup,
        }
        for name in SCENARIO:
            if self.state.failed is not None:
                break
            try:
                self.phase(name, actions[name])
            except DrillPhaseFailed as exc:
                self.state.failed = {"phase": name, "error": exc.message, "at": self.now()}
                self.state.phases[name]["failed"] = exc.message
                self.emit({"event": "drill.phase-failed", "phase": name, "at": self.now(), "error": exc.message})
                if exc.hint:
                    self.note(name, exc.hint)
        for name in CLOSING:
            self.phase(name, actions[name])
        return self.result()

    def _steady_before(self) -> None:
        metadata = self.client.metadata()
        if not metadata.ok:
            raise AzureError(
                f"steady state before the drill: the FHIR endpoint answered HTTP {metadata.status}",
                hint="the drill changes nothing until the endpoint is healthy",
            )
        first = self.write_canary("steady-before")
        if not first.acknowledged or self.client.read("Basic", first.id or "").status != 200:
            raise AzureError("steady state before the drill: a canary could not be written and read back")
        self.ctx.azure.sleep(self.settings.rate_seconds)
        self.write_for("steady-before", self.settings.steady_seconds)

    def _disrupt(self) -> None:
        for text in self.disruption.start():
            self.note("disruption", text)

    def _failed_over(self) -> None:
        limit = self.ctx.target.objectives.rto_minutes * 60 + 30 * 60
        started = self.state.phases["failed-over"]["started"]
        # Until writes succeed again (the failover), then for the failed-over window.
        if not any(c.phase == "failed-over" and c.acknowledged for c in self.state.canaries):
            while self.now() < started + limit:
                if self.write_canary("failed-over").acknowledged:
                    self.note("failed-over", "writes succeed again: failover done")
                    break
                self.ctx.azure.sleep(self.settings.rate_seconds)
            else:
                self.note("failed-over", f"no successful write within {limit / 60:g} minutes")
                return
            self.ctx.azure.sleep(self.settings.rate_seconds)
        if "window_from" not in self.state.phases["failed-over"]:
            self.record("failed-over", "window_from", self.now())
        end = self.settings.failed_over_seconds
        while self.now() < started + end:
            self.write_canary("failed-over")
            self.ctx.azure.sleep(self.settings.rate_seconds)

    def _recover(self) -> None:
        """The region returns; until failback, compute and data may sit in different regions: measure it."""
        if "notes" not in self.state.phases["recovery"]:
            for text in self.disruption.end():
                self.note("recovery", text)
            self.record("recovery", "notes", True)
        self.write_for("recovery", self.settings.steady_seconds)

    def _failback(self) -> None:
        from fhirdr.runbook.loader import load_runbook, shipped_runbook
        from fhirdr.runbook.runner import Runner

        name = kind_of(self.ctx.target).failback_runbook
        ctx = Context(self.ctx.target, self.ctx.azure, self.failback_options())
        runner = Runner(
            load_runbook(shipped_runbook(name)),
            ctx,
            [self.emit],
            wait_timeout=self.settings.failback_wait_seconds,
            poll_interval=GATE_POLL_SECONDS,
            nested=True,
        )
        # From the phase's start, so a resumed drill waits no longer in all than an uninterrupted one.
        deadline = self.state.phases["failback"]["started"] + self.settings.failback_wait_seconds
        while True:
            outcome = runner.plan()
            if not outcome.refusals:
                break
            if self.now() >= deadline:
                raise DrillPhaseFailed(
                    f"failback gates still refuse after waiting {self.settings.failback_wait_seconds / 60:g} min: "
                    + "; ".join(outcome.refusals),
                    hint=f"the data is still away from {self.ctx.target.primary_region}: fail back with "
                    f"`fhirdr{' --sim' if self.ctx.azure.simulated else ''} failback --apply` once its gates open",
                )
            # The gates measure catch-up; keep the canaries going at their rate until the gates are asked again.
            ask_again = min(self.now() + GATE_POLL_SECONDS, deadline)
            while self.now() < ask_again:
                self.write_canary("failback")
                self.ctx.azure.sleep(self.settings.rate_seconds)
        result = runner.apply()
        if result.status != "ok":
            failed = [r for r in result.results if r.status not in ("ok", "in-sync", "applied", "warning")]
            where = f" at {failed[0].spec.id}: {failed[0].error or failed[0].observed}" if failed else ""
            raise DrillPhaseFailed(f"failback did not complete ({result.status}){where}")
        self.note("failback", "data failed back; compute and data together again")

    def failback_options(self) -> dict[str, Any]:
        """What the nested failback runbook's steps read (ctx.options)."""
        return {**self.ctx.options, "run_id": self.run_id, "max_lag": self.settings.max_lag_seconds}

    def _verify(self) -> None:
        """Read every acknowledged canary: what is missing was lost."""
        for canary in self.state.canaries:
            if not canary.acknowledged:
                canary.fate = "failed"
                continue
            response = self.client.read("Basic", canary.id or "")
            canary.fate = "survived" if response.status == 200 else "lost"
        lost = [c.n for c in self.state.canaries if c.fate == "lost"]
        fates = {str(c.n): c.fate for c in self.state.canaries}
        self.emit({"event": "drill.verified", "at": self.now(), "lost": lost, "fates": fates})
        self.state.phases["verify"]["lost"] = lost

    def _cleanup(self) -> None:
        """Delete every drill canary, found by its tag: this run's (also one whose acknowledgement an interruption
        lost) and those an earlier drill left behind when it was killed."""
        earlier: dict[str, int] = {}
        deleted: set[str] = set()
        # Delete what a search finds, then search again: a server that pages its answers is emptied page by page.
        while True:
            found = self.client.search("Basic", _tag=f"{CANARY_SYSTEM}|", _count="1000")
            entries = [e["resource"] for e in (found.body or {}).get("entry", [])] if found.ok else []
            fresh = [r for r in entries if r.get("id") and r["id"] not in deleted]
            if not fresh:
                break
            for resource in fresh:
                run = _canary_run(resource)
                if run != self.run_id:
                    earlier[run] = earlier.get(run, 0) + 1
                self.client.delete("Basic", resource["id"])
                deleted.add(resource["id"])
        for canary in self.state.canaries:
            if canary.acknowledged and canary.fate != "lost" and canary.id and canary.id not in deleted:
                self.client.delete("Basic", canary.id)
        if earlier and "earlier" not in self.state.phases["cleanup"]:
            self.record("cleanup", "earlier", earlier)
            runs = ", ".join(sorted(earlier))
            self.note("cleanup", f"removed {sum(earlier.values())} canaries left by earlier drills (run {runs})")
        left = self.client.count("Basic", tag=f"{CANARY_SYSTEM}|")
        self.record("cleanup", "left", left)
        self.emit({"event": "drill.cleanup", "at": self.now(), "left": left})

    # -- the result --------------------------------------------------------------------------

    def result(self) -> dict[str, Any]:
        canaries = self.state.canaries
        phases = self.state.phases
        rpo_target = self.ctx.target.objectives.rpo_minutes * 60
        rto_target = self.ctx.target.objectives.rto_minutes * 60
        outage_at = phases.get("disruption", {}).get("started")
        lost = [c for c in canaries if c.fate == "lost"]
        during = [c for c in canaries if c.phase in ("failed-over", "recovery", "failback") and c.acknowledged]
        lost_by_failback = [c for c in during if c.fate == "lost"]
        lost_at_failover = [c for c in lost if c not in lost_by_failback]
        failures = [c for c in canaries if c.phase == "failed-over" and not c.acknowledged]
        first_failure = failures[0].at if failures else None
        back = next((c.at for c in canaries if c.phase == "failed-over" and c.acknowledged), None)
        rto = (back - first_failure) if first_failure is not None and back is not None else (0.0 if back else None)
        rpo, rpo_below, rpo_upper = _rpo(canaries, lost_at_failover, outage_at)
        left = phases.get("cleanup", {}).get("left")
        earlier = phases.get("cleanup", {}).get("earlier") or {}
        failed = self.state.failed
        criteria = [
            {
                **_criterion("RPO", f"at most {rpo_target} s of acknowledged writes lost", rpo, rpo_target),
                # Passed only when even the bound's far end is within the target.
                "passed": rpo_upper is not None and rpo_upper <= rpo_target,
                # A canary every rate seconds: the loss began somewhere between two canaries, so the figure is a
                # bound (at least this much lost; or, with nothing lost, less than the gap before the outage).
                "bound": "at-least" if lost_at_failover else ("below" if rpo_below is not None else None),
                "below": None if rpo_below is None else round(rpo_below, 1),
                "resolution_seconds": self.settings.rate_seconds,
            },
            _criterion("RTO", f"writes succeed again within {rto_target} s", rto, rto_target),
            {
                "name": "no data lost by failback",
                "target": 0,
                "observed": len(lost_by_failback),
                "passed": not lost_by_failback,
                "unit": "writes",
                "detail": "every write made while failed over is still there",
            },
            {
                "name": "canaries cleaned up",
                "target": 0,
                "observed": left,
                "passed": left == 0,
                "unit": "canaries",
                "detail": "the drill leaves nothing behind",
            },
        ]
        latency = {
            phase: _median([c.latency_ms for c in canaries if c.phase == phase and c.acknowledged])
            for phase in ("steady-before", "failed-over", "recovery", "steady-after")
        }
        return {
            "run_id": self.run_id,
            "service": self.ctx.target.service,
            "kind": self.ctx.target.kind,
            "disruption": self.disruption.name,
            "primary_region": self.ctx.target.primary_region,
            "secondary_region": self.ctx.target.secondary_region,
            "passed": self.state.failed is None and all(c["passed"] for c in criteria),
            "failed_phase": None if failed is None else {**failed, "at": _iso(failed["at"])},
            "criteria": criteria,
            "measurements": {
                "rto_seconds": rto,
                "rpo_seconds": rpo,
                "rpo_bound": "at-least" if lost_at_failover else ("below" if rpo_below is not None else None),
                "rpo_below_seconds": None if rpo_below is None else round(rpo_below, 1),
                "canary_rate_seconds": self.settings.rate_seconds,
                "writes_acknowledged": sum(c.acknowledged for c in canaries),
                "writes_failed": sum(not c.acknowledged for c in canaries),
                "lost_writes": len(lost_at_failover),
                "lost_by_failback": len(lost_by_failback),
                "latency_ms": latency,
                "outage_at": _iso(outage_at),
                "writes_back_at": _iso(back),
                "earlier_canaries_removed": sum(earlier.values()),
            },
            "phases": {
                name: {k: (_iso(v) if k in ("started", "ended", "window_from") else v) for k, v in info.items()}
                for name, info in phases.items()
            },
            "phases_not_run": [p for p in (*SCENARIO, *CLOSING) if p not in phases],
            "notes": [{**n, "at": _iso(n["at"])} for n in self.state.notes],
            "canaries": [{**asdict(c), "at": _iso(c.at)} for c in canaries],
        }


def _criterion(name: str, detail: str, observed: float | None, target: float) -> dict[str, Any]:
    return {
        "name": name,
        "target": target,
        "observed": None if observed is None else round(observed, 1),
        "passed": observed is not None and observed <= target,
        "unit": "seconds",
        "detail": detail,
    }


def _rpo(
    canaries: list[Canary], lost: list[Canary], outage_at: float | None
) -> tuple[float, float | None, float | None]:
    """What the canaries show of the RPO: (at least, below when none was lost, at most).

    The loss began between the last canary that survived and the first that was lost; with none lost, it is
    shorter than the time from the last survivor to the outage. No survivor before: no upper bound."""
    if outage_at is None:
        return 0.0, None, None
    first_lost = min((c.at for c in lost), default=outage_at)
    before = [c.at for c in canaries if c.fate == "survived" and c.at < first_lost]
    upper = (outage_at - max(before)) if before else None
    if lost:
        return outage_at - first_lost, None, upper
    return 0.0, upper, upper


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 1) if present else None


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="seconds")


def _canary_run(resource: dict[str, Any]) -> str:
    """The run id a canary was tagged with."""
    tags = (resource.get("meta") or {}).get("tag", [])
    return next((t.get("code") or "" for t in tags if t.get("system") == CANARY_SYSTEM), "")


def _id(response: FhirResponse) -> str | None:
    return response.body.get("id") if response.status == 201 and isinstance(response.body, dict) else None


def _latency(response: FhirResponse) -> float | None:
    """Server-Timing when the service sends it (the sim does), else the round trip we measured."""
    timing = response.headers.get("Server-Timing") or response.headers.get("server-timing")
    if timing and "dur=" in timing:
        try:
            return float(timing.split("dur=", 1)[1].split(";")[0].split(",")[0])
        except ValueError:
            pass
    return round(response.elapsed_ms, 1) if response.status else None
