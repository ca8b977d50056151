"""Steps about the Azure API for FHIR service itself and its private endpoint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fhirdr.azure.session import get_or_none, wait
from fhirdr.errors import TargetError
from fhirdr.regions import normalise_region
from fhirdr.steps.base import Change, Param, Step, text
from fhirdr.steps.network import connected_endpoints, endpoint_ips


def read_service(step: Step) -> Any:
    """The service, or a bad-input error naming it (a wrong name must not look like a finding)."""
    target = step.ctx.target
    service = get_or_none(step.ctx.azure.healthcare().services.get, target.resource_group, target.service)
    if service is None:
        raise TargetError(
            f"service '{target.service}' was not found in resource group '{target.resource_group}' "
            f"of subscription {target.subscription}",
            hint="check -n/--service and -g/--resource-group, or the target file",
        )
    return service


class FhirService(Step):
    """The FHIR service (Azure API for FHIR, or AHDS) exists, is provisioned, and runs in the primary region."""

    uses = "service.fhir-service"

    def facts(self) -> Any:
        from fhirdr.steps.settings import read_settings

        return read_settings(self)

    def observe(self, facts: Any) -> str:
        return f"{text(facts.resource.kind)} in {normalise_region(facts.location)}, {facts.provisioning_state}"

    def plan(self, facts: Any) -> list[Change]:
        changes = []
        primary = self.ctx.target.primary_region
        if primary and normalise_region(facts.location) != primary:
            changes.append(
                Change(
                    "fix-target",
                    facts.id,
                    f"the service runs in {normalise_region(facts.location)}, "
                    f"but the target's primary_region is {primary}",
                    fixable=False,
                )
            )
        if facts.provisioning_state != "Succeeded":
            changes.append(
                Change("wait", facts.id, f"the service is {facts.provisioning_state}, not Succeeded", fixable=False)
            )
        return changes


@dataclass
class EndpointFacts:
    service_id: str
    connection: Any | None
    endpoint: Any | None
    groups: list[str]
    status: str | None
    ips: list[str]


def read_endpoint(step: Step, group: str = "fhir") -> EndpointFacts:
    """The service's private endpoint connection for `group` and the endpoint behind it."""
    target = step.ctx.target
    service = read_service(step)
    wanted = (target.private_link.private_endpoint or "").lower() if target.private_link else ""
    network = step.ctx.azure.network()
    fallback: EndpointFacts | None = None
    for connection, endpoint, groups in connected_endpoints(network, service):
        state = connection.private_link_service_connection_state
        facts = EndpointFacts(
            service.id,
            connection,
            endpoint,
            groups,
            text(state.status) if state else None,
            endpoint_ips(network, endpoint, f"{target.service}.{step.ctx.azure.cloud.fhir_suffix}"),
        )
        if wanted and endpoint.name.lower() == wanted:
            return facts
        if group in groups and fallback is None:
            fallback = facts
    return fallback or EndpointFacts(service.id, None, None, [], None, [])


class PrivateEndpoint(Step):
    """A private endpoint for the service exists in the primary region, approved, for the group `fhir`."""

    uses = "service.private-endpoint"
    params = {"group": Param(str, default="fhir")}

    def facts(self) -> EndpointFacts:
        return read_endpoint(self, self.args["group"])

    def observe(self, facts: EndpointFacts) -> str:
        if facts.endpoint is None:
            return "no private endpoint connection"
        ips = ", ".join(facts.ips) or "no IP"
        return (
            f"{facts.endpoint.name} in {facts.endpoint.location}, {facts.status}, group {','.join(facts.groups)}, {ips}"
        )

    def plan(self, facts: EndpointFacts) -> list[Change]:
        group = self.args["group"]
        target = self.ctx.target
        if facts.endpoint is None:
            return [
                Change(
                    "create-private-endpoint",
                    facts.service_id,
                    f"create a private endpoint (group '{group}') for the service in the primary VNet",
                    fixable=False,
                )
            ]
        changes = []
        if group not in facts.groups:
            changes.append(
                Change(
                    "fix-endpoint",
                    facts.endpoint.id,
                    f"the endpoint serves {facts.groups}, not '{group}'; create one for group '{group}'",
                    fixable=False,
                )
            )
        if target.primary_region and normalise_region(facts.endpoint.location) != target.primary_region:
            changes.append(
                Change(
                    "fix-endpoint",
                    facts.endpoint.id,
                    f"the endpoint is in {facts.endpoint.location}, not the primary region {target.primary_region}",
                    fixable=False,
                )
            )
        if facts.status == "Pending":
            changes.append(
                Change(
                    "approve",
                    facts.connection.id,
                    f"approve private endpoint connection {facts.connection.name}",
                    {"connection": facts.connection.name},
                )
            )
        elif facts.status != "Approved":
            changes.append(
                Change(
                    "recreate-endpoint",
                    facts.endpoint.id,
                    f"the connection is {facts.status}; delete the private endpoint and create it again",
                    fixable=False,
                )
            )
        return changes

    def apply(self, change: Change) -> None:
        from azure.mgmt.healthcareapis.models import (
            PrivateEndpointConnection,
            PrivateLinkServiceConnectionState,
        )

        target = self.ctx.target
        body = PrivateEndpointConnection(
            private_link_service_connection_state=PrivateLinkServiceConnectionState(
                status="Approved", description="Approved by fhirdr for disaster recovery"
            )
        )
        wait(
            self.ctx.azure.healthcare().private_endpoint_connections.begin_create_or_update(
                target.resource_group, target.service, change.data["connection"], body
            )
        )


STEPS = [FhirService, PrivateEndpoint]
