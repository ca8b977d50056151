"""Steps about virtual networks, the peering between the primary and secondary VNets, and private endpoints."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from fhirdr.azure.session import concurrently, get_or_none, wait
from fhirdr.errors import BadInputError, TargetError
from fhirdr.regions import normalise_region
from fhirdr.steps.base import Change, Param, Step, text
from fhirdr.steps.ids import ArmId, group_id, region_of, resource_id, vnet_id, vnet_name

ROLES = ("primary", "secondary")


def overlaps(a: list[str], b: list[str]) -> list[tuple[str, str]]:
    """Pairs (range of a, range of b) that overlap."""
    return [
        (x, y)
        for x in a
        for y in b
        if ipaddress.ip_network(x, strict=False).overlaps(ipaddress.ip_network(y, strict=False))
    ]


def read_vnet(step: Step, role: str) -> Any | None:
    settings = step.ctx.target.require_private_link()
    return get_or_none(
        step.ctx.azure.network().virtual_networks.get, settings.resource_group, vnet_name(step.ctx.target, role)
    )


def prefixes(vnet: Any) -> list[str]:
    return list(vnet.address_space.address_prefixes or []) if vnet is not None and vnet.address_space else []


@dataclass
class VnetFacts:
    vnet: Any | None
    other: Any | None


class VirtualNetwork(Step):
    """The VNet of one region exists, in that region; the secondary one is created when missing."""

    uses = "network.virtual-network"
    params = {"role": Param(str, required=True, choices=ROLES)}

    def facts(self) -> VnetFacts:
        role = self.args["role"]
        other = "secondary" if role == "primary" else "primary"
        return VnetFacts(*concurrently(lambda: read_vnet(self, role), lambda: read_vnet(self, other)))

    def observe(self, facts: VnetFacts) -> str:
        if facts.vnet is None:
            return "missing"
        return f"{', '.join(prefixes(facts.vnet))} in {facts.vnet.location}, {text(facts.vnet.provisioning_state)}"

    def plan(self, facts: VnetFacts) -> list[Change]:
        role = self.args["role"]
        target = self.ctx.target
        region = region_of(target, role)
        name = vnet_name(target, role)
        wanted_id = vnet_id(target, role)
        if facts.vnet is None:
            if role == "primary":
                return [
                    Change(
                        "create-vnet",
                        wanted_id,
                        f"the primary VNet {name} does not exist; it should hold the service's private endpoint",
                        fixable=False,
                    )
                ]
            space = list(target.require_private_link().secondary_address_space)
            if not space:
                raise TargetError(
                    f"{target.source or 'target'}: [private_link] 'secondary_address_space' is needed to create {name}",
                    hint="pick a range that does not overlap the primary VNet",
                )
            clash = overlaps(space, prefixes(facts.other))
            if clash:
                mine, theirs = clash[0]
                raise BadInputError(
                    f"secondary_address_space {mine} overlaps the primary VNet's range {theirs}; "
                    "overlapping VNets cannot be peered",
                    hint="choose a secondary_address_space that does not overlap " + ", ".join(prefixes(facts.other)),
                )
            return [
                Change(
                    "create",
                    wanted_id,
                    f"create VNet {name} ({', '.join(space)}) in {region}",
                    {"location": region, "prefixes": space},
                )
            ]
        changes = []
        if normalise_region(facts.vnet.location) != region:
            changes.append(
                Change(
                    "fix-vnet",
                    facts.vnet.id,
                    f"{name} is in {facts.vnet.location}, not the {role} region {region}",
                    fixable=False,
                )
            )
        if role == "secondary" and facts.other is not None:
            clash = overlaps(prefixes(facts.vnet), prefixes(facts.other))
            if clash:
                changes.append(
                    Change(
                        "fix-vnet",
                        facts.vnet.id,
                        f"{name} ({clash[0][0]}) overlaps the primary VNet ({clash[0][1]}): they cannot be peered",
                        fixable=False,
                    )
                )
        return changes

    def apply(self, change: Change) -> None:
        from azure.mgmt.network.models import AddressSpace, Subnet
        from azure.mgmt.network.models import VirtualNetwork as VnetModel

        first = ipaddress.ip_network(change.data["prefixes"][0])
        subnet = next(first.subnets(new_prefix=24)) if first.version == 4 and first.prefixlen < 24 else first
        body = VnetModel(
            location=change.data["location"],
            address_space=AddressSpace(address_prefixes=change.data["prefixes"]),
            subnets=[Subnet(name="default", address_prefix=str(subnet))],
        )
        settings = self.ctx.target.require_private_link()
        wait(
            self.ctx.azure.network().virtual_networks.begin_create_or_update(
                settings.resource_group, vnet_name(self.ctx.target, self.args["role"]), body
            )
        )


@dataclass
class PeeringFacts:
    local: Any | None
    remote: Any | None
    peering: Any | None  # local -> remote
    reverse: Any | None  # remote -> local


def find_peering(vnet: Any | None, remote_id: str) -> Any | None:
    if vnet is None:
        return None
    for peering in vnet.virtual_network_peerings or []:
        remote = peering.remote_virtual_network.id if peering.remote_virtual_network else ""
        if remote.lower() == remote_id.lower():
            return peering
    return None


class Peering(Step):
    """A peering from one VNet to the other with VNet access allowed; with `connected`, both sides Connected."""

    uses = "network.peering"
    params = {
        "source": Param(str, required=True, choices=ROLES),
        "remote": Param(str, required=True, choices=ROLES),
        "connected": Param(bool, default=False),
    }

    def facts(self) -> PeeringFacts:
        local, remote = concurrently(
            lambda: read_vnet(self, self.args["source"]), lambda: read_vnet(self, self.args["remote"])
        )
        target = self.ctx.target
        return PeeringFacts(
            local,
            remote,
            find_peering(local, vnet_id(target, self.args["remote"])),
            find_peering(remote, vnet_id(target, self.args["source"])),
        )

    def observe(self, facts: PeeringFacts) -> str:
        if facts.peering is None:
            return "missing"
        access = "access allowed" if facts.peering.allow_virtual_network_access else "access blocked"
        reverse = text(facts.reverse.peering_state) if facts.reverse is not None else "missing"
        return f"{facts.peering.name}: {text(facts.peering.peering_state)}, {access}; reverse {reverse}"

    def _name(self) -> str:
        target = self.ctx.target
        return f"{vnet_name(target, self.args['source'])}-to-{vnet_name(target, self.args['remote'])}"

    def plan(self, facts: PeeringFacts) -> list[Change]:
        source, remote = self.args["source"], self.args["remote"]
        target = self.ctx.target
        local_name, remote_name = vnet_name(target, source), vnet_name(target, remote)
        remote_id = vnet_id(target, remote)
        peering = facts.peering
        create = {"vnet": local_name, "name": self._name(), "remote_id": remote_id}
        changes = []
        if peering is None:
            changes.append(
                Change(
                    "create",
                    f"{vnet_id(target, source)}/virtualNetworkPeerings/{self._name()}",
                    f"peer {local_name} -> {remote_name} with VNet access allowed",
                    create,
                )
            )
        elif text(peering.peering_state) == "Disconnected":
            changes.append(
                Change(
                    "recreate",
                    peering.id,
                    f"peering {peering.name} is Disconnected: delete and create it again with its settings",
                    {**create, "name": peering.name, "settings": _peering_settings(peering)},
                )
            )
        elif not peering.allow_virtual_network_access:
            changes.append(
                Change(
                    "update",
                    peering.id,
                    f"allow VNet access on peering {peering.name}",
                    {**create, "name": peering.name},
                )
            )
        reverse = facts.reverse
        if self.args["connected"] and not changes and reverse is None:
            changes.append(
                Change(
                    "create",
                    remote_id,
                    f"{remote_name} -> {local_name} is missing, so neither side "
                    "can be Connected; the other peering step creates it",
                    fixable=False,
                )
            )
        elif (
            self.args["connected"]
            and not changes
            and reverse is not None
            and (text(peering.peering_state) != "Connected" or text(reverse.peering_state) != "Connected")
        ):
            changes.append(
                Change(
                    "wait",
                    peering.id,
                    f"peerings are {text(peering.peering_state)}/"
                    f"{text(reverse.peering_state)}; waiting for both to be Connected",
                )
            )
        return changes

    def apply(self, change: Change) -> None:
        from azure.mgmt.network.models import SubResource, VirtualNetworkPeering

        network = self.ctx.azure.network()
        group = self.ctx.target.require_private_link().resource_group
        data = change.data
        peerings = network.virtual_network_peerings
        if change.action == "update":
            # A peering update is a full PUT: every property not sent is reset (a hub-and-spoke
            # network would lose gateway transit). Read it, change only VNet access, send it back.
            body = peerings.get(group, data["vnet"], data["name"])
            body.allow_virtual_network_access = True
        else:
            if change.action == "recreate":
                wait(peerings.begin_delete(group, data["vnet"], data["name"]))
            # A new peering: VNet access, and the settings the Disconnected one had (Azure's
            # defaults, all false, for a peering that never existed).
            body = VirtualNetworkPeering(
                remote_virtual_network=SubResource(id=data["remote_id"]),
                allow_virtual_network_access=True,
                **data.get("settings", {}),
            )
        wait(peerings.begin_create_or_update(group, data["vnet"], data["name"], body))


PEERING_SETTINGS = ("allow_forwarded_traffic", "allow_gateway_transit", "use_remote_gateways")


def _peering_settings(peering: Any) -> dict[str, bool]:
    """What the user chose on a peering besides VNet access, to keep when it is created again."""
    values = {name: getattr(peering, name, None) for name in PEERING_SETTINGS}
    return {name: bool(value) for name, value in values.items() if value is not None}


def endpoint_ips(network: Any, endpoint: Any, fqdn: str | None = None) -> list[str]:
    """The private IPs of a private endpoint, for `fqdn` when the endpoint says which serves it.

    `customDnsConfigs` is empty while the endpoint is Updating and when a private DNS zone group
    manages its DNS (azure-cli recording test_network_private_endpoint_private_dns_zone_group.yaml),
    so the IP is read, in this order, from customDnsConfigs, the endpoint's ipConfigurations, its
    network interfaces (which always have it), and the record sets of its zone groups.
    """
    configs = endpoint.custom_dns_configs or []
    wanted = (fqdn or "").lower()
    exact = [ip for c in configs if (c.fqdn or "").lower() == wanted for ip in c.ip_addresses or []]
    found = exact or [ip for c in configs for ip in c.ip_addresses or []]
    if found:
        return _unique(found)
    found = [c.private_ip_address for c in endpoint.ip_configurations or [] if c.private_ip_address]
    if found:
        return _unique(found)
    found = [ip for nic in _endpoint_nics(network, endpoint) for ip in _nic_ips(nic, wanted)]
    if found:
        return _unique(found)
    records = [r for group in read_zone_groups(network, endpoint) for r in zone_group_records(group)]
    # A record set's fqdn is in the private link zone: x.privatelink.azurehealthcareapis.com stands for x.azure...
    exact = [ip for r in records if (r.fqdn or "").lower().replace("privatelink.", "", 1) == wanted for ip in r.ips]
    return _unique(exact or [ip for r in records for ip in r.ips])


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _endpoint_nics(network: Any, endpoint: Any) -> list[Any]:
    nics = []
    for ref in endpoint.network_interfaces or []:
        try:
            nic_id = ArmId.parse(ref.id or "")
        except ValueError:
            continue
        nic = get_or_none(network.network_interfaces.get, nic_id.resource_group, nic_id.name)
        if nic is not None:
            nics.append(nic)
    return nics


def _nic_ips(nic: Any, fqdn: str) -> list[str]:
    """A NIC's private IPs; those whose private link connection serves `fqdn` when one says so."""
    configs = [c for c in nic.ip_configurations or [] if c.private_ip_address]

    def serves(config: Any) -> bool:
        link = config.private_link_connection_properties
        return bool(link) and fqdn in [f.lower() for f in link.fqdns or []]

    return [c.private_ip_address for c in ([c for c in configs if serves(c)] or configs)]


