"""Builds the simulated world `fhirdr sim init` starts from, and the target file describing it."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fhirdr.azure.clouds import Cloud, get_cloud
from fhirdr.sim.graph import RUNNER_OBJECT_ID, service_principal_object_id
from fhirdr.sim.providers.authorization import ASSIGNMENT_TYPE, BUILT_IN_ROLES, role_definition_id
from fhirdr.sim.providers.cosmosdb import ACCOUNT_TYPE, DEFAULT_LAG_MS, account_body, put_throughput, replication_key
from fhirdr.sim.providers.healthcareapis import CONNECTION_TYPE, SERVICE_TYPE, dr_state_key, put_iomt
from fhirdr.sim.providers.keyvault import KEY_TYPE, VAULT_TYPE, key_body, vault_body
from fhirdr.sim.providers.network import PRIVATE_ENDPOINT_TYPE, put_nic, put_vnet, put_zone_group
from fhirdr.sim.providers.privatedns import put_link, put_record, put_zone
from fhirdr.sim.providers.resources import create_group
from fhirdr.sim.providers.storage import ACCOUNT_TYPE as STORAGE_TYPE
from fhirdr.sim.providers.storage import account_body as storage_body
from fhirdr.sim.providers.subscriptions import display_name
from fhirdr.sim.providers.trafficmanager import new_profile, put_endpoint
from fhirdr.sim.providers.workspaces import fhir_service_body, put_medtech, put_workspace
from fhirdr.sim.router import DEFAULT_PAGE_SIZE
from fhirdr.sim.servers import register_self_hosted, self_hosted_key
from fhirdr.sim.store import Store
from fhirdr.target import RENAMED_KINDS

# The regions a world of a sovereign cloud starts in (its own paired regions).
CLOUD_REGIONS: dict[str, dict[str, str]] = {
    "AzureUSGovernment": {"primary_region": "usgovvirginia", "secondary_region": "usgovtexas"},
    "AzureChinaCloud": {"primary_region": "chinanorth3", "secondary_region": "chinaeast3"},
}


# What the identity signed in to the sim holds on an AHDS world's resource group, so that it may do replication's
# data-plane work on the primary, the standby (in the same group) and the storage account between them
# (learn.microsoft.com azure/healthcare-apis/configure-azure-rbac, fhir/import-data; built-in-roles).
RUNNER_ROLES = ("FHIR Data Exporter", "FHIR Data Importer", "FHIR Data Contributor", "Storage Blob Data Contributor")


@dataclass(frozen=True)
class WorldSpec:
    """What `sim init` builds; every default is what the README and tests describe."""

    service: str = "fhirdemo"
    resource_group: str = "fhir-dr-rg"
    primary_region: str = "westus2"
    secondary_region: str = "westcentralus"
    primary_address_space: str = "10.10.0.0/16"
    endpoint_subnet: str = "10.10.1.0/24"
    endpoint_ip: str = "10.10.1.4"
    secondary_address_space: str = "10.20.0.0/16"
    endpoint_pending: bool = False
    page_size: int = DEFAULT_PAGE_SIZE
    seed: str = "fhirdr"
    kind: str = "managed"
    data_gb: float = 2.0
    detection_delay_minutes: float = 10.0
    replication_lag_ms: int = DEFAULT_LAG_MS
    dr_enabled: bool = False  # build the world with DR already on (what `fhirdr --sim drill` starts from)
    cmk: bool = False  # a customer-managed key in a key vault
    export: bool = False  # $export to a storage account
    iomt: bool = False  # an IoMT connector with connections
    mistakes: tuple[str, ...] = ()  # typical mistakes to build in (see MISTAKES)
    offer_throughput: int = 1000
    cosmos_throughput: int | None = None  # None: the same as the service's (parity)
    # "providers": existing role assignments name their role as /providers/Microsoft.Authorization/
    # roleDefinitions/{guid} (inherited from a management group; the spec's list example), not
    # /subscriptions/{sub}/providers/...
    role_id_form: str = "subscription"
    graph_denied: bool = False  # Microsoft Graph answers 403 Authorization_RequestDenied (no Application.Read.All)
    # none | basic | developer | standard | professional-direct | premier | unified: the API files tickets
    # on professional-direct, premier and unified only (learn.microsoft.com/rest/api/support, prerequisites)
    support_plan: str = "premier"
    support_history: tuple[str, ...] = ()  # tickets the subscription already has (see SUPPORT_HISTORY)
    support_role: bool = True  # False: the caller lacks Support Request Contributor (403 AuthorizationFailed)
    dr_classification: bool = True  # False: no "Disaster recovery / ..." problem classification is listed
    vault_resource_group: str | None = None  # the key vault and export storage account live in this other group
    storage_access_rules: bool = False  # the export account's firewall also has resource access and IPv6 rules
    # Resource Health answers (False: 403, the identity lacks Microsoft.ResourceHealth/availabilityStatuses/read).
    resource_health: bool = True
    # Which of Azure Monitor's time grains have a value: "but-newest" (the usual case: the newest grain is still
    # empty), "all", or "none" (no point has a value yet).
    metric_values: str = "but-newest"
    # Traffic Manager endpoints carry endpointLocation (False: Priority routing without it, as Azure allows).
    endpoint_location: bool = True
    cloud: str = "AzureCloud"  # AzureUSGovernment / AzureChinaCloud: that cloud's regions, DNS names and app ids
    # How the private endpoint shows its IP: "custom" (customDnsConfigs), "zone-group" (DNS managed by a private
    # DNS zone group: customDnsConfigs empty, the IP in ipConfigurations), "updating" (the endpoint is Updating:
    # customDnsConfigs empty, only its NIC has the IP).
    pe_dns: str = "custom"
    # kind ahds: the roles (by name) the signed-in identity holds on the resource group; a test leaves one out.
    runner_roles: tuple[str, ...] = RUNNER_ROLES

    @property
    def azure_cloud(self) -> Cloud:
        return get_cloud(self.cloud)

    workspace: str = "contosohealth"  # kind ahds: the AHDS workspace the FHIR service `service` is in

    def __post_init__(self) -> None:
        # The kind's old name still builds the same world, for one release.
        object.__setattr__(self, "kind", RENAMED_KINDS.get(self.kind, self.kind))

    @property
    def subscription(self) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.seed}/subscription"))

    @property
    def primary_vnet(self) -> str:
        return f"fhir-vnet-{self.primary_region}"

    @property
    def secondary_vnet(self) -> str:
        return f"fhir-vnet-{self.secondary_region}"

    @property
    def private_endpoint(self) -> str:
        return f"{self.service}-pe"

    @property
    def cosmos_account(self) -> str:
        return f"{self.service}-cosmos"

    @property
    def traffic_manager(self) -> str:
        return f"{self.service}-tm"

    @property
    def export_account(self) -> str:
        return "".join(ch for ch in f"{self.service}exports" if ch.isalnum())[:24]

    def compute(self, region: str) -> str:
        """The FHIR server's App Service host in a region (self-hosted worlds)."""
        return f"{self.service}-{region}.azurewebsites.net"

    @property
    def fhir_url(self) -> str:
        """What clients of a self-hosted server use: the Traffic Manager profile's DNS name."""
        return f"https://{self.traffic_manager}.trafficmanager.net"


