"""Microsoft.Network: virtual networks, peerings and private endpoints.

Behaviour kept from Azure: a peering is Initiated until the remote VNet peers back, then both
sides are Connected; deleting one side leaves the other Disconnected; VNets whose address spaces
overlap cannot be peered (VnetAddressSpacesOverlap).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from fhirdr.sim.exceptions import ArmError, InvalidRequestContent, NotFound, ResourceNotFound
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

VNET_TYPE = "Microsoft.Network/virtualNetworks"
PEERING_TYPE = "Microsoft.Network/virtualNetworks/virtualNetworkPeerings"
SUBNET_TYPE = "Microsoft.Network/virtualNetworks/subnets"
PRIVATE_ENDPOINT_TYPE = "Microsoft.Network/privateEndpoints"

VNET = RG + r"/providers/Microsoft\.Network/virtualNetworks/(?P<vnet>[^/]+)"
PEERING = VNET + r"/virtualNetworkPeerings/(?P<peering>[^/]+)"
PRIVATE_ENDPOINT = RG + r"/providers/Microsoft\.Network/privateEndpoints/(?P<pe>[^/]+)"


class VnetAddressSpacesOverlap(ArmError):
    code = "VnetAddressSpacesOverlap"


class InvalidAddressPrefix(ArmError):
    code = "InvalidAddressPrefixFormat"


class NetcfgSubnetRangeOutsideVnet(ArmError):
    code = "NetcfgSubnetRangeOutsideVnet"


class RemoteVnetNotFound(ArmError):
    code = "ReferencedResourceNotProvisioned"


def _status_url(request: Request, location: str) -> str:
    operation = request.store.new_uuid()
    provider = f"/subscriptions/{request.params['sub']}/providers/Microsoft.Network"
    return f"{provider}/locations/{location}/operations/{operation}"


def _networks(prefixes: list[str], field: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    networks = []
    for prefix in prefixes:
        try:
            networks.append(ipaddress.ip_network(prefix, strict=True))
        except (ValueError, TypeError):
            raise InvalidAddressPrefix(f"Value '{prefix}' of {field} is not a valid address prefix.") from None
    return networks


def overlapping(a: list[str], b: list[str]) -> list[str]:
    """The prefixes of `a` that overlap any prefix of `b`."""
    nets_b = _networks(b, "addressPrefixes")
    return [
        p for p, net in zip(a, _networks(a, "addressPrefixes"), strict=True) if any(net.overlaps(o) for o in nets_b)
    ]


# -- virtual networks ------------------------------------------------------------------------------


def vnet_body(store: Store, stored: dict[str, Any]) -> dict[str, Any]:
    """The VNet as ARM shows it, with its peerings embedded."""
    body = dict(stored)
    props = dict(body.get("properties", {}))
    props["virtualNetworkPeerings"] = [p.body for p in store.children(body["id"], PEERING_TYPE)]
    body["properties"] = props
    return body


def put_vnet(
    store: Store,
    etag: str,
    vnet_id: str,
    name: str,
    location: str,
    props_in: dict[str, Any],
    tags: dict[str, str],
    state: str,
    existing: dict[str, Any] | None,
) -> dict[str, Any]:
    prefixes = list(props_in.get("addressSpace", {}).get("addressPrefixes", []))
    if not prefixes:
        raise InvalidRequestContent("The virtual network must have at least one address prefix in addressSpace.")
    space = _networks(prefixes, "addressSpace.addressPrefixes")
    subnets = []
    for subnet in props_in.get("subnets", []) or []:
        sub_props = subnet.get("properties", {})
        prefix = sub_props.get("addressPrefix")
        sub_net = _networks([prefix], f"subnet '{subnet.get('name')}'")[0]
        if not any(sub_net.subnet_of(net) for net in space if sub_net.version == net.version):
            raise NetcfgSubnetRangeOutsideVnet(
                f"Subnet '{subnet.get('name')}' is not valid because its IP address range is outside the IP "
                f"address range of virtual network '{name}'."
            )
        subnets.append(
            {
                "id": f"{vnet_id}/subnets/{subnet['name']}",
                "name": subnet["name"],
                "type": SUBNET_TYPE,
                "etag": etag,
                "properties": {
                    "addressPrefix": prefix,
                    "provisioningState": "Succeeded",
                    "privateEndpointNetworkPolicies": sub_props.get("privateEndpointNetworkPolicies", "Disabled"),
                },
            }
        )
    body = {
        "id": vnet_id,
        "name": name,
        "type": VNET_TYPE,
        "location": location,
        "tags": tags,
        "etag": etag,
        "properties": {
            "addressSpace": {"addressPrefixes": prefixes},
            "subnets": subnets,
            "enableDdosProtection": False,
            "resourceGuid": (existing or {}).get("properties", {}).get("resourceGuid") or store.new_uuid(),
            "provisioningState": state,
        },
    }
    store.put(vnet_id, VNET_TYPE, parent_of(vnet_id), body)
    return body


def _vnet_id(request: Request) -> str:
    gid = require_group(request)
    return f"{gid}/providers/Microsoft.Network/virtualNetworks/{request.params['vnet']}"


def _require_vnet(request: Request) -> dict[str, Any]:
    stored = request.store.get(_vnet_id(request))
    if stored is None:
        raise ResourceNotFound(VNET_TYPE, request.params["vnet"], request.params["rg"])
    return stored.body


def _get_vnet(request: Request) -> Response:
    return Response(200, vnet_body(request.store, _require_vnet(request)))


def _put_vnet(request: Request) -> Response:
    vnet_id = _vnet_id(request)
    existing = request.store.get(vnet_id)
    check_preconditions(request, existing.body if existing else None)
    payload = request.json_body()
    location = payload.get("location")
    if not location:
        raise InvalidRequestContent("The 'location' property is required for a virtual network.")
    if existing and existing.body["location"].lower() != location.lower():
        raise InvalidRequestContent("The location of an existing virtual network cannot be changed.")
    body = put_vnet(
        request.store,
        new_etag(request, weak=True),
        existing.id if existing else vnet_id,
        request.params["vnet"],
        location,
        payload.get("properties", {}),
        payload.get("tags") or {},
        "Updating",
        existing.body if existing else None,
    )
    headers = start_async(request, body["id"], {"provisioningState": "Succeeded"}, _status_url(request, location))
    return Response(200 if existing else 201, vnet_body(request.store, body), headers)


def _delete_vnet(request: Request) -> Response:
    vnet_id = _vnet_id(request)
    stored = request.store.get(vnet_id)
    if stored is None:
        return Response(204)
    for other in request.store.by_type(PEERING_TYPE):
        remote = other.body["properties"].get("remoteVirtualNetwork", {}).get("id", "")
        if remote.lower() == vnet_id.lower():
            _set_peering_state(request.store, other.id, "Disconnected")
    request.store.delete(vnet_id)
    headers = start_async(request, None, {}, _status_url(request, stored.body["location"]))
    return Response(202, None, headers)


def _list_vnets(request: Request) -> Response:
    gid = require_group(request)
    return paged(request, [vnet_body(request.store, v.body) for v in request.store.children(gid, VNET_TYPE)])


# -- peerings --------------------------------------------------------------------------------------


def _set_peering_state(store: Store, peering_id: str, state: str) -> None:
    stored = store.get(peering_id)
    if stored is None:
        return
    stored.body["properties"]["peeringState"] = state
    store.put(stored.id, stored.type, parent_of(stored.id), stored.body)


def _reverse_peering(store: Store, local_vnet_id: str, remote_vnet_id: str) -> str | None:
    for peering in store.children(remote_vnet_id, PEERING_TYPE):
        remote = peering.body["properties"].get("remoteVirtualNetwork", {}).get("id", "")
        if remote.lower() == local_vnet_id.lower():
            return peering.id
    return None


def _peering_id(request: Request) -> str:
    return f"{_vnet_id(request)}/virtualNetworkPeerings/{request.params['peering']}"


def _get_peering(request: Request) -> Response:
    _require_vnet(request)
    stored = request.store.get(_peering_id(request))
    if stored is None:
        raise NotFound(
            f"Resource {_peering_id(request)} not found.",
        )
    return Response(200, stored.body)


def _put_peering(request: Request) -> Response:
    store = request.store
    local = _require_vnet(request)
    peering_id = f"{local['id']}/virtualNetworkPeerings/{request.params['peering']}"
    existing = store.get(peering_id)
    check_preconditions(request, existing.body if existing else None)
    props_in = request.json_body().get("properties", {})
    remote_id = (props_in.get("remoteVirtualNetwork") or {}).get("id")
    if not remote_id:
        raise InvalidRequestContent("The 'remoteVirtualNetwork' property is required for a virtual network peering.")
    remote = store.get(remote_id)
    if remote is None:
        raise RemoteVnetNotFound(
            f"Cannot create or update peering {peering_id} because remote virtual network {remote_id} "
            "is not provisioned or does not exist."
        )
    if existing:
        old_remote = existing.body["properties"]["remoteVirtualNetwork"]["id"]
        if old_remote.lower() != remote_id.lower():
            raise ArmError(
                f"Cannot change the remote virtual network of peering {peering_id}; delete and re-create it.",
                code="CannotChangeRemoteVirtualNetworkOnPeering",
            )
        if existing.body["properties"]["peeringState"] == "Disconnected":
            raise ArmError(
                f"Peering {peering_id} is Disconnected: delete it and create it again to reconnect.",
                code="PeeringIsDisconnected",
            )
    local_space = local["properties"]["addressSpace"]["addressPrefixes"]
    remote_space = remote.body["properties"]["addressSpace"]["addressPrefixes"]
    overlap = overlapping(local_space, remote_space)
    if overlap:
        raise VnetAddressSpacesOverlap(
            f"Cannot create or update peering {peering_id}. Virtual networks {local['id']} and {remote.id} cannot "
            f"be peered because their address spaces overlap. Overlapping address prefixes: {', '.join(overlap)}"
        )
    reverse = _reverse_peering(store, local["id"], remote.id)
    state = "Connected" if reverse else "Initiated"
    if reverse:
        _set_peering_state(store, reverse, "Connected")

    def flag(name: str, default: bool) -> bool:
        value = props_in.get(name)
        return default if value is None else bool(value)

    body = {
        "id": peering_id,
        "name": request.params["peering"],
        "type": PEERING_TYPE,
        "etag": new_etag(request, weak=True),
        "properties": {
            "remoteVirtualNetwork": {"id": remote.id},
            "allowVirtualNetworkAccess": flag("allowVirtualNetworkAccess", True),
            "allowForwardedTraffic": flag("allowForwardedTraffic", False),
            "allowGatewayTransit": flag("allowGatewayTransit", False),
            "useRemoteGateways": flag("useRemoteGateways", False),
            "remoteAddressSpace": {"addressPrefixes": remote_space},
            "remoteVirtualNetworkAddressSpace": {"addressPrefixes": remote_space},
            "peeringState": state,
            "peeringSyncLevel": "FullyInSync",
            "provisioningState": "Updating",
            "resourceGuid": (existing.body["properties"].get("resourceGuid") if existing else None) or store.new_uuid(),
        },
    }
    store.put(peering_id, PEERING_TYPE, local["id"], body)
    headers = start_async(
        request, peering_id, {"provisioningState": "Succeeded"}, _status_url(request, local["location"])
    )
    return Response(200 if existing else 201, body, headers)


def _delete_peering(request: Request) -> Response:
    store = request.store
    local = _require_vnet(request)
    peering_id = f"{local['id']}/virtualNetworkPeerings/{request.params['peering']}"
    stored = store.get(peering_id)
    if stored is None:
        return Response(204)
    remote_id = stored.body["properties"]["remoteVirtualNetwork"]["id"]
    reverse = _reverse_peering(store, local["id"], remote_id)
    if reverse:
        _set_peering_state(store, reverse, "Disconnected")
    store.delete(peering_id)
    headers = start_async(request, None, {}, _status_url(request, local["location"]))
    headers["Location"] = headers["Azure-AsyncOperation"]
    return Response(202, None, headers)


def _list_peerings(request: Request) -> Response:
    local = _require_vnet(request)
    return paged(request, [p.body for p in request.store.children(local["id"], PEERING_TYPE)])


# -- private endpoints -----------------------------------------------------------------------------


def _pe_id(request: Request) -> str:
    return f"{require_group(request)}/providers/Microsoft.Network/privateEndpoints/{request.params['pe']}"


def _get_pe(request: Request) -> Response:
    stored = request.store.get(_pe_id(request))
    if stored is None:
        raise ResourceNotFound(PRIVATE_ENDPOINT_TYPE, request.params["pe"], request.params["rg"])
    return Response(200, stored.body)


def _list_pes(request: Request) -> Response:
    gid = require_group(request)
    return paged(request, [p.body for p in request.store.children(gid, PRIVATE_ENDPOINT_TYPE)])


def _operation(request: Request) -> Response:
    return poll_operation(request, request.params["op"])


def register(router: Router) -> None:
    router.add(VNET, GET=_get_vnet, PUT=_put_vnet, DELETE=_delete_vnet)
    router.add(RG + r"/providers/Microsoft\.Network/virtualNetworks", GET=_list_vnets)
    router.add(PEERING, GET=_get_peering, PUT=_put_peering, DELETE=_delete_peering)
    router.add(VNET + r"/virtualNetworkPeerings", GET=_list_peerings)
    router.add(PRIVATE_ENDPOINT, GET=_get_pe)
    router.add(RG + r"/providers/Microsoft\.Network/privateEndpoints", GET=_list_pes)
    router.add(SUB + r"/providers/Microsoft\.Network/locations/(?P<loc>[^/]+)/operations/(?P<op>[^/]+)", GET=_operation)
