"""Regions going down and coming back, and what that does to a FHIR service's data and compute.

Each FHIR service keeps its data in one replicated store: the backing Cosmos DB account when the
world has one, otherwise Microsoft's own (hidden) store of the managed service. Writes go to the
write region; a secondary region has applied every write older than the replication lag. When the
write region goes down, replication stops; after the detection delay automatic failover makes the
secondary the write region and the writes it had not received are lost (the RPO). A recovered
region comes back as a secondary and catches up over simulated time. Compute fails back by itself
(Traffic Manager sends traffic to the highest-priority endpoint that is up); data does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fhirdr.sim import timeline
from fhirdr.sim.providers.cosmosdb import ACCOUNT_TYPE, DEFAULT_LAG_MS, normalise_locations, replication_key
from fhirdr.sim.providers.subscriptions import region_name
from fhirdr.sim.router import parent_of
from fhirdr.sim.servers import account_of, fhir_servers
from fhirdr.sim.store import Store

DETECTION_DELAY_SECONDS = 10 * 60
CATCH_UP_BASE_SECONDS = 5 * 60
CATCH_UP_SECONDS_PER_WRITE = 0.05


def region_health(store: Store) -> dict[str, str]:
    return store.get_json("region-health", {})


def is_up(store: Store, region: str) -> bool:
    return region_health(store).get(region) != "down"


@dataclass
class DataStore:
    """Where one service's data lives: regions by priority (first writes), lag, automatic failover."""

    service_id: str
    account_id: str | None
    regions: list[str]
    automatic_failover: bool
    lag_seconds: float

    @property
    def write_region(self) -> str:
        return self.regions[0]


def _managed_state(store: Store, service_id: str) -> dict[str, Any]:
    from fhirdr.sim.providers.healthcareapis import dr_state_key

    return store.get_json(dr_state_key(service_id), {})


def data_store(store: Store, service_id: str) -> DataStore | None:
    account_id = account_of(store, service_id)
    if account_id:
        account = store.get(account_id)
        if account is None:
            return None
        regions = [
            region_name(loc["locationName"])
            for loc in account.body["properties"]["locations"]
            if loc["provisioningState"] == "Succeeded"
        ]
        info = store.get_json(replication_key(account.id), {})
        return DataStore(
            service_id,
            account.id,
            regions,
            bool(account.body["properties"]["enableAutomaticFailover"]),
            float(info.get("lag_ms", DEFAULT_LAG_MS)) / 1000.0,
        )
    service = store.get(service_id)
    if service is None:
        return None
    primary = region_name(service.body["location"])
    state = _managed_state(store, service.id)
    regions = [state.get("write", primary)]
    if state.get("state") == "on" and state.get("secondary"):
        other = state["secondary"] if regions[0] == primary else primary
        regions.append(other)
    lag_ms = float(store.get_meta("replication_lag_ms", str(DEFAULT_LAG_MS)) or DEFAULT_LAG_MS)
    return DataStore(service.id, None, regions, state.get("state") == "on", lag_ms / 1000.0)


def _frozen(store: Store, service_id: str) -> dict[str, int]:
    return store.get_json(f"frozen:{service_id.lower()}", {})


def _set_frozen(store: Store, service_id: str, frozen: dict[str, int]) -> None:
    store.set_json(f"frozen:{service_id.lower()}", frozen)


def applied_seq(store: Store, ds: DataStore, region: str) -> int:
    """The last write a region has: all of them in the write region, older ones in a secondary."""
    if region == ds.write_region:
        return store.fhir_last_seq(ds.service_id)
    frozen = _frozen(store, ds.service_id)
    if region in frozen:
        return frozen[region]
    return store.fhir_last_seq(ds.service_id, before_time=store.now() - ds.lag_seconds)


def lag_seconds(store: Store, ds: DataStore, region: str) -> float:
    """How far a secondary is behind: the configured lag, or the time since the last write it has."""
    if region == ds.write_region:
        return 0.0
    newest = store.fhir_last_seq(ds.service_id)
    have = applied_seq(store, ds, region)
    if region not in _frozen(store, ds.service_id) or have >= newest:
        return ds.lag_seconds
    first_missing = store.fhir_first_time_after(ds.service_id, have) or store.now()
    return max(ds.lag_seconds, store.now() - first_missing)


def services(store: Store) -> list[str]:
    return fhir_servers(store)


def compute_region(store: Store, service_id: str) -> str | None:
    """Where requests are served: Traffic Manager's choice, or the managed service's own compute."""
    profile_id = store.get_meta(f"compute:{service_id.lower()}")
    if profile_id:
        endpoints = [e.body["properties"] for e in store.children(profile_id)]
        live = [
            e for e in endpoints if e.get("endpointStatus") == "Enabled" and e.get("endpointMonitorStatus") == "Online"
        ]
        if not live:
            return None
        from fhirdr.sim.providers.trafficmanager import endpoint_region

        return endpoint_region(store, min(live, key=lambda e: e.get("priority") or 0)) or None
    service = store.get(service_id)
    if service is None:
        return None
    primary = region_name(service.body["location"])
    if is_up(store, primary):
        return primary
    ds = data_store(store, service_id)
    if ds and ds.automatic_failover and is_up(store, ds.write_region) and ds.write_region != primary:
        return ds.write_region
    return None


# -- outage, failover, recovery --------------------------------------------------------------------


