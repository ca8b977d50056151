"""Microsoft.HealthcareApis/services (Azure API for FHIR) and its private endpoint connections."""

from __future__ import annotations

import re
from typing import Any

from fhirdr.sim.exceptions import InvalidRequestContent, NotFound, PreconditionFailed, ResourceNotFound
from fhirdr.sim.router import (
    RG,
    SUB,
    Request,
    Response,
    Router,
    check_preconditions,
    new_etag,
    paged,
    parent_of,
    poll_operation,
    require_group,
    start_async,
)
from fhirdr.sim.store import Store

SERVICE_TYPE = "Microsoft.HealthcareApis/services"
CONNECTION_TYPE = "Microsoft.HealthcareApis/services/privateEndpointConnections"
CONNECTION_STATES = ("Pending", "Approved", "Rejected")

SERVICE = RG + r"/providers/Microsoft\.HealthcareApis/services/(?P<service>[^/]+)"
CONNECTION = SERVICE + r"/privateEndpointConnections/(?P<connection>[^/]+)"


def service_body(store: Store, body: dict[str, Any]) -> dict[str, Any]:
    """The service with its private endpoint connections embedded, as ARM returns it."""
    out = dict(body)
    out["properties"] = {
        **body["properties"],
        "privateEndpointConnections": [c.body for c in store.children(body["id"], CONNECTION_TYPE)],
    }
    return out


def _service_id(request: Request) -> str:
    return f"{require_group(request)}/providers/Microsoft.HealthcareApis/services/{request.params['service']}"


def _require_service(request: Request) -> dict[str, Any]:
    stored = request.store.get(_service_id(request))
    if stored is None:
        raise ResourceNotFound(SERVICE_TYPE, request.params["service"], request.params["rg"])
    return stored.body


def _get_service(request: Request) -> Response:
    return Response(200, service_body(request.store, _require_service(request)))


# Set by the service itself, never by a PUT body (ServiceGet.json: provisioningState; the connections
# are child resources, approved or rejected through their own API).
SERVER_MANAGED = ("provisioningState", "privateEndpointConnections")


def _put_service(request: Request) -> Response:
    """Updates only (creating services is retired): a full PUT, so what is not sent is reset, as ARM does.

    The etag (If-Match, or the body's etag) makes the write conditional. A service update is a
    long-running operation (ServiceCreate.json, x-ms-long-running-operation).
    """
    current = _require_service(request)
    payload = request.json_body()
    check_preconditions(request, current)
    if payload.get("etag") and str(payload["etag"]).strip('"') != str(current.get("etag")).strip('"'):
        raise PreconditionFailed(f"The etag '{payload['etag']}' does not match the service's current etag.")
    if (payload.get("location") or "").replace(" ", "").lower() != current["location"].replace(" ", "").lower():
        raise InvalidRequestContent("The location of a service cannot be changed.")
    body = dict(current)
    body["tags"] = payload.get("tags") or {}
    body["identity"] = payload.get("identity") or {"type": "None"}
    sent = {k: v for k, v in (payload.get("properties") or {}).items() if k not in SERVER_MANAGED and v is not None}
    body["properties"] = {key: current["properties"][key] for key in SERVER_MANAGED if key in current["properties"]}
    body["properties"].update(sent)
    return _write_service(request, current, body)


def _patch_service(request: Request) -> Response:
    """PATCH (ServicePatch.json): tags, replaced as a whole, and publicNetworkAccess; If-Match makes it conditional.

    ARM's resource contract: a PATCH of tags replaces all tags; 412 when If-Match names another etag
    (azure-resource-manager-rpc v1.0/resource-api-reference.md "Patch Resource", Addendum.md "ETags").
    """
    current = _require_service(request)
    payload = request.json_body()
    check_preconditions(request, current)
    body = dict(current)
    if "tags" in payload:
        body["tags"] = payload.get("tags") or {}
    access = (payload.get("properties") or {}).get("publicNetworkAccess")
    if access is not None:
        if access not in ("Enabled", "Disabled"):
            raise InvalidRequestContent(f"publicNetworkAccess '{access}' is not valid; use Enabled or Disabled.")
        body["properties"] = {**current["properties"], "publicNetworkAccess": access}
    return _write_service(request, current, body)


