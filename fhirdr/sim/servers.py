"""The FHIR servers of a simulated world: Azure API for FHIR services, and self-hosted servers.

A managed service is its ARM resource. A self-hosted FHIR Server for Azure has no resource: it is a
key (shaped like an ARM id, so its last segment is its name) with the Cosmos DB account that holds
its data, the Traffic Manager profile in front of its compute, and the host names it answers on.
"""

from __future__ import annotations

from typing import Any

from fhirdr.sim.store import Store

SERVICE_TYPE = "Microsoft.HealthcareApis/services"
AHDS_TYPE = "Microsoft.HealthcareApis/workspaces/fhirservices"
SELF_HOSTED_TYPE = "fhirdr.sim/fhirServers"


def self_hosted_key(subscription: str, resource_group: str, name: str) -> str:
    return f"/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/{SELF_HOSTED_TYPE}/{name}"


def register_self_hosted(
    store: Store, key: str, account_id: str, profile_id: str, hosts: dict[str, str | None]
) -> None:
    """Record a self-hosted server: its data account, its profile, and its hosts (host -> region, None: any)."""
    servers = store.get_json("self-hosted-servers", [])
    if key not in servers:
        servers.append(key)
    store.set_json("self-hosted-servers", servers)
    store.set_meta(f"backing:{key.lower()}", account_id)
    store.set_meta(f"compute:{key.lower()}", profile_id)
    known = store.get_json("fhir-hosts", {})
    known.update({host.lower(): {"server": key, "region": region} for host, region in hosts.items()})
    store.set_json("fhir-hosts", known)


def fhir_servers(store: Store) -> list[str]:
    """Every FHIR server's key: managed services, AHDS FHIR services, then self-hosted servers."""
    return (
        [s.id for s in store.by_type(SERVICE_TYPE)]
        + [s.id for s in store.by_type(AHDS_TYPE)]
        + list(store.get_json("self-hosted-servers", []))
    )


def server_for_host(store: Store, host: str, managed_suffix: str) -> tuple[str, str | None] | None:
    """(server key, the region the host pins requests to or None) for a FHIR host name."""
    host = host.lower()
    if host.endswith(".fhir" + managed_suffix):
        # An AHDS FHIR service: https://{workspace}-{service}.fhir.azurehealthcareapis.com
        name = host[: -len(".fhir" + managed_suffix)]
        for service in store.by_type(AHDS_TYPE):
            workspace = service.id.split("/workspaces/", 1)[1].split("/", 1)[0].lower()
            if f"{workspace}-{service.body['name'].lower()}" == name:
                return service.id, None
        return None
    if host.endswith(managed_suffix):
        name = host[: -len(managed_suffix)]
        for service in store.by_type(SERVICE_TYPE):
            if service.body["name"].lower() == name:
                return service.id, None
        return None
    entry: dict[str, Any] | None = store.get_json("fhir-hosts", {}).get(host)
    return (entry["server"], entry.get("region")) if entry else None


def account_of(store: Store, key: str) -> str | None:
    """The Cosmos DB account that holds a server's data (None: Microsoft's own hidden store)."""
    return store.get_meta(f"backing:{key.lower()}")


def servers_in_account(store: Store, account_id: str) -> list[str]:
    """The FHIR servers whose data lives in this Cosmos DB account."""
    return [key for key in fhir_servers(store) if (account_of(store, key) or "").lower() == account_id.lower()]