def outage(store: Store, region: str) -> list[str]:
    """Take a region down; returns what happened, in words."""
    with store.transaction():
        health = region_health(store)
        health[region] = "down"
        store.set_json("region-health", health)
        _set_endpoint_status(store, region, "Degraded")
        notes = [f"{region} is down"]
        delay = float(store.get_meta("detection_delay", str(DETECTION_DELAY_SECONDS)) or DETECTION_DELAY_SECONDS)
        for service_id in services(store):
            ds = data_store(store, service_id)
            if ds is None or region not in ds.regions:
                continue
            frozen = _frozen(store, service_id)
            for other in ds.regions[1:]:
                frozen.setdefault(other, applied_seq(store, ds, other))
            _set_frozen(store, service_id, frozen)
            if region == ds.write_region and ds.automatic_failover and len(ds.regions) > 1:
                store.schedule(store.now() + delay, "lifecycle.failover", {"service": service_id, "region": region})
                notes.append(f"automatic failover of {service_id.rsplit('/', 1)[-1]} in {delay / 60:g} min")
        store.record_event("region.outage", {"region": region})
    return notes


@timeline.on("lifecycle.failover")
def failover(store: Store, payload: dict[str, Any]) -> None:
    region = payload["region"]
    ds = data_store(store, payload["service"])
    if ds is None or is_up(store, region) or ds.write_region != region:
        return  # the region came back before the failover, or it already happened
    target = next((r for r in ds.regions[1:] if is_up(store, r)), None)
    if target is None:
        return
    frozen = _frozen(store, ds.service_id)
    kept = frozen.pop(target, applied_seq(store, ds, target))
    lost = store.fhir_lose_after(ds.service_id, kept)
    frozen[region] = kept
    _set_frozen(store, ds.service_id, frozen)
    _move_writes(store, ds, target)
    store.record_event(
        "lifecycle.failover",
        {
            "service": ds.service_id.rsplit("/", 1)[-1],
            "from": region,
            "to": target,
            "lost_writes": lost,
            "account": ds.account_id,
            "caller": "Azure Cosmos DB service-managed failover",
        },
    )


def _move_writes(store: Store, ds: DataStore, target: str) -> None:
    if ds.account_id:
        account = store.get(ds.account_id)
        assert account is not None
        locations = account.body["properties"]["locations"]
        order = [target] + [
            region_name(loc["locationName"])
            for loc in sorted(locations, key=lambda x: x["failoverPriority"])
            if region_name(loc["locationName"]) != target
        ]
        for loc in locations:
            loc["failoverPriority"] = order.index(region_name(loc["locationName"]))
        normalise_locations(account.body)
        store.put(account.id, ACCOUNT_TYPE, parent_of(account.id), account.body)
    else:
        from fhirdr.sim.providers.healthcareapis import dr_state_key

        state = _managed_state(store, ds.service_id)
        state["write"] = target
        store.set_json(dr_state_key(ds.service_id), state)


def recover(store: Store, region: str) -> list[str]:
    with store.transaction():
        health = region_health(store)
        health.pop(region, None)
        store.set_json("region-health", health)
        _set_endpoint_status(store, region, "Online")
        notes = [f"{region} is back"]
        for service_id in services(store):
            ds = data_store(store, service_id)
            if ds is None:
                continue
            frozen = _frozen(store, service_id)
            if region == ds.write_region:
                # Back before any failover: replication to the secondaries resumes where it stopped.
                for other in list(frozen):
                    _schedule_catch_up(store, ds, other)
            elif region in frozen:
                _schedule_catch_up(store, ds, region)
                notes.append(f"{region} is a secondary of {service_id.rsplit('/', 1)[-1]} again and catching up")
        store.record_event("region.recovered", {"region": region})
    return notes


def _schedule_catch_up(store: Store, ds: DataStore, region: str) -> None:
    backlog = store.fhir_last_seq(ds.service_id) - _frozen(store, ds.service_id).get(region, 0)
    delay = CATCH_UP_BASE_SECONDS + CATCH_UP_SECONDS_PER_WRITE * max(0, backlog)
    store.schedule(store.now() + delay, "lifecycle.caught-up", {"service": ds.service_id, "region": region})


@timeline.on("lifecycle.caught-up")
def caught_up(store: Store, payload: dict[str, Any]) -> None:
    if not is_up(store, payload["region"]):
        return
    frozen = _frozen(store, payload["service"])
    if frozen.pop(payload["region"], None) is not None:
        _set_frozen(store, payload["service"], frozen)
        store.record_event(
            "lifecycle.caught-up", {"service": payload["service"].rsplit("/", 1)[-1], "region": payload["region"]}
        )


def sync_before_failback(store: Store, service_id: str, region: str) -> None:
    """A planned failover (priority change) is graceful: the target region receives everything first."""
    frozen = _frozen(store, service_id)
    if frozen.pop(region, None) is not None:
        _set_frozen(store, service_id, frozen)


def _set_endpoint_status(store: Store, region: str, status: str) -> None:
    from fhirdr.sim.providers.trafficmanager import endpoint_region

    for endpoint in store.by_type("Microsoft.Network/trafficManagerProfiles/externalEndpoints") + store.by_type(
        "Microsoft.Network/trafficManagerProfiles/azureEndpoints"
    ):
        props = endpoint.body["properties"]
        if endpoint_region(store, props) == region and props.get("endpointStatus") == "Enabled":
            props["endpointMonitorStatus"] = status
            store.put(endpoint.id, endpoint.type, parent_of(endpoint.id), endpoint.body)
