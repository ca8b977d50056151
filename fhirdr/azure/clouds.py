"""Azure clouds fhirdr can talk to: endpoints, DNS suffixes and first-party ids that differ per cloud."""

from __future__ import annotations

import configparser
import os
from dataclasses import dataclass
from pathlib import Path

from fhirdr.errors import BadInputError


@dataclass(frozen=True)
class Cloud:
    name: str
    resource_manager: str
    authority_host: str
    fhir_suffix: str
    graph: str
    # The Azure Cosmos DB first-party application a customer-managed key's vault must let in
    # (MicrosoftDocs/azure-docs articles/cosmos-db/how-to-setup-customer-managed-keys.md).
    cosmos_cmk_app_id: str
    # Private DNS zone of Azure API for FHIR's private endpoints in this cloud
    # (MicrosoftDocs/azure-docs articles/private-link/private-endpoint-dns.md lists each cloud's zones).
    private_link_zone: str

    @property
    def scope(self) -> str:
        return self.resource_manager.rstrip("/") + "/.default"


CLOUDS = {
    "AzureCloud": Cloud(
        "AzureCloud",
        "https://management.azure.com",
        "login.microsoftonline.com",
        "azurehealthcareapis.com",
        "https://graph.microsoft.com",
        "a232010e-820c-4083-83bb-3ace5fc29d0b",
        "privatelink.azurehealthcareapis.com",
    ),
    "AzureUSGovernment": Cloud(
        "AzureUSGovernment",
        "https://management.usgovcloudapi.net",
        "login.microsoftonline.us",
        "azurehealthcareapis.us",
        "https://graph.microsoft.us",
        "57506a73-e302-42a9-b869-6f12d9ec29e9",
        "privatelink.azurehealthcareapis.us",
    ),
    "AzureChinaCloud": Cloud(
        "AzureChinaCloud",
        "https://management.chinacloudapi.cn",
        "login.chinacloudapi.cn",
        "azurehealthcareapis.cn",
        "https://microsoftgraph.chinacloudapi.cn",
        # The Cosmos DB documentation names no other id for Azure China: the public one applies.
        "a232010e-820c-4083-83bb-3ace5fc29d0b",
        "privatelink.azurehealthcareapis.cn",
    ),
}


def public_url(url: str) -> str:
    """The same request on the public cloud's hosts: how the simulated Azure answers every cloud."""
    public = CLOUDS["AzureCloud"]
    for cloud in CLOUDS.values():
        if cloud is public:
            continue
        for own, theirs in (
            (cloud.resource_manager, public.resource_manager),
            (cloud.graph, public.graph),
        ):
            if url.lower().startswith(own):
                return theirs + url[len(own) :]
        host = url.split("/", 3)[2] if url.count("/") >= 2 else ""
        if host.lower().endswith("." + cloud.fhir_suffix):
            name = host[: -len(cloud.fhir_suffix)]
            return url.replace(host, name + public.fhir_suffix, 1)
    return url


def get_cloud(name: str) -> Cloud:
    for key, cloud in CLOUDS.items():
        if key.lower() == name.lower():
            return cloud
    raise BadInputError(f"unknown cloud '{name}'", hint=f"use one of {', '.join(CLOUDS)}")


def azure_cli_cloud(environ: dict[str, str] | None = None) -> str | None:
    """The cloud the Azure CLI is set to (`az cloud set`): [cloud] name in $AZURE_CONFIG_DIR/config."""
    env = os.environ if environ is None else environ
    config_dir = Path(env.get("AZURE_CONFIG_DIR") or Path.home() / ".azure")
    path = config_dir / "config"
    if not path.is_file():
        return None
    parser = configparser.ConfigParser()
    try:
        parser.read(path, encoding="utf-8")
    except (OSError, configparser.Error):
        return None
    # An Azure CLI that was never switched has no [cloud] section and uses the public cloud.
    return parser.get("cloud", "name", fallback="AzureCloud")


def cli_cloud_mismatch(cloud: str, environ: dict[str, str] | None = None) -> str | None:
    """A warning when the Azure CLI is set to another cloud than --cloud, else None.

    AzureCliCredential ignores the authority it is given and signs in to the CLI's own cloud, so
    with a mismatch every token is for the wrong cloud.
    """
    configured = azure_cli_cloud(environ)
    if configured is None or configured.lower() == cloud.lower():
        return None
    return (
        f"the Azure CLI is set to {configured}, not {cloud}: tokens from `az login` will not work there; "
        f"run `az cloud set --name {cloud}` and `az login` (or sign in with a service principal or managed identity)"
    )
