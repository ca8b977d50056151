"""The article's manual data failback, made safe: gates with measured values, a lease, the move, checks."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from fhirdr.azure.session import azure_errors, wait
from fhirdr.errors import SafetyGateError
from fhirdr.kinds import kind_of
from fhirdr.steps.base import OVERRIDE, REFUSE, Change, Step, text
from fhirdr.steps.cosmos import make_write_region, read_account, regions_of, write_region
from fhirdr.steps.service import read_service
from fhirdr.steps.traffic import endpoint_type, read_profile

LEASE_TAG = "fhirdr-failback-lease"

log = logging.getLogger(__name__)


def _override_or_refuse(step: Step, gate: str, measured: str) -> list[Change]:
    """A gate that says no: refused, unless --force with a reason overrides it (and the journal says so)."""
    options = step.ctx.options
    if options.get("force"):
        return [
            Change(
                OVERRIDE,
                gate,
                f"gate '{gate}' overridden by {options.get('user')}: {measured} (reason: {options.get('reason')})",
                {"gate": gate, "measured": measured},
            )
        ]
    return [Change(REFUSE, gate, f"{gate}: {measured}", fixable=False)]


class GateStep(Step):
    """Gate steps change nothing; an override is only recorded."""

    def apply(self, change: Change) -> None:
        return None


def _home(step: Step) -> str:
    """The region the data goes back to: the service's own region (the target's primary)."""
    return step.ctx.target.primary_region or ""


@dataclass
class HealthFacts:
    location_state: str | None
    endpoint_status: str | None
    probe: dict[str, Any] | None = None  # the home region's FHIR endpoint, when the target names its host
    resource_health: dict[str, Any] | None = None


class RegionHealthy(GateStep):
    """The recovered region is healthy: its Cosmos DB region is online, its compute endpoint is Online, its FHIR
    endpoint answers, and Resource Health (where readable) does not call the account unavailable."""

    uses = "failback.region-healthy"

    def facts(self) -> HealthFacts:
        from fhirdr.azure.session import concurrently
        from fhirdr.steps.health import account_id_of, endpoint_region, probe, resource_health

        home = _home(self)
        hosted = self.ctx.target.require_self_hosted()
        host = hosted.compute_in(home)
        account, profile, answer, health = concurrently(
            lambda: read_account(self),
            lambda: read_profile(self) if hosted.traffic_manager_profile else None,
            lambda: probe(self.ctx, f"https://{host}", hosted.audience or hosted.url) if host else None,
            lambda: resource_health(self.ctx, account_id_of(self.ctx.target)),
        )
        state = {r: s for r, _, s in regions_of(account)}.get(home)
        endpoint = None
        if profile is not None:
            # An endpoint it cannot place in a region never counts as the home region's.
            endpoint = "not found"
            for item in profile.endpoints or []:
                if endpoint_region(item, self.ctx.target) == home:
                    endpoint = text(item.endpoint_monitor_status)
        return HealthFacts(state, endpoint, answer, health)

    def observe(self, facts: HealthFacts) -> str:
        parts = [
            f"Cosmos DB region {facts.location_state or 'missing'}",
            f"compute endpoint {facts.endpoint_status or '-'}",
        ]
        if facts.probe is not None:
            parts.append(
                f"{facts.probe['url']} " + ("answers" if facts.probe["answers"] else f"fails ({facts.probe['error']})")
            )
        if facts.resource_health is not None and facts.resource_health["readable"]:
            parts.append(f"Resource Health {facts.resource_health['state']}")
        return ", ".join(parts)

    def plan(self, facts: HealthFacts) -> list[Change]:
        answers = facts.probe is None or facts.probe["answers"]
        available = facts.resource_health is None or facts.resource_health.get("state") != "Unavailable"
        if facts.location_state == "Succeeded" and facts.endpoint_status in (None, "Online") and answers and available:
            return []
        return _override_or_refuse(self, "region-healthy", f"{_home(self)} is not healthy ({self.observe(facts)})")


class ReplicationCaughtUp(GateStep):
    """Replication into the recovered region has caught up: lag at most --max-lag (never above the RPO)."""

    uses = "failback.replication-caught-up"

    def facts(self) -> float | None:
        from fhirdr.steps.health import replication_lag_ms

        account = read_account(self)
        if write_region(account) == _home(self):
            return 0.0
        lag = replication_lag_ms(self.ctx, account, _home(self))
        return None if lag is None else lag / 1000.0

    def observe(self, facts: float | None) -> str:
        return "no replication data" if facts is None else f"lag {facts:g} s (limit {self._limit():g} s)"

    def _limit(self) -> float:
        return float(self.ctx.options.get("max_lag", 60))

    def plan(self, facts: float | None) -> list[Change]:
        if facts is not None and facts <= self._limit():
            return []
        measured = (
            "no replication data for the region"
            if facts is None
            else f"replication into {_home(self)} is {facts:g} s behind (limit {self._limit():g} s)"
        )
        return _override_or_refuse(self, "replication-caught-up", measured)


@dataclass
class LeaseFacts:
    service: Any
    holder: str | None
    needed: bool = True


def failback_needed(step: Step) -> bool:
    """Self-hosted targets show where data and compute are; a managed service's data region is not visible."""
    target = step.ctx.target
    if kind_of(target).support_operated:
        return True
    from fhirdr.steps.health import serving_region

    backing = target.require_self_hosted()
    home = _home(step)
    compute = serving_region(read_profile(step), target) if backing.traffic_manager_profile else home
    return write_region(read_account(step)) != home or compute not in (home, None)


