"""The DR state of a target at a glance: read concurrently, judged against the article's promises."""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any

from fhirdr.azure.session import azure_errors
from fhirdr.kinds import kind_of
from fhirdr.readiness import readiness
from fhirdr.regions import normalise_region, round_trip_ms
from fhirdr.steps.base import Context, Reader, Step, text
from fhirdr.steps.cosmos import read_account, regions_of
from fhirdr.steps.dr import database_throughput, offer_throughput
from fhirdr.steps.service import read_service
from fhirdr.steps.support import dr_request, service_tickets
from fhirdr.steps.traffic import read_profile

# The keys of the status document; a test pins them so pipelines can rely on them.
STATUS_KEYS = (
    "service",
    "kind",
    "subscription",
    "resource_group",
    "primary_region",
    "secondary_region",
    "dr",
    "replication",
    "compute_region",
    "data_region",
    "split",
    "last_failover",
    "throughput",
    "tickets",
    "readiness",
    "healthy",
    "warnings",
    "summary",
)


def replication_lag_ms(ctx: Any, account: Any, region: str) -> float | None:
    """Cosmos DB's ReplicationLatency (Azure Monitor) into `region`, in ms; None when there is no data."""
    end = datetime.fromtimestamp(ctx.azure.now(), timezone.utc)
    span = f"{(end - timedelta(minutes=15)).isoformat()}/{end.isoformat()}"
    # Split by target region: without a dimension filter Azure Monitor answers one aggregated series.
    metrics = ctx.azure.monitor().metrics.list(
        account.id,
        timespan=span,
        interval="PT5M",
        metricnames="ReplicationLatency",
        aggregation="Maximum",
        filter="TargetRegion eq '*'",
    )
    for metric in metrics.value or []:
        for series in metric.timeseries or []:
            target = next(
                (m.value for m in series.metadatavalues or [] if (m.name.value or "").lower() == "targetregion"), ""
            )
            if normalise_region(target) == region and series.data:
                point = series.data[-1]
                return point.maximum if point.maximum is not None else point.average
    return None


def read_status(ctx: Context) -> dict[str, Any]:
    """Everything `fhirdr status` shows, read the way the target's kind needs."""
    return kind_of(ctx.target).read_status(ctx)


def read_replica_status(ctx: Context) -> dict[str, Any]:
    """The state of a deployment whose data has a replica (Azure API for FHIR, self-hosted); reads run at once."""
    reader = Reader(ctx)
    target = ctx.target
    jobs: dict[str, Callable[[], Any]] = {"readiness": lambda: readiness(reader)}
    if kind_of(target).support_operated:
        jobs["service"] = lambda: read_service(reader)
        jobs["tickets"] = lambda: service_tickets(reader)
        jobs["dr_request"] = lambda: dr_request(reader)
    else:
        jobs["account"] = lambda: _account_and_lag(reader)
        jobs["throughput"] = lambda: database_throughput(reader)
        jobs["last_failover"] = lambda: last_failover(ctx)
        if target.require_self_hosted().traffic_manager_profile:
            jobs["profile"] = lambda: read_profile(reader)
    with ThreadPoolExecutor(max_workers=len(jobs), thread_name_prefix="status") as pool:
        futures = {name: pool.submit(_guarded, name, job) for name, job in jobs.items()}
        facts = {name: future.result() for name, future in futures.items()}
    if "account" in facts:
        facts["account"], facts["lag_ms"] = facts["account"]
    return _judge(target, facts)


def _account_and_lag(reader: Step) -> tuple[Any, float | None]:
    """The account, then its replication lag (the metric query needs to know the secondary region)."""
    account = read_account(reader)
    secondary = _backing_secondary(reader.ctx.target, account)
    return account, replication_lag_ms(reader.ctx, account, secondary) if secondary else None


FAILOVER_OPERATION = "Microsoft.DocumentDB/databaseAccounts/failoverPriorityChange/action"


def last_failover(ctx: Any) -> dict[str, Any] | None:
    """The newest write-region change of the backing account in the activity log (90 days are kept)."""
    backing = ctx.target.require_self_hosted()
    account_id = (
        f"/subscriptions/{ctx.target.subscription}/resourceGroups/{backing.cosmos_resource_group}/providers/"
        f"Microsoft.DocumentDB/databaseAccounts/{backing.cosmos_account}"
    )
    since = datetime.fromtimestamp(ctx.azure.now(), timezone.utc) - timedelta(days=89)
    query = f"eventTimestamp ge '{since.isoformat()}' and resourceUri eq '{account_id}'"
    for event in ctx.azure.monitor().activity_logs.list(filter=query):
        if event.operation_name and (event.operation_name.value or "").lower() == FAILOVER_OPERATION.lower():
            return {
                "time": event.event_timestamp.isoformat() if event.event_timestamp else None,
                "to": (event.properties or {}).get("writeRegion"),
                "by": event.caller,
            }
    return None


def _guarded(what: str, job: Callable[[], Any]) -> Any:
    with azure_errors(f"reading {what}"):
        return job()


def _backing_secondary(target: Any, account: Any) -> str | None:
    regions = [r for r, _, _ in regions_of(account)]
    if target.secondary_region in regions[1:]:
        return target.secondary_region
    return regions[1] if len(regions) > 1 else None


