"""Failover and failback of an AHDS FHIR service: the switch of the one endpoint from one service to the other.

Azure offers no cross-region DR for the AHDS FHIR service, so fhirdr's switch is built from parts Azure
documents: Front Door sends requests to the enabled origin with the lowest priority number
(learn.microsoft.com azure/frontdoor/routing-methods "Priority"), so moving the active service is a
change of two origins' priority and enabled state; replication is $export -> $import between the
services (AZURE-FACTS, AHDS), so reversing it is pointing `replicate` at the other side, with its own
watermark, once the new target's import is enabled.

Every step reads before it acts, is idempotent and is journaled: a run that stops anywhere (kill -9)
resumes with `--resume` and makes one switch, never a duplicate origin (origins are updated by name).

State kept in the replication account, under the forward direction's folder (fhirdr/replication/direction.py):
`active.json` (the active side, written by the switch itself) and `switches/{command}-{run}.json` (what this run
measured: when writes were paused, the window at risk, when it switched, whether writes landed).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fhirdr.azure.session import get_or_none, wait
from fhirdr.errors import CheckFailedError
from fhirdr.replication.direction import SWITCH_HOLDER_PREFIX, other, read_active, sides, write_active
from fhirdr.replication.times import iso, parse_instant
from fhirdr.steps.base import REFUSE, Change, Param, Step, text
from fhirdr.steps.failback import GateStep, _override_or_refuse
from fhirdr.steps.frontdoor import OriginFacts, read_origins

log = logging.getLogger(__name__)

# The switch's own hold on the replication lease: long enough for a final cycle and the switch.
SWITCH_LEASE_SECONDS = 30 * 60
LEASE_POLL_SECONDS = 5.0
# How long the switch waits for a runner's cycle in progress: a live runner renews its lease while it works
# (a large export can outlast one lease), so the wait is bounded by this, not by one lease's length.
CYCLE_WAIT_SECONDS = 30 * 60
FINAL_CYCLES = 5
MARKER_SYSTEM = "https://fhirdr.dev/switch-check"
TO = {"to": Param(str, required=True, choices=("standby", "primary"))}


# -- what every switch step knows ---------------------------------------------------------------------------


def _to(step: Step) -> str:
    return str(step.args["to"])


def _from(step: Step) -> str:
    return other(_to(step))


def _unplanned(step: Step) -> bool:
    """Unplanned or not, as the run first said: a resumed run keeps its mode whatever its flags say now."""
    mode = _record(step)[0].get("mode")
    if mode:
        return mode == "unplanned"
    return bool(step.ctx.options.get("unplanned"))


def _sides(step: Step) -> dict[str, Any]:
    return sides(step.ctx.target, step.ctx.azure.cloud.fhir_suffix)


def _account(step: Step) -> tuple[str, str]:
    """(storage account, container) of the replication state; the account as preflight reads it."""
    from fhirdr.errors import AzureError
    from fhirdr.steps.standby import read_primary

    settings = step.ctx.target.replication
    account = settings.storage_account
    if not account:
        try:
            found = read_primary(step)
        except AzureError:
            # The primary's region is down, its resource unreadable: the standby copies its exportConfiguration.
            found = _service(step, "standby")
        config = found.export_configuration if found is not None else None
        account = config.storage_account_name if config else None
    if not account:
        raise CheckFailedError(
            "the primary has no $export storage account: replication (and its state) lives there",
            hint="configure $export on the primary and run `fhirdr enable --apply`",
        )
    return account, settings.container


def _active(step: Step) -> dict[str, Any]:
    account, container = _account(step)
    return read_active(step.ctx.azure, step.ctx.target, account, container)[0]


def _switched(step: Step) -> bool:
    """This switch has happened: the state names the target as the active side."""
    return _active(step).get("active") == _to(step)


def _run_id(step: Step) -> str:
    return str(step.ctx.options.get("run_id") or "manual")


def _holder(step: Step) -> str:
    return f"{SWITCH_HOLDER_PREFIX}{step.ctx.options.get('command', 'switch')}/{_run_id(step)}"


def _state(step: Step, role: str) -> Any:
    """The replication state of the direction that exports from `role`."""
    from fhirdr.replication.state import ReplicationState

    account, container = _account(step)
    return ReplicationState(step.ctx.azure, account, container, _sides(step)[role].state_name)


def _record(step: Step) -> tuple[dict[str, Any], str | None]:
    """This run's switch record (switches/{command}-{run}.json)."""
    document, etag = _state(step, "primary").read_document(_record_name(step))
    return document or {}, etag


def _record_name(step: Step) -> str:
    # By command and run: a drill's failover and failback share its run id.
    return f"switches/{step.ctx.options.get('command', 'switch')}-{_run_id(step)}.json"


def _update_record(step: Step, **values: Any) -> dict[str, Any]:
    document, _ = _record(step)
    mode = document.get("mode") or ("unplanned" if step.ctx.options.get("unplanned") else "planned")
    document.update(run=_run_id(step), to=_to(step), mode=mode, **values)
    _state(step, "primary").write_document(_record_name(step), document)
    return document


def _watermark(step: Step, role: str) -> float | None:
    mark, _ = _state(step, role).watermark()
    return parse_instant(mark["watermark"]) if mark and mark.get("watermark") else None


def _service(step: Step, role: str) -> Any | None:
    side = _sides(step)[role]
    return get_or_none(step.ctx.azure.healthcare().fhir_services.get, side.resource_group, side.workspace, side.service)


def _audience(service: Any) -> str | None:
    return getattr(getattr(service, "authentication_configuration", None), "audience", None) if service else None


