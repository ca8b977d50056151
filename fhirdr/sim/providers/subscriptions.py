"""Microsoft.Resources subscriptions: the subscription's locations, with paired-region metadata."""

from __future__ import annotations

from typing import Any

from fhirdr import regions
from fhirdr.sim.router import SUB, Request, Response, Router, require_subscription

# name: (paired region or None, geography). Public Azure's published pairs; display names come from
# fhirdr.regions, the one table of them.
LOCATIONS: dict[str, tuple[str | None, str]] = {
    "eastus": ("westus", "United States"),
    "westus": ("eastus", "United States"),
    "eastus2": ("centralus", "United States"),
    "centralus": ("eastus2", "United States"),
    "westus2": ("westcentralus", "United States"),
    "westcentralus": ("westus2", "United States"),
    "westus3": ("eastus", "United States"),
    "northcentralus": ("southcentralus", "United States"),
    "southcentralus": ("northcentralus", "United States"),
    "canadacentral": ("canadaeast", "Canada"),
    "canadaeast": ("canadacentral", "Canada"),
    "brazilsouth": ("southcentralus", "Brazil"),
    "northeurope": ("westeurope", "Europe"),
    "westeurope": ("northeurope", "Europe"),
    "uksouth": ("ukwest", "United Kingdom"),
    "ukwest": ("uksouth", "United Kingdom"),
    "francecentral": ("francesouth", "France"),
    "francesouth": ("francecentral", "France"),
    "germanywestcentral": ("germanynorth", "Germany"),
    "germanynorth": ("germanywestcentral", "Germany"),
    "switzerlandnorth": ("switzerlandwest", "Switzerland"),
    "switzerlandwest": ("switzerlandnorth", "Switzerland"),
    "norwayeast": ("norwaywest", "Norway"),
    "norwaywest": ("norwayeast", "Norway"),
    "swedencentral": ("swedensouth", "Sweden"),
    "swedensouth": ("swedencentral", "Sweden"),
    "polandcentral": (None, "Poland"),
    "italynorth": (None, "Italy"),
    "spaincentral": (None, "Spain"),
    "japaneast": ("japanwest", "Japan"),
    "japanwest": ("japaneast", "Japan"),
    "koreacentral": ("koreasouth", "Korea"),
    "koreasouth": ("koreacentral", "Korea"),
    "southeastasia": ("eastasia", "Asia Pacific"),
    "eastasia": ("southeastasia", "Asia Pacific"),
    "australiaeast": ("australiasoutheast", "Australia"),
    "australiasoutheast": ("australiaeast", "Australia"),
    "centralindia": ("southindia", "India"),
    "southindia": ("centralindia", "India"),
    "southafricanorth": ("southafricawest", "South Africa"),
    "southafricawest": ("southafricanorth", "South Africa"),
    "uaenorth": ("uaecentral", "UAE"),
    "uaecentral": ("uaenorth", "UAE"),
    "israelcentral": (None, "Israel"),
    "qatarcentral": (None, "Qatar"),
    "mexicocentral": (None, "Mexico"),
    # Azure Government and Azure China (their published pairs), listed only in a world of that cloud.
    "usgovvirginia": ("usgovtexas", "US Government"),
    "usgovtexas": ("usgovvirginia", "US Government"),
    "usgovarizona": ("usgovtexas", "US Government"),
    "usdodeast": ("usdodcentral", "US Department of Defense"),
    "usdodcentral": ("usdodeast", "US Department of Defense"),
    "chinanorth": ("chinaeast", "China"),
    "chinaeast": ("chinanorth", "China"),
    "chinanorth2": ("chinaeast2", "China"),
    "chinaeast2": ("chinanorth2", "China"),
    "chinanorth3": ("chinaeast3", "China"),
    "chinaeast3": ("chinanorth3", "China"),
}


display_name = regions.display_name


def region_name(display: str) -> str:
    """'West US 2' -> 'westus2'."""
    return "".join(display.split()).lower()


def location_body(sub: str, name: str) -> dict[str, Any]:
    display = display_name(name)
    paired, geography = LOCATIONS[name]
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
    cloud_regions = regions.regions_of(request.store.get_meta("cloud", "AzureCloud") or "AzureCloud")
    # ARM answers this list in one page, without nextLink.
    return Response(200, {"value": [location_body(sub, name) for name in LOCATIONS if name in cloud_regions]})


def register(router: Router) -> None:
    router.add(SUB + r"/locations", GET=_list_locations)
