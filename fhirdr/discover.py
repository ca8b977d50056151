"""Read an existing deployment and describe it as a target: what `fhirdr init` writes."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from fhirdr.azure.session import azure_errors, get_or_none
from fhirdr.errors import FhirdrError, TargetError
from fhirdr.regions import normalise_region
from fhirdr.steps.ids import ArmId


@dataclass
class Discovery:
    """`updates` are read from Azure and always written; `defaults` only fill keys a person left empty."""

    updates: dict[str, Any] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def discover(session: Any, subscription: str, group: str, service_name: str) -> Discovery:
    """An Azure API for FHIR service and what it points at (private endpoint, key, export, IoMT)."""
    with azure_errors(f"reading service {service_name}"):
        return _discover(session, subscription, group, service_name)


def _discover(session: Any, subscription: str, group: str, name: str) -> Discovery:
    found = Discovery()
    service = get_or_none(session.healthcare().services.get, group, name)
    if service is None:
        raise TargetError(
            f"service '{name}' was not found in resource group '{group}' of subscription {subscription}",
            hint="check -g/--resource-group and -n/--service",
        )
    primary = normalise_region(service.location)
    found.updates.update(
        {"subscription": subscription, "resource_group": group, "service": name, "primary_region": primary}
    )
    found.defaults.update({"test_environment": False, "objectives": {"rpo_minutes": 15, "rto_minutes": 60}})

    private_link = _private_link(session, group, service, found)
    secondary = _paired_offered(session, subscription, primary)
    if secondary:
        found.defaults["secondary_region"] = secondary
    else:
        found.notes.append(f"{primary} has no paired region offering Azure API for FHIR: set secondary_region")
    if private_link:
        found.updates["private_link"] = private_link
        vnet = private_link.get("primary_vnet")
        if vnet and secondary:
            found.defaults["private_link"] = {
                "secondary_vnet": vnet.replace(primary, secondary) if primary in vnet else f"{vnet}-{secondary}",
                "secondary_address_space": [_free_range(session, private_link.get("resource_group") or group)],
                "secondary_link_registration": False,
            }

    config = service.properties.cosmos_db_configuration
    key_uri = config.key_vault_key_uri if config else None
    if key_uri:
        found.updates["cmk"] = _cmk_settings(key_uri)
    export = service.properties.export_configuration
    if export and export.storage_account_name:
        found.updates["export"] = {"storage_account": export.storage_account_name}
    connectors = _iomt_connectors(session, service.id)
    if connectors:
        found.updates["iomt"] = {"connectors": connectors}

    found.updates["kind"] = "managed"
    return found


def _iomt_connectors(session: Any, service_id: str) -> list[str]:
    """IoMT connectors, read through the generic resources client (the preview API is in no typed SDK)."""
    from azure.core.rest import HttpRequest

    from fhirdr.steps.iomt import IOMT_API_VERSION

    url = f"{session.cloud.resource_manager}{service_id}/iomtconnectors"
    response = session.resources().send_request(HttpRequest("GET", url, params={"api-version": IOMT_API_VERSION}))
    if response.status_code != 200:
        return []
    return [item["name"] for item in response.json().get("value", [])]


def _private_link(session: Any, group: str, service: Any, found: Discovery) -> dict[str, Any]:
    network = session.network()
    for connection in service.properties.private_endpoint_connections or []:
        if not connection.private_endpoint or not connection.private_endpoint.id:
            continue
        ref = ArmId.parse(connection.private_endpoint.id)
        endpoint = get_or_none(network.private_endpoints.get, ref.resource_group, ref.name)
        if endpoint is None or not endpoint.subnet:
            continue
        subnet = ArmId.parse(endpoint.subnet.id)
        settings: dict[str, Any] = {"private_endpoint": endpoint.name, "primary_vnet": subnet.name}
        if subnet.resource_group.lower() != group.lower():
            settings["resource_group"] = subnet.resource_group
        zone = session.cloud.private_link_zone  # each cloud has its own privatelink zone
        for zone_group in dict.fromkeys([group, ref.resource_group]):
            if get_or_none(session.private_dns().private_zones.get, zone_group, zone) is not None:
                settings["zone"] = zone
                if zone_group.lower() != group.lower():
                    settings["zone_resource_group"] = zone_group
                break
        else:
            found.notes.append(f"no private DNS zone {zone} found next to the service or its endpoint")
        return settings
    found.notes.append("the service has no private endpoint: no [private_link] written")
    return {}


def _paired_offered(session: Any, subscription: str, primary: str) -> str | None:
    from fhirdr.regions import fhir_regions_of

    return _paired_in(session, subscription, primary, fhir_regions_of(session.cloud.name))


def _free_range(session: Any, group: str) -> str:
    """A /16 in 10.0.0.0/8 that overlaps no VNet in the group."""
    taken = [
        ipaddress.ip_network(p)
        for v in session.network().virtual_networks.list(group)
        for p in (v.address_space.address_prefixes if v.address_space else [])
    ]
    for second in range(20, 256):
        candidate = ipaddress.ip_network(f"10.{second}.0.0/16")
        if not any(candidate.overlaps(t) for t in taken):
            return str(candidate)
    raise FhirdrError("no free /16 in 10.0.0.0/8 for the secondary VNet; set secondary_address_space yourself")


def discover_self_hosted(
    session: Any, subscription: str, group: str, name: str, cosmos_account: str, traffic_manager: str | None
) -> Discovery:
    """A self-hosted FHIR server has no service resource: read what the user named (its Cosmos DB account and
    Traffic Manager profile), never whatever else happens to sit in the resource group."""
    with azure_errors(f"reading the self-hosted FHIR server {name}"):
        return _discover_self_hosted(session, subscription, group, name, cosmos_account, traffic_manager)


def _discover_self_hosted(
    session: Any, subscription: str, group: str, name: str, cosmos_account: str, traffic_manager: str | None
) -> Discovery:
    found = Discovery()
    cosmos = session.cosmos()
    account = get_or_none(cosmos.database_accounts.get, group, cosmos_account)
    if account is None:
        raise TargetError(f"Cosmos DB account '{cosmos_account}' was not found in resource group '{group}'")
    locations = sorted(account.locations or [], key=lambda loc: loc.failover_priority)
    regions = [normalise_region(loc.location_name) for loc in locations]
    primary = regions[0] if regions else normalise_region(account.location)
    secondary = regions[1] if len(regions) > 1 else None
    found.updates.update(
        {
            "kind": "self-hosted",
            "subscription": subscription,
            "resource_group": group,
            "service": name,
            "primary_region": primary,
        }
    )
    found.defaults.update({"test_environment": False, "objectives": {"rpo_minutes": 15, "rto_minutes": 60}})
    if secondary:
        found.defaults["secondary_region"] = secondary
    else:
        found.notes.append(f"the Cosmos DB account writes only in {primary}: set secondary_region (fhirdr enable)")
    hosted: dict[str, Any] = {"cosmos_account": account.name}
    databases = [d.name for d in cosmos.sql_resources.list_sql_databases(group, account.name)]
    if len(databases) == 1:
        hosted["cosmos_database"] = databases[0]
    elif databases:
        found.notes.append(f"several databases in {account.name} ({', '.join(databases)}): set cosmos_database")
    if traffic_manager:
        profile = get_or_none(session.traffic_manager().profiles.get, group, traffic_manager)
        if profile is None:
            raise TargetError(f"Traffic Manager profile '{traffic_manager}' was not found in resource group '{group}'")
        hosted["traffic_manager_profile"] = profile.name
        if profile.dns_config and profile.dns_config.fqdn:
            hosted["fhir_url"] = f"https://{profile.dns_config.fqdn}"
        compute = {
            normalise_region(e.endpoint_location): e.target
            for e in profile.endpoints or []
            if e.endpoint_location and e.target
        }
        if compute:
            hosted["compute"] = compute
    else:
        found.notes.append("no --traffic-manager: set fhir_url and [self_hosted] compute per region yourself")
    found.updates["self_hosted"] = hosted
    return found


def discover_ahds(
    session: Any, subscription: str, group: str, workspace: str, service: str, offered: frozenset[str]
) -> Discovery:
    """An AHDS FHIR service and its standby's defaults: the standby goes to the paired region when AHDS is
    offered there."""
    with azure_errors(f"reading the AHDS FHIR service {workspace}/{service}"):
        client = session.healthcare()
        if get_or_none(client.workspaces.get, group, workspace) is None:
            raise TargetError(f"workspace '{workspace}' was not found in resource group '{group}'")
        fhir = get_or_none(client.fhir_services.get, group, workspace, service)
        if fhir is None:
            raise TargetError(f"FHIR service '{service}' was not found in workspace '{workspace}'")
        primary = normalise_region(fhir.location)
        found = Discovery()
        found.updates.update(
            {
                "kind": "ahds",
                "subscription": subscription,
                "resource_group": group,
                "workspace": workspace,
                "service": service,
                "primary_region": primary,
            }
        )
        found.defaults.update({"test_environment": False, "objectives": {"rpo_minutes": 15, "rto_minutes": 60}})
        secondary = _paired_in(session, subscription, primary, offered)
        if secondary:
            found.defaults["secondary_region"] = secondary
        else:
            found.notes.append(f"{primary} has no paired region offering AHDS: set secondary_region")
        found.defaults["standby"] = {"workspace": f"{workspace[:22]}dr"}
        cmk = getattr(fhir.encryption, "customer_managed_key_encryption", None)
        if cmk and cmk.key_encryption_key_url:
            found.updates["cmk"] = _cmk_settings(cmk.key_encryption_key_url)
        if fhir.export_configuration and fhir.export_configuration.storage_account_name:
            found.updates["export"] = {"storage_account": fhir.export_configuration.storage_account_name}
        else:
            found.notes.append("the FHIR service has no $export storage account: replication needs one")
        return found


def _paired_in(session: Any, subscription: str, primary: str, offered: frozenset[str]) -> str | None:
    for location in session.subscriptions().subscriptions.list_locations(subscription):
        if location.name == primary and location.metadata:
            for paired in location.metadata.paired_region or []:
                if normalise_region(paired.name) in offered:
                    return normalise_region(paired.name)
    return None


def _cmk_settings(key_uri: str) -> dict[str, str | None]:
    """[cmk] from a key URI https://{vault}.vault.azure.net/keys/{name}[/{version}]."""
    parts = urlsplit(key_uri)
    key_path = [p for p in parts.path.split("/") if p]
    return {
        "key_vault": parts.hostname.split(".")[0] if parts.hostname else None,
        "key_name": key_path[1] if len(key_path) > 1 else None,
    }
