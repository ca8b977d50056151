"""Checks (and safe fixes) for a customer-managed key: the article's CMK part of "configuration in DR"."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

from fhirdr.azure.session import concurrently, get_or_none
from fhirdr.errors import AzureError, TargetError
from fhirdr.steps.base import Change, Step, text
from fhirdr.steps.ids import ArmId
from fhirdr.steps.settings import COSMOS, ServiceSettings, read_settings

CRYPTO_USER_ROLE = "Key Vault Crypto Service Encryption User"
NEEDED_KEY_PERMISSIONS = ("get", "wrapKey", "unwrapKey")
CROSS_TENANT_REGIONS = ("brazilsouth", "eastasia", "southeastasia")
MIN_KEY_SIZE = 3072


@dataclass
class KeyRef:
    vault: str
    key: str
    uri: str


def key_ref(settings: ServiceSettings) -> KeyRef | None:
    uri = settings.key_uri
    if not uri:
        return None
    parts = urlsplit(uri)
    path = [p for p in parts.path.split("/") if p]
    return KeyRef((parts.hostname or "").split(".")[0], path[1] if len(path) > 1 else "", uri)


def find_by_name(items: Any, name: str) -> Any | None:
    """The resource called `name` among those a subscription-wide list returned (names are case-insensitive)."""
    return next((item for item in items if (item.name or "").lower() == name.lower()), None)


@dataclass
class CmkFacts:
    ref: KeyRef | None
    vault: Any | None = None
    key: Any | None = None
    service: ServiceSettings | None = None


def read_cmk(step: Step, with_key: bool = False) -> CmkFacts:
    service = read_settings(step)
    ref = key_ref(service)
    if ref is None:
        return CmkFacts(None, service=service)
    vaults = step.ctx.azure.key_vault()
    # The key URI names only the vault: it can be in any resource group of the subscription. The
    # subscription's vault list carries each vault's full properties, access policies included
    # (specification/keyvault/.../stable/2023-07-01/examples/listVaultByResourceGroup.json, same shape).
    vault = find_by_name(vaults.vaults.list_by_subscription(), ref.vault)
    if vault is None:
        return CmkFacts(ref, None, None, service)
    key = get_or_none(vaults.keys.get, vault_group_of(vault), vault.name, ref.key) if with_key else None
    return CmkFacts(ref, vault, key, service)


def vault_group_of(vault: Any) -> str:
    return ArmId.parse(vault.id).resource_group


def vault_group(facts: CmkFacts) -> str:
    assert facts.vault is not None
    return vault_group_of(facts.vault)


NOT_APPLICABLE = "not applicable: the service uses a Microsoft-managed key"


class Configured(Step):
    """Whether the service uses a customer-managed key at all."""

    uses = "cmk.configured"

    def facts(self) -> CmkFacts:
        return read_cmk(self)

    def observe(self, facts: CmkFacts) -> str:
        return f"key {facts.ref.uri}" if facts.ref else "no customer-managed key (Microsoft-managed key)"

    def plan(self, facts: CmkFacts) -> list[Change]:
        return []


class VaultRecovery(Step):
    """The key vault exists; soft delete and purge protection are on (turning them on cannot be undone)."""

    uses = "cmk.vault-recovery"

    def facts(self) -> CmkFacts:
        return read_cmk(self)

    def observe(self, facts: CmkFacts) -> str:
        if facts.ref is None:
            return NOT_APPLICABLE
        if facts.vault is None:
            return f"vault {facts.ref.vault} not found"
        p = facts.vault.properties
        return (
            f"{facts.vault.name}: soft delete {'on' if p.enable_soft_delete else 'off'}, purge protection "
            f"{'on' if p.enable_purge_protection else 'off'}"
        )

    def plan(self, facts: CmkFacts) -> list[Change]:
        if facts.ref is None:
            return []
        if facts.vault is None:
            return [
                Change(
                    "fix-vault",
                    facts.ref.vault,
                    f"key vault {facts.ref.vault} was not found in subscription "
                    f"{self.ctx.target.subscription}: the service cannot reach its key",
                    fixable=False,
                )
            ]
        p = facts.vault.properties
        missing = [
            name
            for name, on in (("soft delete", p.enable_soft_delete), ("purge protection", p.enable_purge_protection))
            if not on
        ]
        if not missing:
            return []
        allowed = bool(self.ctx.options.get("allow_irreversible"))
        summary = f"turn on {' and '.join(missing)} for {facts.vault.name} (permanent: cannot be turned off)"
        if not allowed:
            summary += "; confirm with --enable-purge-protection"
        return [Change("enable-recovery", facts.vault.id, summary, {"irreversible": True}, fixable=allowed)]

    def apply(self, change: Change) -> None:
        from azure.mgmt.keyvault.models import VaultPatchParameters, VaultPatchProperties

        facts = read_cmk(self)
        assert facts.vault is not None
        self.ctx.azure.key_vault().vaults.update(
            vault_group(facts),
            facts.vault.name,
            VaultPatchParameters(
                properties=VaultPatchProperties(enable_soft_delete=True, enable_purge_protection=True)
            ),
        )


class VaultNetwork(Step):
    """The vault lets the service through: public access, or trusted Microsoft services through its firewall."""

    uses = "cmk.vault-network"

    def facts(self) -> CmkFacts:
        return read_cmk(self)

    def observe(self, facts: CmkFacts) -> str:
        if facts.ref is None or facts.vault is None:
            return NOT_APPLICABLE if facts.ref is None else "vault not found"
        p = facts.vault.properties
        acls = p.network_acls
        return (
            f"public network access {text(p.public_network_access) or 'Enabled'}, default action "
            f"{text(acls.default_action) if acls else 'Allow'}, bypass {text(acls.bypass) if acls else '-'}"
        )

    def plan(self, facts: CmkFacts) -> list[Change]:
        if facts.ref is None or facts.vault is None:
            return []
        p = facts.vault.properties
        if text(p.public_network_access) == "Disabled":
            return [
                Change(
                    "unsupported",
                    facts.vault.id,
                    "the vault only accepts private endpoints, which the "
                    "service's CMK does not support: allow public access with trusted Microsoft services",
                    fixable=False,
                )
            ]
        acls = p.network_acls
        if acls and text(acls.default_action) == "Deny" and text(acls.bypass) != "AzureServices":
            return [
                Change(
                    "allow-trusted-services",
                    facts.vault.id,
                    f"let trusted Microsoft services through the firewall of {facts.vault.name} (bypass AzureServices)",
                )
            ]
        return []

    def apply(self, change: Change) -> None:
        from azure.mgmt.keyvault.models import NetworkRuleSet, VaultPatchParameters, VaultPatchProperties

        facts = read_cmk(self)
        assert facts.ref is not None and facts.vault is not None
        acls = facts.vault.properties.network_acls
        rules = NetworkRuleSet(
            bypass="AzureServices",
            default_action=text(acls.default_action),
            ip_rules=acls.ip_rules,
            virtual_network_rules=acls.virtual_network_rules,
        )
        self.ctx.azure.key_vault().vaults.update(
            vault_group(facts),
            facts.vault.name,
            VaultPatchParameters(properties=VaultPatchProperties(network_acls=rules)),
        )


class Key(Step):
    """The key exists, is enabled, has not expired, and is RSA of at least 3072 bits (smaller: a warning)."""

    uses = "cmk.key"

    def facts(self) -> CmkFacts:
        return read_cmk(self, with_key=True)

    def observe(self, facts: CmkFacts) -> str:
        if facts.ref is None or facts.vault is None:
            return NOT_APPLICABLE if facts.ref is None else "vault not found"
        if facts.key is None:
            return f"key {facts.ref.key} not found"
        p = facts.key.properties if hasattr(facts.key, "properties") and facts.key.properties else facts.key
        attributes = p.attributes
        expires = _when(attributes.expires if attributes else None)
        return (
            f"{facts.key.name}: {text(p.kty)} {p.key_size} bits, "
            f"{'enabled' if attributes and attributes.enabled else 'disabled'}, expires {expires or 'never'}"
        )

    def plan(self, facts: CmkFacts) -> list[Change]:
        if facts.ref is None or facts.vault is None:
            return []
        if facts.key is None:
            return [
                Change(
                    "fix-key", facts.ref.key, f"key {facts.ref.key} does not exist in {facts.ref.vault}", fixable=False
                )
            ]
        p = facts.key.properties if hasattr(facts.key, "properties") and facts.key.properties else facts.key
        changes = []
        attributes = p.attributes
        if attributes is not None and attributes.enabled is False:
            changes.append(Change("fix-key", facts.key.id, f"key {facts.key.name} is disabled", fixable=False))
        expires = attributes.expires if attributes else None
        if expires is not None and _epoch(expires) <= self.ctx.azure.now():
            changes.append(
                Change(
                    "fix-key",
                    facts.key.id,
                    f"key {facts.key.name} expired on {_when(expires)}: rotate it",
                    fixable=False,
                )
            )
        if not text(p.kty).startswith("RSA"):
            changes.append(Change("fix-key", facts.key.id, f"key type {text(p.kty)} is not RSA", fixable=False))
        elif (p.key_size or 0) < MIN_KEY_SIZE:
            changes.append(
                Change(
                    "key-size",
                    facts.key.id,
                    f"RSA {p.key_size} bits; {MIN_KEY_SIZE} or more is advised (rotate to a larger key)",
                    fixable=False,
                    severity="warning",
                )
            )
        return changes


@dataclass
class AccessFacts:
    ref: KeyRef | None
    vault: Any | None
    principal: str | None
    permissions: set[str]
    rbac: bool
    has_role: bool
    graph_denied: bool = False  # Microsoft Graph refused the principal lookup: access is unknown
    who: str = "Azure Cosmos DB"  # the principal that uses the key, in words
    own_identity: bool = False  # the service's own managed identity uses the key (AHDS), not Azure Cosmos DB


GRAPH_HINT = (
    "let the signed-in identity read service principals in Microsoft Graph (Application.Read.All, or the "
    "Directory Readers role), then run again; or check the vault's access for application id {app} yourself"
)


class CosmosAccess(Step):
    """The principal that uses the key can get, wrap and unwrap it (policies or RBAC): the Azure Cosmos DB
    first-party application for Azure API for FHIR, the service's own identity for an AHDS FHIR service."""

    uses = "cmk.cosmos-access"

    def facts(self) -> AccessFacts:
        facts = read_cmk(self)
        if facts.ref is None or facts.vault is None:
            return AccessFacts(facts.ref, facts.vault, None, set(), False, False)
        rbac = bool(facts.vault.properties.enable_rbac_authorization)
        assert facts.service is not None
        if facts.service.key_user == COSMOS:
            # Microsoft Graph is asked only now that there is a key to protect: reading service
            # principals needs a directory permission many operators' identities do not have.
            try:
                principal = self.ctx.azure.graph_object_id(self.ctx.azure.cloud.cosmos_cmk_app_id)
            except AzureError as exc:
                if exc.code != "Authorization_RequestDenied":
                    raise
                return AccessFacts(facts.ref, facts.vault, None, set(), rbac, False, graph_denied=True)
            who = "Azure Cosmos DB"
        else:
            principal, who = facts.service.principal_id, "the service's identity"
        permissions: set[str] = set()
        for policy in facts.vault.properties.access_policies or []:
            if principal and policy.object_id == principal and policy.permissions:
                permissions |= {text(p) for p in policy.permissions.get("keys") or []}  # .keys is the mapping method
        role_held = False
        if rbac and principal:
            role_held = has_role(self, facts.vault.id, principal, CRYPTO_USER_ROLE)
        own = facts.service.key_user != COSMOS
        return AccessFacts(facts.ref, facts.vault, principal, permissions, rbac, role_held, who=who, own_identity=own)

    def observe(self, facts: AccessFacts) -> str:
        if facts.ref is None or facts.vault is None:
            return NOT_APPLICABLE if facts.ref is None else "vault not found"
        if facts.graph_denied:
            return "unknown: Microsoft Graph refused to look up the Azure Cosmos DB principal (403)"
        if facts.rbac:
            return f"Azure RBAC vault; {CRYPTO_USER_ROLE} for {facts.who}: {'yes' if facts.has_role else 'no'}"
        return (
            f"{facts.who[0].upper()}{facts.who[1:]} key permissions: {', '.join(sorted(facts.permissions)) or 'none'}"
        )

    def plan(self, facts: AccessFacts) -> list[Change]:
        if facts.ref is None or facts.vault is None:
            return []
        app = self.ctx.azure.cloud.cosmos_cmk_app_id
        if facts.graph_denied:
            return [Change("unknown", facts.vault.id, GRAPH_HINT.format(app=app), fixable=False, severity="warning")]
        if not facts.principal and facts.own_identity:
            return [
                Change(
                    "fix-identity",
                    facts.vault.id,
                    "turn on the FHIR service's system-assigned identity: it is what uses the key",
                    fixable=False,
                )
            ]
        if not facts.principal:
            return [Change("fix-principal", app, "the Azure Cosmos DB principal is not in this tenant", fixable=False)]
        if facts.rbac:
            if facts.has_role:
                return []
            return [
                Change(
                    "assign-role",
                    facts.vault.id,
                    f"assign {CRYPTO_USER_ROLE} on {facts.vault.name} to {facts.who}",
                    {"principal": facts.principal},
                )
            ]
        missing = [p for p in NEEDED_KEY_PERMISSIONS if p.lower() not in {x.lower() for x in facts.permissions}]
        if not missing:
            return []
        return [
            Change(
                "add-access-policy",
                facts.vault.id,
                f"give {facts.who} {', '.join(missing)} on keys in {facts.vault.name}",
                {"principal": facts.principal, "tenant": facts.vault.properties.tenant_id},
            )
        ]

    def apply(self, change: Change) -> None:
        facts = read_cmk(self)
        assert facts.ref is not None and facts.vault is not None
        if change.action == "assign-role":
            assign_role(self, facts.vault.id, change.data["principal"], CRYPTO_USER_ROLE)
            return
        from azure.mgmt.keyvault.models import (
            AccessPolicyEntry,
            Permissions,
            VaultAccessPolicyParameters,
            VaultAccessPolicyProperties,
        )

        entry = AccessPolicyEntry(
            tenant_id=change.data["tenant"],
            object_id=change.data["principal"],
            permissions=Permissions({"keys": list(NEEDED_KEY_PERMISSIONS)}),  # `keys` clashes with Mapping.keys
        )
        self.ctx.azure.key_vault().vaults.update_access_policy(
            vault_group(facts),
            facts.vault.name,
            "add",
            VaultAccessPolicyParameters(properties=VaultAccessPolicyProperties(access_policies=[entry])),
        )


