"""Steps about the private DNS zones: the zones, the endpoints' A records and the VNet links.

Which zones: those the private endpoint's DNS zone groups name (a workspace's endpoint uses a zone for FHIR and
one for DICOM), else the target's `zone`. Which records: those the zone groups keep, else one per host name the
endpoint serves. `private_link` says whose endpoints they are: the Azure API for FHIR `service`, or the AHDS
`workspace` (the primary's endpoint and, once it exists, the standby's).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from fhirdr.azure.session import concurrently, get_or_none, wait
from fhirdr.steps.base import Change, Param, Step, text
from fhirdr.steps.ids import ArmId, group_id, resource_id, vnet_id, vnet_name
from fhirdr.steps.network import (
    ROLES,
    read_workspace_endpoint,
    read_zone_groups,
    zone_group_records,
    zone_group_zones,
)
from fhirdr.steps.service import read_endpoint

RECORD_TTL = 10
PRIVATE_LINK = Param(str, default="service", choices=("service", "workspace"))

log = logging.getLogger(__name__)


@contextmanager
def written_by_another_run() -> Iterator[None]:
    """A conditional write refused because another run wrote first (two applies at once): 412 on If-None-Match: *
    (or 409) when it made the resource, 412 on If-Match when it changed it. That is convergence, not failure: the
    runner re-reads the facts afterwards and verifies what is there, so a resource made or changed differently
    still fails the step ("did not reach the desired state")."""
    from azure.core.exceptions import HttpResponseError

    try:
        yield
    except HttpResponseError as exc:
        if exc.status_code not in (409, 412):
            raise
        log.info("already created by another run (HTTP %s); verifying what is there", exc.status_code)


@dataclass(frozen=True)
class Zone:
    group: str
    name: str


@dataclass(frozen=True)
class WantedRecord:
    zone: Zone
    name: str
    ips: tuple[str, ...]


@dataclass
class Endpoint:
    """What the DNS steps need of one private endpoint."""

    endpoint: Any | None
    ips: list[str]
    zone_groups: list[Any]
    hosts: list[str]


def read_endpoints(step: Step) -> list[Endpoint]:
    """The private endpoints whose names the zones resolve, the primary's first."""
    if step.args["private_link"] == "workspace":
        found = concurrently(
            lambda: read_workspace_endpoint(step, "primary"), lambda: read_workspace_endpoint(step, "secondary")
        )
        return [Endpoint(e.endpoint, e.ips, e.zone_groups, e.hosts) for e in found if e.endpoint is not None]
    facts = read_endpoint(step)
    groups = read_zone_groups(step.ctx.azure.network(), facts.endpoint) if facts.endpoint is not None else []
    host = f"{step.ctx.target.service}.{step.ctx.azure.cloud.fhir_suffix}"
    return [Endpoint(facts.endpoint, facts.ips, groups, [host])]


def _zone_of(zone_id: str) -> Zone:
    ref = ArmId.parse(zone_id)
    return Zone(ref.resource_group, ref.name)


def wanted_zones(step: Step, endpoints: list[Endpoint]) -> list[Zone]:
    """The zones the primary's endpoint uses, as its DNS zone groups name them; else the target's zone."""
    primary = endpoints[0] if endpoints else None
    if primary is not None and primary.zone_groups:
        return [_zone_of(z) for z in zone_group_zones(primary.zone_groups)]
    settings = step.ctx.target.require_private_link()
    return [Zone(settings.dns_resource_group, settings.zone)]


def _relative(host: str, zone: str) -> str | None:
    """The record name of `host` in a private link zone (x.fhir.azurehealthcareapis.com in
    privatelink.azurehealthcareapis.com is x.fhir), None when the zone does not stand for it."""
    public = zone.lower().removeprefix("privatelink.")
    return host.lower()[: -len(public) - 1] if host.lower().endswith("." + public) else None


def wanted_records(step: Step, endpoints: list[Endpoint], zones: list[Zone]) -> list[WantedRecord]:
    """The A records the zones must hold: those each endpoint's zone groups keep, and one for each host name
    fhirdr serves that they do not cover (a FHIR service created after the workspace's endpoint has no record
    until someone adds it: the healthcare-apis Private Link article's "add a DNS record" step)."""
    wanted: dict[tuple[str, str], WantedRecord] = {}
    for endpoint in endpoints:
        for record in (r for group in endpoint.zone_groups for r in zone_group_records(group)):
            zone = _zone_of(record.zone_id)
            ips = tuple(sorted(record.ips or endpoint.ips))
            wanted[(zone.name.lower(), record.name.lower())] = WantedRecord(zone, record.name.lower(), ips)
        if not endpoint.ips:
            continue
        for host in endpoint.hosts:
            serving = [(z, name) for z in zones if (name := _relative(host, z.name)) is not None]
            zone, name = serving[0] if serving else (zones[0], step.ctx.target.service)
            wanted.setdefault((zone.name.lower(), name), WantedRecord(zone, name, tuple(sorted(endpoint.ips))))
    return list(wanted.values())