def _answers(step: Step, role: str) -> dict[str, Any]:
    """GET {service}/metadata directly (not through Front Door), once, with a probe's timeouts."""
    from fhirdr.steps.health import probe

    return probe(step.ctx, _sides(step)[role].url, _audience(_service(step, role)))


def _client(step: Step, role: str, retry: bool = False) -> Any:
    from fhirdr.fhir.client import FhirClient

    side = _sides(step)[role]
    return FhirClient(
        step.ctx.azure, side.service, retry=retry, base_url=side.url, audience=_audience(_service(step, role))
    )


# -- gates ---------------------------------------------------------------------------------------------------


class SwitchEndpoint(GateStep):
    """The front door holds both services as origins (`fhirdr configure-endpoint` built it)."""

    uses = "switch.endpoint"
    params = TO

    def facts(self) -> tuple[OriginFacts, dict[str, Any]]:
        return read_origins(self), _active(self)

    def observe(self, facts: tuple[OriginFacts, dict[str, Any]]) -> str:
        origins, active = facts
        if not origins.origins:
            return "no origins in the front door"
        return (
            "; ".join(
                f"{o.name} -> {o.host_name} (priority {o.priority}, {text(o.enabled_state)})"
                for o in sorted(origins.origins, key=lambda o: o.priority or 1)
            )
            + f"; replication state: {active.get('active')} active"
        )

    def plan(self, facts: tuple[OriginFacts, dict[str, Any]]) -> list[Change]:
        origins, active = facts
        missing = [role for role in ("primary", "standby") if origins.origin_for(role) is None]
        if not missing:
            pending = active.get("switching") or {}
            if pending and pending.get("run") != _run_id(self):
                command = pending.get("command") or "failover"
                return _override_or_refuse(
                    self,
                    "switch-unfinished",
                    f"a {command} to the {pending.get('to')} (run {pending.get('run')}) stopped half-way: finish it "
                    f"first with `fhirdr {command} --resume {pending.get('run')}`",
                )
            routed = origins.active()
            if not pending and routed and routed != active.get("active"):
                return _override_or_refuse(
                    self,
                    "endpoint-agrees",
                    f"the front door sends clients to the {routed} but the replication state says the "
                    f"{active.get('active')} is active (were the origins changed by hand?)",
                )
            return []
        return [
            Change(
                "fix-endpoint",
                "endpoint",
                f"the front door has no origin for the {' and the '.join(missing)}: run `fhirdr configure-endpoint "
                "--apply` first (clients reach the services through it; a switch moves its origins)",
                fixable=False,
            )
        ]


class TargetHealthy(GateStep):
    """The service taking over answers `GET /metadata` directly (CapabilityStatement, anonymous on AHDS)."""

    uses = "switch.target-healthy"
    params = TO

    def facts(self) -> dict[str, Any]:
        return _answers(self, _to(self))

    def observe(self, facts: dict[str, Any]) -> str:
        if facts["answers"]:
            return f"{facts['url']} answers ({facts['latency_ms']:.0f} ms)"
        return f"{facts['url']} does not answer ({facts['error']})"

    def plan(self, facts: dict[str, Any]) -> list[Change]:
        if facts["answers"]:
            return []
        return _override_or_refuse(self, "target-healthy", f"the {_to(self)} does not answer: {self.observe(facts)}")


class SourceState(GateStep):
    """Planned: the service handing over answers (its last writes can be replicated). Unplanned: it does not
    (a switch of a service that answers loses writes a planned one would keep)."""

    uses = "switch.source-state"
    params = TO

    def facts(self) -> tuple[dict[str, Any], bool]:
        switched = _switched(self)
        return (
            {"answers": False, "url": _sides(self)[_from(self)].url, "error": "-"}
            if switched
            else _answers(self, _from(self))
        ), switched

    def observe(self, facts: tuple[dict[str, Any], bool]) -> str:
        answer, switched = facts
        if switched:
            return f"already switched to the {_to(self)}"
        if answer["answers"]:
            return f"{answer['url']} answers"
        return f"{answer['url']} does not answer ({answer['error']})"

    def plan(self, facts: tuple[dict[str, Any], bool]) -> list[Change]:
        answer, switched = facts
        if switched:
            return []
        source = _from(self)
        if _unplanned(self) and answer["answers"]:
            return _override_or_refuse(
                self,
                "source-down",
                f"the {source} answers ({answer['url']}): an unplanned switch would lose the writes after the last "
                "watermark that a planned one replicates first; drop --unplanned",
            )
        if not _unplanned(self) and not answer["answers"]:
            return [
                Change(
                    REFUSE,
                    "source-answers",
                    f"source-answers: the {source} does not answer ({answer['error']}), so no final replication "
                    "cycle can run; "
                    + (
                        "if it is down, switch now with --unplanned (the report names the window lost)"
                        if self.ctx.options.get("command") != "failback"
                        else "failback needs it: wait for the standby to answer again"
                    ),
                    fixable=False,
                )
            ]
        return []


@dataclass
class LagFacts:
    switched: bool
    watermark: float | None
    now: float
    active: dict[str, Any]
    paused: str | None  # this run already paused writes: the final cycle carries the rest, lag no longer matters


