"""Microsoft.ResourceHealth availabilityStatuses/current: a resource's availability, from the world's regions.

Shape from azure-rest-api-specs specification/resourcehealth/resource-manager/Microsoft.ResourceHealth/stable/
2022-10-01/examples/AvailabilityStatus_GetByResource.json. A world built without the permission
(`resource_health=False`) answers 403 AuthorizationFailed, as ARM does without
Microsoft.ResourceHealth/availabilityStatuses/read.
"""

from __future__ import annotations

from datetime import datetime, timezone

from fhirdr.sim import lifecycle
from fhirdr.sim.exceptions import ArmError, ResourceNotFound
from fhirdr.sim.providers.cosmosdb import ACCOUNT_TYPE
from fhirdr.sim.providers.subscriptions import region_name
from fhirdr.sim.router import Request, Response, Router
from fhirdr.sim.servers import servers_in_account
from fhirdr.sim.store import Store

DENIED_META = "resource_health_denied"


def availability(store: Store, resource_id: str, resource_type: str, location: str) -> tuple[str, str]:
    """(availabilityState, summary) of a resource: a FHIR service or the Cosmos DB account behind one follows
    where it is served from and where its data is written; anything else follows its own region."""
    servers = servers_in_account(store, resource_id) if resource_type == ACCOUNT_TYPE.lower() else []
    if not servers and resource_id.lower() in {s.lower() for s in lifecycle.services(store)}:
        servers = [resource_id]
    for server in servers:
        ds = lifecycle.data_store(store, server)
        compute = lifecycle.compute_region(store, server)
        if ds is None:
            continue
        down = [r for r in dict.fromkeys([location, *ds.regions]) if not lifecycle.is_up(store, r)]
        if compute is None or not lifecycle.is_up(store, ds.write_region):
            return "Unavailable", f"{', '.join(down) or ds.write_region} is unavailable; the resource does not answer"
        if down:
            return (
                "Degraded",
                f"{', '.join(down)} is unavailable; served from {compute}, data written in {ds.write_region}",
            )
        return "Available", "There aren't any known Azure platform problems affecting this resource"
    if not lifecycle.is_up(store, location):
        return "Unavailable", f"{location} is unavailable"
    return "Available", "There aren't any known Azure platform problems affecting this resource"


def _current(request: Request) -> Response:
    store = request.store
    if store.get_meta(DENIED_META) == "1":
        raise ArmError(
            "The client does not have authorization to perform action "
            "'Microsoft.ResourceHealth/availabilityStatuses/read' over scope "
            f"'{request.params['resource']}'.",
            code="AuthorizationFailed",
            status=403,
        )
    resource_id = request.params["resource"]
    stored = store.get(resource_id)
    if stored is None:
        parts = resource_id.strip("/").split("/")
        raise ResourceNotFound("/".join(parts[5:7]) if len(parts) > 6 else "resource", parts[-1], parts[3])
    location = region_name(stored.body.get("location") or "")
    state, summary = availability(store, stored.id, stored.type, location)
    now = datetime.fromtimestamp(store.now(), timezone.utc).isoformat().replace("+00:00", "Z")
    body = {
        "id": f"{stored.id}/providers/Microsoft.ResourceHealth/availabilityStatuses/current",
        "name": "current",
        "type": "Microsoft.ResourceHealth/AvailabilityStatuses",
        "location": location,
        "properties": {
            "availabilityState": state,
            "title": state,
            "summary": summary,
            "reasonType": "Unplanned" if state != "Available" else None,
            "context": "Platform Initiated" if state != "Available" else None,
            "category": "Unplanned" if state != "Available" else None,
            "occuredTime": now,
            "reportedTime": now,
        },
    }
    return Response(200, body)


def register(router: Router) -> None:
    router.add(
        r"(?P<resource>/subscriptions/.+)/providers/Microsoft\.ResourceHealth/availabilityStatuses/current",
        GET=_current,
    )