def parse_lease(value: str | None) -> dict[str, str]:
    parts = dict(item.split("=", 1) for item in (value or "").split(";") if "=" in item)
    return parts


class Lease(GateStep):
    """Only one failback of a service runs at a time: a lease on the service, taken with an etag-conditional write."""

    uses = "failback.lease"

    def facts(self) -> LeaseFacts:
        resource = lease_resource(self)
        return LeaseFacts(resource, (resource.tags or {}).get(LEASE_TAG), failback_needed(self))

    def observe(self, facts: LeaseFacts) -> str:
        if not facts.holder:
            return "free" if facts.needed else "free (nothing to fail back)"
        lease = parse_lease(facts.holder)
        return f"held by {lease.get('by')} (run {lease.get('run')}) since {lease.get('at')}"

    def plan(self, facts: LeaseFacts) -> list[Change]:
        run_id = self.ctx.options.get("run_id")
        lease = parse_lease(facts.holder)
        if facts.holder and lease.get("run") == run_id:
            return []
        if not facts.needed and not facts.holder:
            return []
        if facts.holder and not self.ctx.options.get("force"):
            held = f"another failback of {self.ctx.target.service} is running: lease {self.observe(facts)}"
            return [Change(REFUSE, "lease", held, {"hint": lease_hint(lease)}, fixable=False)]
        action = "take-over" if facts.holder else "take"
        summary = f"take the failback lease for run {run_id}"
        if facts.holder:
            summary += f" (overriding {self.observe(facts)}; reason: {self.ctx.options.get('reason')})"
        return [Change(action, facts.service.id, summary, {"etag": getattr(facts.service, "etag", None)})]

    def apply(self, change: Change) -> None:
        options = self.ctx.options
        value = f"run={options.get('run_id')};by={options.get('user')};at={_now_iso(self)}"
        write_lease(self, value, change.data["etag"])


def _now_iso(step: Step) -> str:
    return datetime.fromtimestamp(step.ctx.azure.now(), timezone.utc).isoformat(timespec="seconds")


def lease_resource(step: Step) -> Any:
    """Where the lease tag lives: the Azure API for FHIR service, or a self-hosted server's Cosmos DB account."""
    return read_service(step) if kind_of(step.ctx.target).support_operated else read_account(step)


# Cosmos DB accounts take no conditional writes over ARM: a self-hosted lease is written, then read back
# after this long (wall time); of two runs that wrote within it, the last writer holds the lease.
LEASE_SETTLE_SECONDS = 10.0
SIM_LEASE_SETTLE_SECONDS = 1.0


def lease_hint(lease: dict[str, str]) -> str:
    """What to do about a lease someone holds: a run of this machine is resumed, never forced past."""
    from fhirdr.paths import journal_dir

    run = lease.get("run") or ""
    if RUN_ID.fullmatch(run) and (journal_dir() / f"{run}.jsonl").exists():
        return f"it is run {run} of this machine, stopped before it released the lease: resume it with --resume {run}"
    return (
        "wait for it to finish (`fhirdr runs` on the machine that runs it); only if that run is dead, "
        "--force --reason TEXT takes the lease over, and the journal records it"
    )