class CaughtUp(GateStep):
    """Planned: replication from the service handing over is at most --max-lag behind. Unplanned: the window
    at risk is named (from the last verified watermark), never a refusal: the source is gone."""

    uses = "switch.caught-up"
    params = TO

    def facts(self) -> LagFacts:
        active = _active(self)
        switched = active.get("active") == _to(self)
        paused = _record(self)[0].get("paused_at")
        return LagFacts(switched, _watermark(self, _from(self)), self.ctx.azure.now(), active, paused)

    def _limit(self) -> float:
        return float(self.ctx.options.get("max_lag", 60))

    def observe(self, facts: LagFacts) -> str:
        if facts.switched:
            text = f"switched to the {_to(self)} at {facts.active.get('switched_at')}"
            if facts.active.get("mode") == "unplanned":
                text += f"; writes after the watermark {facts.active.get('window_from') or '-'} were at risk"
            return text
        if facts.paused:
            return f"writes paused at {facts.paused} by this run: the final cycle carries the rest"
        if facts.watermark is None:
            return f"nothing replicated from the {_from(self)} yet"
        lag = facts.now - facts.watermark
        if _unplanned(self):
            return f"last verified watermark {iso(facts.watermark)}: writes after it ({lag:.0f} s) are at risk"
        return f"lag {lag:.0f} s (limit {self._limit():g} s), watermark {iso(facts.watermark)}"

    def plan(self, facts: LagFacts) -> list[Change]:
        if facts.switched or facts.paused:
            return []
        if _unplanned(self):
            if facts.watermark is not None:
                return []
            return _override_or_refuse(
                self,
                "caught-up",
                f"nothing was ever replicated from the {_from(self)}: an unplanned switch sends clients to an empty "
                f"{_to(self)}",
            )
        if facts.watermark is None:
            return _override_or_refuse(
                self, "caught-up", f"nothing was ever replicated from the {_from(self)} (run `fhirdr replicate`)"
            )
        lag = facts.now - facts.watermark
        if lag <= self._limit():
            return []
        return _override_or_refuse(
            self, "caught-up", f"replication from the {_from(self)} is {lag:.0f} s behind (limit {self._limit():g} s)"
        )


class SwitchLease(Step):
    """The switch holds the replication lease of the direction it ends, so no runner cycles while it switches
    (`replicate --follow` waits for it); a runner's cycle in progress is waited for, not interrupted."""

    uses = "switch.lease"
    params = TO

    def facts(self) -> tuple[dict[str, Any] | None, bool]:
        switched = _switched(self)
        return _state(self, _from(self)).holder(), switched

    def observe(self, facts: tuple[dict[str, Any] | None, bool]) -> str:
        lease, _ = facts
        if not lease or not lease["live"]:
            return "free"
        return f"held by {lease['holder']} until {iso(float(lease['expires']))}"

    def plan(self, facts: tuple[dict[str, Any] | None, bool]) -> list[Change]:
        lease, switched = facts
        if lease and lease["live"] and lease["holder"] == _holder(self):
            return []
        if switched and not (lease and lease["live"]):
            return []
        if lease and lease["live"]:
            if lease["holder"].startswith(SWITCH_HOLDER_PREFIX):
                run = lease["holder"].removeprefix(SWITCH_HOLDER_PREFIX)
                return [
                    Change(
                        REFUSE,
                        "lease-free",
                        f"lease-free: another switch holds the replication lease ({self.observe(facts)}); resume it "
                        f"(`fhirdr {run.replace('/', ' --resume ', 1)}`) or let its lease expire",
                        fixable=False,
                    )
                ]
            return [
                Change(
                    "take",
                    "lease",
                    f"wait for the replication cycle running now ({self.observe(facts)}), then take the lease as "
                    f"{_holder(self)}",
                )
            ]
        return [Change("take", "lease", f"take the replication lease as {_holder(self)}")]

    def apply(self, change: Change) -> None:
        """Take the lease; a runner's cycle in progress ends and releases it (or its lease expires if it died)."""
        from fhirdr.replication.state import LeaseHeld

        state = _state(self, _from(self))
        lease_seconds = self.ctx.target.replication.lease_seconds
        waits = max(CYCLE_WAIT_SECONDS, lease_seconds + LEASE_POLL_SECONDS)
        deadline = self.ctx.azure.now() + waits
        state.queue(_holder(self), waits + LEASE_POLL_SECONDS)  # runners start no new cycle while it waits
        while True:
            try:
                state.acquire(_holder(self), SWITCH_LEASE_SECONDS, f"switch-{_run_id(self)}")
                _update_record(self, lease_taken=iso(self.ctx.azure.now()))  # the run's mode is kept from here
                return
            except LeaseHeld as held:
                if held.holder.startswith(SWITCH_HOLDER_PREFIX) or self.ctx.azure.now() >= deadline:
                    state.dequeue(_holder(self))
                    raise
            self.ctx.azure.sleep(LEASE_POLL_SECONDS)


# -- the switch ---------------------------------------------------------------------------------------------


def _put_origin(step: Step, found: Any, priority: int, enabled: str) -> None:
    """Update one origin by its name (never a new origin), keeping its host and host header."""
    from azure.mgmt.cdn.models import AFDOrigin

    ep = step.ctx.target.require_endpoint()
    body = AFDOrigin(
        host_name=found.host_name,
        origin_host_header=found.origin_host_header or found.host_name,
        http_port=found.http_port or 80,
        https_port=found.https_port or 443,
        priority=priority,
        weight=found.weight or 1000,
        enabled_state=enabled,
        enforce_certificate_name_check=True,
    )
    wait(
        step.ctx.azure.front_door().afd_origins.begin_create(
            ep.resource_group, ep.profile, ep.origin_group, found.name, body
        )
    )


