"""ARM ids of the target's resources, built in one place."""

from __future__ import annotations

from dataclasses import dataclass

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


def group_id(target: Target, group: str | None = None) -> str:
    return f"/subscriptions/{target.subscription}/resourceGroups/{group or target.resource_group}"


def vnet_name(target: Target, role: str) -> str:
    settings = target.require_private_link()
    name = settings.primary_vnet if role == "primary" else settings.secondary_vnet
    if not name:
        raise TargetError(f"{target.source or 'target'}: [private_link] '{role}_vnet' is not set")
    return name


def vnet_id(target: Target, role: str) -> str:
    settings = target.require_private_link()
    group = group_id(target, settings.resource_group)
    return f"{group}/providers/Microsoft.Network/virtualNetworks/{vnet_name(target, role)}"


def region_of(target: Target, role: str) -> str:
    primary, secondary = target.require_regions()
    return primary if role == "primary" else secondary


def service_id(target: Target) -> str:
    return f"{group_id(target)}/providers/Microsoft.HealthcareApis/services/{target.service}"
