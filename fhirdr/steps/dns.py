"""Steps about the private DNS zone: the zone, the service's A record and the VNet links."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from fhirdr.azure.session import concurrently, get_or_none, wait
from fhirdr.steps.base import Change, Param, Step, text
from fhirdr.steps.ids import vnet_id, vnet_name
from fhirdr.steps.network import ROLES
from fhirdr.steps.service import read_endpoint

RECORD_TTL = 10

log = logging.getLogger(__name__)


@contextmanager
def made_by_another_run() -> Iterator[None]:
    """A create-if-missing refused because the resource now exists (412 on If-None-Match: *, or 409) lost a race
    with another run that made it at the same moment: that is convergence, not failure. The runner re-reads the
    facts afterwards and verifies what is there, so a resource made differently is still found."""
    from azure.core.exceptions import HttpResponseError

    try:
        yield
    except HttpResponseError as exc:
        if exc.status_code not in (409, 412):
            raise
        log.info("already created by another run (HTTP %s); verifying what is there", exc.status_code)


def _zone(step: Step) -> tuple[str, str]:
    settings = step.ctx.target.require_private_link()
    return settings.dns_resource_group, settings.zone


def read_zone(step: Step) -> Any | None:
    group, zone = _zone(step)
    return get_or_none(step.ctx.azure.private_dns().private_zones.get, group, zone)


class PrivateZone(Step):
    """The private DNS zone for the service's private link exists."""

    uses = "dns.private-zone"

    def facts(self) -> Any | None:
        return read_zone(self)

    def observe(self, facts: Any | None) -> str:
        if facts is None:
            return "missing"
        return (
            f"{facts.name}: {facts.number_of_record_sets} record sets, "
            f"{facts.number_of_virtual_network_links} VNet links"
        )

    def plan(self, facts: Any | None) -> list[Change]:
        if facts is not None:
            return []
        group, zone = _zone(self)
        return [
            Change(
                "create",
                f"/subscriptions/{self.ctx.target.subscription}/resourceGroups/{group}/providers/"
                f"Microsoft.Network/privateDnsZones/{zone}",
                f"create private DNS zone {zone}",
            )
        ]

    def apply(self, change: Change) -> None:
        from azure.core import MatchConditions
        from azure.mgmt.privatedns.models import PrivateZone as ZoneModel

        group, zone = _zone(self)
        with made_by_another_run():
            wait(
                self.ctx.azure.private_dns().private_zones.begin_create_or_update(
                    group, zone, ZoneModel(location="global"), match_condition=MatchConditions.IfMissing
                )
            )


@dataclass
class RecordFacts:
    zone: Any | None
    record: Any | None
    endpoint_ips: list[str]


class ARecord(Step):
    """The zone has an A record named after the service pointing at the private endpoint's IP."""

    uses = "dns.a-record"

    def facts(self) -> RecordFacts:
        group, zone_name = _zone(self)
        records = self.ctx.azure.private_dns().record_sets
        # A missing zone makes the record read a 404 too, so the three reads need not wait on each other.
        zone, record, endpoint = concurrently(
            lambda: read_zone(self),
            lambda: get_or_none(records.get, group, zone_name, "A", self.ctx.target.service),
            lambda: read_endpoint(self),
        )
        return RecordFacts(zone, record if zone is not None else None, endpoint.ips)

    def observe(self, facts: RecordFacts) -> str:
        if facts.record is None:
            return "missing"
        ips = [r.ipv4_address for r in facts.record.a_records or []]
        return f"{facts.record.fqdn} -> {', '.join(ips) or 'nothing'}"

    def plan(self, facts: RecordFacts) -> list[Change]:
        service = self.ctx.target.service
        if not facts.endpoint_ips:
            return [Change("create", service, "no private endpoint IP to point the A record at", fixable=False)]
        current = sorted(r.ipv4_address for r in (facts.record.a_records or [])) if facts.record else []
        wanted = sorted(facts.endpoint_ips)
        if current == wanted:
            return []
        if facts.record is None:
            return [Change("create", service, f"add A record {service} -> {', '.join(wanted)}", {"ips": wanted})]
        return [
            Change(
                "update",
                facts.record.id,
                f"point A record {service} at {', '.join(wanted)} (now {', '.join(current) or 'nothing'})",
                {"ips": wanted, "etag": facts.record.etag},
            )
        ]

    def apply(self, change: Change) -> None:
        from azure.core import MatchConditions
        from azure.mgmt.privatedns.models import ARecord as ARecordModel
        from azure.mgmt.privatedns.models import RecordSet

        group, zone = _zone(self)
        records, name = self.ctx.azure.private_dns().record_sets, self.ctx.target.service
        body = RecordSet(ttl=RECORD_TTL, a_records=[ARecordModel(ipv4_address=ip) for ip in change.data["ips"]])
        if change.action == "create":
            with made_by_another_run():
                records.create_or_update(group, zone, "A", name, body, match_condition=MatchConditions.IfMissing)
        else:
            records.create_or_update(
                group, zone, "A", name, body, etag=change.data["etag"], match_condition=MatchConditions.IfNotModified
            )


