"""What must hold before a replication cycle exports anything; each problem comes with its fix (exit 2)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fhirdr.azure.session import azure_errors
from fhirdr.errors import BadInputError, TargetError
from fhirdr.replication.runner_roles import runner_problems
from fhirdr.steps.base import Context, Reader
from fhirdr.steps.standby import (
    STORAGE_BLOB_DATA_CONTRIBUTOR,
    import_problems,
    read_primary,
    read_standby,
    role_guid,
)


@dataclass(frozen=True)
class Route:
    """Where one target's data goes: the two FHIR endpoints, the storage account and container between them.

    `primary_url` is where this direction exports from (the active service) and `standby_url` where it
    imports into; after a failover they are the standby and the old primary.
    """

    primary_url: str
    standby_url: str
    account: str
    container: str
    name: str  # the state's folder: {workspace}-{service} of the side exported from
    source_role: str = "primary"

    @property
    def reversed(self) -> bool:
        return self.source_role != "primary"


class ConfigurationError(BadInputError):
    """The primary, the standby or the storage between them is not set up for replication (exit 2)."""


def check(ctx: Context, active: str | None = None) -> Route:
    """Read the configuration replication needs and refuse, naming every problem, before any export.

    Replication runs from the active side (active.json, written by a switch; `active` overrides it) to the other.
    """
    from fhirdr.replication.direction import other, sides
    from fhirdr.replication.state import ReplicationState

    target = ctx.target
    standby_settings = target.require_standby()
    settings = target.replication
    reader = Reader(ctx)
    with azure_errors(f"reading {target.workspace}/{target.service} and its standby"):
        services = {"primary": read_primary(reader), "standby": read_standby(reader)}
    if services["standby"] is None:
        raise TargetError(
            f"the standby FHIR service {standby_settings.workspace}/{standby_settings.service} does not exist",
            hint="create it with `fhirdr enable --apply`",
        )
    primary = services["primary"]
    export_account = primary.export_configuration.storage_account_name if primary.export_configuration else None
    account = settings.storage_account or export_account
    problems: list[str] = []
    if account and export_account and account.lower() != export_account.lower():
        problems.append(
            f"[replication] storage_account {account} is not the primary's export account {export_account}: "
            "$export writes only to the account in exportConfiguration"
        )
    found = None
    if account:
        with azure_errors(f"looking for storage account {account}"):
            found = _account(ctx, account)
    if active is None and found is not None:
        with azure_errors(f"reading which service is active from {account}/{settings.container}"):
            active = _active_or_none(ctx, account)
    source_role = active or "primary"
    all_sides = sides(target, ctx.azure.cloud.fhir_suffix)
    source, sink = all_sides[source_role], all_sides[other(source_role)]
    if not account:
        problems.append("the primary has no $export storage account: replication exports there; configure it first")
    else:
        source_account = _export_account(services[source_role])
        if source_role != "primary" and (source_account or "").lower() != account.lower():
            problems.append(
                f"the {source_role} exports to {source_account or 'no storage account'}, not {account} "
                "(exportConfiguration)"
            )
        with azure_errors("reading the import configuration and roles"):
            problems += _storage_problems(ctx, services[source_role], account, found, source_role)
            if found is not None:
                held = _holds_blob_role(ctx, services[sink.role], found.id)
                problems += import_problems(services[sink.role], account, held, sink.role)
    route = Route(source.url, sink.url, account or "", settings.container, source.state_name, source_role)
    # Before the container check: on real Azure that reads blobs as the runner, so a missing role would
    # surface there as an Azure error (exit 3) instead of this refusal (exit 2).
    problems += runner_problems(ctx, account or None, source_role)
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
        fix = (
            "`fhirdr enable --apply` configures the standby's import and the services' roles (the identity "
            "running fhirdr gets its roles with the az commands named)"
            if source_role == "primary"
            else "`fhirdr failover --apply --resume RUN` finishes reversing replication (the old primary's import)"
        )
        raise ConfigurationError(
            "replication is not set up: " + "; ".join(problems), hint=f"{fix}; nothing was exported"
        )
    return route


def _active_or_none(ctx: Context, account: str) -> str | None:
    """The active side, or None when the account cannot be read yet (the storage checks then say why)."""
    from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

    from fhirdr.replication.direction import read_active

    try:
        return read_active(ctx.azure, ctx.target, account, ctx.target.replication.container)[0]["active"]
    except (ResourceNotFoundError, HttpResponseError):
        return None


def _export_account(service: Any) -> str | None:
    return service.export_configuration.storage_account_name if service.export_configuration else None


def _account(ctx: Context, account: str) -> Any | None:
    return next(
        (a for a in ctx.azure.storage().storage_accounts.list() if (a.name or "").lower() == account.lower()), None
    )


def _holds_blob_role(ctx: Context, service: Any, scope: str) -> bool:
    principal = service.identity.principal_id if service.identity else None
    if not principal:
        return False
    assignments = ctx.azure.authorization().role_assignments.list_for_scope(scope, filter="atScope()")
    return any(
        a.principal_id == principal and role_guid(a.role_definition_id) == STORAGE_BLOB_DATA_CONTRIBUTOR
        for a in assignments
    )


def _storage_problems(ctx: Context, source: Any, account: str, found: Any | None, role: str) -> list[str]:
    """The account is in the target's subscription and the exporting service's identity can write to it."""
    if found is None:
        return [
            f"storage account {account} is not in subscription {ctx.target.subscription} ($export and $import need "
            "the account in the FHIR service's subscription)"
        ]
    principal = source.identity.principal_id if source.identity else None
    if not principal:
        return [f"the {role} has no managed identity: $export writes to storage as that identity (turn it on)"]
    if not _holds_blob_role(ctx, source, found.id):
        return [f"the {role}'s identity has no Storage Blob Data Contributor role on {account} (it writes the exports)"]
    return []
