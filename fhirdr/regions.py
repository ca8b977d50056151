"""Azure region names per cloud, where Azure API for FHIR is offered, and name validation."""

from __future__ import annotations

import difflib

from fhirdr.errors import TargetError

# Public-cloud region names (programmatic form). Used to catch typos before any call to Azure; the
# subscription's own location list remains the authority for pairs.
AZURE_REGIONS: frozenset[str] = frozenset(
    [
        "australiacentral",
        "australiacentral2",
        "australiaeast",
        "australiasoutheast",
        "austriaeast",
        "belgiumcentral",
        "brazilsouth",
        "brazilsoutheast",
        "canadacentral",
        "canadaeast",
        "centralindia",
        "centralus",
        "chilecentral",
        "eastasia",
        "eastus",
        "eastus2",
        "francecentral",
        "francesouth",
        "germanynorth",
        "germanywestcentral",
        "indonesiacentral",
        "israelcentral",
        "italynorth",
        "japaneast",
        "japanwest",
        "jioindiacentral",
        "jioindiawest",
        "koreacentral",
        "koreasouth",
        "malaysiawest",
        "mexicocentral",
        "newzealandnorth",
        "northcentralus",
        "northeurope",
        "norwayeast",
        "norwaywest",
        "polandcentral",
        "qatarcentral",
        "southafricanorth",
        "southafricawest",
        "southcentralus",
        "southindia",
        "southeastasia",
        "spaincentral",
        "swedencentral",
        "swedensouth",
        "switzerlandnorth",
        "switzerlandwest",
        "uaecentral",
        "uaenorth",
        "uksouth",
        "ukwest",
        "westcentralus",
        "westeurope",
        "westindia",
        "westus",
        "westus2",
        "westus3",
    ]
)

# Regions where Azure API for FHIR is offered (AZURE-FACTS.md, "Regions").
FHIR_REGIONS: frozenset[str] = frozenset(
    [
        "southafricanorth",
        "centralindia",
        "japaneast",
        "koreacentral",
        "southeastasia",
        "australiaeast",
        "canadacentral",
        "eastus",
        "eastus2",
        "southcentralus",
        "northcentralus",
        "westcentralus",
        "westus2",
        "westus3",
        "francecentral",
        "germanywestcentral",
        "northeurope",
        "swedencentral",
        "switzerlandnorth",
        "uksouth",
        "ukwest",
        "westeurope",
    ]
)


# Sovereign clouds have regions of their own (names as `az account list-locations` gives them in
# each cloud). Azure API for FHIR in Azure Government: US Gov Arizona, Texas and Virginia
# (microsoft/fhir-starter docs/Readme.md, "products available by region"); none is listed for
# Azure China, so there fhirdr asks for the secondary region instead of proposing one.
GOVERNMENT_REGIONS: frozenset[str] = frozenset(
    ["usgovarizona", "usgovtexas", "usgovvirginia", "usgoviowa", "usdodcentral", "usdodeast"]
)
CHINA_REGIONS: frozenset[str] = frozenset(
    ["chinaeast", "chinaeast2", "chinaeast3", "chinanorth", "chinanorth2", "chinanorth3"]
)

REGIONS_BY_CLOUD: dict[str, frozenset[str]] = {
    "AzureCloud": AZURE_REGIONS,
    "AzureUSGovernment": GOVERNMENT_REGIONS,
    "AzureChinaCloud": CHINA_REGIONS,
}
FHIR_REGIONS_BY_CLOUD: dict[str, frozenset[str]] = {
    "AzureCloud": FHIR_REGIONS,
    "AzureUSGovernment": frozenset(["usgovarizona", "usgovtexas", "usgovvirginia"]),
    "AzureChinaCloud": frozenset(),
}
_EXAMPLES = {
    "AzureCloud": "'westus2' or 'northeurope'",
    "AzureUSGovernment": "'usgovvirginia' or 'usgovtexas'",
    "AzureChinaCloud": "'chinanorth3' or 'chinaeast2'",
}


def _cloud_key(cloud: str) -> str:
    for key in REGIONS_BY_CLOUD:
        if key.lower() == cloud.lower():
            return key
    return "AzureCloud"


def regions_of(cloud: str = "AzureCloud") -> frozenset[str]:
    """The region names of a cloud (AzureCloud, AzureUSGovernment, AzureChinaCloud)."""
    return REGIONS_BY_CLOUD[_cloud_key(cloud)]


def fhir_regions_of(cloud: str = "AzureCloud") -> frozenset[str]:
    """The regions of a cloud where Azure API for FHIR is offered."""
    return FHIR_REGIONS_BY_CLOUD[_cloud_key(cloud)]


def normalise_region(value: str) -> str:
    """'West US 2' and 'westus2' name the same region."""
    return "".join(value.split()).lower()