@dataclass(frozen=True)
class ZoneRecord:
    """One A record a private DNS zone group keeps for its endpoint."""

    zone_id: str
    name: str
    fqdn: str
    ips: tuple[str, ...]


def read_zone_groups(network: Any, endpoint: Any) -> list[Any]:
    """The endpoint's private DNS zone groups (none when it has no zone group, or it cannot be read)."""
    ref = ArmId.parse(endpoint.id)
    groups = get_or_none(lambda: list(network.private_dns_zone_groups.list(endpoint.name, ref.resource_group)))
    return groups or []


def zone_group_zones(groups: list[Any]) -> list[str]:
    """The ids of the private DNS zones the endpoint's zone groups use, as they name them."""
    ids = [c.private_dns_zone_id for g in groups for c in g.private_dns_zone_configs or [] if c.private_dns_zone_id]
    return list({i.lower(): i for i in ids}.values())


def zone_group_records(group: Any) -> list[ZoneRecord]:
    return [
        ZoneRecord(
            config.private_dns_zone_id or "",
            record.record_set_name or "",
            record.fqdn or "",
            tuple(record.ip_addresses or []),
        )
        for config in group.private_dns_zone_configs or []
        for record in config.record_sets or []
        if (record.record_type or "A").upper() == "A"
    ]


