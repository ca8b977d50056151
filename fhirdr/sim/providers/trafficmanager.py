"""Microsoft.Network/trafficManagerProfiles: priority routing over endpoints with monitor status."""

from __future__ import annotations

from typing import Any

from fhirdr.sim.exceptions import InvalidRequestContent, NotFound
from fhirdr.sim.router import (
    RG,
    Request,
    Response,
    Router,
    check_preconditions,
    paged,
    parent_of,
    require_group,
    require_resource,
)
from fhirdr.sim.store import Store

PROFILE_TYPE = "Microsoft.Network/trafficManagerProfiles"
ENDPOINT_KINDS = {
    "externalendpoints": "externalEndpoints",
    "azureendpoints": "azureEndpoints",
    "nestedendpoints": "nestedEndpoints",
}
PROFILE = RG + r"/providers/Microsoft\.Network/trafficManagerProfiles/(?P<profile>[^/]+)"
ENDPOINT = PROFILE + r"/(?P<kind>externalEndpoints|azureEndpoints|nestedEndpoints)/(?P<endpoint>[^/]+)"


def endpoint_type(kind: str) -> str:
    return f"{PROFILE_TYPE}/{ENDPOINT_KINDS[kind.lower()]}"


def profile_body(store: Store, body: dict[str, Any]) -> dict[str, Any]:
    """The profile with its endpoints embedded and the profile monitor status derived from them."""
    out = dict(body)
    endpoints = [e.body for e in store.children(body["id"]) if e.type.startswith(PROFILE_TYPE.lower() + "/")]
    statuses = {e["properties"].get("endpointMonitorStatus") for e in endpoints}
    profile_status = "Online" if "Online" in statuses else ("Degraded" if endpoints else "Inactive")
    out["properties"] = {
        **body["properties"],
        "endpoints": endpoints,
        "monitorConfig": {**body["properties"]["monitorConfig"], "profileMonitorStatus": profile_status},
    }
    return out


def endpoint_region(store: Store, props: dict[str, Any]) -> str:
    """The region of an endpoint: its endpointLocation, which only Performance routing requires
    (specification/trafficmanager/resource-manager/Microsoft.Network/stable/2022-04-01/trafficmanager.json,
    EndpointProperties.endpointLocation), else the region of the FHIR server host it targets; "" when neither."""
    from fhirdr.sim.providers.subscriptions import region_name

    if props.get("endpointLocation"):
        return region_name(props["endpointLocation"])
    known = store.get_json("fhir-hosts", {}).get(str(props.get("target", "")).lower())
    return (known or {}).get("region") or ""


def new_profile(store: Store, profile_id: str, name: str) -> dict[str, Any]:
    body = {
        "id": profile_id,
        "name": name,
        "type": PROFILE_TYPE,
        "location": "global",
        "tags": {},
        "properties": {
            "profileStatus": "Enabled",
            "trafficRoutingMethod": "Priority",
            "dnsConfig": {"relativeName": name, "fqdn": f"{name}.trafficmanager.net", "ttl": 30},
            "monitorConfig": {
                "protocol": "HTTPS",
                "port": 443,
                "path": "/health/check",
                "intervalInSeconds": 30,
                "timeoutInSeconds": 10,
                "toleratedNumberOfFailures": 3,
            },
            "trafficViewEnrollmentStatus": "Disabled",
        },
    }
    store.put(profile_id, PROFILE_TYPE, parent_of(profile_id), body)
    return body


def put_endpoint(store: Store, profile_id: str, kind: str, name: str, props: dict[str, Any]) -> dict[str, Any]:
    endpoint_id = f"{profile_id}/{ENDPOINT_KINDS[kind.lower()]}/{name}"
    body = {"id": endpoint_id, "name": name, "type": endpoint_type(kind), "properties": props}
    store.put(endpoint_id, endpoint_type(kind), profile_id, body)
    return body


def _require_profile(request: Request) -> Any:
    return require_resource(request, PROFILE_TYPE, "profile")


def _get_profile(request: Request) -> Response:
    return Response(200, profile_body(request.store, _require_profile(request).body))


def _list_profiles(request: Request) -> Response:
    gid = require_group(request)
    return paged(request, [profile_body(request.store, p.body) for p in request.store.children(gid, PROFILE_TYPE)])


def _get_endpoint(request: Request) -> Response:
    profile = _require_profile(request)
    stored = request.store.get(f"{profile.id}/{request.params['kind']}/{request.params['endpoint']}")
    if stored is None:
        raise NotFound(f"Endpoint '{request.params['endpoint']}' was not found in profile '{profile.body['name']}'.")
    return Response(200, stored.body)


def _put_endpoint(request: Request) -> Response:
    store = request.store
    profile = _require_profile(request)
    endpoint_id = f"{profile.id}/{ENDPOINT_KINDS[request.params['kind'].lower()]}/{request.params['endpoint']}"
    existing = store.get(endpoint_id)
    check_preconditions(request, existing.body if existing else None)
    props = dict(request.json_body().get("properties") or {})
    if not props.get("target") and not props.get("targetResourceId"):
        raise InvalidRequestContent("An endpoint needs a 'target' or a 'targetResourceId'.")
    priority = props.get("priority")
    if priority is not None and not (isinstance(priority, int) and 1 <= priority <= 1000):
        raise InvalidRequestContent("Endpoint priority must be between 1 and 1000.")
    for other in store.children(profile.id):
        if other.id.lower() != endpoint_id.lower() and other.body["properties"].get("priority") == priority:
            raise InvalidRequestContent(f"Priority {priority} is already used by endpoint '{other.body['name']}'.")
    props.setdefault("endpointStatus", "Enabled")
    props.setdefault("weight", 1)
    from fhirdr.sim.lifecycle import is_up

    region = endpoint_region(store, props)
    props["endpointMonitorStatus"] = "Online" if is_up(store, region) else "Degraded"
    if props["endpointStatus"] == "Disabled":
        props["endpointMonitorStatus"] = "Disabled"
    body = put_endpoint(store, profile.id, request.params["kind"], request.params["endpoint"], props)
    return Response(200 if existing else 201, body)


def _delete_endpoint(request: Request) -> Response:
    profile = _require_profile(request)
    endpoint_id = f"{profile.id}/{ENDPOINT_KINDS[request.params['kind'].lower()]}/{request.params['endpoint']}"
    existed = request.store.delete(endpoint_id)
    return Response(200 if existed else 204)


def register(router: Router) -> None:
    router.add(PROFILE, GET=_get_profile)
    router.add(RG + r"/providers/Microsoft\.Network/trafficManagerProfiles", GET=_list_profiles)
    router.add(ENDPOINT, GET=_get_endpoint, PUT=_put_endpoint, DELETE=_delete_endpoint)
