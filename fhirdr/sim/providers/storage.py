"""Microsoft.Storage/storageAccounts: SKU (redundancy), network rules, geo-failover state."""

from __future__ import annotations

from typing import Any

from fhirdr.sim.router import (
    RG,
    SUB,
    Request,
    Response,
    Router,
    paged,
    parent_of,
    require_resource,
    require_subscription,
)

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
        # networkAcls is replaced as a whole: rules the PATCH leaves out are gone afterwards.
        sent = props["networkAcls"]
        stored.body["properties"]["networkAcls"] = {
            "bypass": sent.get("bypass", "AzureServices"),
            "defaultAction": sent.get("defaultAction", "Allow"),
            "ipRules": sent.get("ipRules") or [],
            "virtualNetworkRules": sent.get("virtualNetworkRules") or [],
            "resourceAccessRules": sent.get("resourceAccessRules") or [],
            **({"ipv6Rules": sent["ipv6Rules"]} if sent.get("ipv6Rules") else {}),
        }
    if payload.get("sku"):
        stored.body["sku"] = {**stored.body["sku"], **payload["sku"]}
    request.store.put(stored.id, stored.type, parent_of(stored.id), stored.body)
    return Response(200, stored.body)


def _list(request: Request) -> Response:
    sub = require_subscription(request).lower()
    accounts = [
        a.body for a in request.store.by_type(ACCOUNT_TYPE) if a.id.lower().startswith(f"/subscriptions/{sub}/")
    ]
    return paged(request, accounts)


def register(router: Router) -> None:
    router.add(ACCOUNT, GET=_get, PATCH=_patch)
    router.add(SUB + r"/providers/Microsoft\.Storage/storageAccounts", GET=_list)