@dataclass
class LinkFacts:
    zone: Any | None
    link: Any | None


class VnetLink(Step):
    """The zone is linked to one region's VNet and the link is Completed (secondary: resolution-only)."""

    uses = "dns.vnet-link"
    params = {"role": Param(str, required=True, choices=ROLES)}

    def facts(self) -> LinkFacts:
        group, zone_name = _zone(self)
        wanted = vnet_id(self.ctx.target, self.args["role"]).lower()
        links = self.ctx.azure.private_dns().virtual_network_links
        zone, listed = concurrently(
            lambda: read_zone(self), lambda: get_or_none(lambda: list(links.list(group, zone_name)))
        )
        if zone is None:
            return LinkFacts(None, None)
        for link in listed or []:
            if link.virtual_network and (link.virtual_network.id or "").lower() == wanted:
                return LinkFacts(zone, link)
        return LinkFacts(zone, None)

    def observe(self, facts: LinkFacts) -> str:
        if facts.link is None:
            return "missing"
        mode = "auto-registration" if facts.link.registration_enabled else "resolution-only"
        return f"{facts.link.name}: {text(facts.link.virtual_network_link_state)}, {mode}"

    def _registration(self) -> bool | None:
        """Registration wanted on this link; None when the operator's choice is kept."""
        if self.args["role"] == "secondary":
            return self.ctx.target.require_private_link().secondary_link_registration
        return None

    def plan(self, facts: LinkFacts) -> list[Change]:
        name = vnet_name(self.ctx.target, self.args["role"])
        registration = self._registration()
        if facts.link is None:
            mode = "with auto-registration" if registration else "resolution-only"
            return [
                Change(
                    "create",
                    f"{name}-link",
                    f"link the zone to {name} ({mode})",
                    {"name": f"{name}-link", "registration": bool(registration)},
                )
            ]
        if registration is not None and bool(facts.link.registration_enabled) != registration:
            return [
                Change(
                    "update",
                    facts.link.id,
                    f"set auto-registration {'on' if registration else 'off'} on link {facts.link.name}",
                    {"name": facts.link.name, "registration": registration, "etag": facts.link.etag},
                )
            ]
        if text(facts.link.virtual_network_link_state) != "Completed":
            return [
                Change(
                    "wait",
                    facts.link.id,
                    f"link {facts.link.name} is {text(facts.link.virtual_network_link_state)}; waiting for Completed",
                )
            ]
        return []

    def apply(self, change: Change) -> None:
        from azure.core import MatchConditions
        from azure.mgmt.privatedns.models import SubResource, VirtualNetworkLink

        group, zone = _zone(self)
        body = VirtualNetworkLink(
            location="global",
            registration_enabled=change.data["registration"],
            virtual_network=SubResource(id=vnet_id(self.ctx.target, self.args["role"])),
        )
        links = self.ctx.azure.private_dns().virtual_network_links
        if change.action == "create":
            with made_by_another_run():
                wait(
                    links.begin_create_or_update(
                        group, zone, change.data["name"], body, match_condition=MatchConditions.IfMissing
                    )
                )
        else:
            wait(
                links.begin_create_or_update(
                    group,
                    zone,
                    change.data["name"],
                    body,
                    etag=change.data["etag"],
                    match_condition=MatchConditions.IfNotModified,
                )
            )


STEPS = [PrivateZone, ARecord, VnetLink]