def _write_service(request: Request, current: dict[str, Any], body: dict[str, Any]) -> Response:
    store = request.store
    body["etag"] = new_etag(request)
    store.put(current["id"], SERVICE_TYPE, parent_of(current["id"]), body)
    status_url = (
        f"/subscriptions/{request.params['sub']}/providers/Microsoft.HealthcareApis/locations/"
        f"{current['location']}/operationresults/{store.new_uuid()}"
    )
    headers = start_async(request, current["id"], {"provisioningState": "Succeeded"}, status_url)
    _started(store, status_url)
    return Response(200, service_body(store, body), headers)


def _started(store: Store, status_url: str) -> None:
    """When the operation began, for its status answers (operations of other providers start at their first poll)."""
    store.set_json(f"operation-times:{status_url.rsplit('/', 1)[-1]}", {"startTime": _iso(store.now())})


def _list_services(request: Request) -> Response:
    gid = require_group(request)
    return paged(request, [service_body(request.store, s.body) for s in request.store.children(gid, SERVICE_TYPE)])


def _get_connection(request: Request) -> Response:
    service = _require_service(request)
    stored = request.store.get(f"{service['id']}/privateEndpointConnections/{request.params['connection']}")
    if stored is None:
        raise NotFound(f"Private endpoint connection '{request.params['connection']}' was not found.")
    return Response(200, stored.body)


def _list_connections(request: Request) -> Response:
    service = _require_service(request)
    return paged(request, [c.body for c in request.store.children(service["id"], CONNECTION_TYPE)])


def set_endpoint_connection_state(store: Store, endpoint_id: str, service_id: str, state: dict[str, Any]) -> None:
    """Mirror the service-side decision on the private endpoint, as Azure does."""
    endpoint = store.get(endpoint_id)
    if endpoint is None:
        return
    props = endpoint.body["properties"]
    for key in ("privateLinkServiceConnections", "manualPrivateLinkServiceConnections"):
        for connection in props.get(key, []):
            if connection["properties"]["privateLinkServiceId"].lower() == service_id.lower():
                connection["properties"]["privateLinkServiceConnectionState"] = dict(state)
    store.put(endpoint.id, endpoint.type, parent_of(endpoint.id), endpoint.body)


def _put_connection(request: Request) -> Response:
    store = request.store
    service = _require_service(request)
    connection_id = f"{service['id']}/privateEndpointConnections/{request.params['connection']}"
    existing = store.get(connection_id)
    if existing is None:
        raise NotFound(
            f"Private endpoint connection '{request.params['connection']}' was not found; connections "
            "are created by creating a private endpoint."
        )
    check_preconditions(request, existing.body)
    state = (request.json_body().get("properties") or {}).get("privateLinkServiceConnectionState") or {}
    status = state.get("status")
    if status not in CONNECTION_STATES:
        raise InvalidRequestContent(
            f"privateLinkServiceConnectionState.status must be one of {', '.join(CONNECTION_STATES)}."
        )
    new_state = {"status": status, "description": state.get("description", ""), "actionsRequired": "None"}
    body = existing.body
    body["properties"]["privateLinkServiceConnectionState"] = new_state
    body["properties"]["provisioningState"] = "Updating"
    body["etag"] = new_etag(request)
    store.put(connection_id, CONNECTION_TYPE, service["id"], body)
    set_endpoint_connection_state(store, body["properties"]["privateEndpoint"]["id"], service["id"], new_state)
    status_url = (
        f"/subscriptions/{request.params['sub']}/providers/Microsoft.HealthcareApis/locations/"
        f"{service['location']}/operationresults/{store.new_uuid()}"
    )
    headers = start_async(request, connection_id, {"provisioningState": "Succeeded"}, status_url)
    _started(store, status_url)
    return Response(200, body, headers)


