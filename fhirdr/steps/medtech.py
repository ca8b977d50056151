"""The MedTech services of an AHDS workspace (`workspaces/iotconnectors`) in DR: they do not fail over.

MedTech replaces Azure API for FHIR's IoMT connector (AZURE-FACTS.md); a MedTech service reads one
event hub and writes into a FHIR service of its workspace. Nothing moves it to the standby: after a
failover one must exist in the standby workspace, reading the same event hub (its own consumer
group) and writing into the standby FHIR service.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fhirdr.azure.session import concurrently
from fhirdr.steps.base import Change, Step


@dataclass
class MedTechFacts:
    primary: list[Any]
    standby: list[Any]


def _hub(medtech: Any) -> str:
    config = medtech.ingestion_endpoint_configuration
    if config is None:
        return "-"
    return f"{config.fully_qualified_event_hub_namespace}/{config.event_hub_name}"


class MedTechServices(Step):
    """Each MedTech service of the primary workspace has a counterpart in the standby workspace."""

    uses = "medtech.services"

    def facts(self) -> MedTechFacts:
        from azure.core.exceptions import ResourceNotFoundError

        target = self.ctx.target
        standby = target.require_standby()
        client = self.ctx.azure.healthcare().iot_connectors

        def in_standby() -> list[Any]:
            try:
                return list(client.list_by_workspace(standby.resource_group, standby.workspace))
            except ResourceNotFoundError:
                return []  # no standby workspace yet

        primary, mirrored = concurrently(
            lambda: list(client.list_by_workspace(target.resource_group, target.workspace)), in_standby
        )
        return MedTechFacts(primary, mirrored)

    def observe(self, facts: MedTechFacts) -> str:
        if not facts.primary:
            return "no MedTech services in the workspace"
        return ", ".join(f"{m.name} (from {_hub(m)})" for m in facts.primary)

    def plan(self, facts: MedTechFacts) -> list[Change]:
        standby = self.ctx.target.require_standby()
        present = {m.name.lower() for m in facts.standby}
        return [
            Change(
                "recreate",
                medtech.id,
                f"MedTech service {medtech.name} does not fail over: create {medtech.name} in workspace "
                f"{standby.workspace} ({standby.region}) reading {_hub(medtech)} with a consumer group of its own, "
                "the same device and FHIR mappings, and a FHIR destination that is the standby FHIR service",
                severity="warning",
                fixable=False,
            )
            for medtech in facts.primary
            if medtech.name.lower() not in present
        ]


STEPS = [MedTechServices]