class Pause(Step):
    """Planned: writes stop before the final cycle; the origin of the service handing over is disabled in
    the front door (clients get 503 until the switch: the RTO of a planned failover)."""

    uses = "switch.pause"
    params = TO

    def facts(self) -> tuple[OriginFacts, dict[str, Any], bool]:
        return read_origins(self), _record(self)[0], _switched(self)

    def observe(self, facts: tuple[OriginFacts, dict[str, Any], bool]) -> str:
        origins, record, switched = facts
        if _unplanned(self):
            return "unplanned: nothing to pause (the source does not answer)"
        if switched:
            return f"already switched to the {_to(self)}"
        source = origins.origin_for(_from(self))
        state = text(source.enabled_state) if source is not None else "missing"
        paused = f", writes paused at {record['paused_at']}" if record.get("paused_at") else ""
        return f"{_from(self)} origin {state}{paused}"

    def plan(self, facts: tuple[OriginFacts, dict[str, Any], bool]) -> list[Change]:
        origins, record, switched = facts
        if _unplanned(self) or switched:
            return []
        source = origins.origin_for(_from(self))
        if source is None:
            return [Change("fix-endpoint", "endpoint", "the source has no origin", fixable=False)]
        target = origins.origin_for(_to(self))
        target_on = target is not None and text(target.enabled_state) == "Enabled"
        if text(source.enabled_state) == "Enabled" or target_on or not record.get("paused_at"):
            also = f" and {target.name} (automatic_failover would send writes there early)" if target_on else ""
            return [
                Change("pause", source.id, f"disable origin {source.name}{also} so no write lands on either service")
            ]
        return []

    def apply(self, change: Change) -> None:
        from fhirdr.steps.frontdoor import PROPAGATION_POLL_SECONDS, PROPAGATION_SECONDS, probe_endpoint

        origins = read_origins(self)
        # Both off: with automatic_failover the standby's origin is enabled and would take writes before the final
        # cycle, colliding with the primary's last versions.
        for role in (_from(self), _to(self)):
            found = origins.origin_for(role)
            if found is not None and text(found.enabled_state) == "Enabled":
                _put_origin(self, found, found.priority or 1, "Disabled")
        # Front Door takes a while to deploy an origin change to its edges: writes still land until it has.
        waited = 0.0
        while probe_endpoint(self).answered_by == _from(self) and waited < PROPAGATION_SECONDS:
            self.ctx.azure.sleep(PROPAGATION_POLL_SECONDS)
            waited += PROPAGATION_POLL_SECONDS
        record, _ = _record(self)
        if not record.get("paused_at"):
            _update_record(self, paused_at=iso(self.ctx.azure.now()))


@dataclass
class FinalFacts:
    watermark: float | None
    paused: float | None
    switched: bool
    late: bool  # the source holds versions newer than the watermark (written after the last cycle's _till)


class FinalCycle(Step):
    """Planned: replication cycles after writes paused, until the source holds nothing newer than the watermark
    (its `_history?_since=` is empty), so the target has every write the source acknowledged, a write that
    reached it while Front Door's change was still deploying, or from a client that calls it directly, too."""

    uses = "switch.final-cycle"
    params = TO

    def facts(self) -> FinalFacts:
        record, _ = _record(self)
        paused = parse_instant(record["paused_at"]) if record.get("paused_at") else None
        watermark, switched = _watermark(self, _from(self)), _switched(self)
        late = False
        if not switched and not _unplanned(self) and paused is not None and watermark is not None:
            late = _newer_than(_client(self, _from(self)), watermark)
        return FinalFacts(watermark, paused, switched, late)

    def observe(self, facts: FinalFacts) -> str:
        if _unplanned(self):
            return "unplanned: no final cycle (the source does not answer)"
        if facts.switched:
            return f"already switched to the {_to(self)}"
        mark = iso(facts.watermark) if facts.watermark else "-"
        paused = iso(facts.paused) if facts.paused else "-"
        late = f"; the {_from(self)} has writes after it" if facts.late else ""
        return f"watermark {mark}; writes paused at {paused}{late}"

    def plan(self, facts: FinalFacts) -> list[Change]:
        if _unplanned(self) or facts.switched:
            return []
        caught_up = facts.paused is not None and facts.watermark is not None and facts.watermark >= facts.paused
        if caught_up and not facts.late:
            return []
        return [Change("replicate", "replication", f"a final cycle {_from(self)} -> {_to(self)} after the pause")]

    def apply(self, change: Change) -> None:
        from fhirdr.replication import preflight
        from fhirdr.replication.cycle import Replicator

        if not _record(self)[0].get("paused_at"):
            raise CheckFailedError("writes were not paused: the pause step must run before the final cycle")
        route = preflight.check(self.ctx, active=_from(self))
        replicator = Replicator(
            self.ctx, route, holder=_holder(self), release=False, lease_seconds=SWITCH_LEASE_SECONDS
        )
        for _ in range(FINAL_CYCLES):
            summary = replicator.cycle()
            if summary["status"] != "ok":
                raise CheckFailedError(
                    f"the final replication cycle {summary['status']}: {'; '.join(summary['errors']) or 'no details'}",
                    hint="fix it and resume; nothing was switched (both origins stay disabled: clients get 503)",
                )
            _update_record(self, final_cycle=summary["cycle"], final_watermark=summary["watermark"])
            if not _newer_than(replicator.primary, parse_instant(summary["watermark"])):
                return
        raise CheckFailedError(
            f"writes still reach the {_from(self)} after {FINAL_CYCLES} final cycles, with its origin disabled: "
            "clients call it directly",
            hint="stop them (or its network access), then resume; nothing was switched",
        )


def _newer_than(client: Any, watermark: float) -> bool:
    """The service holds a version written at or after `watermark` (one history entry is enough to know)."""
    response = client.request("GET", "_history", params={"_since": iso(watermark), "_count": "1"})
    if not response.ok:
        raise CheckFailedError(f"reading {client.base_url}/_history failed (HTTP {response.status})")
    return bool((response.body or {}).get("entry"))


