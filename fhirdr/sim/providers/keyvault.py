"""Microsoft.KeyVault/vaults: soft delete, purge protection, network rules, access policies and keys."""

from __future__ import annotations

from typing import Any

from fhirdr.sim.exceptions import ArmError, InvalidRequestContent, NotFound
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
from fhirdr.sim.store import Store

VAULT_TYPE = "Microsoft.KeyVault/vaults"
KEY_TYPE = "Microsoft.KeyVault/vaults/keys"
VAULT = RG + r"/providers/Microsoft\.KeyVault/vaults/(?P<vault>[^/]+)"


def vault_body(vault_id: str, name: str, location: str, tenant: str, **props: Any) -> dict[str, Any]:
    return {
        "id": vault_id,
        "name": name,
        "type": VAULT_TYPE,
        "location": location,
        "tags": {},
        "properties": {
            "tenantId": tenant,
            "sku": {"family": "A", "name": "standard"},
            "accessPolicies": [],
            "vaultUri": f"https://{name}.vault.azure.net/",
            "enableSoftDelete": True,
            "softDeleteRetentionInDays": 90,
            "enableRbacAuthorization": False,
            "publicNetworkAccess": "Enabled",
            "networkAcls": {
                "bypass": "AzureServices",
                "defaultAction": "Allow",
                "ipRules": [],
                "virtualNetworkRules": [],
            },
            "provisioningState": "Succeeded",
            **props,
        },
    }


def key_body(
    vault_id: str, vault: str, name: str, location: str, size: int, enabled: bool, expires: int | None, created: int
) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "enabled": enabled,
        "created": created,
        "updated": created,
        "recoveryLevel": "Recoverable+Purgeable",
        "exportable": False,
    }
    if expires is not None:
        attributes["exp"] = expires
    return {
        "id": f"{vault_id}/keys/{name}",
        "name": name,
        "type": KEY_TYPE,
        "location": location,
        "properties": {
            "kty": "RSA",
            "keySize": size,
            "keyOps": ["encrypt", "decrypt", "wrapKey", "unwrapKey"],
            "attributes": attributes,
            "keyUri": f"https://{vault}.vault.azure.net/keys/{name}",
            "keyUriWithVersion": f"https://{vault}.vault.azure.net/keys/{name}/0123456789abcdef",
        },
    }


def _vault(request: Request) -> Any:
    return require_resource(request, VAULT_TYPE, "vault")


def _get(request: Request) -> Response:
    return Response(200, _vault(request).body)


def _patch(request: Request) -> Response:
    stored = _vault(request)
    props = request.json_body().get("properties") or {}
    current = stored.body["properties"]
    if props.get("enablePurgeProtection") is False and current.get("enablePurgeProtection"):
        raise ArmError("Purge protection cannot be disabled once it is enabled.", code="BadRequest")
    if props.get("enableSoftDelete") is False and current.get("enableSoftDelete"):
        raise ArmError("Soft delete cannot be disabled once it is enabled.", code="BadRequest")
    for key in (
        "enablePurgeProtection",
        "enableSoftDelete",
        "networkAcls",
        "publicNetworkAccess",
        "enableRbacAuthorization",
        "accessPolicies",
    ):
        if props.get(key) is not None:
            current[key] = props[key]
    _store(request.store, stored)
    return Response(200, stored.body)


def _access_policy(request: Request) -> Response:
    stored = _vault(request)
    kind = request.params["kind"].lower()
    if kind not in ("add", "replace", "remove"):
        raise InvalidRequestContent(f"operationKind '{request.params['kind']}' is not valid.")
    if stored.body["properties"].get("enableRbacAuthorization"):
        raise ArmError("The vault uses Azure RBAC; access policies do not apply.", code="BadRequest")
    incoming = (request.json_body().get("properties") or {}).get("accessPolicies") or []
    policies = stored.body["properties"]["accessPolicies"]
    for policy in incoming:
        if not policy.get("objectId") or not policy.get("tenantId"):
            raise InvalidRequestContent("Each access policy needs tenantId and objectId.")
        existing = next((p for p in policies if p["objectId"] == policy["objectId"]), None)
        wanted = policy.get("permissions") or {}
        if kind == "add":
            if existing is None:
                policies.append(
                    {
                        "tenantId": policy["tenantId"],
                        "objectId": policy["objectId"],
                        "permissions": {k: sorted(set(v)) for k, v in wanted.items()},
                    }
                )
            else:
                for area, perms in wanted.items():
                    existing["permissions"][area] = sorted(set(existing["permissions"].get(area, [])) | set(perms))
        elif kind == "replace":
            if existing is not None:
                policies.remove(existing)
            policies.append({"tenantId": policy["tenantId"], "objectId": policy["objectId"], "permissions": wanted})
        elif existing is not None:
            policies.remove(existing)
    _store(request.store, stored)
    return Response(
        200,
        {
            "id": f"{stored.id}/accessPolicies/{kind}",
            "name": kind,
            "type": "Microsoft.KeyVault/vaults/accessPolicies",
            "properties": {"accessPolicies": policies},
        },
    )


def _get_key(request: Request) -> Response:
    stored = _vault(request)
    key = request.store.get(f"{stored.id}/keys/{request.params['key']}")
    if key is None:
        raise NotFound(f"The key '{request.params['key']}' was not found in vault '{stored.body['name']}'.")
    return Response(200, key.body)


def _store(store: Store, stored: Any) -> None:
    store.put(stored.id, stored.type, parent_of(stored.id), stored.body)


def _list_by_subscription(request: Request) -> Response:
    sub = require_subscription(request).lower()
    vaults = [v.body for v in request.store.by_type(VAULT_TYPE) if v.id.lower().startswith(f"/subscriptions/{sub}/")]
    return paged(request, vaults)


def register(router: Router) -> None:
    router.add(VAULT, GET=_get, PATCH=_patch)
    router.add(SUB + r"/providers/Microsoft\.KeyVault/vaults", GET=_list_by_subscription)
    router.add(VAULT + r"/accessPolicies/(?P<kind>[^/]+)", PUT=_access_policy)
    router.add(VAULT + r"/keys/(?P<key>[^/]+)", GET=_get_key)