def build_world(path: Path, spec: WorldSpec) -> Store:
    """Create a new world file at `path` (which must not exist) and populate it."""
    store = Store(path)
    store.create(
        {
            "subscription": spec.subscription,
            "seed": spec.seed,
            "page_size": str(spec.page_size),
            "clock": repr(float(int(time.time()))),
            "created": str(int(time.time())),
            "primary_region": spec.primary_region,
            "secondary_region": spec.secondary_region,
            "kind": spec.kind,
            "data_gb": repr(spec.data_gb),
            "detection_delay": repr(spec.detection_delay_minutes * 60),
            "replication_lag_ms": str(spec.replication_lag_ms),
            "cloud": spec.azure_cloud.name,
            "support_plan": spec.support_plan,
            "support_role": "granted" if spec.support_role else "missing",
            "dr_classification": "listed" if spec.dr_classification else "absent",
            # the target describing this world: `--sim` without a target file, and `sim init` without --force, use it
            "target": json.dumps(target_for(spec)),
        }
    )
    with store.transaction():
        _populate(store, spec)
        if not spec.resource_health:
            store.set_meta("resource_health_denied", "1")
        store.set_meta("metric_values", spec.metric_values)
        store.record_event("world.created", {"service": spec.service, "primary": spec.primary_region})
    return store


