"""Checks (and safe fixes) for $export: the article's export part of "configuration in DR"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fhirdr.steps.base import Change, Step, text
from fhirdr.steps.cmk import assign_role, find_by_name, has_role
from fhirdr.steps.ids import ArmId
from fhirdr.steps.settings import read_settings

BLOB_ROLE = "Storage Blob Data Contributor"
GEO_REDUNDANT = ("GRS", "RAGRS", "GZRS", "RAGZRS")
SAME_REGION_RANGE = "100.64.0.0/10"
NOT_CONFIGURED = "not applicable: $export is not configured"


@dataclass
class ExportFacts:
    service: Any
    name: str | None
    account: Any | None = None


def read_export(step: Step) -> ExportFacts:
    service = read_settings(step)
    name = service.export_account
    if not name:
        return ExportFacts(service, None)
    storage = step.ctx.azure.storage().storage_accounts
    # The service names only the account: it can be in any resource group of the subscription.
    listed = find_by_name(storage.list(), name)
    if listed is None:
        return ExportFacts(service, name)
    return ExportFacts(service, name, storage.get_properties(ArmId.parse(listed.id).resource_group, listed.name))


class Configured(Step):
    """Whether $export is configured (a storage account name on the service)."""

    uses = "export.configured"

    def facts(self) -> ExportFacts:
        return read_export(self)

    def observe(self, facts: ExportFacts) -> str:
        return f"storage account {facts.name}" if facts.name else "$export is not configured"

    def plan(self, facts: ExportFacts) -> list[Change]:
        return []


class Account(Step):
    """The storage account exists in the same subscription as the service."""

    uses = "export.account"

    def facts(self) -> ExportFacts:
        return read_export(self)

    def observe(self, facts: ExportFacts) -> str:
        if not facts.name:
            return NOT_CONFIGURED
        if facts.account is None:
            return f"{facts.name} not found in the subscription"
        return f"{facts.account.name} in {facts.account.location}"

    def plan(self, facts: ExportFacts) -> list[Change]:
        if facts.name and facts.account is None:
            return [
                Change(
                    "fix-account",
                    facts.name,
                    f"storage account {facts.name} must exist in subscription "
                    f"{self.ctx.target.subscription} (the service's subscription)",
                    fixable=False,
                )
            ]
        return []


@dataclass
class IdentityFacts:
    export: ExportFacts
    principal: str | None
    has_role: bool


class Identity(Step):
    """The service's system-assigned identity is on and holds Storage Blob Data Contributor on the account."""

    uses = "export.identity"

    def facts(self) -> IdentityFacts:
        export = read_export(self)
        principal = export.service.principal_id
        role_held = bool(export.account and principal and has_role(self, export.account.id, principal, BLOB_ROLE))
        return IdentityFacts(export, principal, role_held)

    def observe(self, facts: IdentityFacts) -> str:
        if not facts.export.name or facts.export.account is None:
            return NOT_CONFIGURED if not facts.export.name else "account not found"
        if not facts.principal:
            return "system-assigned identity off"
        return f"identity {facts.principal}; {BLOB_ROLE}: {'yes' if facts.has_role else 'no'}"

    def plan(self, facts: IdentityFacts) -> list[Change]:
        export = facts.export
        if not export.name or export.account is None:
            return []
        if not facts.principal:
            return [
                Change(
                    "fix-identity",
                    export.service.id,
                    "turn on the service's system-assigned managed identity (Identity in the portal), then run again",
                    fixable=False,
                )
            ]
        if facts.has_role:
            return []
        return [
            Change(
                "assign-role",
                export.account.id,
                f"assign {BLOB_ROLE} on {export.account.name} to the service's identity",
                {"principal": facts.principal},
            )
        ]

    def apply(self, change: Change) -> None:
        assign_role(self, change.resource, change.data["principal"], BLOB_ROLE)


class Network(Step):
    """With selected networks: trusted Microsoft services, the service's regional IP, or the same-region range."""

    uses = "export.network"

    def facts(self) -> ExportFacts:
        return read_export(self)

    def observe(self, facts: ExportFacts) -> str:
        if facts.account is None:
            return NOT_CONFIGURED if not facts.name else "account not found"
        acls = facts.account.network_rule_set
        rules = ", ".join(r.ip_address_or_range for r in (acls.ip_rules or [])) if acls else ""
        return (
            f"default action {text(acls.default_action) if acls else 'Allow'}, bypass "
            f"{text(acls.bypass) if acls else '-'}" + (f", IP rules {rules}" if rules else "")
        )

    def plan(self, facts: ExportFacts) -> list[Change]:
        if facts.account is None:
            return []
        acls = facts.account.network_rule_set
        if acls is None or text(acls.default_action) != "Deny":
            return []
        if "AzureServices" in (text(acls.bypass) or ""):
            return []
        if any(r.ip_address_or_range for r in acls.ip_rules or []):
            return []  # the service's regional IP or 100.64.0.0/10 may be among them; not ours to judge
        return [
            Change(
                "allow-trusted-services",
                facts.account.id,
                f"let trusted Microsoft services through the "
                f"firewall of {facts.account.name} (or allow the service's regional IP; {SAME_REGION_RANGE} for "
                "an account in the same region)",
            )
        ]

    def apply(self, change: Change) -> None:
        from azure.mgmt.storage.models import StorageAccountUpdateParameters

        facts = read_export(self)
        assert facts.account is not None
        # A networkAcls PATCH replaces the whole rule set: send back everything that was read
        # (resource access, IPv6, virtual network and IP rules) and change only the bypass.
        acls = facts.account.network_rule_set
        kept = {b.strip() for b in (text(acls.bypass) or "").split(",") if b.strip() and b.strip() != "None"}
        acls.bypass = ",".join(sorted(kept | {"AzureServices"}))
        self.ctx.azure.storage().storage_accounts.update(
            ArmId.parse(facts.account.id).resource_group,
            facts.account.name,
            StorageAccountUpdateParameters(network_rule_set=acls),
        )


class Redundancy(Step):
    """GRS, RA-GRS, GZRS or RA-GZRS, so an outage does not take exports with it; a failed-over account is LRS."""

    uses = "export.redundancy"

    def facts(self) -> ExportFacts:
        return read_export(self)

    def observe(self, facts: ExportFacts) -> str:
        if facts.account is None:
            return NOT_CONFIGURED if not facts.name else "account not found"
        failed = facts.account.last_geo_failover_time
        return f"{text(facts.account.sku.name)}" + (f", geo-failed over on {failed}" if failed else "")

    def plan(self, facts: ExportFacts) -> list[Change]:
        if facts.account is None:
            return []
        sku = text(facts.account.sku.name).split("_", 1)[-1]
        if sku in GEO_REDUNDANT:
            return []
        if facts.account.last_geo_failover_time:
            return [
                Change(
                    "redundancy",
                    facts.account.id,
                    f"{facts.account.name} was failed over on "
                    f"{facts.account.last_geo_failover_time} and is now {sku}: turn geo-redundancy back on",
                    fixable=False,
                    severity="warning",
                )
            ]
        return [
            Change(
                "redundancy",
                facts.account.id,
                f"{sku} keeps no copy in another region: an outage can take "
                "exports with it; use GRS, RA-GRS, GZRS or RA-GZRS",
                fixable=False,
                severity="warning",
            )
        ]


STEPS = [Configured, Account, Identity, Network, Redundancy]
