"""What must hold before a replication cycle exports anything; each problem comes with its fix (exit 2)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fhirdr.azure.session import azure_errors
from fhirdr.errors import BadInputError, TargetError
from fhirdr.kinds.ahds import service_url
from fhirdr.steps.base import Context, Reader
from fhirdr.steps.standby import STORAGE_BLOB_DATA_CONTRIBUTOR, StandbyImport, read_primary, read_standby, role_guid


@dataclass(frozen=True)
class Route:
    """Where one target's data goes: the two FHIR endpoints, the storage account and container between them."""

    primary_url: str
    standby_url: str
    account: str
    container: str
    name: str  # the state's folder: {workspace}-{service}


class ConfigurationError(BadInputError):
    """The primary, the standby or the storage between them is not set up for replication (exit 2)."""


def check(ctx: Context) -> Route:
    """Read the configuration replication needs and refuse, naming every problem, before any export."""
    from fhirdr.replication.state import ReplicationState

    target = ctx.target
    standby_settings = target.require_standby()
    settings = target.replication
    reader = Reader(ctx)
    with azure_errors(f"reading {target.workspace}/{target.service} and its standby"):
        primary = read_primary(reader)
        standby = read_standby(reader)
    if standby is None:
        raise TargetError(
            f"the standby FHIR service {standby_settings.workspace}/{standby_settings.service} does not exist",
            hint="create it with `fhirdr enable --apply`",
        )
    step = StandbyImport(ctx)
    with azure_errors("reading the standby's import configuration and roles"):
        problems = [change.summary for change in step.plan(step.facts())]
    export_account = primary.export_configuration.storage_account_name if primary.export_configuration else None
    account = settings.storage_account or export_account
    if account and export_account and account.lower() != export_account.lower():
        problems.append(
            f"[replication] storage_account {account} is not the primary's export account {export_account}: "
            "$export writes only to the account in exportConfiguration"
        )
    if account:
        problems += _storage_problems(ctx, primary, account)
    suffix = ctx.azure.cloud.fhir_suffix
    route = Route(
        service_url(target.workspace or "", target.service, suffix),
        service_url(standby_settings.workspace, standby_settings.service, suffix),
        account or "",
        settings.container,
        f"{target.workspace}-{target.service}",
    )
    if account and not problems:
        state = ReplicationState(ctx.azure, account, settings.container, route.name)
        with azure_errors(f"reading container {settings.container} in {account}"):
            if not state.container_exists():
                problems.append(
                    f"the container {settings.container} does not exist in {account} ($export needs it to exist): "
                    f"run `az storage container create --account-name {account} --name {settings.container} "
                    "--auth-mode login`"
                )
    if problems:
        raise ConfigurationError(
            "replication is not set up: " + "; ".join(problems),
            hint="`fhirdr enable --apply` configures the standby's import and roles; nothing was exported",
        )
    return route


def _storage_problems(ctx: Context, primary: Any, account: str) -> list[str]:
    """The account is in the target's subscription and the primary's identity can write exports to it."""
    target = ctx.target
    with azure_errors(f"looking for storage account {account}"):
        found = next(
            (a for a in ctx.azure.storage().storage_accounts.list() if (a.name or "").lower() == account.lower()), None
        )
    if found is None:
        return [
            f"storage account {account} is not in subscription {target.subscription} ($export and $import need the "
            "account in the FHIR service's subscription)"
        ]
    principal = primary.identity.principal_id if primary.identity else None
    if not principal:
        return ["the primary has no managed identity: $export writes to storage as that identity (turn it on)"]
    with azure_errors(f"reading role assignments on {account}"):
        assignments = ctx.azure.authorization().role_assignments.list_for_scope(found.id, filter="atScope()")
        held = any(
            a.principal_id == principal and role_guid(a.role_definition_id) == STORAGE_BLOB_DATA_CONTRIBUTOR
            for a in assignments
        )
    if not held:
        return [
            f"the primary's identity has no Storage Blob Data Contributor role on {account} (it writes the exports)"
        ]
    return []
