"""Steps that build the standby of an AHDS FHIR service: a workspace and a FHIR service that match the primary.

Azure Health Data Services has no cross-region DR (azure-docs articles/healthcare-apis/
business-continuity-disaster-recovery.md): fhirdr keeps a second FHIR service in another region with
the same configuration. Configuration is not carried by data, so every setting a client or the
replication depends on is compared and made equal here; what cannot be copied is said.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from fhirdr.azure.session import get_or_none, wait
from fhirdr.errors import TargetError
from fhirdr.kinds.ahds import service_url
from fhirdr.regions import normalise_region
from fhirdr.steps.base import Change, Step, text

# Properties of a FHIR service (api 2024-03-31, FhirServices_Create.json) the standby copies as they are.
COPIED = (
    "acrConfiguration",
    "corsConfiguration",
    "exportConfiguration",
    "implementationGuidesConfiguration",
    "resourceVersionPolicyConfiguration",
    "publicNetworkAccess",
)
# The FHIR service's data-plane roles (learn.microsoft.com azure/role-based-access-control/built-in-roles):
# who may use the primary must be able to use the standby after a failover.
FHIR_DATA_ROLES = {
    "5a1fc7df-4bf1-4951-a576-89034ee01acd": "FHIR Data Contributor",
    "4c8d0bbc-75d3-4935-991f-5f3c56d81508": "FHIR Data Reader",
    "3f88fce4-5892-4214-ae73-ba5294559913": "FHIR Data Writer",
    "3db33094-8700-4567-8da5-1501d4e7e843": "FHIR Data Exporter",
    "4465e953-8ced-4406-a58e-0f6e3f3b530b": "FHIR Data Importer",
}
STORAGE_BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"


def primary_id(target: Any) -> str:
    return (
        f"/subscriptions/{target.subscription}/resourceGroups/{target.resource_group}/providers/"
        f"Microsoft.HealthcareApis/workspaces/{target.workspace}/fhirservices/{target.service}"
    )


def standby_id(target: Any) -> str:
    standby = target.require_standby()
    return (
        f"/subscriptions/{target.subscription}/resourceGroups/{standby.resource_group}/providers/"
        f"Microsoft.HealthcareApis/workspaces/{standby.workspace}/fhirservices/{standby.service}"
    )


def read_primary(step: Step) -> Any:
    """The primary FHIR service, or a bad-input error naming what was not found."""
    target = step.ctx.target
    client = step.ctx.azure.healthcare()
    service = get_or_none(client.fhir_services.get, target.resource_group, target.workspace, target.service)
    if service is not None:
        return service
    # Which part is wrong: only asked when it is, so a found service costs one read.
    if get_or_none(client.workspaces.get, target.resource_group, target.workspace) is None:
        raise TargetError(
            f"workspace '{target.workspace}' was not found in resource group '{target.resource_group}' of "
            f"subscription {target.subscription}",
            hint="check 'workspace' and 'resource_group' in the target file",
        )
    raise TargetError(
        f"FHIR service '{target.service}' was not found in workspace '{target.workspace}'",
        hint="check 'service' in the target file (the FHIR service's name inside the workspace)",
    )


def read_standby(step: Step) -> Any | None:
    standby = step.ctx.target.require_standby()
    return get_or_none(
        step.ctx.azure.healthcare().fhir_services.get, standby.resource_group, standby.workspace, standby.service
    )


def _region(step: Step) -> str:
    region = step.ctx.target.require_standby().region
    if not region:
        raise TargetError("the standby has no region: set [standby] region or secondary_region, or run `fhirdr enable`")
    return region


class StandbyWorkspace(Step):
    """The standby's workspace exists in the standby region."""

    uses = "ahds.standby-workspace"

    def facts(self) -> Any | None:
        standby = self.ctx.target.require_standby()
        return get_or_none(self.ctx.azure.healthcare().workspaces.get, standby.resource_group, standby.workspace)

    def observe(self, facts: Any | None) -> str:
        if facts is None:
            return "missing"
        state = text(facts.properties.provisioning_state) if facts.properties else ""
        return f"{facts.name} in {normalise_region(facts.location)}, {state}"

    def plan(self, facts: Any | None) -> list[Change]:
        standby = self.ctx.target.require_standby()
        region = _region(self)
        if facts is None:
            return [Change("create", standby.workspace, f"create workspace {standby.workspace} in {region}")]
        if normalise_region(facts.location) != region:
            return [
                Change(
                    "fix-target",
                    facts.id,
                    f"workspace {facts.name} is in {normalise_region(facts.location)}, not in the standby region "
                    f"{region}: name another [standby] workspace",
                    fixable=False,
                )
            ]
        return []

    def apply(self, change: Change) -> None:
        from azure.mgmt.healthcareapis.models import Workspace

        standby = self.ctx.target.require_standby()
        wait(
            self.ctx.azure.healthcare().workspaces.begin_create_or_update(
                standby.resource_group, standby.workspace, Workspace(location=_region(self))
            )
        )


