"""Microsoft.Network/privateDnsZones: zones, virtual network links and record sets.

Zone and link writes answer 202 with Azure-AsyncOperation (privateDnsOperationStatuses) and
Location (privateDnsOperationResults); a link is InProgress until its operation completes. A VNet
can be linked to a zone once, and to one zone with auto-registration. A list answers the bodies a GET of each
item would answer at that moment (a list is a read of every item, as in the recordings).
"""

from __future__ import annotations

from typing import Any

from fhirdr.sim.exceptions import (
    ArmError,
    Conflict,
    InvalidRequestContent,
    NotFound,
    ResourceNotFound,
)
from fhirdr.sim.router import (
    ARM,
    RG,
    Request,
    Response,
    Router,
    advance_operations_of,
    check_preconditions,
    new_etag,
    paged,
    poll_operation,
    require_group,
    start_async,
)
from fhirdr.sim.store import Store, StoredResource

ZONE_TYPE = "Microsoft.Network/privateDnsZones"
LINK_TYPE = "Microsoft.Network/privateDnsZones/virtualNetworkLinks"

ZONE = RG + r"/providers/Microsoft\.Network/privateDnsZones/(?P<zone>[^/]+)"
LINK = ZONE + r"/virtualNetworkLinks/(?P<link>[^/]+)"
RECORD = ZONE + r"/(?P<rtype>A|AAAA|CNAME|MX|PTR|SOA|SRV|TXT)/(?P<record>[^/]+)"


def _current(store: Store, items: list[StoredResource]) -> list[StoredResource]:
    """Listed items as a GET of each would see them now: their pending operations advance as on a GET."""
    for item in items:
        advance_operations_of(store, item.id)
    return [fresh for fresh in (store.get(item.id) for item in items) if fresh is not None]


def record_type(rtype: str) -> str:
    return f"{ZONE_TYPE}/{rtype.upper()}"


def _zone_id(request: Request) -> str:
    return f"{require_group(request)}/providers/Microsoft.Network/privateDnsZones/{request.params['zone']}"


def _require_zone(request: Request) -> dict[str, Any]:
    stored = request.store.get(_zone_id(request))
    if stored is None:
        raise ResourceNotFound(ZONE_TYPE, request.params["zone"], request.params["rg"])
    return stored.body


def zone_body(store: Store, body: dict[str, Any]) -> dict[str, Any]:
    """The zone with its counters computed from its children, as ARM reports them."""
    links = store.children(body["id"], LINK_TYPE)
    records = [r for r in store.children(body["id"]) if r.type != LINK_TYPE.lower()]
    out = dict(body)
    out["properties"] = {
        **body["properties"],
        "numberOfRecordSets": len(records),
        "numberOfVirtualNetworkLinks": len(links),
        "numberOfVirtualNetworkLinksWithRegistration": sum(
            1 for link in links if link.body["properties"].get("registrationEnabled")
        ),
    }
    return out


def put_zone(store: Store, zone_id: str, name: str, etag: str, state: str, tags: dict[str, str]) -> dict[str, Any]:
    body = {
        "id": zone_id,
        "name": name,
        "type": ZONE_TYPE,
        "etag": etag,
        "location": "global",
        "tags": tags,
        "properties": {
            "maxNumberOfRecordSets": 25000,
            "maxNumberOfVirtualNetworkLinks": 1000,
            "maxNumberOfVirtualNetworkLinksWithRegistration": 100,
            "provisioningState": state,
            "internalId": store.new_uuid(),
        },
    }
    store.put(zone_id, ZONE_TYPE, zone_id.rsplit("/providers/", 1)[0], body)
    soa_id = f"{zone_id}/SOA/@"
    if store.get(soa_id) is None:
        put_record(
            store,
            soa_id,
            zone_id,
            "SOA",
            "@",
            name,
            store.new_uuid(),
            {
                "ttl": 3600,
                "soaRecord": {
                    "host": "azureprivatedns.net",
                    "email": "azureprivatedns-host.microsoft.com",
                    "serialNumber": 1,
                    "refreshTime": 3600,
                    "retryTime": 300,
                    "expireTime": 2419200,
                    "minimumTtl": 10,
                },
            },
        )
    return body


def _async_headers(request: Request, resource_id: str | None, on_done: dict[str, Any]) -> dict[str, str]:
    op = request.store.new_uuid()
    base = f"{require_group(request)}/providers/Microsoft.Network"
    headers = start_async(request, resource_id, on_done, f"{base}/privateDnsOperationStatuses/{op}")
    headers["Location"] = f"{ARM}{base}/privateDnsOperationResults/{op}?api-version={request.api_version}"
    return headers