def _wanted_origins(step: Step) -> dict[str, tuple[int, str]]:
    standby_state = "Enabled" if step.ctx.target.require_endpoint().automatic_failover else "Disabled"
    return {_to(step): (1, "Enabled"), _from(step): (2, standby_state)}


class SwitchOrigins(Step):
    """The switch: the target's origin to priority 1 and enabled, the source's to 2 (disabled unless
    `automatic_failover`), in an order that never has both at priority 1 (Front Door would spread writes
    over both); then active.json names the new active side, so every `replicate` follows."""

    uses = "switch.origins"
    params = TO

    def facts(self) -> tuple[OriginFacts, dict[str, Any]]:
        return read_origins(self), _active(self)

    def observe(self, facts: tuple[OriginFacts, dict[str, Any]]) -> str:
        origins, active = facts
        parts = [
            f"{role} priority {o.priority} {text(o.enabled_state).lower()}"
            for role in ("primary", "standby")
            if (o := origins.origin_for(role)) is not None
        ]
        return ", ".join(parts) + f"; replication state says active: {active.get('active')}"

    def plan(self, facts: tuple[OriginFacts, dict[str, Any]]) -> list[Change]:
        origins, active = facts
        off = []
        for role, (priority, enabled) in _wanted_origins(self).items():
            found = origins.origin_for(role)
            if found is None:
                return [Change("fix-endpoint", "endpoint", f"no origin for the {role}", fixable=False)]
            if found.priority != priority or text(found.enabled_state) != enabled:
                off.append(f"{role} -> priority {priority}, {enabled.lower()}")
        if active.get("active") != _to(self):
            off.append(f"replication state: active {_to(self)}")
        if not off:
            return []
        return [Change("switch", "endpoint", f"switch to the {_to(self)}: " + "; ".join(off))]

    def apply(self, change: Change) -> None:
        from fhirdr.replication.state import LeaseHeld

        account, container = _account(self)
        current = _active(self)
        if current.get("active") != _to(self) and (current.get("switching") or {}).get("run") != _run_id(self):
            # Said before the origins move: a run killed half-way is found by the next one (switch.endpoint).
            intent = {"to": _to(self), "run": _run_id(self), "command": self.ctx.options.get("command")}
            write_active(self.ctx.azure, self.ctx.target, account, container, {**current, "switching": intent})
        # The new direction's lease too, until replication is reversed: no runner cycles from the new side before.
        try:
            _state(self, _to(self)).acquire(_holder(self), SWITCH_LEASE_SECONDS, f"switch-{_run_id(self)}")
        except LeaseHeld as held:
            raise CheckFailedError(
                f"a replication runner ({held.holder}) holds the lease of the {_to(self)}'s direction; "
                "nothing switched",
                hint="let its cycle end, then resume",
            ) from None
        origins = read_origins(self)
        target, source = origins.origin_for(_to(self)), origins.origin_for(_from(self))
        wanted = _wanted_origins(self)
        # The source steps aside first (priority 3), then the target takes priority 1, then the source 2.
        if source.priority == 1 or (source.priority or 1) <= (target.priority or 1):
            _put_origin(self, source, 3, text(source.enabled_state) or "Enabled")
        if target.priority != 1 or text(target.enabled_state) != "Enabled":
            _put_origin(self, target, 1, "Enabled")
        source = read_origins(self).origin_for(_from(self))
        if (source.priority, text(source.enabled_state)) != wanted[_from(self)]:
            _put_origin(self, source, *wanted[_from(self)])
        record, _ = _record(self)
        now = self.ctx.azure.now()
        window_from = _watermark(self, _from(self))
        if _active(self).get("active") != _to(self):
            document = {
                "active": _to(self),
                "run": _run_id(self),
                "command": self.ctx.options.get("command"),
                "mode": "unplanned" if _unplanned(self) else "planned",
                "switched_at": iso(now),
                "window_from": iso(window_from) if window_from else None,
                "paused_at": record.get("paused_at"),
                # The switch this one undoes (a failback's failover): its lost-window report stays findable.
                "previous": {k: v for k, v in current.items() if k not in ("previous", "switching")},
            }
            write_active(self.ctx.azure, self.ctx.target, account, container, document)
        if not record.get("switched_at"):
            _update_record(self, switched_at=iso(now), window_from=iso(window_from) if window_from else None)