def read_zones(step: Step, zones: list[Zone]) -> list[Any | None]:
    dns = step.ctx.azure.private_dns()
    return concurrently(*(lambda z=z: get_or_none(dns.private_zones.get, z.group, z.name) for z in zones))


@dataclass
class ZoneFacts:
    zones: list[Zone]
    found: list[Any | None]


class PrivateZone(Step):
    """The private DNS zones of the private link exist."""

    uses = "dns.private-zone"
    params = {"private_link": PRIVATE_LINK}

    def facts(self) -> ZoneFacts:
        zones = wanted_zones(self, read_endpoints(self))
        return ZoneFacts(zones, read_zones(self, zones))

    def observe(self, facts: ZoneFacts) -> str:
        return "; ".join(
            f"{zone.name}: missing"
            if found is None
            else f"{found.name}: {found.number_of_record_sets} record sets, "
            f"{found.number_of_virtual_network_links} VNet links"
            for zone, found in zip(facts.zones, facts.found, strict=True)
        )

    def plan(self, facts: ZoneFacts) -> list[Change]:
        return [
            Change(
                "create",
                resource_id(group_id(self.ctx.target, zone.group), "Microsoft.Network", "privateDnsZones", zone.name),
                f"create private DNS zone {zone.name}",
                {"group": zone.group, "zone": zone.name},
            )
            for zone, found in zip(facts.zones, facts.found, strict=True)
            if found is None
        ]

    def apply(self, change: Change) -> None:
        from azure.core import MatchConditions
        from azure.mgmt.privatedns.models import PrivateZone as ZoneModel

        with written_by_another_run():
            wait(
                self.ctx.azure.private_dns().private_zones.begin_create_or_update(
                    change.data["group"],
                    change.data["zone"],
                    ZoneModel(location="global"),
                    match_condition=MatchConditions.IfMissing,
                )
            )


@dataclass
class RecordFacts:
    wanted: list[WantedRecord]
    zones: dict[Zone, Any | None]
    records: list[Any | None]  # the A record of each wanted record, as it is


class ARecord(Step):
    """The zones have an A record for each host name the endpoints serve, pointing at the endpoints' IPs."""

    uses = "dns.a-record"
    params = {"private_link": PRIVATE_LINK}

    def facts(self) -> RecordFacts:
        endpoints = read_endpoints(self)
        zones = wanted_zones(self, endpoints)
        wanted = wanted_records(self, endpoints, zones)
        records = self.ctx.azure.private_dns().record_sets
        # A missing zone makes the record read a 404 too, so the reads need not wait on each other.
        found = concurrently(
            *(lambda z=z: get_or_none(self.ctx.azure.private_dns().private_zones.get, z.group, z.name) for z in zones),
            *(lambda w=w: get_or_none(records.get, w.zone.group, w.zone.name, "A", w.name) for w in wanted),
        )
        by_zone = dict(zip(zones, found[: len(zones)], strict=True))
        records_found = [
            record if by_zone.get(w.zone) is not None else None
            for w, record in zip(wanted, found[len(zones) :], strict=True)
        ]
        return RecordFacts(wanted, by_zone, records_found)

    def observe(self, facts: RecordFacts) -> str:
        if not facts.wanted:
            return "missing"
        parts = []
        for wanted, record in zip(facts.wanted, facts.records, strict=True):
            if record is None:
                parts.append(f"{wanted.name}.{wanted.zone.name}: missing")
                continue
            ips = [r.ipv4_address for r in record.a_records or []]
            parts.append(f"{record.fqdn} -> {', '.join(ips) or 'nothing'}")
        return "; ".join(parts)

    def plan(self, facts: RecordFacts) -> list[Change]:
        if not facts.wanted:
            summary = "no private endpoint IP to point the A record at"
            return [Change("create", self.ctx.target.service, summary, fixable=False)]
        changes = []
        for wanted, record in zip(facts.wanted, facts.records, strict=True):
            current = sorted(r.ipv4_address for r in (record.a_records or [])) if record else []
            if current == list(wanted.ips):
                continue
            data = {"group": wanted.zone.group, "zone": wanted.zone.name, "name": wanted.name, "ips": list(wanted.ips)}
            if record is None:
                changes.append(
                    Change("create", wanted.name, f"add A record {wanted.name} -> {', '.join(wanted.ips)}", data)
                )
            else:
                changes.append(
                    Change(
                        "update",
                        record.id,
                        f"point A record {wanted.name} at {', '.join(wanted.ips)} "
                        f"(now {', '.join(current) or 'nothing'})",
                        {**data, "etag": record.etag},
                    )
                )
        return changes

    def apply(self, change: Change) -> None:
        from azure.core import MatchConditions
        from azure.mgmt.privatedns.models import ARecord as ARecordModel
        from azure.mgmt.privatedns.models import RecordSet

        data = change.data
        records = self.ctx.azure.private_dns().record_sets
        body = RecordSet(ttl=RECORD_TTL, a_records=[ARecordModel(ipv4_address=ip) for ip in data["ips"]])
        where = (data["group"], data["zone"], "A", data["name"], body)
        if change.action == "create":
            conditions: dict[str, Any] = {"match_condition": MatchConditions.IfMissing}
        else:
            conditions = {"etag": data["etag"], "match_condition": MatchConditions.IfNotModified}
        with written_by_another_run():
            records.create_or_update(*where, **conditions)