def _get_zone(request: Request) -> Response:
    return Response(200, zone_body(request.store, _require_zone(request)))


def _put_zone(request: Request) -> Response:
    zone_id = _zone_id(request)
    existing = request.store.get(zone_id)
    check_preconditions(request, existing.body if existing else None)
    payload = request.json_body()
    location = (payload.get("location") or "global").lower()
    if location != "global":
        raise ArmError(
            f"The location '{location}' is not valid for a private DNS zone; use 'global'.", code="InvalidLocation"
        )
    name = existing.body["name"] if existing else request.params["zone"]
    body = put_zone(
        request.store,
        existing.id if existing else zone_id,
        name,
        new_etag(request),
        "Updating" if existing else "Creating",
        payload.get("tags") or {},
    )
    headers = _async_headers(request, body["id"], {"provisioningState": "Succeeded"})
    return Response(202, None, headers)


def _list_zones(request: Request) -> Response:
    gid = require_group(request)
    zones = _current(request.store, request.store.children(gid, ZONE_TYPE))
    return paged(request, [zone_body(request.store, z.body) for z in zones])


# -- virtual network links -------------------------------------------------------------------------


def put_link(
    store: Store,
    link_id: str,
    zone_id: str,
    name: str,
    etag: str,
    vnet_id: str,
    registration: bool,
    state: str,
    link_state: str,
) -> dict[str, Any]:
    body = {
        "id": link_id,
        "name": name,
        "type": LINK_TYPE,
        "etag": etag,
        "location": "global",
        "tags": {},
        "properties": {
            "virtualNetwork": {"id": vnet_id},
            "registrationEnabled": registration,
            "resolutionPolicy": "Default",
            "virtualNetworkLinkState": link_state,
            "provisioningState": state,
        },
    }
    store.put(link_id, LINK_TYPE, zone_id, body)
    return body


def _link_id(request: Request) -> str:
    return f"{_zone_id(request)}/virtualNetworkLinks/{request.params['link']}"


def _get_link(request: Request) -> Response:
    _require_zone(request)
    stored = request.store.get(_link_id(request))
    if stored is None:
        raise ResourceNotFound(LINK_TYPE, request.params["link"], request.params["rg"])
    return Response(200, stored.body)


def _put_link(request: Request) -> Response:
    store = request.store
    zone = _require_zone(request)
    link_id = f"{zone['id']}/virtualNetworkLinks/{request.params['link']}"
    existing = store.get(link_id)
    check_preconditions(request, existing.body if existing else None)
    props = request.json_body().get("properties", {})
    vnet_id = (props.get("virtualNetwork") or {}).get("id")
    if not vnet_id:
        raise InvalidRequestContent("The 'virtualNetwork' property is required for a virtual network link.")
    vnet = store.get(vnet_id)
    if vnet is None:
        raise ArmError(f"Virtual network '{vnet_id}' was not found.", code="BadRequest")
    registration = bool(props.get("registrationEnabled", False))
    for other in store.by_type(LINK_TYPE):
        if other.id.lower() == link_id.lower():
            continue
        other_vnet = other.body["properties"]["virtualNetwork"]["id"].lower()
        if other_vnet != vnet.id.lower():
            continue
        if other.id.lower().startswith(zone["id"].lower() + "/"):
            raise Conflict(
                f"A virtual network cannot be linked to the same private DNS zone more than once; "
                f"'{vnet.id}' is already linked by '{other.body['name']}'."
            )
        if registration and other.body["properties"].get("registrationEnabled"):
            raise ArmError(
                f"Virtual network '{vnet.id}' is already linked with registration enabled to another private "
                "DNS zone; a virtual network can have only one registration zone.",
                code="BadRequest",
            )
    put_link(
        store,
        link_id,
        zone["id"],
        request.params["link"],
        new_etag(request),
        vnet.id,
        registration,
        "Updating" if existing else "Creating",
        "InProgress",
    )
    headers = _async_headers(
        request, link_id, {"provisioningState": "Succeeded", "virtualNetworkLinkState": "Completed"}
    )
    return Response(202, None, headers)


def _delete_link(request: Request) -> Response:
    _require_zone(request)
    link_id = _link_id(request)
    if request.store.get(link_id) is None:
        return Response(204)
    request.store.delete(link_id)
    return Response(202, None, _async_headers(request, None, {}))