def _clean(value: Any) -> Any:
    """A wire value with what means 'not set' removed, and lists of scalars in one order."""
    if isinstance(value, dict):
        out = {k: _clean(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, [], {}, "")}
    if isinstance(value, list):
        items = [_clean(v) for v in value]
        if all(isinstance(v, str | int | float | bool) for v in items):
            return sorted(items, key=str)
        return items
    return value


@dataclass
class ParityFacts:
    primary: Any
    standby: Any | None
    # property -> (primary's value as wanted on the standby, the standby's value)
    differences: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    desired: dict[str, Any] = field(default_factory=dict)
    not_copied: list[str] = field(default_factory=list)


def desired_standby(target: Any, primary: Any, region: str, fhir_suffix: str) -> tuple[dict[str, Any], list[str]]:
    """The standby's wire body, derived from the primary's, and what could not be copied."""
    wire = primary.serialize(keep_readonly=False)
    props = wire.get("properties") or {}
    standby = target.require_standby()
    primary_url = service_url(target.workspace, target.service, fhir_suffix)
    auth = dict(props.get("authenticationConfiguration") or {})
    # The default audience is the service's own URL; the standby's own URL is its equivalent. An audience
    # that is not the primary's URL (one shared audience) is kept, so the same tokens work on both.
    if (auth.get("audience") or "").rstrip("/") == primary_url:
        auth["audience"] = service_url(standby.workspace, standby.service, fhir_suffix)
    export_account = (props.get("exportConfiguration") or {}).get("storageAccountName")
    body_props: dict[str, Any] = {key: props[key] for key in COPIED if props.get(key) is not None}
    body_props["authenticationConfiguration"] = auth
    # The standby is fed by incremental $import from the storage account the primary exports to.
    body_props["importConfiguration"] = {
        "enabled": True,
        "initialImportMode": False,
        "integrationDataStore": export_account,
    }
    not_copied = []
    key_url = ((props.get("encryption") or {}).get("customerManagedKeyEncryption") or {}).get("keyEncryptionKeyUrl")
    if key_url:
        not_copied.append(
            f"customer-managed key {key_url}: the standby needs a key it can reach in {region} (a vault there, or "
            "the same vault, which then must survive the primary region's outage); set it on the standby yourself"
        )
    if not export_account:
        not_copied.append(
            "the primary has no exportConfiguration.storageAccountName: replication exports there and the standby "
            "imports from it; configure $export on the primary first"
        )
    identity = {"type": (wire.get("identity") or {}).get("type") or "SystemAssigned"}
    if "UserAssigned" in identity["type"]:
        identity["userAssignedIdentities"] = {k: {} for k in (wire["identity"].get("userAssignedIdentities") or {})}
    body = {
        "location": region,
        "kind": wire.get("kind") or "fhir-R4",
        "identity": identity,
        "tags": {"fhirdr-standby-of": primary.id},
        "properties": body_props,
    }
    return body, not_copied


def compare(desired: dict[str, Any], standby: Any) -> dict[str, tuple[Any, Any]]:
    """Property -> (wanted, found) for every property of `desired` the standby does not have."""
    found = standby.serialize(keep_readonly=True)
    found_props = found.get("properties") or {}
    differences = {}
    for key, wanted in desired["properties"].items():
        if _clean(wanted) != _clean(found_props.get(key)):
            differences[key] = (_clean(wanted), _clean(found_props.get(key)))
    if desired["kind"] != found.get("kind"):
        differences["kind"] = (desired["kind"], found.get("kind"))
    if desired["identity"]["type"] != (found.get("identity") or {}).get("type"):
        differences["identity.type"] = (desired["identity"]["type"], (found.get("identity") or {}).get("type"))
    return differences