def _ticket_secondary(ticket: Any) -> str | None:
    match = re.search(r"Preferred secondary region:\s*([a-z0-9]+)", ticket.description or "")
    return match.group(1) if match else None


def _judge(target: Any, facts: dict[str, Any]) -> dict[str, Any]:
    service = facts.get("service")
    primary = normalise_region(service.location) if service is not None else target.primary_region
    rpo_seconds = target.objectives.rpo_minutes * 60
    warnings: list[str] = []
    doc: dict[str, Any] = {
        "service": target.service,
        "kind": target.kind,
        "subscription": target.subscription,
        "resource_group": target.resource_group,
        "primary_region": primary,
        "secondary_region": target.secondary_region,
        "last_failover": facts.get("last_failover"),
    }
    ru = offer_throughput(service) if service is not None else facts.get("throughput")
    if not kind_of(target).support_operated:
        account = facts["account"]
        regions = regions_of(account)
        data_region = regions[0][0]
        secondary = _backing_secondary(target, account)
        state_of = {r: s for r, _, s in regions}
        doc["secondary_region"] = secondary
        if secondary is None:
            dr = {"enabled": False, "state": "off", "detail": "the Cosmos DB account has no secondary region"}
            replication = {"state": "not-configured", "lag_seconds": None}
        elif state_of[secondary] != "Succeeded":
            dr = {"enabled": False, "state": "enabling", "detail": f"initial replication into {secondary} running"}
            replication = {"state": "initial-sync", "lag_seconds": None}
        else:
            lag = facts.get("lag_ms")
            lag_s = None if lag is None else round(lag / 1000.0, 3)
            auto = bool(account.enable_automatic_failover)
            dr = {
                "enabled": True,
                "state": "on",
                "detail": f"{secondary} replicating; service-managed failover {'on' if auto else 'OFF'}",
            }
            if not auto:
                warnings.append("service-managed failover is off: the data will not fail over by itself")
            within = None if lag_s is None else lag_s <= rpo_seconds
            replication = {
                "state": "unknown" if lag_s is None else ("healthy" if within else "lagging"),
                "lag_seconds": lag_s,
            }
            if within is False:
                warnings.append(f"replication lag {lag_s:.0f} s is above the RPO of {rpo_seconds} s")
        compute_region = serving_region(facts.get("profile")) or primary
        secondary_ru = facts.get("throughput")
    else:
        data_region = compute_region = primary
        request = facts["dr_request"]
        latest = request.ticket
        secondary = target.secondary_region or (_ticket_secondary(latest) if latest else None)
        doc["secondary_region"] = secondary
        dr = {"enabled": request.enabled, "state": request.state, "detail": request.detail}
        replication = {"state": "managed-by-microsoft" if dr["enabled"] else "not-configured", "lag_seconds": None}
        secondary_ru = ru if dr["enabled"] else None
    replication["rpo_seconds"] = rpo_seconds
    replication["within_rpo"] = (
        None if replication["lag_seconds"] is None else replication["lag_seconds"] <= rpo_seconds
    )
    split = compute_region != data_region
    added = round_trip_ms(compute_region, data_region) if split else 0
    if split:
        warnings.append(
            f"compute runs in {compute_region} but data is in {data_region}: every request crosses "
            f"regions (about {added} ms more)"
            if added
            else f"compute runs in {compute_region} but data is in {data_region}: requests are slower"
        )
    parity = None if ru is None or secondary_ru is None else ru == secondary_ru
    if parity is False:
        warnings.append(f"throughput differs: {ru} RU/s in the service, {secondary_ru} RU/s in the secondary")
    ready = facts["readiness"]
    for area, item in ready.items():
        if item["status"] in ("findings", "error"):
            warnings.append(f"{area}: {item['summary']}")
    if not dr["enabled"]:
        warnings.insert(0, f"DR is not on ({dr['state']}): {dr['detail']}")
    doc.update(
        {
            "dr": dr,
            "replication": replication,
            "compute_region": compute_region,
            "data_region": data_region,
            "split": {"active": split, "added_latency_ms": added},
            "throughput": {"primary_ru": ru, "secondary_ru": secondary_ru, "parity": parity},
            "tickets": [
                {
                    "id": t.support_ticket_id,
                    "name": t.name,
                    "title": t.title,
                    "status": text(t.status),
                    "created": str(t.created_date) if t.created_date else None,
                }
                for t in facts.get("tickets", [])
                if text(t.status) == "Open"
            ],
            "readiness": ready,
            "healthy": not warnings,
            "warnings": warnings,
        }
    )
    doc["summary"] = "healthy" if not warnings else f"degraded: {warnings[0]}"
    return {key: doc[key] for key in STATUS_KEYS}


def serving_region(profile: Any) -> str | None:
    """With priority routing, the Enabled, Online endpoint with the lowest priority number serves."""
    if profile is None:
        return None
    live = [
        e
        for e in profile.endpoints or []
        if text(e.endpoint_status) == "Enabled" and text(e.endpoint_monitor_status) in ("Online", "CheckingEndpoint")
    ]
    if not live:
        return None
    best = min(live, key=lambda e: e.priority or 0)
    return normalise_region(best.endpoint_location) if best.endpoint_location else None
