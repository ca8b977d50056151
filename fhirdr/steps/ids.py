"""ARM ids of the target's resources, built in one place."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from fhirdr.errors import TargetError
from fhirdr.target import Target


@dataclass(frozen=True)
class ArmId:
    subscription: str
    resource_group: str
    provider: str
    kind: str
    name: str

    @classmethod
    def parse(cls, value: str) -> ArmId:
        parts = value.strip("/").split("/")
        if len(parts) < 8 or parts[0].lower() != "subscriptions" or parts[2].lower() != "resourcegroups":
            raise ValueError(f"not an ARM resource id: {value}")
        return cls(parts[1], parts[3], parts[5], parts[6], parts[7])


def segment(name: str) -> str:
    """One ARM path segment: a name can never add a segment, a query or a fragment to the path."""
    return quote(name, safe="()-._~")


def resource_id(group: str, provider: str, *types_and_names: str) -> str:
    """`group`/providers/`provider`/type/name[/type/name...], every name quoted as one segment."""
    parts = [segment(part) if index % 2 else part for index, part in enumerate(types_and_names)]
    return f"{group}/providers/{provider}/" + "/".join(parts)


def group_id(target: Target, group: str | None = None) -> str:
    return f"/subscriptions/{segment(target.subscription)}/resourceGroups/{segment(group or target.resource_group)}"


def vnet_name(target: Target, role: str) -> str:
    settings = target.require_private_link()
    name = settings.primary_vnet if role == "primary" else settings.secondary_vnet
    if not name:
        raise TargetError(f"{target.source or 'target'}: [private_link] '{role}_vnet' is not set")
    return name


def vnet_id(target: Target, role: str) -> str:
    settings = target.require_private_link()
    group = group_id(target, settings.resource_group)
    return resource_id(group, "Microsoft.Network", "virtualNetworks", vnet_name(target, role))


def region_of(target: Target, role: str) -> str:
    primary, secondary = target.require_regions()
    return primary if role == "primary" else secondary


def service_id(target: Target) -> str:
    return resource_id(group_id(target), "Microsoft.HealthcareApis", "services", target.service)
