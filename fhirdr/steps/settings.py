"""The settings of a FHIR service that the CMK and $export checks read, whichever kind of service it is.

Azure API for FHIR keeps them under `cosmosDbConfiguration` and `exportConfiguration`, and its
customer-managed key is used by the Azure Cosmos DB first-party principal. An AHDS FHIR service keeps
them under `encryption.customerManagedKeyEncryption` and `exportConfiguration` (api 2024-03-31,
FhirServices_Create.json), and its key is used by the service's own managed identity
(learn.microsoft.com azure/healthcare-apis/fhir/configure-customer-managed-keys).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fhirdr.kinds import kind_of
from fhirdr.steps.base import Step, text

# Who unwraps the key: the Azure Cosmos DB first-party application, or the service's own identity.
COSMOS = "cosmos"
IDENTITY = "identity"


@dataclass
class ServiceSettings:
    resource: Any
    id: str
    name: str
    location: str
    identity_type: str | None
    principal_id: str | None
    export_account: str | None
    key_uri: str | None
    key_user: str
    provisioning_state: str
    cross_tenant_app: str | None = None


def read_settings(step: Step) -> ServiceSettings:
    """The service's settings, read the way its kind keeps them."""
    return _READERS[kind_of(step.ctx.target).resource_type](step)


def _identity(resource: Any) -> tuple[str | None, str | None]:
    identity = resource.identity
    if identity is None:
        return None, None
    kind = text(identity.type) or None
    return kind, identity.principal_id if kind and "SystemAssigned" in kind else None


def _managed(step: Step) -> ServiceSettings:
    from fhirdr.steps.service import read_service

    service = read_service(step)
    cosmos = service.properties.cosmos_db_configuration
    export = service.properties.export_configuration
    identity_type, principal = _identity(service)
    return ServiceSettings(
        service,
        service.id,
        service.name,
        service.location,
        identity_type,
        principal,
        export.storage_account_name if export else None,
        cosmos.key_vault_key_uri if cosmos else None,
        COSMOS,
        text(service.properties.provisioning_state),
        cosmos.cross_tenant_cmk_application_id if cosmos else None,
    )


def _ahds(step: Step) -> ServiceSettings:
    from fhirdr.steps.standby import read_primary

    service = read_primary(step)
    encryption = getattr(service.encryption, "customer_managed_key_encryption", None)
    identity_type, principal = _identity(service)
    return ServiceSettings(
        service,
        service.id,
        service.name,
        service.location,
        identity_type,
        principal,
        service.export_configuration.storage_account_name if service.export_configuration else None,
        encryption.key_encryption_key_url if encryption else None,
        IDENTITY,
        text(service.provisioning_state),
    )


_READERS = {
    "Microsoft.HealthcareApis/services": _managed,
    "Microsoft.HealthcareApis/workspaces/fhirservices": _ahds,
}
