"""Microsoft.Network: virtual networks, peerings, private endpoints, their NICs and DNS zone groups.

Behaviour kept from Azure: a peering is Initiated until the remote VNet peers back, then both
sides are Connected; deleting one side leaves the other Disconnected; VNets whose address spaces
overlap cannot be peered (VnetAddressSpacesOverlap).

Wire shapes from the azure-cli recording test_network_private_endpoint_private_dns_zone_group.yaml
and the specs' examples (PrivateEndpointGet.json, NetworkInterfaceGet.json, PrivateDnsZoneGroupGet.json):
a PUT answers 201 (200 for an update) with `Azure-AsyncOperation` and a body still `Updating`; a
DELETE answers 202 with `Azure-AsyncOperation` (`.../operations/{id}`) and `Location`
(`.../operationResults/{id}`). A new private endpoint's `customDnsConfigs` is `[]` until it has
finished; its NIC has the private IP from the start; a zone group writes the endpoint's A records
into its zones and lists them as `recordSets`. Lists answer the bodies a GET of each item answers.
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
    advance_operations_of,
    check_preconditions,
    new_etag,
    paged,
    parent_of,
    poll_operation,
    require_group,
    require_resource,
    start_async,
)
from fhirdr.sim.store import Store, StoredResource

VNET_TYPE = "Microsoft.Network/virtualNetworks"
PEERING_TYPE = "Microsoft.Network/virtualNetworks/virtualNetworkPeerings"
SUBNET_TYPE = "Microsoft.Network/virtualNetworks/subnets"
PRIVATE_ENDPOINT_TYPE = "Microsoft.Network/privateEndpoints"
NIC_TYPE = "Microsoft.Network/networkInterfaces"
ZONE_GROUP_TYPE = "Microsoft.Network/privateEndpoints/privateDnsZoneGroups"

VNET = RG + r"/providers/Microsoft\.Network/virtualNetworks/(?P<vnet>[^/]+)"
PEERING = VNET + r"/virtualNetworkPeerings/(?P<peering>[^/]+)"
PRIVATE_ENDPOINT = RG + r"/providers/Microsoft\.Network/privateEndpoints/(?P<pe>[^/]+)"
ZONE_GROUP = PRIVATE_ENDPOINT + r"/privateDnsZoneGroups/(?P<group>[^/]+)"
NIC = RG + r"/providers/Microsoft\.Network/networkInterfaces/(?P<nic>[^/]+)"


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


def _accepted(request: Request, location: str, resource_id: str | None, on_done: dict[str, Any]) -> Response:
    """202 for a delete that runs on: Azure-AsyncOperation for its status, Location for its result."""
    headers = start_async(request, resource_id, on_done, _status_url(request, location))
    headers["Location"] = headers["Azure-AsyncOperation"].replace("/operations/", "/operationResults/", 1)
    return Response(202, None, headers)


def _current(store: Store, bodies: list[StoredResource]) -> list[dict[str, Any]]:
    """Listed items as a GET of each would answer now: a list is a read of every item, as in Azure."""
    out = []
    for item in bodies:
        advance_operations_of(store, item.id)
        fresh = store.get(item.id)
        if fresh is not None:
            out.append(fresh.body)
    return out


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
    props["virtualNetworkPeerings"] = _current(store, store.children(body["id"], PEERING_TYPE))
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
    return _accepted(request, stored.body["location"], None, {})


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
    return _accepted(request, local["location"], None, {})


def _list_peerings(request: Request) -> Response:
    local = _require_vnet(request)
    return paged(request, _current(request.store, request.store.children(local["id"], PEERING_TYPE)))


# -- private endpoints, their NICs and DNS zone groups ------------------------------------------


def _pe_id(request: Request) -> str:
    return f"{require_group(request)}/providers/Microsoft.Network/privateEndpoints/{request.params['pe']}"


def _require_pe(request: Request) -> StoredResource:
    stored = request.store.get(_pe_id(request))
    if stored is None:
        raise ResourceNotFound(PRIVATE_ENDPOINT_TYPE, request.params["pe"], request.params["rg"])
    return stored


def _get_pe(request: Request) -> Response:
    return Response(200, _require_pe(request).body)


def _list_pes(request: Request) -> Response:
    gid = require_group(request)
    return paged(request, _current(request.store, request.store.children(gid, PRIVATE_ENDPOINT_TYPE)))


def _free_ip(store: Store, subnet_id: str, prefix: str) -> str:
    """The next address of the subnet no NIC holds (Azure keeps the first four of every subnet)."""
    taken = {
        config["properties"].get("privateIPAddress")
        for nic in store.by_type(NIC_TYPE)
        for config in nic.body["properties"].get("ipConfigurations", [])
        if (config["properties"].get("subnet") or {}).get("id", "").lower() == subnet_id.lower()
    }
    for index, address in enumerate(ipaddress.ip_network(prefix).hosts()):
        if index >= 3 and str(address) not in taken:
            return str(address)
    raise ArmError(f"Subnet {subnet_id} has no free address left.", code="SubnetIsFull")


def put_nic(store: Store, nic_id: str, location: str, subnet_id: str, ip: str, group: str, fqdns: list[str]) -> None:
    """The NIC Azure makes for a private endpoint, with its private IP (NetworkInterfaceGet.json's shape)."""
    name = nic_id.rsplit("/", 1)[-1]
    store.put(
        nic_id,
        NIC_TYPE,
        parent_of(nic_id),
        {
            "id": nic_id,
            "name": name,
            "type": NIC_TYPE,
            "location": location,
            "etag": f'W/"{store.new_uuid()}"',
            "properties": {
                "provisioningState": "Succeeded",
                "ipConfigurations": [
                    {
                        "id": f"{nic_id}/ipConfigurations/privateEndpointIpConfig.{store.new_uuid()}",
                        "name": "privateEndpointIpConfig",
                        "type": f"{NIC_TYPE}/ipConfigurations",
                        "properties": {
                            "provisioningState": "Succeeded",
                            "privateIPAddress": ip,
                            "privateIPAllocationMethod": "Dynamic",
                            "subnet": {"id": subnet_id},
                            "primary": True,
                            "privateIPAddressVersion": "IPv4",
                            "privateLinkConnectionProperties": {
                                "groupId": group,
                                "requiredMemberName": group,
                                "fqdns": fqdns,
                            },
                        },
                    }
                ],
                "dnsSettings": {"dnsServers": [], "appliedDnsServers": []},
                "enableAcceleratedNetworking": False,
                "enableIPForwarding": False,
                "nicType": "Standard",
            },
        },
    )


def _get_nic(request: Request) -> Response:
    return Response(200, require_resource(request, NIC_TYPE, "nic").body)


def _service_fqdns(store: Store, service_id: str) -> list[str]:
    """The host names a private endpoint to this resource serves (a workspace: every FHIR service in it)."""
    from fhirdr.sim.providers.workspaces import private_link_fqdns

    return private_link_fqdns(store, service_id)


def _put_pe(request: Request) -> Response:
    """Create a private endpoint: its NIC and IP at once, its DNS configs and approval when it finishes."""
    from fhirdr.sim.providers.workspaces import add_private_endpoint_connection

    store = request.store
    pe_id = _pe_id(request)
    existing = store.get(pe_id)
    check_preconditions(request, existing.body if existing else None)
    payload = request.json_body()
    location = (payload.get("location") or "").replace(" ", "").lower()
    props = payload.get("properties") or {}
    subnet_id = (props.get("subnet") or {}).get("id") or ""
    vnet = store.get(subnet_id.split("/subnets/")[0]) if "/subnets/" in subnet_id else None
    subnet = next(
        (s for s in (vnet.body["properties"]["subnets"] if vnet else []) if s["id"].lower() == subnet_id.lower()),
        None,
    )
    if subnet is None:
        raise InvalidRequestContent(f"Subnet '{subnet_id}' of the private endpoint was not found.")
    if vnet is not None and vnet.body["location"].lower() != location:
        raise InvalidRequestContent(
            f"The private endpoint must be in the region of its virtual network ({vnet.body['location']}), "
            f"not '{location}'."
        )
    if existing is not None:
        # Only tags change on an existing endpoint here; its connection and subnet are fixed at creation.
        existing.body["tags"] = payload.get("tags") or {}
        store.put(existing.id, existing.type, parent_of(existing.id), existing.body)
        return Response(200, existing.body)
    connections = []
    group = ""
    fqdns: list[str] = []
    for key in ("privateLinkServiceConnections", "manualPrivateLinkServiceConnections"):
        for connection in props.get(key) or []:
            cprops = connection.get("properties") or {}
            service_id = cprops.get("privateLinkServiceId") or ""
            if store.get(service_id) is None:
                raise InvalidRequestContent(f"The private link resource '{service_id}' was not found.")
            group = (cprops.get("groupIds") or [""])[0]
            state = {"status": "Pending" if key.startswith("manual") else "Approved", "actionsRequired": "None"}
            state["description"] = "Awaiting approval" if state["status"] == "Pending" else "Auto-Approved"
            fqdns = _service_fqdns(store, service_id)
            add_private_endpoint_connection(store, service_id, pe_id, state)
            connections.append(
                (
                    key,
                    {
                        "id": f"{pe_id}/{key}/{connection.get('name')}",
                        "name": connection.get("name"),
                        "type": f"{PRIVATE_ENDPOINT_TYPE}/privateLinkServiceConnections",
                        "etag": "",
                        "properties": {
                            "provisioningState": "Succeeded",
                            "privateLinkServiceId": store.get(service_id).id,
                            "groupIds": cprops.get("groupIds") or [],
                            "privateLinkServiceConnectionState": state,
                        },
                    },
                )
            )
    if not connections:
        raise InvalidRequestContent("A private endpoint needs one private link service connection.")
    ip = _free_ip(store, subnet["id"], subnet["properties"]["addressPrefix"])
    name = request.params["pe"]
    nic_id = f"{require_group(request)}/providers/Microsoft.Network/networkInterfaces/{name}.nic.{store.new_uuid()}"
    put_nic(store, nic_id, location, subnet["id"], ip, group, fqdns)
    etag = new_etag(request, weak=True)
    body = {
        "id": pe_id,
        "name": name,
        "type": PRIVATE_ENDPOINT_TYPE,
        "location": location,
        "etag": etag,
        "tags": payload.get("tags") or {},
        "properties": {
            "provisioningState": "Updating",
            "resourceGuid": store.new_uuid(),
            "subnet": {"id": subnet["id"]},
            "privateLinkServiceConnections": [c for k, c in connections if k == "privateLinkServiceConnections"],
            "manualPrivateLinkServiceConnections": [c for k, c in connections if k != "privateLinkServiceConnections"],
            "networkInterfaces": [{"id": nic_id}],
            # Empty while the endpoint is Updating (test_network_private_endpoint_private_dns_zone_group.yaml).
            "customDnsConfigs": [],
            "ipConfigurations": [],
            "applicationSecurityGroups": [],
        },
    }
    for _, connection in connections:
        connection["etag"] = etag
    store.put(pe_id, PRIVATE_ENDPOINT_TYPE, parent_of(pe_id), body)
    done = {"provisioningState": "Succeeded", "customDnsConfigs": [{"fqdn": f, "ipAddresses": [ip]} for f in fqdns]}
    headers = start_async(request, pe_id, done, _status_url(request, location))
    return Response(201, body, headers)


def _nic_addresses(store: Store, endpoint: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(private IPs, host names) of an endpoint, read from its NIC as Azure does when it writes DNS."""
    ips: list[str] = []
    fqdns: list[str] = []
    for ref in endpoint["properties"].get("networkInterfaces") or []:
        nic = store.get(ref.get("id", ""))
        for config in nic.body["properties"].get("ipConfigurations", []) if nic else []:
            cprops = config["properties"]
            ips.append(cprops["privateIPAddress"])
            fqdns.extend((cprops.get("privateLinkConnectionProperties") or {}).get("fqdns") or [])
    return ips, fqdns


def _public(zone: str) -> str:
    """The public DNS name a private link zone stands for (privatelink.x.com -> x.com)."""
    return zone.lower().removeprefix("privatelink.")


def record_sets_for(store: Store, endpoint: dict[str, Any], zone_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """The A records a zone group writes, by zone id: each host name goes to the zone of its longest suffix."""
    from fhirdr.sim.providers.privatedns import put_record

    ips, fqdns = _nic_addresses(store, endpoint)
    zones = {zone_id: (store.get(zone_id).body["name"] if store.get(zone_id) else "") for zone_id in zone_ids}
    out: dict[str, list[dict[str, Any]]] = {zone_id: [] for zone_id in zone_ids}
    for fqdn in fqdns:
        serving = [z for z, name in zones.items() if name and fqdn.lower().endswith("." + _public(name))]
        if not serving:
            continue
        best = max(serving, key=lambda z: len(zones[z]))
        zone = zones[best]
        record = fqdn[: -len(_public(zone)) - 1].lower()
        put_record(
            store,
            f"{store.get(best).id}/A/{record}",
            store.get(best).id,
            "A",
            record,
            zone,
            store.new_uuid(),
            {"ttl": 10, "aRecords": [{"ipv4Address": ip} for ip in ips]},
        )
        out[best].append(
            {
                "recordType": "A",
                "recordSetName": record,
                "fqdn": f"{record}.{zone}",
                "ttl": 10,
                "ipAddresses": list(ips),
                "provisioningState": "Succeeded",
            }
        )
    return out


def put_zone_group(store: Store, endpoint: StoredResource, name: str, zone_ids: list[str], etag: str) -> dict:
    """A private DNS zone group: Azure writes the endpoint's A records into the zones and lists them."""
    group_id = f"{endpoint.id}/privateDnsZoneGroups/{name}"
    records = record_sets_for(store, endpoint.body, zone_ids)
    body = {
        "id": group_id,
        "name": name,
        "type": ZONE_GROUP_TYPE,
        "etag": etag,
        "properties": {
            "provisioningState": "Succeeded",
            "privateDnsZoneConfigs": [
                {
                    "id": f"{group_id}/privateDnsZoneConfigs/{store.get(zone_id).body['name']}",
                    "name": store.get(zone_id).body["name"],
                    "type": f"{ZONE_GROUP_TYPE}/privateDnsZoneConfigs",
                    "etag": etag,
                    "properties": {"privateDnsZoneId": store.get(zone_id).id, "recordSets": records[zone_id]},
                }
                for zone_id in zone_ids
            ],
        },
    }
    store.put(group_id, ZONE_GROUP_TYPE, endpoint.id, body)
    return body


def _put_zone_group(request: Request) -> Response:
    store = request.store
    endpoint = _require_pe(request)
    group_id = f"{endpoint.id}/privateDnsZoneGroups/{request.params['group']}"
    existing = store.get(group_id)
    check_preconditions(request, existing.body if existing else None)
    configs = (request.json_body().get("properties") or {}).get("privateDnsZoneConfigs") or []
    zone_ids = []
    for config in configs:
        zone_id = (config.get("properties") or {}).get("privateDnsZoneId") or ""
        if store.get(zone_id) is None:
            raise InvalidRequestContent(f"Private DNS zone '{zone_id}' of the zone group was not found.")
        zone_ids.append(store.get(zone_id).id)
    if not zone_ids:
        raise InvalidRequestContent("A private DNS zone group needs at least one privateDnsZoneConfig.")
    body = put_zone_group(store, endpoint, request.params["group"], zone_ids, new_etag(request, weak=True))
    body["properties"]["provisioningState"] = "Updating"
    store.put(body["id"], ZONE_GROUP_TYPE, endpoint.id, body)
    headers = start_async(
        request, body["id"], {"provisioningState": "Succeeded"}, _status_url(request, endpoint.body["location"])
    )
    return Response(200 if existing else 201, body, headers)


def _get_zone_group(request: Request) -> Response:
    endpoint = _require_pe(request)
    stored = request.store.get(f"{endpoint.id}/privateDnsZoneGroups/{request.params['group']}")
    if stored is None:
        raise ResourceNotFound(ZONE_GROUP_TYPE, request.params["group"], request.params["rg"])
    return Response(200, stored.body)


def _list_zone_groups(request: Request) -> Response:
    endpoint = _require_pe(request)
    return paged(request, _current(request.store, request.store.children(endpoint.id, ZONE_GROUP_TYPE)))


def _operation(request: Request) -> Response:
    return poll_operation(request, request.params["op"])


def _operation_result(request: Request) -> Response:
    """The Location of a network delete: 202 while it runs, then 204 (no body), as ARM answers."""
    response = poll_operation(request, request.params["op"])
    if response.body["status"] == "InProgress":
        return Response(202, None, {"Location": request.url, "Retry-After": "0"})
    if response.body["status"] == "Failed":
        return Response(500, {"error": response.body.get("error")})
    return Response(204)


def register(router: Router) -> None:
    router.add(VNET, GET=_get_vnet, PUT=_put_vnet, DELETE=_delete_vnet)
    router.add(RG + r"/providers/Microsoft\.Network/virtualNetworks", GET=_list_vnets)
    router.add(PEERING, GET=_get_peering, PUT=_put_peering, DELETE=_delete_peering)
    router.add(VNET + r"/virtualNetworkPeerings", GET=_list_peerings)
    router.add(ZONE_GROUP, GET=_get_zone_group, PUT=_put_zone_group)
    router.add(PRIVATE_ENDPOINT + r"/privateDnsZoneGroups", GET=_list_zone_groups)
    router.add(PRIVATE_ENDPOINT, GET=_get_pe, PUT=_put_pe)
    router.add(RG + r"/providers/Microsoft\.Network/privateEndpoints", GET=_list_pes)
    router.add(NIC, GET=_get_nic)
    router.add(SUB + r"/providers/Microsoft\.Network/locations/(?P<loc>[^/]+)/operations/(?P<op>[^/]+)", GET=_operation)
    router.add(
        SUB + r"/providers/Microsoft\.Network/locations/(?P<loc>[^/]+)/operationResults/(?P<op>[^/]+)",
        GET=_operation_result,
    )
