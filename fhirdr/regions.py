"""Azure region names, where Azure API for FHIR is offered, and name validation."""

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


def normalise_region(value: str) -> str:
    """'West US 2' and 'westus2' name the same region."""
    return "".join(value.split()).lower()


def validate_region(value: str, field: str) -> str:
    """Return the normalised region name, or raise a TargetError that names the field."""
    region = normalise_region(value)
    if region in AZURE_REGIONS:
        return region
    close = difflib.get_close_matches(region, sorted(AZURE_REGIONS), n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(close)}?" if close else "use a name such as 'westus2' or 'northeurope'"
    raise TargetError(f"{field}: '{value}' is not an Azure region", hint=hint)


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