class StandbyService(Step):
    """The standby FHIR service exists in the standby region with the primary's configuration and incremental
    import enabled; only what differs is changed."""

    uses = "ahds.standby-service"

    def facts(self) -> ParityFacts:
        primary = read_primary(self)
        standby = read_standby(self)
        desired, not_copied = desired_standby(self.ctx.target, primary, _region(self), self.ctx.azure.cloud.fhir_suffix)
        differences = compare(desired, standby) if standby is not None else {}
        return ParityFacts(primary, standby, differences, desired, not_copied)

    def observe(self, facts: ParityFacts) -> str:
        if facts.standby is None:
            return "missing"
        state = text(facts.standby.provisioning_state)
        if not facts.differences:
            return f"{facts.standby.name} in {normalise_region(facts.standby.location)}, {state}, matches the primary"
        return f"{state}; differs in " + ", ".join(facts.differences)

    def plan(self, facts: ParityFacts) -> list[Change]:
        standby = self.ctx.target.require_standby()
        changes = [Change("copy", "configuration", what, severity="warning") for what in facts.not_copied]
        if facts.standby is None:
            region = _region(self)
            return changes + [
                Change(
                    "create",
                    standby_id(self.ctx.target),
                    f"create FHIR service {standby.workspace}/{standby.service} in {region} with the primary's "
                    "configuration and incremental import enabled",
                    {"body": facts.desired},
                )
            ]
        if normalise_region(facts.standby.location) != _region(self):
            return changes + [
                Change(
                    "fix-target",
                    facts.standby.id,
                    f"the standby runs in {normalise_region(facts.standby.location)}, not in {_region(self)}",
                    fixable=False,
                )
            ]
        if "kind" in facts.differences:
            wanted, found = facts.differences["kind"]
            return changes + [
                Change(
                    "fix-standby",
                    facts.standby.id,
                    f"the standby is {found} but the primary is {wanted}; the FHIR version cannot be changed: "
                    "delete the standby and run again",
                    fixable=False,
                )
            ]
        if text(facts.standby.provisioning_state) not in ("Succeeded", "Failed"):
            return changes + [
                Change("wait", facts.standby.id, f"the standby is {text(facts.standby.provisioning_state)}")
            ]
        return changes + [
            Change(
                "update",
                f"{facts.standby.id}#{name}",
                f"{name}: primary {_show(wanted)}, standby {_show(found)}",
                {"body": facts.desired},
            )
            for name, (wanted, found) in facts.differences.items()
        ]

    def apply(self, change: Change) -> None:
        from azure.mgmt.healthcareapis.models import FhirService

        # One PUT carries the whole configuration: after the first change the others find nothing to do.
        if change.action == "update" and not self.facts().differences:
            return
        standby = self.ctx.target.require_standby()
        wait(
            self.ctx.azure.healthcare().fhir_services.begin_create_or_update(
                standby.resource_group,
                standby.workspace,
                standby.service,
                FhirService.deserialize(change.data["body"]),
            )
        )


def _show(value: Any) -> str:
    return "not set" if value is None else repr(value)


def role_guid(role_definition_id: str | None) -> str:
    """Role assignments name their role in two forms (/subscriptions/{sub}/providers/... and /providers/...):
    the GUID at the end is the role."""
    return (role_definition_id or "").rstrip("/").rsplit("/", 1)[-1].lower()


@dataclass
class RoleFacts:
    wanted: set[tuple[str, str]]
    present: set[tuple[str, str]]
    standby_exists: bool