def _populate(store: Store, spec: WorldSpec) -> None:
    sub = spec.subscription
    gid = f"/subscriptions/{sub}/resourceGroups/{spec.resource_group}"
    create_group(store, sub, spec.resource_group, spec.primary_region)

    vnet_id = f"{gid}/providers/Microsoft.Network/virtualNetworks/{spec.primary_vnet}"
    put_vnet(
        store,
        f'W/"{store.new_uuid()}"',
        vnet_id,
        spec.primary_vnet,
        spec.primary_region,
        {
            "addressSpace": {"addressPrefixes": [spec.primary_address_space]},
            "subnets": [{"name": "private-endpoints", "properties": {"addressPrefix": spec.endpoint_subnet}}],
        },
        {},
        "Succeeded",
        None,
    )

    service_id = f"{gid}/providers/Microsoft.HealthcareApis/services/{spec.service}"
    store.put(
        service_id,
        SERVICE_TYPE,
        gid,
        {
            "id": service_id,
            "name": spec.service,
            "type": SERVICE_TYPE,
            "kind": "fhir-R4",
            "location": spec.primary_region,
            "etag": store.new_uuid(),
            "tags": {},
            "identity": {"type": "None"},
            "properties": {
                "provisioningState": "Succeeded",
                "accessPolicies": [],
                "cosmosDbConfiguration": {"offerThroughput": spec.offer_throughput},
                "authenticationConfiguration": {
                    "authority": "https://login.microsoftonline.com/"
                    + str(uuid.uuid5(uuid.NAMESPACE_URL, spec.seed + "/tenant")),
                    "audience": f"https://{spec.service}.{spec.azure_cloud.fhir_suffix}",
                    "smartProxyEnabled": False,
                },
                "corsConfiguration": {"origins": [], "headers": [], "methods": [], "allowCredentials": False},
                "exportConfiguration": {},
                "publicNetworkAccess": "Disabled",
            },
        },
    )

    endpoint_id = f"{gid}/providers/Microsoft.Network/privateEndpoints/{spec.private_endpoint}"
    connection_name = f"{spec.private_endpoint}.{store.new_uuid()}"
    state = {
        "status": "Pending" if spec.endpoint_pending else "Approved",
        "description": "Awaiting approval" if spec.endpoint_pending else "Auto-approved",
        "actionsRequired": "None",
    }
    connection_list = "privateLinkServiceConnections"
    if spec.endpoint_pending:
        connection_list = "manualPrivateLinkServiceConnections"
    plsc = {
        "id": f"{endpoint_id}/{connection_list}/{spec.private_endpoint}",
        "name": spec.private_endpoint,
        "type": "Microsoft.Network/privateEndpoints/privateLinkServiceConnections",
        "properties": {
            "privateLinkServiceId": service_id,
            "groupIds": ["fhir"],
            "privateLinkServiceConnectionState": dict(state),
            "provisioningState": "Succeeded",
        },
    }
    fqdn = f"{spec.service}.{spec.azure_cloud.fhir_suffix}"
    nic_id = f"{gid}/providers/Microsoft.Network/networkInterfaces/{spec.private_endpoint}.nic"
    custom = spec.pe_dns == "custom"
    store.put(
        endpoint_id,
        PRIVATE_ENDPOINT_TYPE,
        gid,
        {
            "id": endpoint_id,
            "name": spec.private_endpoint,
            "type": PRIVATE_ENDPOINT_TYPE,
            "location": spec.primary_region,
            "etag": f'W/"{store.new_uuid()}"',
            "tags": {},
            "properties": {
                "provisioningState": "Updating" if spec.pe_dns == "updating" else "Succeeded",
                "resourceGuid": store.new_uuid(),
                "subnet": {"id": f"{vnet_id}/subnets/private-endpoints"},
                "privateLinkServiceConnections": [] if spec.endpoint_pending else [plsc],
                "manualPrivateLinkServiceConnections": [plsc] if spec.endpoint_pending else [],
                "customDnsConfigs": [{"fqdn": fqdn, "ipAddresses": [spec.endpoint_ip]}] if custom else [],
                "ipConfigurations": []
                if spec.pe_dns != "zone-group"
                else [
                    {
                        "name": "fhir-ipconfig",
                        "properties": {"groupId": "fhir", "memberName": "fhir", "privateIPAddress": spec.endpoint_ip},
                    }
                ],
                "networkInterfaces": [{"id": nic_id}],
            },
        },
    )
    subnet_id = f"{vnet_id}/subnets/private-endpoints"
    put_nic(store, nic_id, spec.primary_region, subnet_id, spec.endpoint_ip, "fhir", [fqdn])
    connection_id = f"{service_id}/privateEndpointConnections/{connection_name}"
    store.put(
        connection_id,
        CONNECTION_TYPE,
        service_id,
        {
            "id": connection_id,
            "name": connection_name,
            "type": CONNECTION_TYPE,
            "etag": store.new_uuid(),
            "properties": {
                "privateEndpoint": {"id": endpoint_id},
                "privateLinkServiceConnectionState": dict(state),
                "provisioningState": "Succeeded",
            },
        },
    )

    zone = spec.azure_cloud.private_link_zone
    zone_id = f"{gid}/providers/Microsoft.Network/privateDnsZones/{zone}"
    put_zone(store, zone_id, zone, store.new_uuid(), "Succeeded", {})
    put_record(
        store,
        f"{zone_id}/A/{spec.service}",
        zone_id,
        "A",
        spec.service,
        zone,
        store.new_uuid(),
        {"ttl": 10, "aRecords": [{"ipv4Address": spec.endpoint_ip}]},
    )
    put_link(
        store,
        f"{zone_id}/virtualNetworkLinks/{spec.primary_vnet}-link",
        zone_id,
        f"{spec.primary_vnet}-link",
        store.new_uuid(),
        vnet_id,
        False,
        "Succeeded",
        "Completed",
    )
    if spec.pe_dns == "zone-group":
        put_zone_group(store, store.get(endpoint_id), "default", [zone_id], f'W/"{store.new_uuid()}"')
    if spec.kind == "self-hosted":
        _populate_self_hosted(store, spec, gid)
    if spec.dr_enabled and spec.kind != "ahds":
        _enable_dr(store, spec, gid)
    service_id = f"{gid}/providers/Microsoft.HealthcareApis/services/{spec.service}"
    keys_gid = gid
    if spec.vault_resource_group and (spec.cmk or spec.export):
        create_group(store, sub, spec.vault_resource_group, spec.primary_region)
        keys_gid = f"/subscriptions/{sub}/resourceGroups/{spec.vault_resource_group}"
    if spec.kind in ("self-hosted", "ahds"):
        _remove_managed_service(store, service_id, gid, spec)
        if spec.kind == "self-hosted":
            return
        service_id = _populate_ahds(store, spec, gid)
        _populate_runner_roles(store, spec, gid)
        _populate_workspace_private_link(store, spec, gid, vnet_id)
        if spec.iomt:
            put_medtech(
                store,
                service_id.rsplit("/fhirservices/", 1)[0],
                "devices",
                spec.primary_region,
                "devices-eventhub",
                f"{spec.service}-events.servicebus.windows.net",
            )
    if spec.export:
        _populate_export(store, spec, keys_gid, service_id)
    if spec.cmk:
        _populate_cmk(store, spec, keys_gid, service_id)
    if spec.graph_denied:
        store.set_meta("graph_denied", "1")
    if spec.kind == "managed" and spec.support_history:
        _populate_support_history(store, spec, service_id)
    if spec.iomt and spec.kind != "ahds":
        put_iomt(
            store,
            service_id,
            "iomt-ingest",
            spec.primary_region,
            _iso(store.now() - 86400),
            [("devices-eventhub", _iso(store.now() - 86400))],
        )


