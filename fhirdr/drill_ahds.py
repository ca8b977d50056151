"""The drill on an AHDS FHIR service: canaries through the Front Door, replication running, a disruption,
fhirdr's own failover, replication reversed, failback.

Azure does nothing by itself for an AHDS FHIR service, so the failover in this drill is fhirdr's: after
the disruption has been seen for `DETECTION_SECONDS` (an operator's alert firing), the failover runbook
runs nested in the drill, unplanned when the primary's region is down (the sim's outage: the writes the
primary acknowledged after the last verified watermark are lost, and the drill measures them), planned
when only the front door's way to it is cut (on real Azure: the primary's origin disabled).

Replication runs between the canaries, one cycle every `interval` (one process: a cycle and the
canaries take turns, so the canaries' gaps during a cycle widen the RPO bound by the cycle's length).
"""

from __future__ import annotations

from typing import Any

from fhirdr.drill import Drill, DrillPhaseFailed
from fhirdr.errors import FhirdrError
from fhirdr.steps.base import Context, Reader

# How long an outage goes on before someone acts (an alert on the front door's 5xx, a person paged).
DETECTION_SECONDS = 120.0
REPLICATION_INTERVAL_SECONDS = 60.0


class FrontDoorCut:
    """Real Azure: the primary's origin disabled in the front door (clients lose it; its data stays intact)."""

    name = "primary origin disabled in Azure Front Door"
    unplanned = False

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def start(self) -> list[str]:
        from fhirdr.azure.session import azure_errors
        from fhirdr.steps.frontdoor import read_origins
        from fhirdr.steps.switch import _put_origin

        reader = Reader(self.ctx)
        with azure_errors("disabling the primary's origin in the front door"):
            origin = read_origins(reader).origin_for("primary")
            if origin is None:
                raise DrillPhaseFailed("the front door has no origin for the primary")
            _put_origin(reader, origin, origin.priority or 1, "Disabled")
        return [f"origin {origin.name} ({origin.host_name}) disabled: clients cannot reach the primary"]

    def end(self) -> list[str]:
        return ["nothing to recover: the primary kept running (failback enables its origin again)"]


class DrillReplication:
    """`fhirdr replicate --follow` inside the drill: a cycle when one is due, in whichever direction is active."""

    def __init__(self, ctx: Context, interval: float, emit: Any) -> None:
        self.ctx = ctx
        self.interval = interval
        self.emit = emit
        self.next_at = 0.0
        self.replicator: Any = None
        self.busy = False

    def tick(self) -> None:
        from fhirdr.replication import preflight
        from fhirdr.replication.cycle import Replicator
        from fhirdr.replication.state import LeaseHeld

        now = self.ctx.azure.now()
        if self.busy or now < self.next_at:
            return
        self.next_at = now + self.interval
        self.busy = True
        try:
            if self.replicator is None or self.replicator.direction_changed():
                self.replicator = Replicator(self.ctx, preflight.check(self.ctx))
            summary = self.replicator.cycle()
        except LeaseHeld as held:
            self.emit({"event": "drill.replication", "at": now, "status": "lease-held", "holder": held.holder})
            return
        except FhirdrError as exc:
            # Not set up yet in the new direction (the old primary's import during an outage): try next time.
            self.replicator = None
            self.emit({"event": "drill.replication", "at": now, "status": "not-ready", "error": exc.message})
            return
        finally:
            self.busy = False
        self.emit(
            {
                "event": "drill.replication",
                "at": now,
                "status": summary["status"],
                "direction": self.replicator.route.source_role,
                "watermark": summary["watermark"] or summary["watermark_before"],
                "rpo_seconds": summary["rpo_seconds"],
            }
        )


class AhdsDrill(Drill):
    def __init__(self, ctx: Context, disruption: Any, settings: Any, run_id: str, emit: Any, state: Any = None):
        super().__init__(ctx, disruption, settings, run_id, emit, state)
        self.client = front_door_client(ctx)
        self.replication = DrillReplication(ctx, REPLICATION_INTERVAL_SECONDS, emit)

    def write_canary(self, phase: str) -> Any:
        self.replication.tick()
        return super().write_canary(phase)

    def _switch_options(self, command: str, unplanned: bool) -> dict[str, Any]:
        from fhirdr.cli.failover import AHDS_MAX_LAG_SECONDS
        from fhirdr.paths import state_dir

        rpo = self.ctx.target.objectives.rpo_minutes * 60
        return {
            **self.ctx.options,
            "run_id": self.run_id,
            "command": command,
            "unplanned": unplanned,
            # The final cycle carries what the lag leaves while writes pause: the gate bounds the pause.
            "max_lag": min(rpo, max(self.settings.max_lag_seconds, AHDS_MAX_LAG_SECONDS)),
            "state_dir": str(state_dir() / "lost-window"),
        }

    def failback_options(self) -> dict[str, Any]:
        return self._switch_options("failback", False)

    def _failed_over(self) -> None:
        """Canaries fail while the outage goes unnoticed; then fhirdr's failover; then as for every kind."""
        phase = self.state.phases["failed-over"]
        if "switched" not in phase:
            while self.now() < phase["started"] + DETECTION_SECONDS:
                self.write_canary("failed-over")
                self.ctx.azure.sleep(self.settings.rate_seconds)
            unplanned = bool(getattr(self.disruption, "unplanned", True))
            self.note("failed-over", f"outage noticed: {'unplanned' if unplanned else 'planned'} failover")
            self._run_switch("failover-ahds", self._switch_options("failover", unplanned))
            self.record("failed-over", "switched", self.now())
        super()._failed_over()

    def _run_switch(self, runbook: str, options: dict[str, Any]) -> None:
        from fhirdr.runbook.loader import load_runbook, shipped_runbook
        from fhirdr.runbook.runner import Runner

        runner = Runner(
            load_runbook(shipped_runbook(runbook)),
            Context(self.ctx.target, self.ctx.azure, options),
            [self.emit],
            wait_timeout=self.ctx.target.replication.lease_seconds * 2,
            poll_interval=15.0,
            nested=True,
        )
        result = runner.apply()
        if result.status != "ok":
            failed = [r for r in result.results if r.status not in ("ok", "in-sync", "applied", "warning")]
            where = f" at {failed[0].spec.id}: {failed[0].error or failed[0].observed}" if failed else ""
            raise DrillPhaseFailed(f"{runbook} did not complete ({result.status}){where}")


def front_door_client(ctx: Context) -> Any:
    """The client's view: the front door's host name, tokens for the audience the primary accepts."""
    from fhirdr.azure.session import azure_errors
    from fhirdr.errors import TargetError
    from fhirdr.fhir.client import FhirClient
    from fhirdr.steps.frontdoor import probe_endpoint
    from fhirdr.steps.standby import read_primary

    reader = Reader(ctx)
    with azure_errors("reading the front door's host name"):
        host = probe_endpoint(reader).host
        primary = read_primary(reader)
    if not host:
        raise TargetError(
            "the target has no front door endpoint yet: a drill writes its canaries through it",
            hint="run `fhirdr configure-endpoint --apply` first",
        )
    audience = getattr(primary.authentication_configuration, "audience", None)
    return FhirClient(ctx.azure, ctx.target.service, retry=False, base_url=f"https://{host}", audience=audience)
