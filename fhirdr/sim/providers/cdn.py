"""Azure Front Door Standard/Premium: Microsoft.Cdn/profiles with afdEndpoints, originGroups, origins, routes.

Shapes from azure-rest-api-specs cdn stable/2024-02-01 examples: AFDEndpoints_ListByProfile.json (an
endpoint's `hostName` is `{name}-{hash}.z01.azurefd.net`, `location` global), AFDOriginGroups_Create.json
(`loadBalancingSettings`, `healthProbeSettings`, `provisioningState`, `deploymentStatus`),
AFDOrigins_Create.json (`hostName`, `originHostHeader`, `priority`, `weight`, `enabledState`,
`enforceCertificateNameCheck`, `originGroupName`) and Routes_Create.json (`originGroup.id`,
`patternsToMatch`, `supportedProtocols`, `forwardingProtocol`, `linkToDefaultDomain`, `httpsRedirect`,
`cacheConfiguration`). Every create answers 201 with `provisioningState` Creating and an
`Azure-AsyncOperation` header (the examples' 202/201 responses), finished by polling.

The data plane: a request to an endpoint's host name is matched to the endpoint's enabled routes by
path, and sent to the route's origin group: the enabled origins of the lowest priority whose health
probe passes. The sim's probe passes when the origin's FHIR service is up (its region is not down);
real probes need up to `sampleSize` x `probeIntervalInSeconds` to notice (not modelled).
"""

from __future__ import annotations

import fnmatch
import hashlib
from typing import Any

from fhirdr.sim.exceptions import InvalidRequestContent, NotFound, ResourceNotFound
from fhirdr.sim.router import (
    RG,
    Request,
    Response,
    Router,
    check_preconditions,
    paged,
    parent_of,
    poll_operation,
    require_group,
    start_async,
)
from fhirdr.sim.store import Store

PROFILE_TYPE = "Microsoft.Cdn/profiles"
ENDPOINT_TYPE = "Microsoft.Cdn/profiles/afdendpoints"
ORIGIN_GROUP_TYPE = "Microsoft.Cdn/profiles/origingroups"
ORIGIN_TYPE = "Microsoft.Cdn/profiles/origingroups/origins"
ROUTE_TYPE = "Microsoft.Cdn/profiles/afdendpoints/routes"
AFD_SUFFIX = ".azurefd.net"
AFD_SKUS = ("Standard_AzureFrontDoor", "Premium_AzureFrontDoor")

PROFILE = RG + r"/providers/Microsoft\.Cdn/profiles/(?P<profile>[^/]+)"
ENDPOINT = PROFILE + r"/afdEndpoints/(?P<endpoint>[^/]+)"
ORIGIN_GROUP = PROFILE + r"/originGroups/(?P<group>[^/]+)"
ORIGIN = ORIGIN_GROUP + r"/origins/(?P<origin>[^/]+)"
ROUTE = ENDPOINT + r"/routes/(?P<route>[^/]+)"


def _profile_id(request: Request) -> str:
    p = request.params
    return f"/subscriptions/{p['sub']}/resourceGroups/{p['rg']}/providers/{PROFILE_TYPE}/{p['profile']}"


def _require_profile(request: Request) -> dict[str, Any]:
    stored = request.store.get(_profile_id(request))
    if stored is None:
        raise ResourceNotFound(PROFILE_TYPE, request.params["profile"], request.params["rg"])
    return stored.body


def _status_url(request: Request) -> str:
    p = request.params
    return (
        f"/subscriptions/{p['sub']}/resourceGroups/{p['rg']}/providers/Microsoft.Cdn/operationresults/"
        f"{request.store.new_uuid()}"
    )


def _created(request: Request, rid: str, rtype: str, parent: str, body: dict[str, Any], existed: bool) -> Response:
    body["properties"]["provisioningState"] = "Updating" if existed else "Creating"
    body["properties"].setdefault("deploymentStatus", "NotStarted")
    request.store.put(rid, rtype, parent, body)
    headers = start_async(request, rid, {"provisioningState": "Succeeded"}, _status_url(request))
    return Response(200 if existed else 201, body, headers)


def _get(request: Request, rid: str, what: str, name: str) -> Response:
    stored = request.store.get(rid)
    if stored is None:
        raise NotFound(f"{what} '{name}' was not found.")
    return Response(200, stored.body)


# --- profiles ---------------------------------------------------------------------------------------


def _get_profile(request: Request) -> Response:
    return Response(200, _require_profile(request))