# name: (the part of the world it is in, what it does)
MISTAKES: dict[str, tuple[str, str]] = {
    "no-purge-protection": ("cmk", "the key vault has purge protection off"),
    "no-soft-delete": ("cmk", "the key vault has soft delete off"),
    "no-access-policy": ("cmk", "Azure Cosmos DB may only get the key (no wrap/unwrap)"),
    "rbac-vault": ("cmk", "the vault uses Azure RBAC and Azure Cosmos DB has no role on it"),
    "small-key": ("cmk", "the key is RSA 2048"),
    "expired-key": ("cmk", "the key expired yesterday"),
    "disabled-key": ("cmk", "the key is disabled"),
    "vault-firewall": ("cmk", "the vault denies by default without trusted Microsoft services"),
    "private-vault": ("cmk", "the vault only accepts private endpoints"),
    "no-identity": ("export", "the service's managed identity is off"),
    "no-role": ("export", "the identity has no Storage Blob Data Contributor role"),
    "storage-firewall": ("export", "the storage account denies by default without trusted Microsoft services"),
    "lrs": ("export", "the storage account is LRS"),
    "failed-over": ("export", "the storage account was geo-failed over and is now LRS"),
    "other-subscription": ("export", "the export storage account is not in the service's subscription"),
}


def _iso(seconds: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(seconds, timezone.utc).isoformat().replace("+00:00", "Z")


def _tenant(spec: WorldSpec) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, spec.seed + "/tenant"))


def _update_service(store: Store, service_id: str, change: Any) -> None:
    service = store.get(service_id)
    assert service is not None
    change(service.body)
    store.put(service.id, service.type, service.id.split("/providers/")[0], service.body)


def _populate_cmk(store: Store, spec: WorldSpec, gid: str, service_id: str) -> None:
    mistakes = set(spec.mistakes)
    vault = f"{spec.service}-kv"
    vault_id = f"{gid}/providers/Microsoft.KeyVault/vaults/{vault}"
    props: dict[str, Any] = {"enableSoftDelete": "no-soft-delete" not in mistakes}
    if "no-purge-protection" not in mistakes and "no-soft-delete" not in mistakes:
        props["enablePurgeProtection"] = True
    if "rbac-vault" in mistakes:
        props["enableRbacAuthorization"] = True
    if "vault-firewall" in mistakes:
        props["networkAcls"] = {"bypass": "None", "defaultAction": "Deny", "ipRules": [], "virtualNetworkRules": []}
    if "private-vault" in mistakes:
        props["publicNetworkAccess"] = "Disabled"
    body = vault_body(vault_id, vault, spec.primary_region, _tenant(spec), **props)
    service = store.get(service_id)
    assert service is not None
    # Azure API for FHIR's key is used by the Azure Cosmos DB application; an AHDS FHIR service's by its identity.
    user = (
        service.body.get("identity", {}).get("principalId")
        if spec.kind == "ahds"
        else service_principal_object_id(store, spec.azure_cloud.cosmos_cmk_app_id)
    )
    if "rbac-vault" not in mistakes:
        keys = ["get"] if "no-access-policy" in mistakes else ["get", "wrapKey", "unwrapKey"]
        body["properties"]["accessPolicies"] = [
            {
                "tenantId": _tenant(spec),
                "objectId": user,
                "permissions": {"keys": keys, "secrets": [], "certificates": []},
            }
        ]
    store.put(vault_id, VAULT_TYPE, gid, body)
    now = int(store.now())
    expires = now - 86400 if "expired-key" in mistakes else now + 365 * 86400
    key = key_body(
        vault_id,
        vault,
        "fhir-cmk",
        spec.primary_region,
        2048 if "small-key" in mistakes else 3072,
        "disabled-key" not in mistakes,
        expires,
        now - 30 * 86400,
    )
    store.put(key["id"], KEY_TYPE, vault_id, key)
    uri = f"https://{vault}.vault.azure.net/keys/fhir-cmk"
    if spec.kind == "ahds":
        _update_service(
            store,
            service_id,
            lambda b: b["properties"].update(
                {"encryption": {"customerManagedKeyEncryption": {"keyEncryptionKeyUrl": uri}}}
            ),
        )
    else:
        _update_service(
            store, service_id, lambda b: b["properties"]["cosmosDbConfiguration"].update({"keyVaultKeyUri": uri})
        )


