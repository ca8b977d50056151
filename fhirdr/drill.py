"""A scripted DR drill: canaries written at a steady rate through a disruption, failover, recovery and
failback, with RPO, RTO, data loss and latency measured from what the FHIR endpoint really answered."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol

from fhirdr.errors import AzureError, FhirdrError
from fhirdr.fhir.client import FhirResponse
from fhirdr.kinds import kind_of
from fhirdr.steps.base import Context, Reader
from fhirdr.steps.fhir_server import fhir_client

CANARY_SYSTEM = "https://fhirdr.dev/drill"


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
        from fhirdr.steps.cosmos import make_write_region

        secondary = self.ctx.target.secondary_region or ""
        with azure_errors("failing the Cosmos DB account over to the secondary region"):
            make_write_region(Reader(self.ctx), secondary)
        return [f"write region moved to {secondary}"]

    def end(self) -> list[str]:
        return ["nothing to recover: the primary region never went down"]


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


@dataclass
class DrillState:
    """Everything a drill knows, rebuilt from its journal when it resumes."""

    canaries: list[Canary] = field(default_factory=list)
    phases: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[dict[str, Any]] = field(default_factory=list)

    def done(self, phase: str) -> bool:
        return "ended" in self.phases.get(phase, {})

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
        self.phase("steady-before", self._steady_before)
        self.phase("disruption", self._disrupt)
        self.phase("failed-over", self._failed_over)
        self.phase("recovery", self._recover)
        self.phase("failback", self._failback)
        self.phase("steady-after", lambda: self.write_for("steady-after", self.settings.steady_seconds))
        self.phase("verify", self._verify)
        self.phase("cleanup", self._cleanup)
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
        self.state.phases["failed-over"]["window_from"] = self.now()
        end = self.settings.failed_over_seconds
        while self.now() < started + end:
            self.write_canary("failed-over")
            self.ctx.azure.sleep(self.settings.rate_seconds)

    def _recover(self) -> None:
        """The region returns; until failback, compute and data may sit in different regions: measure it."""
        if "notes" not in self.state.phases["recovery"]:
            for text in self.disruption.end():
                self.note("recovery", text)
            self.state.phases["recovery"]["notes"] = True
        self.write_for("recovery", self.settings.steady_seconds)

    def _failback(self) -> None:
        from fhirdr.runbook.loader import load_runbook, shipped_runbook
        from fhirdr.runbook.runner import Runner

        name = kind_of(self.ctx.target).failback_runbook
        options = {**self.ctx.options, "run_id": self.run_id, "max_lag": self.settings.max_lag_seconds}
        ctx = Context(self.ctx.target, self.ctx.azure, options)
        runner = Runner(
            load_runbook(shipped_runbook(name)),
            ctx,
            [self.emit],
            wait_timeout=self.settings.failback_wait_seconds,
            poll_interval=300,
        )
        deadline = self.now() + self.settings.failback_wait_seconds
        while True:
            outcome = runner.plan()
            if not outcome.refusals:
                break
            if self.now() >= deadline:
                raise FhirdrError("failback gates still refuse after waiting: " + "; ".join(outcome.refusals))
            # The gates measure catch-up; keep the canaries going while replication catches up.
            self.write_canary("failback")
            self.ctx.azure.sleep(max(self.settings.rate_seconds, 60))
        result = runner.apply()
        if result.status != "ok":
            raise FhirdrError(f"failback did not complete ({result.status})")
        self.note("failback", "data failed back; compute and data together again")

    def _verify(self) -> None:
        """Read every acknowledged canary: what is missing was lost."""
        for canary in self.state.canaries:
            if not canary.acknowledged:
                canary.fate = "failed"
                continue
            response = self.client.read("Basic", canary.id or "")
            canary.fate = "survived" if response.status == 200 else "lost"
        lost = [c.n for c in self.state.canaries if c.fate == "lost"]
        self.emit({"event": "drill.verified", "at": self.now(), "lost": lost})
        self.state.phases["verify"]["lost"] = lost

    def _cleanup(self) -> None:
        """Delete every canary of this run, found by its tag: also one whose acknowledgement an interruption lost."""
        tag = f"{CANARY_SYSTEM}|{self.run_id}"
        found = self.client.search("Basic", _tag=tag)
        ids = {e["resource"]["id"] for e in (found.body or {}).get("entry", [])} if found.ok else set()
        ids |= {c.id for c in self.state.canaries if c.acknowledged and c.fate != "lost" and c.id}
        for rid in sorted(ids):
            self.client.delete("Basic", rid)
        left = self.client.count("Basic", tag=tag)
        self.state.phases["cleanup"]["left"] = left
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
        rpo = (outage_at - min(c.at for c in lost_at_failover)) if lost_at_failover and outage_at else 0.0
        left = phases.get("cleanup", {}).get("left")
        criteria = [
            _criterion("RPO", f"at most {rpo_target} s of acknowledged writes lost", rpo, rpo_target),
            _criterion("RTO", f"writes succeed again within {rto_target} s", rto, rto_target),
            {
                "name": "no data lost by failback",
                "target": 0,
                "observed": len(lost_by_failback),
                "passed": not lost_by_failback,
                "detail": "every write made while failed over is still there",
            },
            {
                "name": "canaries cleaned up",
                "target": 0,
                "observed": left,
                "passed": left == 0,
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
            "passed": all(c["passed"] for c in criteria),
            "criteria": criteria,
            "measurements": {
                "rto_seconds": rto,
                "rpo_seconds": rpo,
                "writes_acknowledged": sum(c.acknowledged for c in canaries),
                "writes_failed": sum(not c.acknowledged for c in canaries),
                "lost_writes": len(lost_at_failover),
                "lost_by_failback": len(lost_by_failback),
                "latency_ms": latency,
                "outage_at": _iso(outage_at),
                "writes_back_at": _iso(back),
            },
            "phases": {
                name: {k: (_iso(v) if k in ("started", "ended") else v) for k, v in info.items()}
                for name, info in phases.items()
            },
            "notes": [{**n, "at": _iso(n["at"])} for n in self.state.notes],
            "canaries": [{**asdict(c), "at": _iso(c.at)} for c in canaries],
        }


def _criterion(name: str, detail: str, observed: float | None, target: float) -> dict[str, Any]:
    return {
        "name": name,
        "target": target,
        "observed": None if observed is None else round(observed, 1),
        "passed": observed is not None and observed <= target,
        "detail": detail,
    }


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 1) if present else None


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="seconds")


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