# -- Private Link of an AHDS workspace: one endpoint covers every service in it --------------------------------

# The private link group of a workspace (PrivateLinkResourcesListByWorkspace.json: groupId healthcareworkspace).
WORKSPACE_GROUP = "healthcareworkspace"


@dataclass
class WorkspaceEndpoint:
    """A workspace's private endpoint: the workspace, its connection, the endpoint, its IPs and zone groups."""

    workspace: Any | None
    connection: Any | None
    endpoint: Any | None
    groups: list[str]
    status: str | None
    ips: list[str]
    zone_groups: list[Any]
    hosts: list[str]


def standby_endpoint_name(target: Any) -> str:
    """The standby workspace's private endpoint, named after the workspace as the primary's usually is."""
    return f"{target.require_standby().workspace}-pe"


def workspace_hosts(target: Any, role: str, fhir_suffix: str) -> list[str]:
    """The host names the workspace's endpoint must serve: the FHIR service fhirdr keeps (primary or standby)."""
    from urllib.parse import urlsplit

    from fhirdr.kinds.ahds import service_url

    standby = target.require_standby() if role == "secondary" else None
    workspace, service = (standby.workspace, standby.service) if standby else (target.workspace, target.service)
    return [urlsplit(service_url(workspace, service, fhir_suffix)).hostname or ""]


