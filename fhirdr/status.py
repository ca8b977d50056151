"""The DR state of a target at a glance: read concurrently, judged against the article's promises."""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fhirdr.azure.session import azure_errors
from fhirdr.kinds import kind_of
from fhirdr.readiness import readiness
from fhirdr.regions import normalise_region, round_trip_ms
from fhirdr.steps.base import Context, Reader, Step, text
from fhirdr.steps.cosmos import read_account, regions_of
from fhirdr.steps.dr import database_throughput, offer_throughput
from fhirdr.steps.health import (
    UNPLACED,
    Lag,
    account_id_of,
    activity_events,
    endpoint_region,
    failover_from_events,
    last_failover,
    managed_failover_from_events,
    probe,
    replication_lag_ms,
    replication_lags,
    resource_health,
    serving_region,
)
from fhirdr.steps.ids import service_id
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
# The readers steps share live in fhirdr/steps/health.py; their old names here still work for commands.
__all__ = ["OUTAGE_KEYS", "STATUS_KEYS", "last_failover", "read_status", "replication_lag_ms", "serving_region"]

# Keys added since: what an outage looks like. They follow the pinned ones, in this order.
OUTAGE_KEYS = ("incident", "regions", "endpoint", "replicas", "resource_health", "next_steps")


def read_status(ctx: Context) -> dict[str, Any]:
    """Everything `fhirdr status` shows, read the way the target's kind needs (its `status_reader`)."""
    if kind_of(ctx.target).status_reader == "standby":
        from fhirdr.standby_status import read_standby_status

        return read_standby_status(ctx)
    return read_replica_status(ctx)


def read_replica_status(ctx: Context) -> dict[str, Any]:
    """The state of a deployment whose data has a replica (Azure API for FHIR, self-hosted); reads run at once.

    Chains stay short: the service then its probe (the probe's token audience is the service's), the account then
    its lag (one metric query for every region); everything else is read in the first round."""
    reader = Reader(ctx)
    target = ctx.target
    jobs: dict[str, Callable[[], Any]] = {"readiness": lambda: readiness(reader)}
    if kind_of(target).support_operated:
        sid = service_id(target)
        jobs["service"] = lambda: _service_and_probe(ctx, reader)
        jobs["tickets"] = lambda: service_tickets(reader)
        jobs["dr_request"] = lambda: dr_request(reader)
        jobs["activity"] = lambda: activity_events(ctx, sid)
        jobs["resource_health"] = lambda: resource_health(ctx, sid)
    else:
        hosted = target.require_self_hosted()
        jobs["account"] = lambda: _account_and_lags(reader)
        jobs["throughput"] = lambda: database_throughput(reader)
        jobs["activity"] = lambda: activity_events(ctx, account_id_of(target))
        jobs["resource_health"] = lambda: resource_health(ctx, account_id_of(target))
        if hosted.url:
            jobs["probe"] = lambda: probe(ctx, hosted.url or "", hosted.audience)
        for region, host in hosted.compute:
            if region in (target.primary_region, target.secondary_region):
                jobs[f"probe:{region}"] = lambda host=host: probe(ctx, f"https://{host}", hosted.audience or hosted.url)
        if hosted.traffic_manager_profile:
            jobs["profile"] = lambda: read_profile(reader)
    with ThreadPoolExecutor(max_workers=len(jobs), thread_name_prefix="status") as pool:
        futures = {name: pool.submit(_guarded, name, job) for name, job in jobs.items()}
        facts = {name: future.result() for name, future in futures.items()}
    if "account" in facts:
        facts["account"], facts["lags"] = facts["account"]
    if "service" in facts:
        facts["service"], facts["probe"] = facts["service"]
    return _judge(target, facts)


def _service_and_probe(ctx: Context, reader: Step) -> tuple[Any, dict[str, Any]]:
    """The service, then a probe of its endpoint with a token for the audience the service names."""
    service = read_service(reader)
    base, default_audience = kind_of(ctx.target).fhir_endpoint(ctx.target, ctx.azure.cloud)
    auth = getattr(service.properties, "authentication_configuration", None)
    return service, probe(ctx, base, getattr(auth, "audience", None) or default_audience)