def _list_links(request: Request) -> Response:
    zone = _require_zone(request)
    return paged(
        request, [link.body for link in _current(request.store, request.store.children(zone["id"], LINK_TYPE))]
    )


# -- record sets -----------------------------------------------------------------------------------


def put_record(
    store: Store, record_id: str, zone_id: str, rtype: str, name: str, zone_name: str, etag: str, props: dict[str, Any]
) -> dict[str, Any]:
    fqdn = f"{zone_name}." if name == "@" else f"{name}.{zone_name}."
    body = {
        "id": record_id,
        "name": name,
        "type": record_type(rtype),
        "etag": etag,
        "properties": {**props, "fqdn": fqdn, "isAutoRegistered": False},
    }
    store.put(record_id, record_type(rtype), zone_id, body)
    return body


def _record_id(zone: dict[str, Any], request: Request) -> str:
    return f"{zone['id']}/{request.params['rtype'].upper()}/{request.params['record']}"


def _get_record(request: Request) -> Response:
    zone = _require_zone(request)
    stored = request.store.get(_record_id(zone, request))
    if stored is None:
        raise NotFound(
            f"The resource record '{request.params['record']}' does not exist in resource group "
            f"'{request.params['rg']}' of subscription '{request.params['sub']}'."
        )
    return Response(200, stored.body)


def _put_record(request: Request) -> Response:
    zone = _require_zone(request)
    record_id = _record_id(zone, request)
    existing = request.store.get(record_id)
    check_preconditions(request, existing.body if existing else None)
    props = dict(request.json_body().get("properties", {}))
    if "ttl" not in props:
        props["ttl"] = 3600
    rtype = request.params["rtype"].upper()
    if rtype == "A":
        for record in props.get("aRecords") or []:
            if not record.get("ipv4Address"):
                raise InvalidRequestContent("Each A record needs an 'ipv4Address'.")
    body = put_record(
        request.store,
        record_id,
        zone["id"],
        rtype,
        request.params["record"].lower(),
        zone["name"],
        new_etag(request),
        props,
    )
    return Response(200 if existing else 201, body)


def _delete_record(request: Request) -> Response:
    zone = _require_zone(request)
    record_id = _record_id(zone, request)
    existing = request.store.get(record_id)
    check_preconditions(request, existing.body if existing else None)
    request.store.delete(record_id)
    return Response(200 if existing else 204)


def _list_records_of_type(request: Request) -> Response:
    zone = _require_zone(request)
    rtype = record_type(request.params["rtype"])
    return paged(request, [r.body for r in request.store.children(zone["id"], rtype)])


def _list_records(request: Request) -> Response:
    zone = _require_zone(request)
    return paged(request, [r.body for r in request.store.children(zone["id"]) if r.type != LINK_TYPE.lower()])


# -- operations ------------------------------------------------------------------------------------


def _operation_status(request: Request) -> Response:
    require_group(request)
    return poll_operation(request, request.params["op"])


def _operation_result(request: Request) -> Response:
    require_group(request)
    op = request.store.get_operation(request.params["op"])
    if op is None:
        raise NotFound(f"Operation '{request.params['op']}' was not found.")
    if op["status"] == "InProgress":
        return Response(202, None, {"Location": request.url})
    resource = request.store.get(op["resource_key"]) if op["resource_key"] else None
    if resource is None:
        return Response(204)
    if resource.type == ZONE_TYPE.lower():
        return Response(200, zone_body(request.store, resource.body))
    return Response(200, resource.body)


def register(router: Router) -> None:
    router.add(ZONE, GET=_get_zone, PUT=_put_zone)
    router.add(RG + r"/providers/Microsoft\.Network/privateDnsZones", GET=_list_zones)
    router.add(LINK, GET=_get_link, PUT=_put_link, DELETE=_delete_link)
    router.add(ZONE + r"/virtualNetworkLinks", GET=_list_links)
    router.add(RECORD, GET=_get_record, PUT=_put_record, DELETE=_delete_record)
    router.add(ZONE + r"/(?P<rtype>A|AAAA|CNAME|MX|PTR|SOA|SRV|TXT)", GET=_list_records_of_type)
    router.add(ZONE + r"/ALL", GET=_list_records)
    router.add(RG + r"/providers/Microsoft\.Network/privateDnsOperationStatuses/(?P<op>[^/]+)", GET=_operation_status)
    router.add(RG + r"/providers/Microsoft\.Network/privateDnsOperationResults/(?P<op>[^/]+)", GET=_operation_result)
