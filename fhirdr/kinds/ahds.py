"""The Azure Health Data Services FHIR service (`workspaces/fhirservices`), which has no cross-region DR.

fhirdr builds it: a standby FHIR service in a second region with the same configuration, kept in
step by replication (`fhirdr replicate`), with one endpoint for clients and failover on top.
"""

from __future__ import annotations

import re
from typing import Any

from fhirdr.kinds.base import Kind

# Workspace and FHIR service names: 3 to 24 characters (the SDK's URL validation); the endpoint
# https://{workspace}-{service}.fhir.azurehealthcareapis.com leaves no room for hyphens in either.
NAME = re.compile(r"^[a-z0-9]{3,24}$")


class AhdsKind(Kind):
    name = "ahds"
    title = "Azure Health Data Services FHIR service"
    enable_runbook = "enable-ahds"
    failover_runbook = "failover-ahds"
    failback_runbook = "failback-ahds"
    endpoint_runbook = "endpoint-ahds"
    section = "standby"
    status_reader = "standby"
    resource_type = "Microsoft.HealthcareApis/workspaces/fhirservices"
    service_name = NAME
    service_name_rule = "3 to 24 lower-case letters and digits"

    def discover(
        self, session: Any, subscription: str, group: str, service: str, named: dict[str, Any], flags: dict[str, Any]
    ) -> Any:
        from fhirdr.discover import discover_ahds
        from fhirdr.errors import TargetError
        from fhirdr.kinds import refuse_options

        refuse_options(self, flags, {"workspace"})
        if not named.get("workspace"):
            raise TargetError("fhirdr init --kind ahds needs --workspace (the workspace of the FHIR service -n)")
        return discover_ahds(session, subscription, group, named["workspace"], service, ahds_regions(session))

    def offered_regions(self, ctx: Any) -> frozenset[str] | None:
        return ahds_regions(ctx.azure)

    def fhir_endpoint(self, target: Any, cloud: Any) -> tuple[str, str]:
        base = service_url(target.workspace, target.service, cloud.fhir_suffix)
        return base, base

    def check_runbook(self, area: str) -> str:
        # The same checks, plus the standby's side, and what a regional outage means without built-in DR;
        # Private Link is the workspace's (it covers every service in it), with the standby's endpoint added.
        return f"{area}-ahds" if area in ("cmk", "export", "iomt", "private-link") else area


def ahds_regions(session: Any) -> frozenset[str]:
    """Where the FHIR service is offered, as the provider's registration in the subscription says."""
    from fhirdr.azure.session import azure_errors
    from fhirdr.regions import normalise_region

    with azure_errors("reading where Microsoft.HealthcareApis offers FHIR services"):
        provider = session.resources().providers.get("Microsoft.HealthcareApis")
    for resource_type in provider.resource_types or []:
        if (resource_type.resource_type or "").lower() == "workspaces/fhirservices":
            return frozenset(normalise_region(location) for location in resource_type.locations or [])
    return frozenset()


def service_url(workspace: str, service: str, fhir_suffix: str) -> str:
    """The FHIR endpoint of an AHDS FHIR service; its default token audience is the same URL."""
    return f"https://{workspace}-{service}.fhir.{fhir_suffix}"