class CrossTenant(Step):
    """Services in Brazil South, East Asia and Southeast Asia need a cross-tenant CMK application id."""

    uses = "cmk.cross-tenant"

    def facts(self) -> CmkFacts:
        return read_cmk(self)

    def observe(self, facts: CmkFacts) -> str:
        if facts.ref is None:
            return NOT_APPLICABLE
        if facts.service.key_user != COSMOS:
            return "not applicable: the service's own identity uses the key"
        app = facts.service.cross_tenant_app
        return f"region {facts.service.location}, cross-tenant application id {app or 'not set'}"

    def plan(self, facts: CmkFacts) -> list[Change]:
        if facts.ref is None:
            return []
        if facts.service.key_user != COSMOS:
            return []
        region = "".join(facts.service.location.split()).lower()
        app = facts.service.cross_tenant_app
        if region in CROSS_TENANT_REGIONS and not app:
            return [
                Change(
                    "fix-service",
                    facts.service.id,
                    f"{region} needs crossTenantCmkApplicationId; it is set when the service is created",
                    fixable=False,
                )
            ]
        return []


def role_guid(role_definition_id: str) -> str:
    """The GUID at the end of a role definition id.

    Assignments name their role as /subscriptions/{sub}/providers/Microsoft.Authorization/
    roleDefinitions/{guid} or, inherited from a management group, /providers/Microsoft.Authorization/
    roleDefinitions/{guid}: only the GUID identifies the role.
    """
    return role_definition_id.rstrip("/").rsplit("/", 1)[-1].lower()


