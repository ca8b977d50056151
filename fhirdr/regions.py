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
