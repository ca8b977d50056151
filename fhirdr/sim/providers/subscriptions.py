"""Microsoft.Resources subscriptions: the subscription's locations, with paired-region metadata."""

from __future__ import annotations

from typing import Any

from fhirdr import regions
from fhirdr.sim.router import SUB, Request, Response, Router, require_subscription

# name: (display name, paired region or None, geography). Public Azure's published pairs.
LOCATIONS: dict[str, tuple[str, str | None, str]] = {
    "eastus": ("East US", "westus", "United States"),
    "westus": ("West US", "eastus", "United States"),
    "eastus2": ("East US 2", "centralus", "United States"),
    "centralus": ("Central US", "eastus2", "United States"),
    "westus2": ("West US 2", "westcentralus", "United States"),
    "westcentralus": ("West Central US", "westus2", "United States"),
    "westus3": ("West US 3", "eastus", "United States"),
    "northcentralus": ("North Central US", "southcentralus", "United States"),
    "southcentralus": ("South Central US", "northcentralus", "United States"),
    "canadacentral": ("Canada Central", "canadaeast", "Canada"),
    "canadaeast": ("Canada East", "canadacentral", "Canada"),
    "brazilsouth": ("Brazil South", "southcentralus", "Brazil"),
    "northeurope": ("North Europe", "westeurope", "Europe"),
    "westeurope": ("West Europe", "northeurope", "Europe"),
    "uksouth": ("UK South", "ukwest", "United Kingdom"),
    "ukwest": ("UK West", "uksouth", "United Kingdom"),
    "francecentral": ("France Central", "francesouth", "France"),
    "francesouth": ("France South", "francecentral", "France"),
    "germanywestcentral": ("Germany West Central", "germanynorth", "Germany"),
    "germanynorth": ("Germany North", "germanywestcentral", "Germany"),
    "switzerlandnorth": ("Switzerland North", "switzerlandwest", "Switzerland"),
    "switzerlandwest": ("Switzerland West", "switzerlandnorth", "Switzerland"),
    "norwayeast": ("Norway East", "norwaywest", "Norway"),
    "norwaywest": ("Norway West", "norwayeast", "Norway"),
    "swedencentral": ("Sweden Central", "swedensouth", "Sweden"),
    "swedensouth": ("Sweden South", "swedencentral", "Sweden"),
    "polandcentral": ("Poland Central", None, "Poland"),
    "italynorth": ("Italy North", None, "Italy"),
    "spaincentral": ("Spain Central", None, "Spain"),
    "japaneast": ("Japan East", "japanwest", "Japan"),
    "japanwest": ("Japan West", "japaneast", "Japan"),
    "koreacentral": ("Korea Central", "koreasouth", "Korea"),
    "koreasouth": ("Korea South", "koreacentral", "Korea"),
    "southeastasia": ("Southeast Asia", "eastasia", "Asia Pacific"),
    "eastasia": ("East Asia", "southeastasia", "Asia Pacific"),
    "australiaeast": ("Australia East", "australiasoutheast", "Australia"),
    "australiasoutheast": ("Australia Southeast", "australiaeast", "Australia"),
    "centralindia": ("Central India", "southindia", "India"),
    "southindia": ("South India", "centralindia", "India"),
    "southafricanorth": ("South Africa North", "southafricawest", "South Africa"),
    "southafricawest": ("South Africa West", "southafricanorth", "South Africa"),
    "uaenorth": ("UAE North", "uaecentral", "UAE"),
    "uaecentral": ("UAE Central", "uaenorth", "UAE"),
    "israelcentral": ("Israel Central", None, "Israel"),
    "qatarcentral": ("Qatar Central", None, "Qatar"),
    "mexicocentral": ("Mexico Central", None, "Mexico"),
}


def display_name(region: str) -> str:
    return LOCATIONS[region][0] if region in LOCATIONS else regions.display_name(region)


def region_name(display: str) -> str:
    """'West US 2' -> 'westus2'."""
    return "".join(display.split()).lower()


def location_body(sub: str, name: str) -> dict[str, Any]:
    display, paired, geography = LOCATIONS[name]
    metadata: dict[str, Any] = {
        "regionType": "Physical",
        "regionCategory": "Recommended",
        "geography": geography,
        "geographyGroup": geography,
        "physicalLocation": display,
    }
    if paired:
        metadata["pairedRegion"] = [{"name": paired, "id": f"/subscriptions/{sub}/locations/{paired}"}]
    else:
        metadata["pairedRegion"] = []
    return {
        "id": f"/subscriptions/{sub}/locations/{name}",
        "name": name,
        "type": "Region",
        "displayName": display,
        "regionalDisplayName": f"({geography}) {display}",
        "metadata": metadata,
    }


def _list_locations(request: Request) -> Response:
    sub = require_subscription(request)
    # ARM answers this list in one page, without nextLink.
    return Response(200, {"value": [location_body(sub, name) for name in LOCATIONS]})


def register(router: Router) -> None:
    router.add(SUB + r"/locations", GET=_list_locations)