def _account_and_lags(reader: Step) -> tuple[Any, dict[str, Lag]]:
    """The account, then the replication lag into each of its regions (one Azure Monitor query)."""
    account = read_account(reader)
    return account, replication_lags(reader.ctx, account) if len(regions_of(account)) > 1 else {}


def _guarded(what: str, job: Callable[[], Any]) -> Any:
    with azure_errors(f"reading {what}"):
        return job()


def _ticket_secondary(ticket: Any) -> str | None:
    match = re.search(r"Preferred secondary region:\s*([a-z0-9]+)", ticket.description or "")
    return match.group(1) if match else None


def _region_states(target: Any, facts: dict[str, Any], primary: str, secondary: str | None) -> dict[str, Any]:
    """Each configured region's health, with the evidence: the FHIR probe of its compute, its Traffic Manager
    endpoint (Traffic Manager's own health checks), its Cosmos DB location. A region is down when its compute
    neither answers nor passes Traffic Manager's checks; compute that answers errors while Traffic Manager
    still sees it Online is "failing" (its data may be away)."""
    health: dict[str, Any] = {}
    for region in [r for r in (primary, secondary) if r]:
        evidence: list[str] = []
        regional = facts.get(f"probe:{region}")
        if regional is not None:
            evidence.append(f"{regional['url']} {probe_words(regional)}")
        monitors = []
        for endpoint in (facts["profile"].endpoints or []) if facts.get("profile") is not None else []:
            if endpoint_region(endpoint, target) == region:
                monitors.append(text(endpoint.endpoint_monitor_status))
                evidence.append(f"Traffic Manager endpoint {endpoint.name} {monitors[-1]}")
        if facts.get("account") is not None:
            state = {r: s for r, _, s in regions_of(facts["account"])}.get(region)
            evidence.append(f"Cosmos DB location {state or 'missing'}")
        online = any(m in ("Online", "CheckingEndpoint") for m in monitors)
        failed_checks = bool(monitors) and not online and "Disabled" not in monitors
        if regional is not None and regional["answers"]:
            verdict = "up"
        elif regional is not None:
            verdict = "failing" if online else "down"
        elif monitors:
            verdict = "down" if failed_checks else ("up" if online else "unknown")
        else:
            verdict = "unknown"
        health[region] = {"state": verdict, "evidence": evidence}
    return health


def probe_words(result: dict[str, Any]) -> str:
    if result["answers"]:
        return f"answers (HTTP {result['status']}) in {result['latency_ms']:.0f} ms"
    if result.get("timed_out"):
        return f"does not answer: timed out after {result['latency_ms'] / 1000:.1f} s"
    return f"does not answer ({result['error']}) after {result['latency_ms']:.0f} ms"