WAIT_FOR_IT = "wait for it to finish; `fhirdr runs` shows the runs"
RUN_ID = re.compile(r"[0-9]{8}T[0-9]{6}Z-[0-9a-f]+")


def write_lease(step: Step, value: str | None, etag: str | None) -> None:
    """Set or clear the lease tag, conditionally; then what Azure holds decides.

    A write whose operation failed or whose answer was lost may still have been made: the lease is
    read back, and a lease that holds what this run wrote is this run's.
    """
    from azure.core.exceptions import HttpResponseError

    on_service = kind_of(step.ctx.target).support_operated
    try:
        if on_service:
            _write_service_lease(step, value, etag)
        else:
            _write_account_lease(step, value)
    except HttpResponseError as exc:
        if exc.status_code == 412:
            raise SafetyGateError(_lost_race(step), hint=WAIT_FOR_IT) from None
        if _lease_value(step) != value:
            raise
        log.warning("the lease write reported %s, but the lease holds what this run wrote", exc.status_code)
    if value is not None and not on_service:
        _settle_account_lease(step, value)


def _lease_value(step: Step) -> str | None:
    with azure_errors("reading the failback lease back"):
        return (lease_resource(step).tags or {}).get(LEASE_TAG)


def _write_service_lease(step: Step, value: str | None, etag: str | None) -> None:
    """A PATCH of the service's tags only, If-Match its etag (HTTP 412 when someone was faster).

    Never a PUT: a full PUT of Azure API for FHIR is a long-running service update that re-sends every
    property, the private endpoint connections included (ServicePatch.json vs ServiceCreate.json).
    """
    from azure.mgmt.healthcareapis.models import ServicesPatchDescription

    target = step.ctx.target
    service = read_service(step)
    if etag is not None and service.etag != etag:
        raise SafetyGateError(_lost_race(step))
    tags = dict(service.tags or {})
    if value is None:
        tags.pop(LEASE_TAG, None)
    else:
        tags[LEASE_TAG] = value
    condition = {"If-Match": service.etag} if service.etag else {}
    wait(
        step.ctx.azure.healthcare().services.begin_update(
            target.resource_group, target.service, ServicesPatchDescription(tags=tags), headers=condition
        )
    )


def _write_account_lease(step: Step, value: str | None) -> None:
    """Write the lease tag on the Cosmos DB account (a PATCH of tags only)."""
    from azure.mgmt.cosmosdb.models import DatabaseAccountUpdateParameters

    hosted = step.ctx.target.require_self_hosted()
    account = read_account(step)
    holder = (account.tags or {}).get(LEASE_TAG)
    mine = parse_lease(holder).get("run") == step.ctx.options.get("run_id")
    if value is not None and holder and not mine and not step.ctx.options.get("force"):
        raise SafetyGateError(_lost_race(step))
    tags = dict(account.tags or {})
    if value is None:
        tags.pop(LEASE_TAG, None)
    else:
        tags[LEASE_TAG] = value
    wait(
        step.ctx.azure.cosmos().database_accounts.begin_update(
            hosted.cosmos_resource_group, hosted.cosmos_account, DatabaseAccountUpdateParameters(tags=tags)
        )
    )


def _settle_account_lease(step: Step, value: str) -> None:
    """Cosmos DB accounts take no conditional writes over ARM: wait, read back, the last writer holds it."""
    import time

    time.sleep(SIM_LEASE_SETTLE_SECONDS if step.ctx.azure.simulated else LEASE_SETTLE_SECONDS)
    if _lease_value(step) != value:
        raise SafetyGateError(_lost_race(step), hint=WAIT_FOR_IT)


def _lost_race(step: Step) -> str:
    with azure_errors("reading the failback lease"):
        holder = (lease_resource(step).tags or {}).get(LEASE_TAG)
    lease = parse_lease(holder)
    return (
        f"another failback of {step.ctx.target.service} took the lease first: held by {lease.get('by')} "
        f"(run {lease.get('run')}) since {lease.get('at')}"
    )