def _operation(request: Request) -> Response:
    """Microsoft.HealthcareApis operation results say `Running` (not ARM's generic InProgress), with times.

    OperationResultsGet.json: id, name, status (Canceled/Succeeded/Failed/Requested/Running),
    startTime, endTime, properties.
    """
    store = request.store
    op = request.params["op"]
    response = poll_operation(request, op)
    times = store.get_json(f"operation-times:{op}", {})
    times.setdefault("startTime", _iso(store.now()))
    body = dict(response.body)
    if body["status"] == "InProgress":
        body["status"] = "Running"
    else:
        times.setdefault("endTime", _iso(store.now()))
        body["endTime"] = times["endTime"]
    store.set_json(f"operation-times:{op}", times)
    body["startTime"] = times["startTime"]
    body["properties"] = {}
    return Response(response.status, body, response.headers)


def _iso(seconds: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(seconds, timezone.utc).isoformat().replace("+00:00", "Z")


IOMT_TYPE = "Microsoft.HealthcareApis/services/iomtconnectors"
IOMT_CONNECTION_TYPE = "Microsoft.HealthcareApis/services/iomtconnectors/connections"
IOMT = SERVICE + r"/iomtconnectors/(?P<connector>[^/]+)"


def put_iomt(
    store: Store, service_id: str, name: str, location: str, created: str, connections: list[tuple[str, str]]
) -> None:
    """An IoMT connector (preview; not in the public specs) and its connections (name, creation time)."""
    connector_id = f"{service_id}/iomtconnectors/{name}"
    store.put(
        connector_id,
        IOMT_TYPE,
        service_id,
        {
            "id": connector_id,
            "name": name,
            "type": IOMT_TYPE,
            "location": location,
            "systemData": {"createdAt": created},
            "properties": {
                "provisioningState": "Succeeded",
                "serviceConfiguration": {"resourceIdentityResolutionType": "Create"},
            },
        },
    )
    for connection, when in connections:
        connection_id = f"{connector_id}/connections/{connection}"
        store.put(
            connection_id,
            IOMT_CONNECTION_TYPE,
            connector_id,
            {
                "id": connection_id,
                "name": connection,
                "type": IOMT_CONNECTION_TYPE,
                "location": location,
                "systemData": {"createdAt": when},
                "properties": {"provisioningState": "Succeeded"},
            },
        )


def _iomt_id(request: Request) -> str:
    return f"{_require_service(request)['id']}/iomtconnectors"


def _list_iomt(request: Request) -> Response:
    return Response(
        200, {"value": [c.body for c in request.store.children(_require_service(request)["id"], IOMT_TYPE)]}
    )


def _get_iomt(request: Request) -> Response:
    stored = request.store.get(f"{_iomt_id(request)}/{request.params['connector']}")
    if stored is None:
        raise NotFound(f"IoMT connector '{request.params['connector']}' was not found.")
    return Response(200, stored.body)


def _list_iomt_connections(request: Request) -> Response:
    parent = f"{_iomt_id(request)}/{request.params['connector']}"
    return Response(200, {"value": [c.body for c in request.store.children(parent, IOMT_CONNECTION_TYPE)]})


def register(router: Router) -> None:
    router.add(SERVICE, GET=_get_service, PUT=_put_service, PATCH=_patch_service)
    router.add(SERVICE + r"/iomtconnectors", GET=_list_iomt)
    router.add(IOMT, GET=_get_iomt)
    router.add(IOMT + r"/connections", GET=_list_iomt_connections)
    router.add(RG + r"/providers/Microsoft\.HealthcareApis/services", GET=_list_services)
    router.add(CONNECTION, GET=_get_connection, PUT=_put_connection)
    router.add(SERVICE + r"/privateEndpointConnections", GET=_list_connections)
    router.add(
        SUB + r"/providers/Microsoft\.HealthcareApis/locations/(?P<loc>[^/]+)/operationresults/(?P<op>[^/]+)",
        GET=_operation,
    )


# -- the support desk's work on Azure API for FHIR DR tickets ---------------------------------------

DR_BASE_SECONDS = 15 * 60
DR_SECONDS_PER_GB = 5 * 60


def dr_state_key(service_id: str) -> str:
    """Microsoft's own record of a managed service's DR: not visible through ARM, only to the desk."""
    return f"dr:{service_id.lower()}"


def _ticket_service(store: Store, ticket: Any) -> Any:
    resource_id = (ticket.body["properties"].get("technicalTicketDetails") or {}).get("resourceId") or ""
    return store.get(resource_id) if resource_id else None


def _work_dr_enable(store: Store, ticket: Any) -> None:
    from fhirdr.sim.providers.subscriptions import LOCATIONS, region_name
    from fhirdr.sim.providers.support import add_communication

    service = _ticket_service(store, ticket)
    match = re.search(r"secondary region:\s*([A-Za-z0-9 ]+)", ticket.body["properties"]["description"], re.I)
    region = region_name(match.group(1).strip()) if match else ""
    if service is None or region not in LOCATIONS:
        add_communication(
            store,
            ticket.id,
            "More information needed",
            "Please give the service's resource id and the preferred secondary region.",
        )
        return
    data_gb = float(store.get_meta("data_gb", "1") or 1)
    delay = DR_BASE_SECONDS + DR_SECONDS_PER_GB * data_gb
    store.set_json(
        dr_state_key(service.id),
        {"secondary": region, "state": "replicating", "ticket": ticket.id, "since": store.now()},
    )
    add_communication(
        store,
        ticket.id,
        "Disaster recovery is being enabled",
        f"We added {region} as the secondary region of {service.body['name']}; the initial "
        f"replication of about {data_gb:g} GB is running.",
    )
    store.schedule(store.now() + delay, "fhir.dr-replicated", {"service": service.id, "ticket": ticket.id})
    store.record_event("support.dr-enabling", {"service": service.body["name"], "secondary": region})


def _dr_replicated(store: Store, payload: dict[str, Any]) -> None:
    from fhirdr.sim.providers.support import add_communication, set_ticket_status

    state = store.get_json(dr_state_key(payload["service"]), {})
    state["state"] = "on"
    state["since"] = store.now()
    store.set_json(dr_state_key(payload["service"]), state)
    add_communication(
        store,
        payload["ticket"],
        "Disaster recovery is enabled",
        f"The initial replication to {state.get('secondary')} is complete. Disaster recovery is on.",
    )
    set_ticket_status(store, payload["ticket"], "Closed")
    store.record_event("support.dr-enabled", {"service": payload["service"], "secondary": state.get("secondary")})


def _work_dr_failback(store: Store, ticket: Any) -> None:
    from fhirdr.sim import lifecycle
    from fhirdr.sim.providers.subscriptions import region_name
    from fhirdr.sim.providers.support import add_communication, set_ticket_status

    service = _ticket_service(store, ticket)
    if service is None:
        add_communication(store, ticket.id, "More information needed", "Please give the service's resource id.")
        return
    primary = region_name(service.body["location"])
    state = store.get_json(dr_state_key(service.id), {})
    if not lifecycle.is_up(store, primary):
        add_communication(
            store, ticket.id, "Waiting for the region", f"{primary} is not healthy yet; we will fail back once it is."
        )
        store.schedule(store.now() + 30 * 60, "support.pickup", {"ticket": ticket.id})
        return
    if state.get("write", primary) != primary:
        lifecycle.sync_before_failback(store, service.id, primary)
        state["write"] = primary
        store.set_json(dr_state_key(service.id), state)
    add_communication(
        store,
        ticket.id,
        "Data failback complete",
        f"The data of {service.body['name']} is back in {primary}; no data was lost.",
    )
    set_ticket_status(store, ticket.id, "Closed")
    store.record_event("support.failback-done", {"service": service.body["name"], "region": primary})


def register_desk() -> None:
    from fhirdr.sim import timeline
    from fhirdr.sim.providers import support

    support.desk(support.DR_ENABLE)(_work_dr_enable)
    support.desk(support.DR_FAILBACK)(_work_dr_failback)
    timeline.on("fhir.dr-replicated")(_dr_replicated)


register_desk()