def _populate_export(store: Store, spec: WorldSpec, gid: str, service_id: str) -> None:
    mistakes = set(spec.mistakes)
    name = spec.export_account
    account_id = f"{gid}/providers/Microsoft.Storage/storageAccounts/{name}"
    sku = "Standard_LRS" if {"lrs", "failed-over"} & mistakes else "Standard_GRS"
    extra: dict[str, Any] = {}
    if "failed-over" in mistakes:
        extra["lastGeoFailoverTime"] = _iso(store.now() - 7 * 86400)
    if "storage-firewall" in mistakes:
        extra["networkAcls"] = {
            "bypass": "None",
            "defaultAction": "Deny",
            "ipRules": [],
            "virtualNetworkRules": [],
            "resourceAccessRules": [],
        }
    if spec.storage_access_rules:
        # Rules other tools rely on (a Synapse workspace's resource instance rule, an IPv6 range): a
        # networkAcls PATCH that leaves them out removes them (specification/storage/.../examples/
        # StorageAccountUpdate.json shows them inside networkAcls).
        acls = extra.setdefault(
            "networkAcls",
            {"bypass": "AzureServices", "defaultAction": "Allow", "ipRules": [], "virtualNetworkRules": []},
        )
        acls["resourceAccessRules"] = [
            {
                "tenantId": _tenant(spec),
                "resourceId": f"/subscriptions/{spec.subscription}/resourceGroups/{spec.resource_group}"
                "/providers/Microsoft.Synapse/workspaces/analytics",
            }
        ]
        acls["ipv6Rules"] = [{"value": "2001:db8:1234::/48", "action": "Allow"}]
        acls["virtualNetworkRules"] = [
            {
                "id": f"/subscriptions/{spec.subscription}/resourceGroups/{spec.resource_group}"
                f"/providers/Microsoft.Network/virtualNetworks/{spec.primary_vnet}/subnets/private-endpoints",
                "action": "Allow",
                "state": "Succeeded",
            }
        ]
    store.put(
        account_id,
        STORAGE_TYPE,
        gid,
        storage_body(account_id, name, spec.primary_region, spec.secondary_region, sku, **extra),
    )
    current = (store.get(service_id).body.get("identity") or {}) if store.get(service_id) else {}
    principal = current.get("principalId") or str(
        uuid.uuid5(uuid.NAMESPACE_URL, f"{spec.seed}/identity/{spec.service}")
    )
    identity = (
        {"type": "None"}
        if "no-identity" in mistakes
        else {"type": "SystemAssigned", "principalId": principal, "tenantId": _tenant(spec)}
    )
    exported = "fhirexternalacct" if "other-subscription" in mistakes else name

    def configure(body: dict[str, Any]) -> None:
        body["identity"] = identity
        body["properties"]["exportConfiguration"] = {"storageAccountName": exported}

    _update_service(store, service_id, configure)
    if "no-role" not in mistakes and "no-identity" not in mistakes:
        role = role_definition_id(spec.subscription, "ba92f5b4-2d11-453d-a403-e96b0029c9fe", spec.role_id_form)
        assignment_id = f"{account_id}/providers/Microsoft.Authorization/roleAssignments/{store.new_uuid()}"
        store.put(
            assignment_id,
            ASSIGNMENT_TYPE,
            account_id,
            {
                "id": assignment_id,
                "name": assignment_id.rsplit("/", 1)[-1],
                "type": ASSIGNMENT_TYPE,
                "properties": {
                    "roleDefinitionId": role,
                    "principalId": principal,
                    "principalType": "ServicePrincipal",
                    "scope": account_id,
                },
            },
        )


def _closed_dr_ticket(store: Store, spec: WorldSpec, service_id: str) -> None:
    """The DR request support already worked, as a managed service with DR on would have in its history."""
    from fhirdr.sim.providers import support

    ticket_id = _history_ticket(store, spec, f"dr-enabled-{spec.service}", service_id, 30)
    support.add_communication(
        store,
        ticket_id,
        "Disaster recovery is enabled",
        f"The initial replication to {spec.secondary_region} is complete. Disaster recovery is on.",
    )


def _history_ticket(store: Store, spec: WorldSpec, name: str, service_id: str, days_ago: int) -> str:
    from fhirdr.sim.providers import support

    return support.put_ticket(
        store,
        spec.subscription,
        name,
        service_id,
        support.DR_ENABLE,
        "Closed",
        store.now() - days_ago * 86400,
        f"Resource id: {service_id}\nPreferred secondary region: {spec.secondary_region}",
    )


# `sim init --support-history`: tickets the subscription already has, each a way a naive reading goes wrong.
SUPPORT_HISTORY = {
    "closed-unfulfilled": "a Closed DR request for the service that support never confirmed",
    "other-service": "the newest DR request is about another service of the subscription, confirmed",
}


