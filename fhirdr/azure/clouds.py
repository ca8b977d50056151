"""Azure clouds fhirdr can talk to: Resource Manager endpoint and login authority."""

from __future__ import annotations

from dataclasses import dataclass

from fhirdr.errors import BadInputError


@dataclass(frozen=True)
class Cloud:
    name: str
    resource_manager: str
    authority_host: str
    fhir_suffix: str
    graph: str

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
    ),
    "AzureUSGovernment": Cloud(
        "AzureUSGovernment",
        "https://management.usgovcloudapi.net",
        "login.microsoftonline.us",
        "azurehealthcareapis.us",
        "https://graph.microsoft.us",
    ),
    "AzureChinaCloud": Cloud(
        "AzureChinaCloud",
        "https://management.chinacloudapi.cn",
        "login.chinacloudapi.cn",
        "azurehealthcareapis.cn",
        "https://microsoftgraph.chinacloudapi.cn",
    ),
}


def get_cloud(name: str) -> Cloud:
    for key, cloud in CLOUDS.items():
        if key.lower() == name.lower():
            return cloud
    raise BadInputError(f"unknown cloud '{name}'", hint=f"use one of {', '.join(CLOUDS)}")