@dataclass
class LinkFacts:
    zones: list[Zone]
    links: list[Any | None]  # each zone's link to the VNet (None: none, or no such zone)


class VnetLink(Step):
    """Each zone is linked to one region's VNet and the link is Completed (secondary: resolution-only)."""

    uses = "dns.vnet-link"
    params = {"role": Param(str, required=True, choices=ROLES), "private_link": PRIVATE_LINK}

    def facts(self) -> LinkFacts:
        zones = wanted_zones(self, read_endpoints(self))
        wanted = vnet_id(self.ctx.target, self.args["role"]).lower()
        links = self.ctx.azure.private_dns().virtual_network_links
        listed = concurrently(*(lambda z=z: get_or_none(lambda: list(links.list(z.group, z.name))) for z in zones))

        def link_to_vnet(items: list[Any] | None) -> Any | None:
            for link in items or []:
                if link.virtual_network and (link.virtual_network.id or "").lower() == wanted:
                    return link
            return None

        return LinkFacts(zones, [link_to_vnet(items) for items in listed])

    def observe(self, facts: LinkFacts) -> str:
        parts = []
        for zone, link in zip(facts.zones, facts.links, strict=True):
            if link is None:
                parts.append("missing" if len(facts.zones) == 1 else f"{zone.name}: missing")
                continue
            mode = "auto-registration" if link.registration_enabled else "resolution-only"
            state = f"{link.name}: {text(link.virtual_network_link_state)}, {mode}"
            parts.append(state if len(facts.zones) == 1 else f"{zone.name}: {state}")
        return "; ".join(parts)

    def _registration(self) -> bool | None:
        """Registration wanted on this link; None when the operator's choice is kept."""
        if self.args["role"] == "secondary":
            return self.ctx.target.require_private_link().secondary_link_registration
        return None

    def plan(self, facts: LinkFacts) -> list[Change]:
        name = vnet_name(self.ctx.target, self.args["role"])
        registration = self._registration()
        several = len(facts.zones) > 1
        changes = []
        for index, (zone, link) in enumerate(zip(facts.zones, facts.links, strict=True)):
            of_zone = f"zone {zone.name}" if several else "the zone"
            where = {"group": zone.group, "zone": zone.name}
            # A VNet auto-registers in one zone only: of a workspace's zones, the first.
            wanted = None if registration is None else registration and index == 0
            if link is None:
                mode = "with auto-registration" if wanted else "resolution-only"
                changes.append(
                    Change(
                        "create",
                        f"{name}-link",
                        f"link {of_zone} to {name} ({mode})",
                        {**where, "name": f"{name}-link", "registration": bool(wanted)},
                    )
                )
            elif wanted is not None and bool(link.registration_enabled) != wanted:
                changes.append(
                    Change(
                        "update",
                        link.id,
                        f"set auto-registration {'on' if wanted else 'off'} on link {link.name}",
                        {**where, "name": link.name, "registration": wanted, "etag": link.etag},
                    )
                )
            elif text(link.virtual_network_link_state) != "Completed":
                changes.append(
                    Change(
                        "wait",
                        link.id,
                        f"link {link.name} is {text(link.virtual_network_link_state)}; waiting for Completed",
                    )
                )
        return changes

    def apply(self, change: Change) -> None:
        from azure.core import MatchConditions
        from azure.mgmt.privatedns.models import SubResource, VirtualNetworkLink

        data = change.data
        body = VirtualNetworkLink(
            location="global",
            registration_enabled=data["registration"],
            virtual_network=SubResource(id=vnet_id(self.ctx.target, self.args["role"])),
        )
        links = self.ctx.azure.private_dns().virtual_network_links
        where = (data["group"], data["zone"], data["name"], body)
        if change.action == "create":
            conditions: dict[str, Any] = {"match_condition": MatchConditions.IfMissing}
        else:
            conditions = {"etag": data["etag"], "match_condition": MatchConditions.IfNotModified}
        with written_by_another_run():
            wait(links.begin_create_or_update(*where, **conditions))


STEPS = [PrivateZone, ARecord, VnetLink]