class StandbyRoles(Step):
    """Who holds a FHIR data role on the primary holds it on the standby; the standby's identity can read the
    storage account it imports from."""

    uses = "ahds.standby-roles"

    def facts(self) -> RoleFacts:
        from fhirdr.azure.session import concurrently

        target = self.ctx.target
        standby = read_standby(self)
        if standby is None:
            return RoleFacts(set(), set(), False)
        auth = self.ctx.azure.authorization()
        primary_roles, standby_roles = concurrently(
            lambda: list(auth.role_assignments.list_for_scope(primary_id(target), filter="atScope()")),
            lambda: list(auth.role_assignments.list_for_scope(standby_id(target), filter="atScope()")),
        )
        wanted = {
            (a.principal_id, role_guid(a.role_definition_id))
            for a in primary_roles
            if role_guid(a.role_definition_id) in FHIR_DATA_ROLES
        }
        present = {(a.principal_id, role_guid(a.role_definition_id)) for a in standby_roles}
        store = self._import_store(standby)
        if store and standby.identity and standby.identity.principal_id:
            principal = standby.identity.principal_id
            wanted.add((principal, f"{STORAGE_BLOB_DATA_CONTRIBUTOR}@{store}"))
            store_roles = auth.role_assignments.list_for_scope(self._account_id(store), filter="atScope()")
            present |= {
                (a.principal_id, f"{role_guid(a.role_definition_id)}@{store}")
                for a in store_roles
                if a.principal_id == principal
            }
        return RoleFacts(wanted, present, True)

    def _import_store(self, standby: Any) -> str | None:
        config = standby.import_configuration
        return config.integration_data_store if config else None

    def _account_id(self, name: str) -> str:
        target = self.ctx.target
        return (
            f"/subscriptions/{target.subscription}/resourceGroups/{target.resource_group}/providers/"
            f"Microsoft.Storage/storageAccounts/{name}"
        )

    def observe(self, facts: RoleFacts) -> str:
        if not facts.standby_exists:
            return "no standby yet"
        missing = facts.wanted - facts.present
        return f"{len(facts.wanted) - len(missing)} of {len(facts.wanted)} role assignments in place"

    def plan(self, facts: RoleFacts) -> list[Change]:
        if not facts.standby_exists:
            return [Change("wait", "standby", "the standby FHIR service is created first")]
        changes = []
        for principal, role in sorted(facts.wanted - facts.present):
            guid, _, store = role.partition("@")
            if store:
                summary = f"give the standby's identity Storage Blob Data Contributor on {store} (to read imports)"
                scope = self._account_id(store)
            else:
                summary = f"give {principal} {FHIR_DATA_ROLES[guid]} on the standby, as on the primary"
                scope = standby_id(self.ctx.target)
            changes.append(Change("assign", scope, summary, {"principal": principal, "role": guid, "scope": scope}))
        return changes

    def apply(self, change: Change) -> None:
        from azure.core.exceptions import HttpResponseError
        from azure.mgmt.authorization.models import RoleAssignmentCreateParameters

        data = change.data
        role = (
            f"/subscriptions/{self.ctx.target.subscription}/providers/Microsoft.Authorization/roleDefinitions/"
            + (data["role"])
        )
        name = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{data['scope'].lower()}|{data['principal']}|{data['role']}"))
        try:
            self.ctx.azure.authorization().role_assignments.create(
                data["scope"],
                name,
                RoleAssignmentCreateParameters(
                    role_definition_id=role, principal_id=data["principal"], principal_type="ServicePrincipal"
                ),
            )
        except HttpResponseError as exc:
            # Someone made the same assignment meanwhile (any name): that is the state we want.
            if getattr(getattr(exc, "error", None), "code", None) != "RoleAssignmentExists":
                raise


# The checks do not wait for the standby: before `fhirdr enable --apply` there is none to check, and that is
# status's finding (DR is off), not this check's failure.
NO_STANDBY_YET = Change(
    "create-standby", "standby", "no standby yet: `fhirdr enable --apply` creates it", severity="warning", fixable=False
)


@dataclass
class KeyFacts:
    primary_key: str | None
    standby_exists: bool
    standby_key: str | None


def _key_url(service: Any) -> str | None:
    encryption = getattr(service.encryption, "customer_managed_key_encryption", None) if service else None
    return encryption.key_encryption_key_url if encryption else None