def _managed_regions(facts: dict[str, Any], primary: str, secondary: str | None) -> tuple[dict, dict | None]:
    """Azure API for FHIR shows no regions of its own: its endpoint, Resource Health and the Resource Health
    events of its activity log tell whether it runs at home, failed over, or not at all."""
    failover = managed_failover_from_events(facts.get("activity", []), primary, secondary)
    away = bool(failover and failover["direction"] == "failover")
    endpoint = facts["probe"]
    rh = facts["resource_health"]
    evidence = [f"endpoint {probe_words(endpoint)}"]
    if rh["readable"]:
        evidence.append(f"Resource Health {rh['state']}: {rh['summary']}")
    else:
        evidence.append(f"Resource Health {rh['summary']}")
    state = rh["state"] if rh["readable"] else None
    if away:
        # Failed over, the endpoint is served from the DR region: Resource Health tells whether home is back.
        primary_state = {"Degraded": "down", "Unavailable": "down", "Available": "up"}.get(state or "", "unknown")
    else:
        primary_state = "down" if not endpoint["answers"] or state == "Unavailable" else "up"
    health = {primary: {"state": primary_state, "evidence": evidence}}
    if secondary:
        serving = away and endpoint["answers"]
        health[secondary] = {
            "state": "up" if serving else "unknown",
            "evidence": [f"serves the endpoint after the failover of {failover['time']}"]
            if serving
            else ["not observable: Microsoft runs the replica"],
        }
    return health, failover


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
    }
    replicas: list[dict[str, Any]] = []
    ru = offer_throughput(service) if service is not None else facts.get("throughput")
    endpoint = facts.get("probe")
    if not kind_of(target).support_operated:
        account = facts["account"]
        regions = regions_of(account)
        data_region = regions[0][0]
        names = [r for r, _, _ in regions]
        secondary = (
            target.secondary_region
            if target.secondary_region in names
            else next((r for r in names if r != primary), None)
        )
        state_of = {r: s for r, _, s in regions}
        health = _region_states(target, facts, primary, secondary)
        last = failover_from_events(facts.get("activity", []), account, primary)
        auto = bool(account.enable_automatic_failover)
        for region in names[1:]:
            replicas.append(_replica(region, data_region, state_of[region], health, facts["lags"], rpo_seconds))
        if secondary is None:
            dr = {"enabled": False, "state": "off", "detail": "the Cosmos DB account has no secondary region"}
            replication = {"state": "not-configured", "lag_seconds": None}
        elif state_of[secondary] != "Succeeded":
            dr = {"enabled": False, "state": "enabling", "detail": f"initial replication into {secondary} running"}
            replication = {"state": "initial-sync", "lag_seconds": None}
        else:
            others = ", ".join(f"{r['region']} ({r['state']})" for r in replicas)
            dr = {
                "enabled": True,
                "state": "on",
                "detail": f"{data_region} writes, replica {others}; service-managed failover {'on' if auto else 'OFF'}",
            }
            if not auto:
                warnings.append("service-managed failover is off: the data will not fail over by itself")
            # The replica the article means: the configured secondary, or (failed over) the region it left.
            main = replicas[0] if replicas else None
            replication = {
                "state": main["state"] if main else "unknown",
                "lag_seconds": main["lag_seconds"] if main else None,
            }
        for replica in replicas:
            if replica["state"] in ("lagging", "unknown"):
                warnings.append(f"replica {replica['region']}: {replica['detail']}")
        compute_region = serving_region(facts.get("profile"), target) if facts.get("profile") is not None else primary
        secondary_ru = facts.get("throughput")
    else:
        request = facts["dr_request"]
        latest = request.ticket
        secondary = target.secondary_region or (_ticket_secondary(latest) if latest else None)
        dr = {"enabled": request.enabled, "state": request.state, "detail": request.detail}
        health, last = _managed_regions(facts, primary, secondary if dr["enabled"] else None)
        away = bool(last and last["direction"] == "failover")
        data_region = secondary if away and secondary else primary
        if not endpoint["answers"]:
            compute_region = None
        elif health[primary]["state"] == "up":
            compute_region = primary  # compute fails back by itself (article, "Manual failback")
        else:
            compute_region = data_region
        replication = {"state": "managed-by-microsoft" if dr["enabled"] else "not-configured", "lag_seconds": None}
        if dr["enabled"] and away and health[primary]["state"] == "down":
            replication["state"] = "unknown"
            replicas.append(
                {
                    "region": primary,
                    "state": "unknown",
                    "lag_seconds": None,
                    "as_of": None,
                    "detail": f"{primary} is down: nothing replicates into it",
                }
            )
        secondary_ru = ru if dr["enabled"] else None
    doc["secondary_region"] = secondary
    doc["last_failover"] = last
    replication["rpo_seconds"] = rpo_seconds
    replication["within_rpo"] = (
        None if replication["lag_seconds"] is None else replication["lag_seconds"] <= rpo_seconds
    )
    if replication["within_rpo"] is False:
        warnings.append(f"replication lag {replication['lag_seconds']:.0f} s is above the RPO of {rpo_seconds} s")
    placed = compute_region not in (None, UNPLACED)
    split = placed and compute_region != data_region
    added = round_trip_ms(compute_region, data_region) if split else 0
    if split:
        warnings.append(
            f"compute runs in {compute_region} but data is in {data_region}: every request crosses "
            f"regions (about {added} ms more)"
            if added
            else f"compute runs in {compute_region} but data is in {data_region}: requests are slower"
        )
    elif compute_region == UNPLACED:
        warnings.append(
            "the compute region is unknown: the serving Traffic Manager endpoint has no endpointLocation and its "
            "target is no compute host of [self_hosted.compute]"
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
    rh = facts.get("resource_health") or {"readable": False, "state": None, "summary": "not read"}
    if rh["readable"] and rh["state"] not in ("Available", None):
        warnings.append(f"Resource Health: {rh['state']} ({rh['summary']})")
    if endpoint is not None and not endpoint["answers"]:
        warnings.insert(0, f"the FHIR endpoint {endpoint['url']} {probe_words(endpoint)}")
    incident, next_steps = incident_and_steps(
        failover_by(kind_of(target)), primary, data_region, compute_region, health, endpoint, dr, last
    )
    if incident["active"]:
        warnings.insert(0, incident["summary"])
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
            "warnings": list(dict.fromkeys(warnings)),
            "incident": incident,
            "regions": {
                "primary": primary,
                "secondary": secondary,
                "write": data_region,
                "compute": compute_region,
                "health": health,
            },
            "endpoint": endpoint,
            "replicas": replicas,
            "resource_health": rh,
            "next_steps": next_steps,
        }
    )
    doc["summary"] = "healthy" if not warnings else f"degraded: {doc['warnings'][0]}"
    return {key: doc[key] for key in STATUS_KEYS + OUTAGE_KEYS}


