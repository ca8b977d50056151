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


def discover(
    session: Any,
    subscription: str,
    group: str,
    service_name: str,
    cosmos_account: str | None = None,
    traffic_manager: str | None = None,
) -> Discovery:
    with azure_errors(f"reading service {service_name}"):
        return _discover(session, subscription, group, service_name, cosmos_account, traffic_manager)


def _discover(
    session: Any, subscription: str, group: str, name: str, cosmos_account: str | None, traffic_manager: str | None
) -> Discovery:
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
        parts = urlsplit(key_uri)
        key_path = [p for p in parts.path.split("/") if p]
        found.updates["cmk"] = {
            "key_vault": parts.hostname.split(".")[0] if parts.hostname else None,
            "key_name": key_path[1] if len(key_path) > 1 else None,
        }
    export = service.properties.export_configuration
    if export and export.storage_account_name:
        found.updates["export"] = {"storage_account": export.storage_account_name}
    connectors = _iomt_connectors(session, service.id)
    if connectors:
        found.updates["iomt"] = {"connectors": connectors}

    backing = _backing(session, group, service, primary, secondary, cosmos_account, traffic_manager, found)
    found.updates["kind"] = "backing" if backing else "managed"
    if backing:
        found.updates["backing"] = backing["updates"]
        found.defaults["backing"] = backing["defaults"]
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

    offered = fhir_regions_of(session.cloud.name)
    for location in session.subscriptions().subscriptions.list_locations(subscription):
        if location.name == primary and location.metadata:
            for paired in location.metadata.paired_region or []:
                if normalise_region(paired.name) in offered:
                    return normalise_region(paired.name)
    return None


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


def names_service(tags: dict[str, str] | None, service: Any, host: str) -> bool:
    """Whether a resource's tags name the FHIR service: its name, host, URL or resource id."""
    wanted = {service.name.lower(), host.lower(), f"https://{host}".lower(), service.id.lower()}
    return any(str(value).strip().rstrip("/").lower() in wanted for value in (tags or {}).values())


def _tied_accounts(accounts: list[Any], service: Any, host: str) -> list[Any]:
    # Tied: a tag naming the service, or the account carrying the service's own name (the open-source
    # FHIR server's template names its Cosmos DB account after the service).
    return [a for a in accounts if names_service(a.tags, service, host) or a.name.lower() == service.name.lower()]


def _tied_profiles(profiles: list[Any], service: Any, host: str) -> list[Any]:
    def points_at_service(profile: Any) -> bool:
        return any((e.target or "").lower() == host.lower() for e in profile.endpoints or [])

    return [p for p in profiles if names_service(p.tags, service, host) or points_at_service(p)]


def _backing(
    session: Any,
    group: str,
    service: Any,
    primary: str,
    secondary: str | None,
    cosmos_account: str | None,
    traffic_manager: str | None,
    found: Discovery,
) -> dict[str, Any] | None:
    """The Cosmos DB account and Traffic Manager profile behind the service: named, or tied to it, never guessed.

    Taking an unrelated account would let `enable --apply` add a billed region to it, so what is
    merely in the same resource group is listed with the flags to name it, and the kind stays managed.
    """
    cosmos = session.cosmos()
    manager = session.traffic_manager()
    host = f"{service.name}.{session.cloud.fhir_suffix}"
    if cosmos_account:
        if get_or_none(cosmos.database_accounts.get, group, cosmos_account) is None:
            raise TargetError(f"Cosmos DB account '{cosmos_account}' was not found in resource group '{group}'")
        account_candidates, accounts = [cosmos_account], [cosmos_account]
    else:
        listed = list(cosmos.database_accounts.list_by_resource_group(group))
        account_candidates = [a.name for a in listed]
        accounts = [a.name for a in _tied_accounts(listed, service, host)]
    if traffic_manager:
        named = get_or_none(manager.profiles.get, group, traffic_manager)
        if named is None:
            raise TargetError(f"Traffic Manager profile '{traffic_manager}' was not found in resource group '{group}'")
        profile_candidates, profiles = [traffic_manager], [named]
    else:
        # The list carries each profile's endpoints (specification/trafficmanager/.../stable/2022-04-01/
        # examples/Profile-GET-ByResourceGroup.json).
        listed_profiles = list(manager.profiles.list_by_resource_group(group))
        profile_candidates = [p.name for p in listed_profiles]
        profiles = _tied_profiles(listed_profiles, service, host)
    if len(accounts) == 1 and len(profiles) == 1:
        return _backing_settings(session, group, accounts[0], profiles[0], primary, secondary)
    if account_candidates or profile_candidates:
        found.notes.append(_ask_which(service.name, group, account_candidates, accounts, profile_candidates, profiles))
    return None


def _ask_which(
    service: str,
    group: str,
    account_candidates: list[str],
    accounts: list[str],
    profile_candidates: list[str],
    profiles: list[Any],
) -> str:
    """What was found and how to name it: the kind stays managed until the user says which."""
    found = []
    if account_candidates:
        found.append(f"Cosmos DB account(s) {', '.join(account_candidates)}")
    if profile_candidates:
        found.append(f"Traffic Manager profile(s) {', '.join(profile_candidates)}")
    tied = [*accounts, *(p.name for p in profiles)]
    why = f"only {', '.join(tied)} tied to it" if tied else f"none tagged with {service} or pointing at its host"
    account = accounts[0] if len(accounts) == 1 else (account_candidates[0] if len(account_candidates) == 1 else "NAME")
    profile = (
        profiles[0].name if len(profiles) == 1 else (profile_candidates[0] if len(profile_candidates) == 1 else "NAME")
    )
    return (
        f"found {' and '.join(found)} in {group}, {why}: kind stays managed. If they are the ones behind "
        f"{service}, run `fhirdr init --cosmos-account {account} --traffic-manager {profile}`"
    )


def _backing_settings(
    session: Any, group: str, account: str, profile: Any, primary: str, secondary: str | None
) -> dict[str, Any]:
    databases = [d.name for d in session.cosmos().sql_resources.list_sql_databases(group, account)]
    defaults: dict[str, Any] = {}
    primary_target = next((e.target for e in profile.endpoints or [] if e.target and primary in e.target), None)
    if primary_target and secondary:
        defaults["secondary_compute"] = primary_target.replace(primary, secondary)
    updates: dict[str, Any] = {"cosmos_account": account, "traffic_manager_profile": profile.name}
    if len(databases) == 1:
        updates["cosmos_database"] = databases[0]
    return {"updates": updates, "defaults": defaults}