class StandbyKey(Step):
    """With a customer-managed key on the primary, the standby has a key of its own it can reach in its region."""

    uses = "ahds.standby-key"

    def facts(self) -> KeyFacts:
        from fhirdr.azure.session import concurrently

        primary, standby = concurrently(lambda: read_primary(self), lambda: read_standby(self))
        return KeyFacts(_key_url(primary), standby is not None, _key_url(standby))

    def observe(self, facts: KeyFacts) -> str:
        if not facts.primary_key:
            return "not applicable: the service uses a Microsoft-managed key"
        if not facts.standby_exists:
            return "no standby yet"
        return f"standby key {facts.standby_key or 'none (Microsoft-managed)'}"

    def plan(self, facts: KeyFacts) -> list[Change]:
        if not facts.primary_key:
            return []
        region = _region(self)
        if not facts.standby_exists:
            return [NO_STANDBY_YET]
        if not facts.standby_key:
            return [
                Change(
                    "set-key",
                    standby_id(self.ctx.target),
                    f"the primary encrypts with its own key but the standby does not: give the standby a key in a "
                    f"vault in {region} (or the primary's vault, which then must answer when the primary region is "
                    "down), before data is replicated into it",
                    fixable=False,
                )
            ]
        if facts.standby_key.split("/keys/")[0].lower() == facts.primary_key.split("/keys/")[0].lower():
            return [
                Change(
                    "key-vault",
                    standby_id(self.ctx.target),
                    "the standby uses the primary's vault: it depends on that vault (and its paired-region failover) "
                    "during an outage of the primary region; a vault in the standby's region removes that",
                    severity="warning",
                    fixable=False,
                )
            ]
        return []


@dataclass
class ImportFacts:
    standby: Any | None
    export_account: str | None
    storage_role: bool


class StandbyImport(Step):
    """The standby imports incrementally from the account the primary exports to, and its identity can read it."""

    uses = "ahds.standby-import"

    def facts(self) -> ImportFacts:
        from fhirdr.azure.session import concurrently

        primary, standby = concurrently(lambda: read_primary(self), lambda: read_standby(self))
        account = primary.export_configuration.storage_account_name if primary.export_configuration else None
        held = False
        principal = standby.identity.principal_id if standby is not None and standby.identity else None
        if account and principal:
            scope = StandbyRoles._account_id(self, account)
            assignments = self.ctx.azure.authorization().role_assignments.list_for_scope(scope, filter="atScope()")
            held = any(
                a.principal_id == principal and role_guid(a.role_definition_id) == STORAGE_BLOB_DATA_CONTRIBUTOR
                for a in assignments
            )
        return ImportFacts(standby, account, held)

    def observe(self, facts: ImportFacts) -> str:
        if facts.standby is None:
            return "no standby yet"
        config = facts.standby.import_configuration
        if config is None:
            return "import not configured"
        return (
            f"import {'enabled' if config.enabled else 'disabled'}, initial mode "
            f"{'on' if config.initial_import_mode else 'off'}, from {config.integration_data_store or '-'}; "
            f"Storage Blob Data Contributor: {'yes' if facts.storage_role else 'no'}"
        )

    def plan(self, facts: ImportFacts) -> list[Change]:
        if not facts.export_account:
            return [
                Change(
                    "configure-export",
                    primary_id(self.ctx.target),
                    "the primary has no $export storage account: replication exports there; configure it first",
                    fixable=False,
                )
            ]
        if facts.standby is None:
            return [NO_STANDBY_YET]
        return [
            Change("fix-standby", facts.standby.id, f"{what}: run `fhirdr enable --apply`", fixable=False)
            for what in import_problems(facts.standby, facts.export_account, facts.storage_role, "standby")
        ]


def import_problems(service: Any, account: str, storage_role: bool, role: str) -> list[str]:
    """What keeps a FHIR service from importing incrementally from `account` (import-data.md: importConfiguration
    enabled, initialImportMode off for a service that takes API writes, integrationDataStore the account, and
    the service's identity holding Storage Blob Data Contributor on it)."""
    config = service.import_configuration
    wrong = []
    if not (config and config.enabled):
        wrong.append(f"import is not enabled on the {role}")
    if config and config.initial_import_mode:
        wrong.append(
            f"initial import mode is on for the {role} (it blocks API writes; replication needs incremental mode)"
        )
    if not config or (config.integration_data_store or "").lower() != account.lower():
        wrong.append(f"the {role}'s import does not read from {account}")
    if not storage_role:
        wrong.append(f"the {role}'s identity cannot read {account}")
    return wrong


STEPS = [StandbyWorkspace, StandbyService, StandbyRoles, StandbyKey, StandbyImport]