def _populate_support_history(store: Store, spec: WorldSpec, service_id: str) -> None:
    from fhirdr.sim.providers import support

    if "closed-unfulfilled" in spec.support_history:
        ticket = _history_ticket(store, spec, f"dr-request-{spec.service}", service_id, 20)
        support.add_communication(
            store, ticket, "We are looking into your request", "A support engineer will contact you."
        )
    if "other-service" in spec.support_history:
        other = service_id.rsplit("/", 1)[0] + f"/{spec.service}other"
        ticket = _history_ticket(store, spec, f"dr-enabled-{spec.service}other", other, 5)
        support.add_communication(store, ticket, "Disaster recovery is enabled", "Disaster recovery is on.")


def _enable_dr(store: Store, spec: WorldSpec, gid: str) -> None:
    service_id = f"{gid}/providers/Microsoft.HealthcareApis/services/{spec.service}"
    if spec.kind != "self-hosted":
        store.set_json(
            dr_state_key(service_id), {"secondary": spec.secondary_region, "state": "on", "since": store.now()}
        )
        _closed_dr_ticket(store, spec, service_id)
        return
    account_id = f"{gid}/providers/Microsoft.DocumentDB/databaseAccounts/{spec.cosmos_account}"
    store.put(
        account_id,
        ACCOUNT_TYPE,
        gid,
        account_body(
            spec.cosmos_account, account_id, spec.primary_region, [spec.primary_region, spec.secondary_region], True
        ),
    )
    profile_id = f"{gid}/providers/Microsoft.Network/trafficManagerProfiles/{spec.traffic_manager}"
    put_endpoint(
        store,
        profile_id,
        "externalEndpoints",
        f"{spec.service}-{spec.secondary_region}",
        {
            "endpointStatus": "Enabled",
            "endpointMonitorStatus": "Online",
            "target": spec.compute(spec.secondary_region),
            "weight": 1,
            "priority": 2,
            **({"endpointLocation": display_name(spec.secondary_region)} if spec.endpoint_location else {}),
        },
    )


def _populate_self_hosted(store: Store, spec: WorldSpec, gid: str) -> None:
    """A FHIR Server for Azure run by its operator: App Service per region, Cosmos DB, Traffic Manager."""
    account_id = f"{gid}/providers/Microsoft.DocumentDB/databaseAccounts/{spec.cosmos_account}"
    store.put(
        account_id,
        ACCOUNT_TYPE,
        gid,
        account_body(spec.cosmos_account, account_id, spec.primary_region, [spec.primary_region], False),
    )
    put_throughput(store, account_id, "fhir", spec.cosmos_throughput or spec.offer_throughput)
    store.set_json(replication_key(account_id), {"lag_ms": spec.replication_lag_ms, "data_gb": spec.data_gb})
    profile_id = f"{gid}/providers/Microsoft.Network/trafficManagerProfiles/{spec.traffic_manager}"
    new_profile(store, profile_id, spec.traffic_manager)
    hosts: dict[str, str | None] = {f"{spec.traffic_manager}.trafficmanager.net": None}
    hosts.update({spec.compute(region): region for region in (spec.primary_region, spec.secondary_region)})
    register_self_hosted(
        store, self_hosted_key(spec.subscription, spec.resource_group, spec.service), account_id, profile_id, hosts
    )
    put_endpoint(
        store,
        profile_id,
        "externalEndpoints",
        f"{spec.service}-{spec.primary_region}",
        {
            "endpointStatus": "Enabled",
            "endpointMonitorStatus": "Online",
            "target": spec.compute(spec.primary_region),
            "weight": 1,
            "priority": 1,
            **({"endpointLocation": display_name(spec.primary_region)} if spec.endpoint_location else {}),
        },
    )


# The data-plane roles the AHDS world's primary grants (learn.microsoft.com azure/role-based-access-control/
# built-in-roles, "FHIR Data Contributor" and "FHIR Data Reader").
FHIR_DATA_CONTRIBUTOR = "5a1fc7df-4bf1-4951-a576-89034ee01acd"
FHIR_DATA_READER = "4c8d0bbc-75d3-4935-991f-5f3c56d81508"


def ahds_service_id(spec: WorldSpec) -> str:
    return (
        f"/subscriptions/{spec.subscription}/resourceGroups/{spec.resource_group}/providers/"
        f"Microsoft.HealthcareApis/workspaces/{spec.workspace}/fhirservices/{spec.service}"
    )


