"""Readers of a deployment's health shared by steps and `status`: lag, where compute serves, failovers, probes.

They sit below the steps that use them (failback's gates, check-iomt) and below `fhirdr.status`, which
imports them: a lower layer never imports `fhirdr.status`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from fhirdr.regions import normalise_region
from fhirdr.steps.base import text

# What serving_region says of an endpoint that serves but that neither its endpointLocation nor its target places.
UNPLACED = "unknown"
FAILOVER_OPERATION = "Microsoft.DocumentDB/databaseAccounts/failoverPriorityChange/action"
RESOURCE_HEALTH_API = "2022-10-01"
# A probe waits this long for a connection and for the answer: an outage must not hang status or distort an RTO.
PROBE_CONNECT_SECONDS = 5.0
PROBE_READ_SECONDS = 10.0


# -- replication lag ---------------------------------------------------------------------------------


@dataclass
class Lag:
    """Cosmos DB's ReplicationLatency into one region: the last point that has a value, and when it was."""

    ms: float | None
    at: str | None
    points: int  # how many time grains Azure Monitor answered (None of them may have a value)


def replication_lags(ctx: Any, account: Any) -> dict[str, Lag]:
    """The lag into every region Azure Monitor has a series for, over the last 15 minutes, in one query. The
    newest grain is often still empty, so the last point with a value counts; `ms` is None when none has."""
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
    lags: dict[str, Lag] = {}
    for metric in metrics.value or []:
        for series in metric.timeseries or []:
            target = next(
                (m.value for m in series.metadatavalues or [] if (m.name.value or "").lower() == "targetregion"), ""
            )
            points = list(series.data or [])
            lag = Lag(None, None, len(points))
            for point in reversed(points):
                value = point.maximum if point.maximum is not None else point.average
                if value is not None:
                    lag = Lag(value, point.time_stamp.isoformat() if point.time_stamp else None, len(points))
                    break
            lags[normalise_region(target)] = lag
    return lags


def replication_lag(ctx: Any, account: Any, region: str) -> Lag:
    """The lag into one region (Lag(None, None, 0) when Azure Monitor has no series for it)."""
    return replication_lags(ctx, account).get(region, Lag(None, None, 0))


def replication_lag_ms(ctx: Any, account: Any, region: str) -> float | None:
    """The lag into `region` in ms (the last metric point with a value); None when no point has one."""
    return replication_lag(ctx, account, region).ms


# -- where compute serves ------------------------------------------------------------------------------


def endpoint_region(endpoint: Any, target: Any) -> str | None:
    """The region of a Traffic Manager endpoint: its endpointLocation (required only for Performance routing, so
    often absent with Priority routing), else the region whose compute host the target names as its target."""
    if endpoint.endpoint_location:
        return normalise_region(endpoint.endpoint_location)
    hosted = getattr(target, "self_hosted", None)
    host = (endpoint.target or "").lower().rstrip(".")
    for region, compute in getattr(hosted, "compute", ()) or ():
        if compute.lower().rstrip(".") == host:
            return region
    return None


def serving_region(profile: Any, target: Any = None) -> str | None:
    """With priority routing, the Enabled, Online endpoint with the lowest priority number serves: its region,
    None when no endpoint serves, UNPLACED when one serves but its region cannot be told."""
    endpoint = serving_endpoint(profile)
    if endpoint is None:
        return None
    return endpoint_region(endpoint, target) or UNPLACED


def serving_endpoint(profile: Any) -> Any:
    if profile is None:
        return None
    live = [
        e
        for e in profile.endpoints or []
        if text(e.endpoint_status) == "Enabled" and text(e.endpoint_monitor_status) in ("Online", "CheckingEndpoint")
    ]
    return min(live, key=lambda e: e.priority or 0) if live else None


# -- the last failover -------------------------------------------------------------------------------


def account_id_of(target: Any) -> str:
    hosted = target.require_self_hosted()
    return (
        f"/subscriptions/{target.subscription}/resourceGroups/{hosted.cosmos_resource_group}/providers/"
        f"Microsoft.DocumentDB/databaseAccounts/{hosted.cosmos_account}"
    )


def activity_events(ctx: Any, resource_id: str) -> list[Any]:
    """The resource's activity log of the last 89 days (90 are kept), newest first."""
    since = datetime.fromtimestamp(ctx.azure.now(), timezone.utc) - timedelta(days=89)
    query = f"eventTimestamp ge '{since.isoformat()}' and resourceUri eq '{resource_id}'"
    return list(ctx.azure.monitor().activity_logs.list(filter=query))


