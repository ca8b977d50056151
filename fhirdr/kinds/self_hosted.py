"""A self-hosted FHIR Server for Azure: compute per region, a geo-replicated Cosmos DB, Traffic Manager.

There is no `Microsoft.HealthcareApis` resource: the server is known by the URL its clients use and
by its compute host in each region; fhirdr itself adds regions, moves the write region and sets
endpoint priorities.
"""

from __future__ import annotations

from typing import Any

from fhirdr.kinds.base import Kind

_NOT_HERE = {
    "private_link": "Private Link of a self-hosted FHIR server is its App Service's private endpoint "
    "(privatelink.azurewebsites.net) and its Cosmos DB account's; fhirdr checks the Azure API for FHIR layout only",
    "cmk": "a self-hosted FHIR server's data is encrypted by its Cosmos DB account (keyVaultKeyUri on the account); "
    "fhirdr checks the Azure API for FHIR key only",
    "export": "a self-hosted FHIR server's $export storage is set in its app settings "
    "(FhirServer__Operations__Export__StorageAccountUri), which fhirdr does not read",
    "iomt": "the IoMT connector is a feature of Azure API for FHIR; a self-hosted server has none",
}


class SelfHostedKind(Kind):
    name = "self-hosted"
    title = "self-hosted FHIR Server for Azure"
    enable_runbook = "enable-self-hosted"
    failback_runbook = "failback-self-hosted"
    failover_note = (
        "a self-hosted FHIR server fails over with its Cosmos DB account (service-managed failover) and Traffic "
        "Manager's priority routing; fhirdr has nothing to switch. Rehearse it with `fhirdr drill` and come back "
        "with `fhirdr failback`"
    )
    endpoint_note = "the Traffic Manager profile in front of its compute ([self_hosted] traffic_manager_profile)"
    write_region_failover = True
    section = "self_hosted"

    def discover(
        self, session: Any, subscription: str, group: str, service: str, named: dict[str, Any], flags: dict[str, Any]
    ) -> Any:
        from fhirdr.discover import discover_self_hosted
        from fhirdr.errors import TargetError
        from fhirdr.kinds import refuse_options

        refuse_options(self, flags, {"cosmos_account", "traffic_manager"})
        if not named.get("cosmos_account"):
            raise TargetError("fhirdr init --kind self-hosted needs --cosmos-account (and --traffic-manager)")
        return discover_self_hosted(
            session, subscription, group, service, named["cosmos_account"], named.get("traffic_manager")
        )

    def fhir_endpoint(self, target: Any, cloud: Any) -> tuple[str, str]:
        hosted = target.require_self_hosted()
        base = hosted.url or ""
        return base, (hosted.audience or base)

    def not_applicable(self, area: str) -> str | None:
        return _NOT_HERE.get(area)