class WritesLand(Step):
    """A write through the front door lands in the new active service (read back there directly), and not in
    the other one (when it answers). The check's resource is a Basic with fhirdr's code, deleted afterwards."""

    uses = "switch.writes-land"
    params = TO

    def facts(self) -> dict[str, Any]:
        record = _record(self)[0]
        active = _active(self)
        if not record.get("switched_at") and active.get("active") == _to(self) and active.get("run") != _run_id(self):
            return {"earlier": active.get("run")}
        return record

    def observe(self, facts: dict[str, Any]) -> str:
        if facts.get("earlier"):
            return f"switched to the {_to(self)} by an earlier run ({facts['earlier']}): nothing to check"
        checked = facts.get("writes_land")
        return f"a write through the front door landed in the {_to(self)} at {checked}" if checked else "not checked"

    def plan(self, facts: dict[str, Any]) -> list[Change]:
        if facts.get("writes_land") or facts.get("earlier"):
            return []
        return [Change("verify", "endpoint", f"write through the front door and read it back on the {_to(self)}")]

    def apply(self, change: Change) -> None:
        from fhirdr.fhir.client import FhirClient
        from fhirdr.steps.frontdoor import probe_endpoint

        host = probe_endpoint(self).host
        if not host:
            raise CheckFailedError("the front door has no endpoint host name to write through")
        target = _service(self, _to(self))
        front = FhirClient(self.ctx.azure, "", retry=True, base_url=f"https://{host}", audience=_audience(target))
        marker = {
            "resourceType": "Basic",
            "code": {"coding": [{"system": MARKER_SYSTEM, "code": "switch-check"}]},
            "identifier": [{"system": MARKER_SYSTEM, "value": _run_id(self)}],
        }
        created = front.create(marker)
        if not created.ok or not isinstance(created.body, dict):
            raise CheckFailedError(f"a write through the front door failed (HTTP {created.status})")
        rid = created.body["id"]
        try:
            landed = _client(self, _to(self), retry=True).read("Basic", rid)
            if landed.status != 200:
                raise CheckFailedError(
                    f"a write through the front door did not land in the {_to(self)} (HTTP {landed.status} there)"
                )
            elsewhere = _client(self, _from(self)).read("Basic", rid)
            if elsewhere.status == 200:
                raise CheckFailedError(
                    f"a write through the front door landed in the {_from(self)}, not the {_to(self)}"
                )
        finally:
            front.delete("Basic", rid)
        _update_record(self, writes_land=iso(self.ctx.azure.now()))


@dataclass
class ReverseFacts:
    import_problems: list[str]
    watermark: float | None
    wanted_watermark: float | None
    service: Any | None
    unreachable: str | None = None  # the old side's resource cannot be read (its region is down)


class Reverse(Step):
    """Replication reversed: the service handed over imports incrementally from the replication account, and
    the new direction starts from the old one's watermark (versions the new source had before the switch came
    from the old source; an overlap re-exports the edge, reported as duplicates and not applied)."""

    uses = "switch.reverse"
    params = TO

    def facts(self) -> ReverseFacts:
        from fhirdr.errors import AzureError
        from fhirdr.replication.preflight import _account as find_account
        from fhirdr.replication.preflight import _holds_blob_role
        from fhirdr.steps.standby import import_problems

        account, _ = _account(self)
        new, old = _watermark(self, _to(self)), _watermark(self, _from(self))
        wanted = max(w for w in (new, old) if w is not None) if (new or old) else None
        try:
            service = _service(self, _from(self))
        except AzureError as exc:
            # Unplanned: the old primary's region is down, and Azure Resource Manager there with it.
            return ReverseFacts([], new, wanted, None, exc.message)
        problems: list[str] = ["the service does not exist"] if service is None else []
        if service is not None:
            found = find_account(self.ctx, account)
            held = found is not None and _holds_blob_role(self.ctx, service, found.id)
            problems = import_problems(service, account, held, _from(self))
        return ReverseFacts(problems, new, wanted, service)

    def observe(self, facts: ReverseFacts) -> str:
        imports = "import ready" if not facts.import_problems else "; ".join(facts.import_problems)
        mark = iso(facts.watermark) if facts.watermark else "-"
        return f"{_to(self)} -> {_from(self)}: {imports}; watermark {mark}"

    def plan(self, facts: ReverseFacts) -> list[Change]:
        changes = []
        if facts.unreachable:
            # Clients are switched; replication is reversed once the old side answers (failback does it first).
            return [
                Change(
                    "later",
                    _from(self),
                    f"the {_from(self)} cannot be read ({facts.unreachable}): replication is reversed once it is "
                    "back (`fhirdr failback` does it before its gates)",
                    severity="warning",
                )
            ]
        if facts.service is None:
            return [Change("fix", _from(self), f"the {_from(self)} FHIR service does not exist", fixable=False)]
        fixable = [p for p in facts.import_problems if "identity cannot read" not in p]
        if fixable:
            changes.append(
                Change(
                    "configure-import",
                    facts.service.id,
                    f"enable incremental import on the {_from(self)} from the replication account",
                )
            )
        if len(fixable) != len(facts.import_problems):
            changes.append(
                Change(
                    "fix-role",
                    facts.service.id,
                    f"the {_from(self)}'s identity has no Storage Blob Data Contributor on the replication account: "
                    "grant it (it reads the imports)",
                    fixable=False,
                )
            )
        if facts.wanted_watermark is not None and (facts.watermark or 0) < facts.wanted_watermark:
            changes.append(
                Change(
                    "watermark",
                    "replication",
                    f"start {_to(self)} -> {_from(self)} replication at {iso(facts.wanted_watermark)}",
                    {"watermark": facts.wanted_watermark},
                )
            )
        return changes

    def apply(self, change: Change) -> None:
        if change.action == "configure-import":
            from azure.mgmt.healthcareapis.models import FhirServiceImportConfiguration

            side = _sides(self)[_from(self)]
            service = _service(self, _from(self))
            account, _ = _account(self)
            service.import_configuration = FhirServiceImportConfiguration(
                integration_data_store=account, initial_import_mode=False, enabled=True
            )
            wait(
                self.ctx.azure.healthcare().fhir_services.begin_create_or_update(
                    side.resource_group, side.workspace, side.service, service
                )
            )
            return
        state = _state(self, _to(self))
        mark, etag = state.watermark()
        document = {
            **(mark or {}),
            "watermark": iso(change.data["watermark"]),
            "cycle": f"switch-{_run_id(self)}",
            "holder": _holder(self),
            "written": iso(self.ctx.azure.now()),
        }
        state.set_watermark(document, etag)