def connected_endpoints(network: Any, resource: Any) -> Any:
    """(connection, private endpoint, the resource's group ids on it) for each private endpoint connection of
    `resource` (a service or workspace) whose endpoint still exists."""
    for connection in resource.properties.private_endpoint_connections or []:
        ref_id = connection.private_endpoint.id if connection.private_endpoint else None
        if not ref_id:
            continue
        ref = ArmId.parse(ref_id)
        endpoint = get_or_none(network.private_endpoints.get, ref.resource_group, ref.name)
        if endpoint is None:
            continue
        links = list(endpoint.private_link_service_connections or []) + list(
            endpoint.manual_private_link_service_connections or []
        )
        groups = sorted(
            {
                g
                for link in links
                if (link.private_link_service_id or "").lower() == resource.id.lower()
                for g in link.group_ids or []
            }
        )
        yield connection, endpoint, groups


def read_workspace_endpoint(step: Step, role: str) -> WorkspaceEndpoint:
    """The private endpoint of the primary or the standby workspace (the one the target names, else the first
    for the workspace's private link group). A missing primary workspace is bad input; a missing standby is a fact."""
    target = step.ctx.target
    if role == "primary":
        group, name = target.resource_group, target.workspace or ""
        wanted = (target.private_link.private_endpoint or "").lower() if target.private_link else ""
    else:
        standby = target.require_standby()
        group, name, wanted = standby.resource_group, standby.workspace, standby_endpoint_name(target).lower()
    hosts = workspace_hosts(target, role, step.ctx.azure.cloud.fhir_suffix)
    workspace = get_or_none(step.ctx.azure.healthcare().workspaces.get, group, name)
    if workspace is None:
        if role == "primary":
            raise TargetError(
                f"workspace '{name}' was not found in resource group '{group}' of subscription {target.subscription}",
                hint="check 'workspace' and 'resource_group' in the target file",
            )
        return WorkspaceEndpoint(None, None, None, [], None, [], [], hosts)
    network = step.ctx.azure.network()
    found: WorkspaceEndpoint | None = None
    for connection, endpoint, groups in connected_endpoints(network, workspace):
        if not (wanted and endpoint.name.lower() == wanted) and (found is not None or WORKSPACE_GROUP not in groups):
            continue
        state = connection.private_link_service_connection_state
        found = WorkspaceEndpoint(
            workspace,
            connection,
            endpoint,
            groups,
            text(state.status) if state else None,
            endpoint_ips(network, endpoint, hosts[0]),
            read_zone_groups(network, endpoint),
            hosts,
        )
        if wanted and endpoint.name.lower() == wanted:
            break
    return found or WorkspaceEndpoint(workspace, None, None, [], None, [], [], hosts)