def has_role(step: Step, scope: str, principal: str, role: str) -> bool:
    auth = step.ctx.azure.authorization()
    definitions, assignments = concurrently(
        lambda: list(auth.role_definitions.list(scope, filter=f"roleName eq '{role}'")),
        lambda: list(auth.role_assignments.list_for_scope(scope, filter=f"principalId eq '{principal}'")),
    )
    roles = {role_guid(d.id) for d in definitions}
    return any(role_guid(a.role_definition_id or "") in roles for a in assignments)


def assign_role(step: Step, scope: str, principal: str, role: str) -> None:
    """Assign `role` at `scope`; an equivalent assignment already there (409 RoleAssignmentExists) is success."""
    import uuid

    from azure.core.exceptions import HttpResponseError
    from azure.mgmt.authorization.models import RoleAssignmentCreateParameters

    auth = step.ctx.azure.authorization()
    definition = next(iter(auth.role_definitions.list(scope, filter=f"roleName eq '{role}'")), None)
    if definition is None:
        raise TargetError(f"role '{role}' does not exist at {scope}")
    name = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{scope.lower()}|{principal}|{role_guid(definition.id)}"))
    try:
        auth.role_assignments.create(
            scope,
            name,
            RoleAssignmentCreateParameters(
                role_definition_id=definition.id, principal_id=principal, principal_type="ServicePrincipal"
            ),
        )
    except HttpResponseError as exc:
        # Someone (the portal, a template, a management group) made the same assignment under another name.
        if getattr(exc, "status_code", None) != 409 or getattr(exc.error, "code", None) != "RoleAssignmentExists":
            raise


def _epoch(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value)


def _when(value: Any) -> str | None:
    if value is None:
        return None
    return datetime.fromtimestamp(_epoch(value), timezone.utc).date().isoformat()


STEPS = [Configured, VaultRecovery, VaultNetwork, Key, CosmosAccess, CrossTenant]