def _put_profile(request: Request) -> Response:
    store = request.store
    rid = _profile_id(request)
    existing = store.get(rid)
    check_preconditions(request, existing.body if existing else None)
    payload = request.json_body()
    sku = (payload.get("sku") or {}).get("name")
    if not sku:
        raise InvalidRequestContent("The 'sku' of a profile is required.")
    if existing is not None and existing.body["sku"]["name"] != sku:
        raise InvalidRequestContent("The sku of a profile cannot be changed.")
    body = {
        "id": rid,
        "name": request.params["profile"],
        "type": PROFILE_TYPE,
        "location": "Global",
        "tags": payload.get("tags") or {},
        "sku": {"name": sku},
        "kind": "frontdoor" if sku in AFD_SKUS else "cdn",
        "properties": {
            "frontDoorId": existing.body["properties"]["frontDoorId"] if existing else store.new_uuid(),
            "originResponseTimeoutSeconds": (payload.get("properties") or {}).get("originResponseTimeoutSeconds", 60),
        },
    }
    return _created(request, rid, PROFILE_TYPE, parent_of(rid), body, existing is not None)


def _list_profiles(request: Request) -> Response:
    gid = require_group(request)
    return paged(request, [p.body for p in request.store.children(gid, PROFILE_TYPE)])


def put_profile(store: Store, profile_id: str, sku: str = "Standard_AzureFrontDoor") -> None:
    """A profile as a world builder leaves it (no operation pending)."""
    body = {
        "id": profile_id,
        "name": profile_id.rsplit("/", 1)[-1],
        "type": PROFILE_TYPE,
        "location": "Global",
        "tags": {},
        "sku": {"name": sku},
        "kind": "frontdoor" if sku in AFD_SKUS else "cdn",
        "properties": {
            "frontDoorId": store.new_uuid(),
            "originResponseTimeoutSeconds": 60,
            "provisioningState": "Succeeded",
        },
    }
    store.put(profile_id, PROFILE_TYPE, parent_of(profile_id), body)


def _require_afd(request: Request) -> dict[str, Any]:
    profile = _require_profile(request)
    if profile["sku"]["name"] not in AFD_SKUS:
        raise InvalidRequestContent(
            f"Profile '{profile['name']}' is a {profile['sku']['name']} profile; afdEndpoints, originGroups and "
            "routes need a Standard_AzureFrontDoor or Premium_AzureFrontDoor profile."
        )
    return profile


# --- endpoints ----------------------------------------------------------------------------------------


def endpoint_host(profile_id: str, name: str) -> str:
    """`{name}-{hash}.z01.azurefd.net`: the hash is stable for the profile and name (TenantReuse scope)."""
    digest = hashlib.sha256(f"{profile_id.lower()}/{name.lower()}".encode()).hexdigest()
    letters = "".join(chr(ord("a") + int(c, 16) % 26) for c in digest[:16])
    return f"{name.lower()}-{letters}.z01{AFD_SUFFIX}"


def _put_endpoint(request: Request) -> Response:
    profile = _require_afd(request)
    rid = f"{profile['id']}/afdEndpoints/{request.params['endpoint']}"
    existing = request.store.get(rid)
    check_preconditions(request, existing.body if existing else None)
    props = request.json_body().get("properties") or {}
    body = {
        "id": rid,
        "name": request.params["endpoint"],
        "type": ENDPOINT_TYPE,
        "location": "Global",
        "tags": request.json_body().get("tags") or {},
        "properties": {
            "hostName": endpoint_host(profile["id"], request.params["endpoint"]),
            "enabledState": props.get("enabledState", "Enabled"),
            "autoGeneratedDomainNameLabelScope": props.get("autoGeneratedDomainNameLabelScope", "TenantReuse"),
        },
    }
    return _created(request, rid, ENDPOINT_TYPE, profile["id"], body, existing is not None)


def _get_endpoint(request: Request) -> Response:
    profile = _require_afd(request)
    return _get(
        request,
        f"{profile['id']}/afdEndpoints/{request.params['endpoint']}",
        "AFD endpoint",
        request.params["endpoint"],
    )


def _list_endpoints(request: Request) -> Response:
    profile = _require_afd(request)
    return paged(request, [e.body for e in request.store.children(profile["id"], ENDPOINT_TYPE)])


# --- origin groups and origins --------------------------------------------------------------------------

_PROBE_TYPES = ("NotSet", "GET", "HEAD")
_PROBE_PROTOCOLS = ("NotSet", "Http", "Https")