class ReleaseLease(Step):
    """The lease this run holds is given back at the end."""

    uses = "failback.release-lease"

    def facts(self) -> LeaseFacts:
        resource = lease_resource(self)
        return LeaseFacts(resource, (resource.tags or {}).get(LEASE_TAG))

    def observe(self, facts: LeaseFacts) -> str:
        return "released" if not facts.holder else f"held ({facts.holder})"

    def plan(self, facts: LeaseFacts) -> list[Change]:
        if facts.holder and parse_lease(facts.holder).get("run") == self.ctx.options.get("run_id"):
            return [
                Change(
                    "release",
                    facts.service.id,
                    "release the failback lease",
                    {"etag": getattr(facts.service, "etag", None)},
                )
            ]
        return []

    def apply(self, change: Change) -> None:
        write_lease(self, None, change.data["etag"])


class WriteRegionHome(Step):
    """The recovered region takes writes again: Cosmos DB failover priorities put it first."""

    uses = "failback.write-region"

    def facts(self) -> Any:
        return read_account(self)

    def observe(self, facts: Any) -> str:
        return f"write region {write_region(facts)}"

    def plan(self, facts: Any) -> list[Change]:
        home = _home(self)
        if write_region(facts) == home:
            return []
        return [
            Change(
                "failover-priority-change",
                facts.id,
                f"make {home} the write region of {facts.name} (now {write_region(facts)})",
            )
        ]

    def apply(self, change: Change) -> None:
        make_write_region(self, _home(self))


class ComputeHome(Step):
    """Traffic Manager sends traffic to the recovered region first (the lowest priority number)."""

    uses = "failback.traffic-manager"

    def facts(self) -> Any:
        return read_profile(self)

    def observe(self, facts: Any) -> str:
        return ", ".join(
            f"{e.name} priority {e.priority}" for e in sorted(facts.endpoints or [], key=lambda e: e.priority or 0)
        )

    def plan(self, facts: Any) -> list[Change]:
        from fhirdr.steps.health import endpoint_region

        endpoints = sorted(facts.endpoints or [], key=lambda e: e.priority or 0)
        home = [e for e in endpoints if endpoint_region(e, self.ctx.target) == _home(self)]
        if not home or endpoints[0].name == home[0].name:
            return []
        return [
            Change(
                "set-priorities",
                facts.id,
                f"give {home[0].name} priority {endpoints[0].priority}",
                {"order": [home[0].name] + [e.name for e in endpoints if e.name != home[0].name]},
            )
        ]

    def apply(self, change: Change) -> None:
        profile = read_profile(self)
        backing = self.ctx.target.require_self_hosted()
        by_name = {e.name: e for e in profile.endpoints or []}
        priorities = sorted(e.priority or 0 for e in by_name.values())
        manager = self.ctx.azure.traffic_manager()
        spare = max(priorities) + 1
        # Priorities are unique within a profile: park each endpoint on a free number, then set the final ones.
        for offset, name in enumerate(change.data["order"]):
            endpoint = by_name[name]
            endpoint.priority = spare + offset
            manager.endpoints.create_or_update(
                backing.traffic_manager_resource_group, profile.name, endpoint_type(endpoint), name, endpoint
            )
        for priority, name in zip(priorities, change.data["order"], strict=True):
            endpoint = by_name[name]
            endpoint.priority = priority
            manager.endpoints.create_or_update(
                backing.traffic_manager_resource_group, profile.name, endpoint_type(endpoint), name, endpoint
            )


@dataclass
class PlacementFacts:
    compute: str | None
    data: str


class Colocated(Step):
    """Compute and data are both in the recovered region again, so the cross-region latency is gone."""

    uses = "failback.colocated"

    def facts(self) -> PlacementFacts:
        from fhirdr.steps.health import serving_region

        account = read_account(self)
        profile = read_profile(self) if self.ctx.target.require_self_hosted().traffic_manager_profile else None
        return PlacementFacts(serving_region(profile, self.ctx.target), write_region(account))

    def observe(self, facts: PlacementFacts) -> str:
        return f"compute {facts.compute or '-'}, data {facts.data}"

    def plan(self, facts: PlacementFacts) -> list[Change]:
        home = _home(self)
        if facts.data == home and facts.compute in (home, None):
            return []
        return [Change("wait", home, f"compute and data back in {home} ({self.observe(facts)})")]


STEPS = [RegionHealthy, ReplicationCaughtUp, Lease, ReleaseLease, WriteRegionHome, ComputeHome, Colocated]