def failover_from_events(events: list[Any], account: Any, primary: str | None) -> dict[str, Any] | None:
    """The newest write-region change that Succeeded (an administrative action logs Started, then Succeeded or
    Failed). The event does not name the new write region: the account's locations do, since nothing changed the
    write region after the newest change. A change back to the primary is a failback."""
    from fhirdr.steps.cosmos import regions_of

    for event in events:
        if (getattr(event.operation_name, "value", "") or "").lower() != FAILOVER_OPERATION.lower():
            continue
        if text(getattr(event.status, "value", event.status)) != "Succeeded":
            continue
        regions = [r for r, _, _ in regions_of(account)]
        to = regions[0] if regions else None
        others = [r for r in regions if r != to]
        return {
            "time": event.event_timestamp.isoformat() if event.event_timestamp else None,
            "to": to,
            "from": primary if to != primary else (others[0] if len(others) == 1 else None),
            "by": event.caller,
            "direction": "failback" if to == primary else "failover",
        }
    return None


def managed_failover_from_events(events: list[Any], primary: str | None, secondary: str | None) -> dict | None:
    """Azure API for FHIR fails over inside Microsoft's own subscription: the customer's activity log shows it
    only as Resource Health events of the service (category ResourceHealth). A platform-initiated change from
    Unavailable to Degraded is the service running in its DR region; from Degraded back to Available, home again."""
    for event in events:
        if text(getattr(event.category, "value", event.category)) != "ResourceHealth":
            continue
        props = event.properties or {}
        if props.get("cause") != "PlatformInitiated":
            continue
        change = (props.get("previousHealthStatus"), props.get("currentHealthStatus"))
        when = event.event_timestamp.isoformat() if event.event_timestamp else None
        if change == ("Unavailable", "Degraded"):
            return {
                "time": when,
                "to": secondary,
                "from": primary,
                "by": "Microsoft (platform-initiated)",
                "direction": "failover",
            }
        if change == ("Degraded", "Available"):
            return {
                "time": when,
                "to": primary,
                "from": secondary,
                "by": "Microsoft (platform-initiated)",
                "direction": "failback",
            }
    return None


def last_failover(ctx: Any) -> dict[str, Any] | None:
    """The newest completed write-region change of a self-hosted server's Cosmos DB account (activity log and
    the account's locations, read at once): time, to, from, by, and whether it was a failover or a failback."""
    from fhirdr.azure.session import concurrently
    from fhirdr.steps.base import Reader
    from fhirdr.steps.cosmos import read_account

    events, account = concurrently(
        lambda: activity_events(ctx, account_id_of(ctx.target)), lambda: read_account(Reader(ctx))
    )
    return failover_from_events(events, account, ctx.target.primary_region)


# -- Resource Health and the FHIR probe ----------------------------------------------------------------


def resource_health(ctx: Any, resource_id: str) -> dict[str, Any]:
    """Microsoft.ResourceHealth availabilityStatuses/current of a resource. Reading it needs
    Microsoft.ResourceHealth/availabilityStatuses/read and a resource type Resource Health covers: 403 and 404
    mean "not readable", not an error (state None)."""
    from azure.core.rest import HttpRequest

    base = ctx.azure.cloud.resource_manager.rstrip("/")
    url = f"{base}{resource_id}/providers/Microsoft.ResourceHealth/availabilityStatuses/current"
    response = ctx.azure.resources().send_request(HttpRequest("GET", url, params={"api-version": RESOURCE_HEALTH_API}))
    if response.status_code in (401, 403, 404):
        return {
            "readable": False,
            "state": None,
            "summary": f"not readable (HTTP {response.status_code})",
            "since": None,
        }
    if response.status_code != 200:
        from fhirdr.errors import AzureError

        raise AzureError(f"Resource Health of {resource_id} answered HTTP {response.status_code}")
    props = response.json().get("properties") or {}
    return {
        "readable": True,
        "state": props.get("availabilityState"),
        "summary": props.get("summary") or props.get("title") or "",
        "since": props.get("occuredTime"),
    }


def probe(ctx: Any, base_url: str, audience: str | None = None) -> dict[str, Any]:
    """GET {base}/metadata once, with a probe's timeouts and no retries: answers, HTTP status, latency."""
    from fhirdr.fhir.client import FhirClient

    client = FhirClient(
        ctx.azure,
        ctx.target.service,
        retry=False,
        base_url=base_url,
        audience=audience,
        timeouts=(PROBE_CONNECT_SECONDS, PROBE_READ_SECONDS),
    )
    answer = client.metadata()
    error = None if answer.ok else (f"HTTP {answer.status}" if answer.status else (answer.body or {}).get("error"))
    return {
        "url": f"{client.base_url}/metadata",
        "answers": answer.ok,
        "status": answer.status or None,
        "latency_ms": round(answer.elapsed_ms, 1),
        "timed_out": answer.timed_out,
        "error": error,
    }