class ReleaseSwitchLease(Step):
    """The switch lets go of both directions' replication leases; runners resume, in the new direction."""

    uses = "switch.release"
    params = TO

    def facts(self) -> list[dict[str, Any] | None]:
        from fhirdr.replication.state import QUEUE_BLOB

        leases = [_state(self, role).holder() for role in (_from(self), _to(self))]
        queued = [_state(self, role).read_document(QUEUE_BLOB)[0] for role in (_from(self), _to(self))]
        return leases + [{**q, "live": True} for q in queued if q]

    def observe(self, facts: list[dict[str, Any] | None]) -> str:
        held = [f"{lease['holder']}" for lease in facts if lease and lease["live"]]
        return "held by " + ", ".join(held) if held else "free"

    def plan(self, facts: list[dict[str, Any] | None]) -> list[Change]:
        if any(lease and lease["live"] and lease["holder"] == _holder(self) for lease in facts):
            return [Change("release", "lease", "release the replication leases")]
        return []

    def apply(self, change: Change) -> None:
        from fhirdr.replication.state import Lease

        for role in (_from(self), _to(self)):
            state = _state(self, role)
            lease, etag = state.read_document("lease.json")
            if lease and lease.get("holder") == _holder(self):
                state.release(Lease(_holder(self), 0, etag or ""))
            state.dequeue(_holder(self))
        _update_record(self, finished_at=iso(self.ctx.azure.now()))


# -- after an unplanned failover: the window that was lost -----------------------------------------------------


@dataclass
class WindowFacts:
    failover: dict[str, Any]
    report: dict[str, Any] | None


class LostWindow(Step):
    """After an unplanned failover, once the old primary answers again: the versions it accepted after the last
    verified watermark that never reached the standby, read with `_history?_since=&_before=` (system-level
    history, fhir-server's history search) and written to a file for a person to review. They are never
    applied over the standby's newer versions; the resources changed on both sides are named as conflicts, and
    before the switch back the old primary is given the standby's latest version of each (a new version on
    top, the lost one kept in its history and in the file)."""

    uses = "switch.lost-window"
    params = TO

    def facts(self) -> WindowFacts:
        active = _failover_of(self)
        report = None
        if active.get("mode") == "unplanned" and active.get("run"):
            report = _state(self, "primary").read_document(f"lost-window/{active['run']}.json")[0]
        return WindowFacts(active, report)

    def observe(self, facts: WindowFacts) -> str:
        if facts.failover.get("mode") != "unplanned":
            return "the last switch was planned: nothing was lost"
        if facts.report:
            return (
                f"{facts.report['lost']} version(s) of {facts.report['resources']} resource(s) accepted by the "
                f"{_to(self)} after {facts.report['window_from']} never reached the {_from(self)} "
                f"({facts.report['conflicts']} changed on both sides); review {facts.report['file']}"
            )
        return f"window {facts.failover.get('window_from')} .. {facts.failover.get('switched_at')} not read yet"

    def plan(self, facts: WindowFacts) -> list[Change]:
        if facts.failover.get("mode") != "unplanned" or facts.failover.get("active") != _from(self):
            return []
        if facts.report:
            return []
        return [
            Change(
                "report",
                "lost-window",
                f"read what the {_to(self)} accepted in {facts.failover.get('window_from')} .. "
                f"{facts.failover.get('switched_at')} and write it for review",
            )
        ]

    def apply(self, change: Change) -> None:
        failover = _failover_of(self)
        report = lost_window(self, failover, Path(self.ctx.options.get("state_dir") or "."))
        _state(self, "primary").write_document(f"lost-window/{failover['run']}.json", report)


def _failover_of(step: Step) -> dict[str, Any]:
    """The switch a failback comes back from: the active record now, or (once switched back) the one it undid."""
    active = _active(step)
    if active.get("active") == _to(step) and active.get("previous"):
        return active["previous"]
    return active


def _history(client: Any, since: str | None, before: str | None) -> Any:
    """Every version in the system-level history between two instants, page by page (fhir-server's history
    takes `_since` and `_before`: KnownQueryParameterNames in microsoft/fhir-server)."""
    params = {"_count": "500"}
    if since:
        params["_since"] = since
    if before:
        params["_before"] = before
    response = client.request("GET", "_history", params=params)
    while True:
        if not response.ok:
            raise CheckFailedError(f"reading _history failed (HTTP {response.status})")
        yield from (response.body or {}).get("entry") or []
        link = next((li["url"] for li in (response.body or {}).get("link") or [] if li.get("relation") == "next"), None)
        if not link:
            return
        response = client.request("GET", link)