def validate_region(value: str, field: str, cloud: str = "AzureCloud") -> str:
    """Return the normalised region name, or raise a TargetError that names the field (and the cloud)."""
    region = normalise_region(value)
    known = regions_of(cloud)
    if region in known:
        return region
    key = _cloud_key(cloud)
    other = next((name for name, regions in REGIONS_BY_CLOUD.items() if region in regions), None)
    if other:
        hint = f"{region} is a region of {other}: pass --cloud {other}, or use one of {key}'s regions"
    else:
        close = difflib.get_close_matches(region, sorted(known), n=3, cutoff=0.6)
        hint = f"did you mean {', '.join(close)}?" if close else f"use a name such as {_EXAMPLES[key]}"
    where = "an Azure region" if key == "AzureCloud" else f"a region of {key}"
    raise TargetError(f"{field}: '{value}' is not {where}", hint=hint)


_DISPLAY_NAMES = {
    "australiacentral": "Australia Central",
    "australiacentral2": "Australia Central 2",
    "australiaeast": "Australia East",
    "australiasoutheast": "Australia Southeast",
    "austriaeast": "Austria East",
    "belgiumcentral": "Belgium Central",
    "brazilsouth": "Brazil South",
    "brazilsoutheast": "Brazil Southeast",
    "canadacentral": "Canada Central",
    "canadaeast": "Canada East",
    "centralindia": "Central India",
    "centralus": "Central US",
    "chilecentral": "Chile Central",
    "eastasia": "East Asia",
    "eastus": "East US",
    "eastus2": "East US 2",
    "francecentral": "France Central",
    "francesouth": "France South",
    "germanynorth": "Germany North",
    "germanywestcentral": "Germany West Central",
    "indonesiacentral": "Indonesia Central",
    "israelcentral": "Israel Central",
    "italynorth": "Italy North",
    "japaneast": "Japan East",
    "japanwest": "Japan West",
    "jioindiacentral": "Jio India Central",
    "jioindiawest": "Jio India West",
    "koreacentral": "Korea Central",
    "koreasouth": "Korea South",
    "malaysiawest": "Malaysia West",
    "mexicocentral": "Mexico Central",
    "newzealandnorth": "New Zealand North",
    "northcentralus": "North Central US",
    "northeurope": "North Europe",
    "norwayeast": "Norway East",
    "norwaywest": "Norway West",
    "polandcentral": "Poland Central",
    "qatarcentral": "Qatar Central",
    "southafricanorth": "South Africa North",
    "southafricawest": "South Africa West",
    "southcentralus": "South Central US",
    "southindia": "South India",
    "southeastasia": "Southeast Asia",
    "spaincentral": "Spain Central",
    "swedencentral": "Sweden Central",
    "swedensouth": "Sweden South",
    "switzerlandnorth": "Switzerland North",
    "switzerlandwest": "Switzerland West",
    "uaecentral": "UAE Central",
    "uaenorth": "UAE North",
    "uksouth": "UK South",
    "ukwest": "UK West",
    "westcentralus": "West Central US",
    "westeurope": "West Europe",
    "westindia": "West India",
    "westus": "West US",
    "westus2": "West US 2",
    "westus3": "West US 3",
    "usgovarizona": "USGov Arizona",
    "usgovtexas": "USGov Texas",
    "usgovvirginia": "USGov Virginia",
    "usgoviowa": "USGov Iowa",
    "usdodcentral": "USDoD Central",
    "usdodeast": "USDoD East",
    "chinaeast": "China East",
    "chinaeast2": "China East 2",
    "chinaeast3": "China East 3",
    "chinanorth": "China North",
    "chinanorth2": "China North 2",
    "chinanorth3": "China North 3",
}


def display_name(region: str) -> str:
    """'westus2' -> 'West US 2' (the form Cosmos DB and Traffic Manager use for locations)."""
    return _DISPLAY_NAMES.get(region, region)


# Typical round trip between two regions, for the latency warning when compute and data are
# in different regions (Azure network round-trip statistics, rounded; others are "unknown").
_ROUND_TRIP_MS = {
    frozenset({"westus2", "westcentralus"}): 22,
    frozenset({"eastus", "westus"}): 70,
    frozenset({"eastus", "westus3"}): 60,
    frozenset({"eastus2", "centralus"}): 25,
    frozenset({"northcentralus", "southcentralus"}): 30,
    frozenset({"northeurope", "westeurope"}): 20,
    frozenset({"uksouth", "ukwest"}): 8,
    frozenset({"francecentral", "francesouth"}): 15,
    frozenset({"germanywestcentral", "germanynorth"}): 12,
    frozenset({"swedencentral", "swedensouth"}): 12,
    frozenset({"switzerlandnorth", "switzerlandwest"}): 8,
    frozenset({"japaneast", "japanwest"}): 10,
    frozenset({"koreacentral", "koreasouth"}): 8,
    frozenset({"southeastasia", "eastasia"}): 35,
    frozenset({"australiaeast", "australiasoutheast"}): 15,
    frozenset({"canadacentral", "canadaeast"}): 15,
    frozenset({"centralindia", "southindia"}): 25,
    frozenset({"southafricanorth", "southafricawest"}): 20,
}


def round_trip_ms(a: str, b: str) -> int | None:
    if a == b:
        return 0
    return _ROUND_TRIP_MS.get(frozenset({a, b}))