def _populate_ahds(store: Store, spec: WorldSpec, gid: str) -> str:
    """An AHDS workspace with a configured FHIR service in the primary region; nothing in the secondary."""
    workspace_id = f"{gid}/providers/Microsoft.HealthcareApis/workspaces/{spec.workspace}"
    put_workspace(store, workspace_id, spec.workspace, spec.primary_region)
    account_id = f"{gid}/providers/Microsoft.Storage/storageAccounts/{spec.export_account}"
    store.put(
        account_id,
        STORAGE_TYPE,
        gid,
        storage_body(account_id, spec.export_account, spec.primary_region, spec.secondary_region, "Standard_GRS"),
    )
    url = f"https://{spec.workspace}-{spec.service}.fhir.azurehealthcareapis.com"
    identity = {
        "type": "SystemAssigned",
        "principalId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{spec.seed}/identity/{spec.workspace}/{spec.service}")),
        "tenantId": _tenant(spec),
    }
    body = fhir_service_body(
        store,
        ahds_service_id(spec),
        spec.primary_region,
        "fhir-R4",
        identity,
        {
            "authenticationConfiguration": {
                "authority": f"https://login.microsoftonline.com/{_tenant(spec)}",
                "audience": url,
                "smartProxyEnabled": False,
            },
            "corsConfiguration": {
                "origins": ["https://portal.contoso.example"],
                "headers": ["*"],
                "methods": ["GET", "POST", "PUT", "DELETE"],
                "maxAge": 600,
                "allowCredentials": False,
            },
            "exportConfiguration": {"storageAccountName": spec.export_account},
            "resourceVersionPolicyConfiguration": {"default": "versioned", "resourceTypeOverrides": {}},
        },
    )
    store.put(body["id"], body["type"], workspace_id, body)
    # $export works (unless --export builds its mistakes in): the service's identity can write to its export account.
    if not spec.export:
        blob_role = f"{account_id}/providers/Microsoft.Authorization/roleAssignments/{store.new_uuid()}"
        store.put(
            blob_role,
            ASSIGNMENT_TYPE,
            account_id,
            {
                "id": blob_role,
                "name": blob_role.rsplit("/", 1)[-1],
                "type": ASSIGNMENT_TYPE,
                "properties": {
                    "roleDefinitionId": role_definition_id(spec.subscription, "ba92f5b4-2d11-453d-a403-e96b0029c9fe"),
                    "principalId": identity["principalId"],
                    "principalType": "ServicePrincipal",
                    "scope": account_id,
                },
            },
        )
    for role, who in ((FHIR_DATA_CONTRIBUTOR, "clinical-app"), (FHIR_DATA_READER, "analytics-app")):
        assignment_id = f"{body['id']}/providers/Microsoft.Authorization/roleAssignments/{store.new_uuid()}"
        store.put(
            assignment_id,
            ASSIGNMENT_TYPE,
            body["id"],
            {
                "id": assignment_id,
                "name": assignment_id.rsplit("/", 1)[-1],
                "type": ASSIGNMENT_TYPE,
                "properties": {
                    "roleDefinitionId": f"/subscriptions/{spec.subscription}/providers/Microsoft.Authorization/"
                    f"roleDefinitions/{role}",
                    "principalId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{spec.seed}/principal/{who}")),
                    "principalType": "ServicePrincipal",
                    "scope": body["id"],
                },
            },
        )
    return body["id"]


def _populate_runner_roles(store: Store, spec: WorldSpec, gid: str) -> None:
    """The signed-in identity's roles, assigned on the resource group and inherited by everything in it."""
    guids = {name: guid for guid, name in BUILT_IN_ROLES.items()}
    for role in spec.runner_roles:
        name = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{spec.seed}/runner/{guids[role]}"))
        assignment_id = f"{gid}/providers/Microsoft.Authorization/roleAssignments/{name}"
        store.put(
            assignment_id,
            ASSIGNMENT_TYPE,
            gid,
            {
                "id": assignment_id,
                "name": name,
                "type": ASSIGNMENT_TYPE,
                "properties": {
                    "roleDefinitionId": role_definition_id(spec.subscription, guids[role], spec.role_id_form),
                    "principalId": RUNNER_OBJECT_ID,
                    "principalType": "User",
                    "scope": gid,
                },
            },
        )


def ahds_zones(spec: WorldSpec) -> tuple[str, str]:
    """The zones a workspace's private endpoint uses (FHIR, DICOM), per the healthcare-apis Private Link article."""
    zone = spec.azure_cloud.private_link_zone
    return zone, zone.replace("privatelink.", "privatelink.dicom.", 1)


