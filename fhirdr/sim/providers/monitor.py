"""Microsoft.Insights metrics: Cosmos DB ReplicationLatency, computed from the simulated replication."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

from fhirdr.sim import lifecycle
from fhirdr.sim.exceptions import ArmError, ResourceNotFound
from fhirdr.sim.providers.cosmosdb import ACCOUNT_TYPE, linked_services, replication_info
from fhirdr.sim.providers.subscriptions import region_name
from fhirdr.sim.router import Request, Response, Router
from fhirdr.sim.servers import AHDS_TYPE, SERVICE_TYPE

SUPPORTED = {"replicationlatency"}


def _metrics(request: Request) -> Response:
    resource_id = request.params["resource"]
    stored = request.store.get(resource_id)
    if stored is None:
        parts = resource_id.strip("/").split("/")
        raise ResourceNotFound(
            "/".join(parts[5:7]) if len(parts) > 6 else "resource", parts[-1], parts[3] if len(parts) > 3 else ""
        )
    names = [n.strip() for n in request.query.get("metricnames", "").split(",") if n.strip()]
    unknown = [n for n in names if n.lower() not in SUPPORTED or stored.type != ACCOUNT_TYPE.lower()]
    if unknown or not names:
        raise ArmError(
            f"Failed to find metric configuration for provider, metric: {', '.join(unknown) or '(none)'}",
            code="BadRequest",
        )
    now = datetime.fromtimestamp(request.store.now(), timezone.utc).replace(second=0, microsecond=0)
    stamp = now.isoformat().replace("+00:00", "Z")
    grains = _grains(request.store, now)
    info = replication_info(request.store, stored.id)
    services = linked_services(request.store, stored.id)
    data = lifecycle.data_store(request.store, services[0]) if services else None
    locations = stored.body["properties"]["locations"]
    source = next(loc["locationName"] for loc in locations if loc["failoverPriority"] == 0)
    series: list[dict[str, Any]] = []
    # A write region that is down replicates nothing and reports nothing: no series at all, as for a down target.
    source_up = lifecycle.is_up(request.store, region_name(source))
    for loc in locations:
        if not source_up or loc["failoverPriority"] == 0 or loc["provisioningState"] != "Succeeded":
            continue
        region = region_name(loc["locationName"])
        if not lifecycle.is_up(request.store, region):
            continue
        lag = float(info.get("lag_ms", 0))
        if data is not None:
            lag = lifecycle.lag_seconds(request.store, data, region) * 1000.0
        series.append(
            {
                "metadatavalues": [
                    {"name": {"value": "sourceregion", "localizedValue": "sourceregion"}, "value": source},
                    {"name": {"value": "targetregion", "localizedValue": "targetregion"}, "value": loc["locationName"]},
                ],
                "data": [_point(when, lag, empty) for when, empty in grains],
            }
        )
    if "targetregion" not in request.query.get("$filter", "").lower() and series:
        # Without a dimension filter Azure Monitor answers one aggregated series, without dimension values.
        worst = max(point.get("maximum", 0) for item in series for point in item["data"])
        series = [{"metadatavalues": [], "data": [_point(when, worst, empty) for when, empty in grains]}]
    body = {
        "cost": 0,
        "timespan": request.query.get("timespan", f"{stamp}/{stamp}"),
        "interval": request.query.get("interval", "PT5M"),
        "namespace": "Microsoft.DocumentDB/databaseAccounts",
        "resourceregion": region_name(stored.body["location"]),
        "value": [
            {
                "id": f"{stored.id}/providers/Microsoft.Insights/metrics/ReplicationLatency",
                "type": "Microsoft.Insights/metrics",
                "name": {"value": "ReplicationLatency", "localizedValue": "P99 Replication Latency"},
                "displayDescription": "P99 replication latency across source and target regions",
                "unit": "MilliSeconds",
                "timeseries": series,
                "errorCode": "Success",
            }
        ],
    }
    return Response(200, body)


def _grains(store: Any, now: datetime) -> list[tuple[datetime, bool]]:
    """(start, empty) of the PT5M grains of the last 15 minutes, oldest first. A point needs only its timeStamp
    (MetricValue in azure-rest-api-specs specification/monitor/resource-manager/Microsoft.Insights/stable/
    2023-10-01/metrics_API.json; azure-mgmt-monitor's MetricValue requires only time_stamp) and the newest grain
    is usually still empty (AZURE-FACTS, "Where real Azure differs"); the world's `metric_values` says which
    grains have a value: but-newest, all, none."""
    newest = now.replace(minute=now.minute - now.minute % 5)
    filled = store.get_meta("metric_values") or "but-newest"
    return [
        (newest - timedelta(minutes=5 * back), filled == "none" or (filled == "but-newest" and back == 0))
        for back in (3, 2, 1, 0)
    ]


def _point(when: datetime, value: float, empty: bool) -> dict[str, Any]:
    stamp = when.isoformat().replace("+00:00", "Z")
    return {"timeStamp": stamp} if empty else {"timeStamp": stamp, "average": value, "maximum": value}


FAILOVER_OPERATION = "Microsoft.DocumentDB/databaseAccounts/failoverPriorityChange/action"


def _activity_log(request: Request) -> Response:
    """Events of one resource, newest first. A Cosmos DB account's write-region changes are administrative
    events, Started then Succeeded (or Failed), whose properties do not name the new write region
    (MicrosoftDocs/azure-docs articles/azure-monitor/essentials/activity-log-schema.md, "Administrative
    category"). An Azure API for FHIR or AHDS service fails over inside Microsoft's subscription: its log
    shows Resource Health events (same article, "Resource health category")."""
    sub = request.params["sub"]
    match = re.search(r"resourceUri\s+eq\s+'([^']+)'", request.query.get("$filter", ""), re.IGNORECASE)
    if not match:
        raise ArmError("The $filter must name a resourceUri for this simulator.", code="BadRequest")
    resource = match.group(1).lower()
    stored = request.store.get(resource)
    if stored is not None and stored.type == ACCOUNT_TYPE.lower():
        values = _administrative(request.store, stored.id, sub)
    elif stored is not None and stored.type in (SERVICE_TYPE.lower(), AHDS_TYPE.lower()):
        values = _resource_health(request.store, stored.id, region_name(stored.body["location"]), sub)
    else:
        values = []
    return Response(200, {"value": values[::-1]})


def _stamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat().replace("+00:00", "Z")


def _entry(
    sub: str,
    resource_id: str,
    seq: str,
    when: float,
    caller: Any,
    category: str,
    operation: str,
    status: str,
    properties: dict[str, Any],
) -> dict[str, Any]:
    return {
        "eventDataId": seq,
        "caller": caller,
        "operationName": {"value": operation, "localizedValue": operation.rsplit("/", 2)[-2]},
        "category": {"value": category, "localizedValue": category},
        "status": {"value": status, "localizedValue": status},
        "level": "Informational" if status in ("Started", "Succeeded", "Resolved") else "Warning",
        "resourceId": resource_id,
        "subscriptionId": sub,
        "eventTimestamp": _stamp(when),
        "submissionTimestamp": _stamp(when),
        "properties": properties,
    }


def _administrative(store: Any, account_id: str, sub: str) -> list[dict[str, Any]]:
    """Oldest first: each write-region change Started then Succeeded; refused attempts Started then Failed."""
    values = []
    for event in store.events(limit=100_000):
        detail = event["detail"]
        if event["kind"] in ("lifecycle.failover", "cosmos.failover-priority-change"):
            if (detail.get("account") or "").lower() != account_id.lower():
                continue
            outcome = "Succeeded"
        elif event["kind"] == "fault":
            path = (detail.get("path") or "").lower()
            if not path.startswith(account_id.lower()) or not path.endswith("/failoverprioritychange"):
                continue
            outcome = "Failed"
        else:
            continue
        caller = detail.get("caller") or "operator@example.com"
        props = {"entity": account_id, "message": FAILOVER_OPERATION}
        for status in ("Started", outcome):
            values.append(
                _entry(
                    sub,
                    account_id,
                    f"{event['seq']}-{status}",
                    event["time"],
                    caller,
                    "Administrative",
                    FAILOVER_OPERATION,
                    status,
                    {
                        **props,
                        "statusCode": "Accepted"
                        if status == "Started"
                        else ("OK" if status == "Succeeded" else "ServiceUnavailable"),
                    },
                )
            )
    return values


HEALTH_OPERATION = "Microsoft.Resourcehealth/healthevent/{}/action"


def _resource_health(store: Any, service_id: str, primary: str, sub: str) -> list[dict[str, Any]]:
    """Oldest first: the service's availability as its region goes down, it fails over, the region comes
    back, and support moves the data home."""
    name = service_id.rsplit("/", 1)[-1].lower()
    state = "Available"
    values = []

    def change(event: dict[str, Any], new: str, status: str, title: str) -> None:
        nonlocal state
        props = {
            "title": title,
            "details": title,
            "currentHealthStatus": new,
            "previousHealthStatus": state,
            "type": "Downtime",
            "cause": "PlatformInitiated",
        }
        operation = HEALTH_OPERATION.format({"Active": "Activated"}.get(status, status))
        values.append(
            _entry(sub, service_id, str(event["seq"]), event["time"], None, "ResourceHealth", operation, status, props)
        )
        state = new

    for event in store.events(limit=100_000):
        detail = event["detail"]
        kind = event["kind"]
        if kind == "region.outage" and detail.get("region") == primary and state == "Available":
            change(event, "Unavailable", "Active", f"{primary} is unavailable")
        elif (
            kind == "lifecycle.failover" and (detail.get("service") or "").lower() == name and not detail.get("account")
        ):
            change(event, "Degraded", "Updated", f"running in the disaster recovery region {detail.get('to')}")
        elif kind == "region.recovered" and detail.get("region") == primary and state == "Unavailable":
            change(event, "Available", "Resolved", f"{primary} is available again")
        elif kind == "support.failback-done" and (detail.get("service") or "").lower() == name and state == "Degraded":
            change(event, "Available", "Resolved", f"the data is back in {primary}")
    return values


def register(router: Router) -> None:
    router.add(
        r"/subscriptions/(?P<sub>[^/]+)/providers/Microsoft\.Insights/eventtypes/management/values", GET=_activity_log
    )
    router.add(r"(?P<resource>/subscriptions/.+)/providers/Microsoft\.Insights/metrics", GET=_metrics)
