"""Microsoft.Storage/storageAccounts: SKU (redundancy), network rules, geo-failover state."""

from __future__ import annotations

from typing import Any

from fhirdr.sim.router import RG, Request, Response, Router, parent_of, require_resource

ACCOUNT_TYPE = "Microsoft.Storage/storageAccounts"
ACCOUNT = RG + r"/providers/Microsoft\.Storage/storageAccounts/(?P<account>[^/]+)"


def account_body(
    account_id: str, name: str, location: str, secondary: str | None, sku: str, **props: Any
) -> dict[str, Any]:
    body = {
        "id": account_id,
        "name": name,
        "type": ACCOUNT_TYPE,
        "location": location,
        "kind": "StorageV2",
        "tags": {},
        "sku": {"name": sku, "tier": "Standard"},
        "properties": {
            "provisioningState": "Succeeded",
            "primaryLocation": location,
            "statusOfPrimary": "available",
            "networkAcls": {
                "bypass": "AzureServices",
                "defaultAction": "Allow",
                "ipRules": [],
                "virtualNetworkRules": [],
                "resourceAccessRules": [],
            },
            "allowBlobPublicAccess": False,
            "minimumTlsVersion": "TLS1_2",
            "supportsHttpsTrafficOnly": True,
            "primaryEndpoints": {"blob": f"https://{name}.blob.core.windows.net/"},
            **props,
        },
    }
    if secondary and sku.split("_", 1)[-1] in ("GRS", "RAGRS", "GZRS", "RAGZRS"):
        body["properties"].update({"secondaryLocation": secondary, "statusOfSecondary": "available"})
    return body


def _account(request: Request) -> Any:
    return require_resource(request, ACCOUNT_TYPE, "account")


def _get(request: Request) -> Response:
    return Response(200, _account(request).body)


def _patch(request: Request) -> Response:
    stored = _account(request)
    payload = request.json_body()
    props = payload.get("properties") or {}
    if props.get("networkAcls") is not None:
        current = stored.body["properties"]["networkAcls"]
        for key, value in props["networkAcls"].items():
            if value is not None:
                current[key] = value
    if payload.get("sku"):
        stored.body["sku"] = {**stored.body["sku"], **payload["sku"]}
    request.store.put(stored.id, stored.type, parent_of(stored.id), stored.body)
    return Response(200, stored.body)


def register(router: Router) -> None:
    router.add(ACCOUNT, GET=_get, PATCH=_patch)
