"""Azure API for FHIR (`Microsoft.HealthcareApis/services`): Microsoft replicates and fails over."""

from __future__ import annotations

from typing import Any

from fhirdr.kinds.base import Kind


class ManagedKind(Kind):
    name = "managed"
    title = "Azure API for FHIR"
    enable_runbook = "enable-managed"
    failback_runbook = "failback-managed"
    failover_note = (
        "Azure API for FHIR fails over by itself (Microsoft's automatic failover, RTO 60 min); fhirdr has nothing "
        "to switch. Watch it with `fhirdr status`, rehearse it with `fhirdr drill`, and bring the data back with "
        "`fhirdr failback`"
    )
    endpoint_note = "clients use https://{service}.azurehealthcareapis.com, which Microsoft moves at a failover"
    support_operated = True
    has_service_resource = True
    resource_type = "Microsoft.HealthcareApis/services"

    def discover(
        self, session: Any, subscription: str, group: str, service: str, named: dict[str, Any], flags: dict[str, Any]
    ) -> Any:
        from fhirdr.discover import discover
        from fhirdr.kinds import refuse_options

        refuse_options(self, flags, set())
        return discover(session, subscription, group, service)

    def offered_regions(self, ctx: Any) -> frozenset[str] | None:
        from fhirdr.regions import FHIR_REGIONS

        return FHIR_REGIONS

    def fhir_endpoint(self, target: Any, cloud: Any) -> tuple[str, str]:
        base = f"https://{target.service}.{cloud.fhir_suffix}"
        return base, base