def _replica(
    region: str, write: str, state: str, health: dict[str, Any], lags: dict[str, Lag], rpo_seconds: int
) -> dict[str, Any]:
    """How far one replica is behind, or why that is unknown."""
    lag = lags.get(region, Lag(None, None, 0))
    seconds = None if lag.ms is None else round(lag.ms / 1000.0, 3)
    if state != "Succeeded":
        return {
            "region": region,
            "state": "initial-sync",
            "lag_seconds": None,
            "as_of": None,
            "detail": f"Cosmos DB location {state}: initial replication running",
        }
    if health.get(write, {}).get("state") == "down":
        detail = f"the write region {write} is down, nothing replicates"
        return {"region": region, "state": "unknown", "lag_seconds": None, "as_of": None, "detail": detail}
    if health.get(region, {}).get("state") == "down":
        detail = f"{region} is down, its lag cannot be measured"
        return {"region": region, "state": "unknown", "lag_seconds": None, "as_of": None, "detail": detail}
    if seconds is None:
        detail = (
            f"none of the {lag.points} ReplicationLatency points of the last 15 min has a value"
            if lag.points
            else "Azure Monitor has no ReplicationLatency series for it in the last 15 min"
        )
        return {"region": region, "state": "unknown", "lag_seconds": None, "as_of": None, "detail": detail}
    within = seconds <= rpo_seconds
    return {
        "region": region,
        "state": "healthy" if within else "lagging",
        "lag_seconds": seconds,
        "as_of": lag.at,
        "detail": f"{seconds:g} s behind {write} (as of {lag.at}; RPO {rpo_seconds} s)",
    }


def failover_by(kind: Any) -> str:
    """Who fails the data over when its region goes down: "microsoft" (the service does it), "cosmos" (the Cosmos
    DB account's service-managed failover), "fhirdr" (no built-in DR: the AHDS FHIR service, whose standby
    fhirdr switches to), or "nobody"."""
    if kind.support_operated:
        return "microsoft"
    if kind.failover_runbook:
        return "fhirdr"
    return "cosmos" if kind.write_region_failover else "nobody"