def _put_origin_group(request: Request) -> Response:
    profile = _require_afd(request)
    rid = f"{profile['id']}/originGroups/{request.params['group']}"
    existing = request.store.get(rid)
    check_preconditions(request, existing.body if existing else None)
    props = request.json_body().get("properties") or {}
    probe = props.get("healthProbeSettings")
    if probe is not None:
        if probe.get("probeRequestType", "NotSet") not in _PROBE_TYPES:
            raise InvalidRequestContent(f"probeRequestType must be one of {', '.join(_PROBE_TYPES)}.")
        if probe.get("probeProtocol", "NotSet") not in _PROBE_PROTOCOLS:
            raise InvalidRequestContent(f"probeProtocol must be one of {', '.join(_PROBE_PROTOCOLS)}.")
        interval = probe.get("probeIntervalInSeconds")
        if interval is not None and not (isinstance(interval, int) and 1 <= interval <= 255):
            raise InvalidRequestContent("probeIntervalInSeconds must be between 1 and 255.")
    balancing = props.get("loadBalancingSettings") or {"sampleSize": 4, "successfulSamplesRequired": 3}
    if balancing.get("successfulSamplesRequired", 0) > balancing.get("sampleSize", 0):
        raise InvalidRequestContent("successfulSamplesRequired cannot exceed sampleSize.")
    body = {
        "id": rid,
        "name": request.params["group"],
        "type": ORIGIN_GROUP_TYPE,
        "properties": {
            "loadBalancingSettings": {
                "sampleSize": balancing.get("sampleSize", 4),
                "successfulSamplesRequired": balancing.get("successfulSamplesRequired", 3),
                "additionalLatencyInMilliseconds": balancing.get("additionalLatencyInMilliseconds", 50),
            },
            "healthProbeSettings": probe,
            "trafficRestorationTimeToHealedOrNewEndpointsInMinutes": props.get(
                "trafficRestorationTimeToHealedOrNewEndpointsInMinutes", 10
            ),
            "sessionAffinityState": props.get("sessionAffinityState", "Disabled"),
        },
    }
    return _created(request, rid, ORIGIN_GROUP_TYPE, profile["id"], body, existing is not None)


def _get_origin_group(request: Request) -> Response:
    profile = _require_afd(request)
    return _get(
        request, f"{profile['id']}/originGroups/{request.params['group']}", "Origin group", request.params["group"]
    )


def _list_origin_groups(request: Request) -> Response:
    profile = _require_afd(request)
    return paged(request, [g.body for g in request.store.children(profile["id"], ORIGIN_GROUP_TYPE)])


def _put_origin(request: Request) -> Response:
    profile = _require_afd(request)
    group_id = f"{profile['id']}/originGroups/{request.params['group']}"
    if request.store.get(group_id) is None:
        raise NotFound(f"Origin group '{request.params['group']}' was not found.")
    rid = f"{group_id}/origins/{request.params['origin']}"
    existing = request.store.get(rid)
    check_preconditions(request, existing.body if existing else None)
    props = request.json_body().get("properties") or {}
    if not props.get("hostName"):
        raise InvalidRequestContent("An origin needs a 'hostName'.")
    priority = props.get("priority", 1)
    if not (isinstance(priority, int) and 1 <= priority <= 5):
        raise InvalidRequestContent("Origin priority must be between 1 and 5.")
    weight = props.get("weight", 1000)
    if not (isinstance(weight, int) and 1 <= weight <= 1000):
        raise InvalidRequestContent("Origin weight must be between 1 and 1000.")
    body = {
        "id": rid,
        "name": request.params["origin"],
        "type": ORIGIN_TYPE,
        "properties": {
            "hostName": props["hostName"],
            "httpPort": props.get("httpPort", 80),
            "httpsPort": props.get("httpsPort", 443),
            # Front Door sends the origin's host name when no origin host header is set.
            "originHostHeader": props.get("originHostHeader") or props["hostName"],
            "priority": priority,
            "weight": weight,
            "enabledState": props.get("enabledState", "Enabled"),
            "enforceCertificateNameCheck": props.get("enforceCertificateNameCheck", True),
            "originGroupName": request.params["group"],
            "sharedPrivateLinkResource": props.get("sharedPrivateLinkResource"),
        },
    }
    return _created(request, rid, ORIGIN_TYPE, group_id, body, existing is not None)


def _get_origin(request: Request) -> Response:
    profile = _require_afd(request)
    rid = f"{profile['id']}/originGroups/{request.params['group']}/origins/{request.params['origin']}"
    return _get(request, rid, "Origin", request.params["origin"])


def _list_origins(request: Request) -> Response:
    profile = _require_afd(request)
    group_id = f"{profile['id']}/originGroups/{request.params['group']}"
    return paged(request, [o.body for o in request.store.children(group_id, ORIGIN_TYPE)])


def _delete_origin(request: Request) -> Response:
    profile = _require_afd(request)
    rid = f"{profile['id']}/originGroups/{request.params['group']}/origins/{request.params['origin']}"
    return Response(200 if request.store.delete(rid) else 204)


# --- routes -------------------------------------------------------------------------------------------


