"""Microsoft.Insights metrics: Cosmos DB ReplicationLatency, computed from the simulated replication."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from fhirdr.sim import lifecycle
from fhirdr.sim.exceptions import ArmError, ResourceNotFound
from fhirdr.sim.providers.cosmosdb import ACCOUNT_TYPE, linked_services, replication_info
from fhirdr.sim.providers.subscriptions import region_name
from fhirdr.sim.router import Request, Response, Router

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
    info = replication_info(request.store, stored.id)
    services = linked_services(request.store, stored.id)
    data = lifecycle.data_store(request.store, services[0]) if services else None
    locations = stored.body["properties"]["locations"]
    source = next(loc["locationName"] for loc in locations if loc["failoverPriority"] == 0)
    series: list[dict[str, Any]] = []
    for loc in locations:
        if loc["failoverPriority"] == 0 or loc["provisioningState"] != "Succeeded":
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
                "data": [{"timeStamp": stamp, "average": lag, "maximum": lag}],
            }
        )
    if "targetregion" not in request.query.get("$filter", "").lower() and series:
        # Without a dimension filter Azure Monitor answers one aggregated series, without dimension values.
        worst = max(point["maximum"] for item in series for point in item["data"])
        series = [{"metadatavalues": [], "data": [{"timeStamp": stamp, "average": worst, "maximum": worst}]}]
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


FAILOVER_OPERATION = "Microsoft.DocumentDB/databaseAccounts/failoverPriorityChange/action"


def _activity_log(request: Request) -> Response:
    """Administrative events of one resource, newest first: the failovers of Cosmos DB accounts."""
    sub = request.params["sub"]
    match = re.search(r"resourceUri\s+eq\s+'([^']+)'", request.query.get("$filter", ""), re.IGNORECASE)
    if not match:
        raise ArmError("The $filter must name a resourceUri for this simulator.", code="BadRequest")
    resource = match.group(1).lower()
    values = []
    for event in reversed(request.store.events(limit=100_000)):
        if event["kind"] not in ("lifecycle.failover", "cosmos.failover-priority-change"):
            continue
        if (event["detail"].get("account") or "").lower() != resource:
            continue
        stamp = datetime.fromtimestamp(event["time"], timezone.utc).isoformat().replace("+00:00", "Z")
        values.append(
            {
                "eventDataId": f"{event['seq']}",
                "caller": event["detail"].get("caller"),
                "operationName": {"value": FAILOVER_OPERATION, "localizedValue": "Change failover priority"},
                "category": {"value": "Administrative", "localizedValue": "Administrative"},
                "status": {"value": "Succeeded", "localizedValue": "Succeeded"},
                "level": "Informational",
                "resourceId": event["detail"]["account"],
                "subscriptionId": sub,
                "eventTimestamp": stamp,
                "submissionTimestamp": stamp,
                "properties": {"writeRegion": event["detail"].get("to", "")},
            }
        )
    return Response(200, {"value": values})


def register(router: Router) -> None:
    router.add(
        r"/subscriptions/(?P<sub>[^/]+)/providers/Microsoft\.Insights/eventtypes/management/values", GET=_activity_log
    )
    router.add(r"(?P<resource>/subscriptions/.+)/providers/Microsoft\.Insights/metrics", GET=_metrics)
