"""Steps on the Traffic Manager profile in front of the FHIR compute."""

from __future__ import annotations

from typing import Any

from fhirdr.azure.session import get_or_none
from fhirdr.errors import TargetError
from fhirdr.steps.base import Change, Step, text


def read_profile(step: Step) -> Any:
    backing = step.ctx.target.require_self_hosted()
    if not backing.traffic_manager_profile:
        raise TargetError("[self_hosted] traffic_manager_profile is not set in the target")
    profile = get_or_none(
        step.ctx.azure.traffic_manager().profiles.get,
        backing.traffic_manager_resource_group,
        backing.traffic_manager_profile,
    )
    if profile is None:
        raise TargetError(
            f"Traffic Manager profile '{backing.traffic_manager_profile}' was not found in resource "
            f"group '{backing.traffic_manager_resource_group}'"
        )
    return profile


def endpoint_type(endpoint: Any) -> str:
    """'Microsoft.Network/trafficManagerProfiles/externalEndpoints' -> 'ExternalEndpoints'."""
    kind = (endpoint.type or "").rsplit("/", 1)[-1]
    return kind[0].upper() + kind[1:] if kind else "ExternalEndpoints"


class SecondaryEndpoint(Step):
    """The profile routes to the secondary compute at the next priority after the primary's."""

    uses = "traffic.secondary-endpoint"

    def facts(self) -> Any:
        return read_profile(self)

    def observe(self, facts: Any) -> str:
        return ", ".join(
            f"{e.name} (priority {e.priority}, {text(e.endpoint_monitor_status)})"
            for e in sorted(facts.endpoints or [], key=lambda e: e.priority or 0)
        )

    def _compute(self) -> str:
        secondary = self.ctx.target.secondary_region
        compute = self.ctx.target.require_self_hosted().compute_in(secondary)
        if not compute:
            raise TargetError(
                f"[self_hosted.compute] has no host for {secondary}: the FHIR server's compute in the secondary region",
                hint=f'add {secondary} = "HOST" under [self_hosted.compute] (or compute = {{ {secondary} = "HOST" }})',
            )
        return compute

    def plan(self, facts: Any) -> list[Change]:
        compute = self._compute()
        endpoints = facts.endpoints or []
        if any((e.target or "").lower() == compute.lower() for e in endpoints):
            return []
        priority = max((e.priority or 0 for e in endpoints), default=0) + 1
        name = f"{self.ctx.target.service}-{self.ctx.target.secondary_region}"
        return [
            Change(
                "create",
                f"{facts.id}/externalEndpoints/{name}",
                f"add endpoint {name} -> {compute} at priority {priority}",
                {"name": name, "priority": priority},
            )
        ]

    def apply(self, change: Change) -> None:
        from azure.mgmt.trafficmanager.models import Endpoint

        from fhirdr.regions import display_name

        backing = self.ctx.target.require_self_hosted()
        body = Endpoint(
            target=self._compute(),
            priority=change.data["priority"],
            endpoint_status="Enabled",
            endpoint_location=display_name(self.ctx.target.secondary_region or ""),
        )
        self.ctx.azure.traffic_manager().endpoints.create_or_update(
            backing.traffic_manager_resource_group,
            backing.traffic_manager_profile,
            "ExternalEndpoints",
            change.data["name"],
            body,
        )


STEPS = [SecondaryEndpoint]