def incident_and_steps(
    by: str,
    primary: str,
    write: str,
    compute: str | None,
    health: dict[str, Any],
    endpoint: dict | None,
    dr: dict[str, Any],
    last: dict | None,
) -> tuple[dict[str, Any], list[str]]:
    """What is going on, then what to do about it: every kind's status says both the same way."""
    return (
        _incident(by, primary, write, compute, health, last, endpoint),
        _next_steps(by, primary, write, compute, health, endpoint, dr),
    )


def _incident(
    by: str,
    primary: str,
    write: str,
    compute: str | None,
    health: dict[str, Any],
    last: dict | None,
    endpoint: dict | None,
) -> dict[str, Any]:
    """The outage in one sentence: which region is down, whether the service failed over, whether it answers."""
    down = [region for region, item in health.items() if item["state"] == "down"]
    failed_over = write != primary
    parts = []
    if down:
        parts.append(f"{', '.join(down)} {'is' if len(down) == 1 else 'are'} down")
    if failed_over:
        how = f" at {last['time']} by {last['by']}" if last and last.get("direction") == "failover" else ""
        parts.append(f"the data failed over to {write}{how}")
    elif primary in down and by in ("nobody", "fhirdr"):
        parts.append("nothing fails over by itself (no built-in cross-region DR)")
    elif primary in down:
        parts.append(f"the data has not failed over (write region {write})")
    if endpoint is not None and (down or failed_over):
        parts.append(
            f"the endpoint {'answers' if endpoint['answers'] else 'does not answer'}"
            + (f" in {endpoint['latency_ms']:.0f} ms" if endpoint["answers"] else "")
        )
    if failed_over and not down and compute not in (None, UNPLACED):
        parts.append(f"{primary} is back; compute serves from {compute}")
    return {
        "active": bool(down or failed_over),
        "down_regions": down,
        "failed_over": failed_over,
        "summary": "; ".join(parts) if parts else "no incident",
    }


def _next_steps(
    by: str,
    primary: str,
    write: str,
    compute: str | None,
    health: dict[str, Any],
    endpoint: dict | None,
    dr: dict[str, Any],
) -> list[str]:
    steps: list[str] = []
    primary_down = health.get(primary, {}).get("state") == "down"
    if primary_down and write == primary:
        steps.append(
            {
                "microsoft": "Microsoft fails the service over by itself (RTO 60 min): follow Azure Service Health; "
                "open a support request if it has not failed over within the RTO",
                "cosmos": "wait for the service-managed failover of the Cosmos DB account, or fail over by hand "
                "(az cosmosdb failover-priority-change) if it is off",
                "nobody": "wait for the region to recover, or send clients to the standby if there is one; only "
                "support can restore Microsoft's backups",
                "fhirdr": "nothing fails over by itself: `fhirdr failover --dry-run --unplanned` names the window at "
                "risk, `fhirdr failover --apply --unplanned` switches the front door to the standby",
            }[by]
        )
    elif primary_down:
        steps.append(f"wait for {primary} to recover; then `fhirdr failback` plans moving the data home")
    elif write != primary or (compute not in (None, UNPLACED, primary)):
        steps.append(
            f"`fhirdr failback` plans moving compute and data back to {primary}; `fhirdr failback --apply` does it"
        )
    if compute == UNPLACED:
        steps.append(
            "set endpointLocation on the Traffic Manager endpoints, or name each region's host under "
            "[self_hosted.compute], so fhirdr can tell where compute serves"
        )
    if endpoint is not None and not endpoint["answers"] and not primary_down:
        steps.append(
            f"the endpoint does not answer although no region is known to be down: check the FHIR "
            f"server ({endpoint['url']})"
        )
    if not dr["enabled"] and dr["state"] == "off":
        steps.append("`fhirdr enable` plans turning DR on")
    return steps