def _put_route(request: Request) -> Response:
    profile = _require_afd(request)
    endpoint_id = f"{profile['id']}/afdEndpoints/{request.params['endpoint']}"
    if request.store.get(endpoint_id) is None:
        raise NotFound(f"AFD endpoint '{request.params['endpoint']}' was not found.")
    rid = f"{endpoint_id}/routes/{request.params['route']}"
    existing = request.store.get(rid)
    check_preconditions(request, existing.body if existing else None)
    props = request.json_body().get("properties") or {}
    group_ref = (props.get("originGroup") or {}).get("id")
    if not group_ref or request.store.get(group_ref) is None:
        raise InvalidRequestContent("A route needs an existing 'originGroup'.")
    body = {
        "id": rid,
        "name": request.params["route"],
        "type": ROUTE_TYPE,
        "properties": {
            "customDomains": props.get("customDomains") or [],
            "originGroup": {"id": group_ref},
            "originPath": props.get("originPath"),
            "ruleSets": props.get("ruleSets") or [],
            "supportedProtocols": props.get("supportedProtocols") or ["Http", "Https"],
            "patternsToMatch": props.get("patternsToMatch") or ["/*"],
            "cacheConfiguration": props.get("cacheConfiguration"),
            "forwardingProtocol": props.get("forwardingProtocol", "MatchRequest"),
            "linkToDefaultDomain": props.get("linkToDefaultDomain", "Disabled"),
            "httpsRedirect": props.get("httpsRedirect", "Disabled"),
            "enabledState": props.get("enabledState", "Enabled"),
        },
    }
    return _created(request, rid, ROUTE_TYPE, endpoint_id, body, existing is not None)


def _get_route(request: Request) -> Response:
    profile = _require_afd(request)
    rid = f"{profile['id']}/afdEndpoints/{request.params['endpoint']}/routes/{request.params['route']}"
    return _get(request, rid, "Route", request.params["route"])


def _list_routes(request: Request) -> Response:
    profile = _require_afd(request)
    endpoint_id = f"{profile['id']}/afdEndpoints/{request.params['endpoint']}"
    return paged(request, [r.body for r in request.store.children(endpoint_id, ROUTE_TYPE)])


# --- data plane -----------------------------------------------------------------------------------------


def answers(host: str) -> bool:
    return host.lower().endswith(AFD_SUFFIX)


def route_request(store: Store, host: str, path: str, healthy: Any) -> str | None:
    """The origin host name a request to `host` + `path` goes to (None: no route, or no healthy origin).

    `healthy(origin_host)` is the health probe's verdict on an origin.
    """
    host = host.lower()
    endpoint = next((e for e in store.by_type(ENDPOINT_TYPE) if e.body["properties"]["hostName"] == host), None)
    if endpoint is None or endpoint.body["properties"]["enabledState"] != "Enabled":
        return None
    profile_id = parent_of(endpoint.id)
    for route in store.children(endpoint.id, ROUTE_TYPE):
        props = route.body["properties"]
        if props.get("enabledState") != "Enabled" or props.get("linkToDefaultDomain") != "Enabled":
            continue
        if not any(fnmatch.fnmatch(path or "/", pattern) for pattern in props.get("patternsToMatch") or []):
            continue
        group_id = props["originGroup"]["id"]
        if not group_id.lower().startswith(profile_id.lower()):
            continue
        origins = [
            o.body["properties"]
            for o in store.children(group_id, ORIGIN_TYPE)
            if o.body["properties"].get("enabledState") == "Enabled"
        ]
        live = [o for o in origins if healthy(o["hostName"])]
        if not live:
            return None
        return min(live, key=lambda o: o.get("priority") or 1)["originHostHeader"]
    return None


def register(router: Router) -> None:
    router.add(
        RG + r"/providers/Microsoft\.Cdn/operationresults/(?P<op>[^/]+)",
        GET=lambda request: poll_operation(request, request.params["op"]),
    )
    router.add(PROFILE, GET=_get_profile, PUT=_put_profile)
    router.add(RG + r"/providers/Microsoft\.Cdn/profiles", GET=_list_profiles)
    router.add(ENDPOINT, GET=_get_endpoint, PUT=_put_endpoint)
    router.add(PROFILE + r"/afdEndpoints", GET=_list_endpoints)
    router.add(ORIGIN_GROUP, GET=_get_origin_group, PUT=_put_origin_group)
    router.add(PROFILE + r"/originGroups", GET=_list_origin_groups)
    router.add(ORIGIN, GET=_get_origin, PUT=_put_origin, DELETE=_delete_origin)
    router.add(ORIGIN_GROUP + r"/origins", GET=_list_origins)
    router.add(ROUTE, GET=_get_route, PUT=_put_route)
    router.add(ENDPOINT + r"/routes", GET=_list_routes)