def lost_window(step: Step, failover: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Write `lost-window-{run}.ndjson`: every version the old primary holds in the window that the standby
    does not (same versionId and lastUpdated). Returns the report, with the resources they belong to."""
    old_primary = _client(step, _to(step), retry=True)  # failback goes to it: it holds the lost versions
    survivor = _client(step, _from(step), retry=True)  # clients wrote there since the switch
    window_from, switched_at = failover.get("window_from"), failover.get("switched_at")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"lost-window-{failover['run']}.ndjson"
    lost = 0
    touched: dict[str, int] = {}
    with path.open("w", encoding="utf-8") as out:
        # Until now, not the switch: a write can still reach the old primary after it (Front Door deploying the
        # change, a client calling it directly); versions reverse replication brought are the standby's own.
        for entry in _history(old_primary, window_from, None):
            rtype, rid, version, updated = _identity(entry)
            if not rtype:
                continue
            if version and _has_version(survivor, rtype, rid, version, updated, "resource" not in entry):
                continue  # it was replicated after all (a cycle imported it but never moved the watermark)
            lost += 1
            touched[f"{rtype}/{rid}"] = touched.get(f"{rtype}/{rid}", 0) + 1
            out.write(json.dumps({"resourceType": rtype, "id": rid, "versionId": version, "entry": entry}) + "\n")
    conflicts = []
    for reference in touched:
        history = survivor.request(
            "GET", f"{reference}/_history", params={"_since": window_from} if window_from else None
        )
        if history.ok and (history.body or {}).get("entry"):
            conflicts.append(reference)
    return {
        "failover_run": failover["run"],
        "window_from": window_from,
        "window_to": switched_at,
        "read_until": iso(step.ctx.azure.now()),
        "lost": lost,
        "resources": len(touched),
        "conflicts": len(conflicts),
        "conflict_ids": conflicts,
        "touched": sorted(touched),
        "file": str(path),
        "read_at": iso(step.ctx.azure.now()),
        "resolved": None,
    }


def _identity(entry: dict[str, Any]) -> tuple[str | None, str, str | None, str | None]:
    """(type, id, versionId, lastUpdated) of a history entry; a delete has no resource, only request/response."""
    resource = entry.get("resource") or {}
    rtype, rid = resource.get("resourceType"), resource.get("id")
    meta = resource.get("meta") or {}
    if not rtype or not rid:
        parts = ((entry.get("request") or {}).get("url") or "").split("/")
        if len(parts) < 2:
            return None, "", None, None
        rtype, rid = parts[0], parts[1]
    response = entry.get("response") or {}
    version = meta.get("versionId") or (response.get("etag") or "").removeprefix('W/"').rstrip('"') or None
    return rtype, rid, version, meta.get("lastUpdated") or response.get("lastModified")


def _has_version(client: Any, rtype: str, rid: str, version: str, updated: str | None, deleted: bool) -> bool:
    """The service holds this exact version: the same versionId written at the same instant (a delete: the same
    versionId deleted there too, which vread answers 410)."""
    found = client.request("GET", f"{rtype}/{rid}/_history/{version}")
    if found.status == 410:
        return deleted
    if found.status != 200 or deleted or not isinstance(found.body, dict):
        return False
    return updated is None or (found.body.get("meta") or {}).get("lastUpdated") == updated


class Resolve(Step):
    """Before the switch back, after the final cycle: every resource the old primary changed in the lost window
    gets the standby's latest version on top (or is deleted, as it is on the standby), so clients see after
    failback what they saw during the failover; the lost versions stay in its history and in the review file."""

    uses = "switch.resolve"
    params = TO

    def facts(self) -> dict[str, Any] | None:
        active = _failover_of(self)
        if active.get("mode") != "unplanned" or active.get("active") != _from(self):
            return None
        return _state(self, "primary").read_document(f"lost-window/{active['run']}.json")[0]

    def observe(self, facts: dict[str, Any] | None) -> str:
        if facts is None:
            return "nothing to resolve (no unplanned failover to come back from)"
        if facts.get("resolved") is not None:
            return f"{facts['resolved']} of {facts['resources']} resource(s) given the {_from(self)}'s latest version"
        return f"{facts['resources']} resource(s) changed in the lost window, not resolved yet"

    def plan(self, facts: dict[str, Any] | None) -> list[Change]:
        if facts is None or facts.get("resolved") is not None:
            return []
        return [
            Change(
                "resolve",
                "lost-window",
                f"give {facts['resources']} resource(s) on the {_to(self)} the {_from(self)}'s latest version",
            )
        ]

    def apply(self, change: Change) -> None:
        active = _failover_of(self)
        name = f"lost-window/{active['run']}.json"
        report, _ = _state(self, "primary").read_document(name)
        old_primary = _client(self, _to(self), retry=True)
        survivor = _client(self, _from(self), retry=True)
        resolved = 0
        for reference in report.get("touched") or []:
            rtype, rid = reference.split("/", 1)
            now, there = survivor.read(rtype, rid), old_primary.read(rtype, rid)
            if _same(now, there):
                continue
            _resolve(old_primary, rtype, rid, now)
            resolved += 1
        report["resolved"] = resolved
        _state(self, "primary").write_document(name, report)


def _same(a: Any, b: Any) -> bool:
    if a.status != b.status:
        return a.status in (404, 410) and b.status in (404, 410)
    if a.status != 200:
        return True
    return _without_version(a.body) == _without_version(b.body)


def _without_version(resource: dict[str, Any]) -> dict[str, Any]:
    """A resource as a client wrote it: meta without what the server sets (versionId, lastUpdated); tags, security
    labels and profiles kept."""
    meta = {k: v for k, v in (resource.get("meta") or {}).items() if k not in ("versionId", "lastUpdated")}
    body = {k: v for k, v in resource.items() if k != "meta"}
    return {**body, "meta": meta} if meta else body


def _resolve(old_primary: Any, rtype: str, rid: str, survivor_now: Any) -> None:
    """The standby's latest version wins on the old primary: written on top (or the resource deleted)."""
    if survivor_now.status == 200 and isinstance(survivor_now.body, dict):
        body = _without_version(survivor_now.body)
        response = old_primary.request("PUT", f"{rtype}/{rid}", body)
    elif survivor_now.status in (404, 410):
        response = old_primary.delete(rtype, rid)
    else:
        raise CheckFailedError(f"could not read {rtype}/{rid} on the service clients used (HTTP {survivor_now.status})")
    if not response.ok:
        raise CheckFailedError(f"could not give {rtype}/{rid} its latest version back (HTTP {response.status})")


STEPS = [
    SwitchEndpoint,
    TargetHealthy,
    SourceState,
    CaughtUp,
    SwitchLease,
    Pause,
    FinalCycle,
    SwitchOrigins,
    WritesLand,
    Reverse,
    ReleaseSwitchLease,
    LostWindow,
    Resolve,
]