@dataclass
class WorkspaceEndpointFacts:
    mine: WorkspaceEndpoint
    primary: WorkspaceEndpoint | None  # the primary's, whose DNS zones the standby's endpoint uses
    vnet: Any | None  # the VNet of this endpoint's region


class WorkspacePrivateEndpoint(Step):
    """The workspace's private endpoint in its region's VNet, approved, for the group healthcareworkspace.

    Private Link of an AHDS workspace covers every service in it. The primary's endpoint is the customer's;
    the standby's is created in the secondary VNet with a DNS zone group over the zones the primary's uses.
    """

    uses = "network.workspace-endpoint"
    params = {"role": Param(str, required=True, choices=ROLES)}

    def facts(self) -> WorkspaceEndpointFacts:
        role = self.args["role"]
        if role == "primary":
            mine, vnet = concurrently(lambda: read_workspace_endpoint(self, role), lambda: read_vnet(self, role))
            return WorkspaceEndpointFacts(mine, None, vnet)
        mine, primary, vnet = concurrently(
            lambda: read_workspace_endpoint(self, role),
            lambda: read_workspace_endpoint(self, "primary"),
            lambda: read_vnet(self, role),
        )
        return WorkspaceEndpointFacts(mine, primary, vnet)

    def observe(self, facts: WorkspaceEndpointFacts) -> str:
        mine = facts.mine
        if mine.workspace is None:
            return "no standby workspace"
        if mine.endpoint is None:
            return "no private endpoint connection"
        zones = ", ".join(_zone_name(z) for z in zone_group_zones(mine.zone_groups)) or "no DNS zone group"
        return (
            f"{mine.endpoint.name} in {mine.endpoint.location}, {mine.status}, group {','.join(mine.groups)}, "
            f"{', '.join(mine.ips) or 'no IP'}; zones {zones}"
        )

    def plan(self, facts: WorkspaceEndpointFacts) -> list[Change]:
        role = self.args["role"]
        mine = facts.mine
        target = self.ctx.target
        region = region_of(target, role)
        if mine.workspace is None:
            standby = target.require_standby()
            return [
                Change(
                    "create-standby",
                    standby.workspace,
                    f"the standby workspace {standby.workspace} does not exist yet; `fhirdr enable --apply` creates it",
                    fixable=False,
                )
            ]
        if mine.endpoint is None:
            if role == "primary":
                return [
                    Change(
                        "create-private-endpoint",
                        mine.workspace.id,
                        f"create a private endpoint (group '{WORKSPACE_GROUP}') for workspace {mine.workspace.name} "
                        "in the primary VNet, with a private DNS zone group",
                        fixable=False,
                    )
                ]
            return [self._create(facts)]
        changes = []
        if normalise_region(mine.endpoint.location) != region:
            changes.append(
                Change(
                    "fix-endpoint",
                    mine.endpoint.id,
                    f"the endpoint is in {mine.endpoint.location}, not the {role} region {region}",
                    fixable=False,
                )
            )
        subnet = (mine.endpoint.subnet.id or "") if mine.endpoint.subnet else ""
        if not subnet.lower().startswith(vnet_id(target, role).lower() + "/"):
            changes.append(
                Change(
                    "fix-endpoint",
                    mine.endpoint.id,
                    f"the endpoint is not in the {role} VNet {vnet_name(target, role)}",
                    fixable=False,
                )
            )
        if WORKSPACE_GROUP not in mine.groups:
            changes.append(
                Change(
                    "fix-endpoint",
                    mine.endpoint.id,
                    f"the endpoint serves {mine.groups}, not '{WORKSPACE_GROUP}'",
                    fixable=False,
                )
            )
        if mine.status != "Approved":
            changes.append(
                Change(
                    "approve",
                    mine.connection.id,
                    f"the workspace's private endpoint connection {mine.connection.name} is {mine.status}: "
                    "approve it on the workspace (Networking, Private access)",
                    fixable=False,
                )
            )
        zones = zone_group_zones(facts.primary.zone_groups) if role == "secondary" and facts.primary else []
        have = {z.lower() for z in zone_group_zones(mine.zone_groups)}
        failed = [g.name for g in mine.zone_groups if text(g.provisioning_state) == "Failed"]
        if zones and (have != {z.lower() for z in zones} or failed):
            why = f"its zone group {failed[0]} is Failed" if failed else "the primary's zones"
            changes.append(
                Change(
                    "zone-group",
                    mine.endpoint.id,
                    f"give {mine.endpoint.name} a DNS zone group over {', '.join(_zone_name(z) for z in zones)} "
                    f"({why})",
                    # An endpoint has one zone group: correct the one it has.
                    {"zones": zones, "group": mine.zone_groups[0].name if mine.zone_groups else "default"},
                )
            )
        return changes

    def _create(self, facts: WorkspaceEndpointFacts) -> Change:
        target = self.ctx.target
        name = standby_endpoint_name(target)
        settings = target.require_private_link()
        zones = zone_group_zones(facts.primary.zone_groups) if facts.primary else []
        subnets = list(facts.vnet.subnets or []) if facts.vnet is not None else []
        vnet = vnet_name(target, "secondary")
        where = f"subnet {subnets[0].name} of {vnet}" if subnets else vnet
        zone_text = f", DNS zone group over {', '.join(_zone_name(z) for z in zones)}" if zones else ""
        return Change(
            "create",
            resource_id(group_id(target, settings.resource_group), "Microsoft.Network", "privateEndpoints", name),
            f"create private endpoint {name} for standby workspace {facts.mine.workspace.name} in {where}{zone_text}",
            {
                "name": name,
                "location": region_of(target, "secondary"),
                "workspace_id": facts.mine.workspace.id,
                "zones": zones,
            },
        )

    def apply(self, change: Change) -> None:
        from azure.mgmt.network.models import PrivateEndpoint as EndpointModel
        from azure.mgmt.network.models import PrivateLinkServiceConnection, Subnet

        network = self.ctx.azure.network()
        settings = self.ctx.target.require_private_link()
        if change.action == "create":
            vnet = read_vnet(self, "secondary")
            if vnet is None or not vnet.subnets:
                raise TargetError(
                    f"the secondary VNet {vnet_name(self.ctx.target, 'secondary')} has no subnet for the endpoint",
                    hint="add a subnet to it, or let `fhirdr configure-private-link --apply` create the VNet",
                )
            body = EndpointModel(
                location=change.data["location"],
                subnet=Subnet(id=vnet.subnets[0].id),
                private_link_service_connections=[
                    PrivateLinkServiceConnection(
                        name=change.data["name"],
                        private_link_service_id=change.data["workspace_id"],
                        group_ids=[WORKSPACE_GROUP],
                    )
                ],
            )
            wait(network.private_endpoints.begin_create_or_update(settings.resource_group, change.data["name"], body))
        endpoint = ArmId.parse(change.resource)
        if change.data["zones"]:
            self._zone_group(
                endpoint.resource_group, endpoint.name, change.data.get("group", "default"), change.data["zones"]
            )

    def _zone_group(self, group: str, endpoint: str, name: str, zones: list[str]) -> None:
        from azure.mgmt.network.models import PrivateDnsZoneConfig, PrivateDnsZoneGroup

        body = PrivateDnsZoneGroup(
            private_dns_zone_configs=[
                PrivateDnsZoneConfig(name=_zone_name(z).replace(".", "-"), private_dns_zone_id=z) for z in zones
            ]
        )
        wait(self.ctx.azure.network().private_dns_zone_groups.begin_create_or_update(group, endpoint, name, body))


def _zone_name(zone_id: str) -> str:
    return zone_id.rstrip("/").rsplit("/", 1)[-1]


STEPS = [VirtualNetwork, Peering, WorkspacePrivateEndpoint]