def _populate_workspace_private_link(store: Store, spec: WorldSpec, gid: str, vnet_id: str) -> None:
    """Private Link on the workspace (it covers every service in it): an approved endpoint in the primary VNet
    whose DNS is managed by a private DNS zone group over the FHIR and DICOM zones, both linked to that VNet."""
    from fhirdr.sim.providers.workspaces import WORKSPACE_CONNECTION_TYPE, private_link_fqdns

    workspace_id = f"{gid}/providers/Microsoft.HealthcareApis/workspaces/{spec.workspace}"
    name = f"{spec.workspace}-pe"
    endpoint_id = f"{gid}/providers/Microsoft.Network/privateEndpoints/{name}"
    nic_id = f"{gid}/providers/Microsoft.Network/networkInterfaces/{name}.nic"
    subnet_id = f"{vnet_id}/subnets/private-endpoints"
    state = {"status": "Approved", "description": "Auto-Approved", "actionsRequired": "None"}
    put_nic(
        store,
        nic_id,
        spec.primary_region,
        subnet_id,
        spec.endpoint_ip,
        "healthcareworkspace",
        private_link_fqdns(store, workspace_id),
    )
    store.put(
        endpoint_id,
        PRIVATE_ENDPOINT_TYPE,
        gid,
        {
            "id": endpoint_id,
            "name": name,
            "type": PRIVATE_ENDPOINT_TYPE,
            "location": spec.primary_region,
            "etag": f'W/"{store.new_uuid()}"',
            "tags": {},
            "properties": {
                "provisioningState": "Succeeded",
                "resourceGuid": store.new_uuid(),
                "subnet": {"id": subnet_id},
                "privateLinkServiceConnections": [
                    {
                        "id": f"{endpoint_id}/privateLinkServiceConnections/{name}",
                        "name": name,
                        "type": "Microsoft.Network/privateEndpoints/privateLinkServiceConnections",
                        "properties": {
                            "privateLinkServiceId": workspace_id,
                            "groupIds": ["healthcareworkspace"],
                            "privateLinkServiceConnectionState": dict(state),
                            "provisioningState": "Succeeded",
                        },
                    }
                ],
                "manualPrivateLinkServiceConnections": [],
                # DNS managed by the zone group: no custom DNS configs.
                "customDnsConfigs": [],
                "networkInterfaces": [{"id": nic_id}],
            },
        },
    )
    connection_id = f"{workspace_id}/privateEndpointConnections/{name}.{store.new_uuid()}"
    store.put(
        connection_id,
        WORKSPACE_CONNECTION_TYPE,
        workspace_id,
        {
            "id": connection_id,
            "name": connection_id.rsplit("/", 1)[-1],
            "type": WORKSPACE_CONNECTION_TYPE,
            "etag": store.new_uuid(),
            "properties": {
                "privateEndpoint": {"id": endpoint_id},
                "privateLinkServiceConnectionState": dict(state),
                "provisioningState": "Succeeded",
            },
        },
    )
    zone_ids = []
    for zone in ahds_zones(spec):
        zone_id = f"{gid}/providers/Microsoft.Network/privateDnsZones/{zone}"
        put_zone(store, zone_id, zone, store.new_uuid(), "Succeeded", {})
        put_link(
            store,
            f"{zone_id}/virtualNetworkLinks/{spec.primary_vnet}-link",
            zone_id,
            f"{spec.primary_vnet}-link",
            store.new_uuid(),
            vnet_id,
            False,
            "Succeeded",
            "Completed",
        )
        zone_ids.append(zone_id)
    put_zone_group(store, store.get(endpoint_id), "default", zone_ids, f'W/"{store.new_uuid()}"')


def _remove_managed_service(store: Store, service_id: str, gid: str, spec: WorldSpec) -> None:
    """A self-hosted world has the networks but no Azure API for FHIR service, nor its private endpoint and zone."""
    for child in store.children(service_id):
        store.delete(child.id)
    store.delete(service_id)
    endpoint_id = f"{gid}/providers/Microsoft.Network/privateEndpoints/{spec.private_endpoint}"
    for child in store.children(endpoint_id):
        store.delete(child.id)
    store.delete(endpoint_id)
    store.delete(f"{gid}/providers/Microsoft.Network/networkInterfaces/{spec.private_endpoint}.nic")
    zone_id = f"{gid}/providers/Microsoft.Network/privateDnsZones/{spec.azure_cloud.private_link_zone}"
    for child in store.children(zone_id):
        store.delete(child.id)
    store.delete(zone_id)


def target_for(spec: WorldSpec) -> dict[str, Any]:
    """The target file contents describing the world built from `spec`."""
    target: dict[str, Any] = {
        "kind": spec.kind,
        "subscription": spec.subscription,
        "resource_group": spec.resource_group,
        "service": spec.service,
        "primary_region": spec.primary_region,
        "secondary_region": spec.secondary_region,
        "test_environment": True,
        "objectives": {"rpo_minutes": 15, "rto_minutes": 60},
        "private_link": {
            "private_endpoint": spec.private_endpoint,
            "primary_vnet": spec.primary_vnet,
            "secondary_vnet": spec.secondary_vnet,
            "secondary_address_space": [spec.secondary_address_space],
            "zone": spec.azure_cloud.private_link_zone,
            "secondary_link_registration": False,
        },
        "contact": {
            "first_name": "Dana",
            "last_name": "Operator",
            "email": "dana.operator@example.com",
            "country": "USA",
            "timezone": "Pacific Standard Time",
            "language": "en-US",
        },
    }
    if spec.cmk:
        target["cmk"] = {"key_vault": f"{spec.service}-kv", "key_name": "fhir-cmk"}
    if spec.export:
        target["export"] = {"storage_account": spec.export_account}
    if spec.iomt:
        target["iomt"] = {"connectors": ["devices" if spec.kind == "ahds" else "iomt-ingest"]}
    if spec.kind == "ahds":
        target["private_link"]["private_endpoint"] = f"{spec.workspace}-pe"
        del target["private_link"]["zone"]  # a workspace's endpoint names its zones in its DNS zone group
        target["workspace"] = spec.workspace
        target["standby"] = {"workspace": f"{spec.workspace[:22]}dr", "region": spec.secondary_region}
        # The front door clients use; nothing of it exists until `fhirdr configure-endpoint --apply`.
        target["endpoint"] = {"kind": "front-door", "profile": f"{spec.workspace}-fd"}
    if spec.kind == "self-hosted":
        del target["private_link"]
        target["self_hosted"] = {
            "fhir_url": spec.fhir_url,
            "cosmos_account": spec.cosmos_account,
            "cosmos_database": "fhir",
            "traffic_manager_profile": spec.traffic_manager,
            "compute": {region: spec.compute(region) for region in (spec.primary_region, spec.secondary_region)},
        }
    return target
