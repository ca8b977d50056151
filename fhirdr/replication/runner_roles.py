"""Whether the identity running fhirdr holds the data-plane roles replication uses; each missing one comes with its fix.

A role counts when its data actions allow the work (azure-docs articles/role-based-access-control/built-in-roles/
integration.md): FHIR Data Writer and FHIR Data Contributor allow `$export` and `$import` too. The fix names the
least role that does (articles/healthcare-apis/configure-azure-rbac.md, fhir/import-data.md).
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass
from functools import partial
from typing import Any

from fhirdr.azure.session import azure_errors, concurrently
from fhirdr.steps.base import Context
from fhirdr.steps.standby import FHIR_DATA_ROLES, STORAGE_BLOB_DATA_CONTRIBUTOR, primary_id, role_guid, standby_id

log = logging.getLogger(__name__)

_FHIR = {name: guid for guid, name in FHIR_DATA_ROLES.items()}
STORAGE_BLOB_DATA_OWNER = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"


@dataclass(frozen=True)
class Need:
    """One kind of work on one resource: the roles that allow it, and the one to assign when none is held."""

    work: str
    role: str
    granted_by: frozenset[str]


# $export needs resources/export/action: FHIR Data Exporter, Writer and Contributor have it; each also reads, which
# reconciliation does on the primary (it never writes there).
PRIMARY_NEEDS = (
    Need(
        "$export",
        "FHIR Data Exporter",
        frozenset(_FHIR[r] for r in ("FHIR Data Exporter", "FHIR Data Writer", "FHIR Data Contributor")),
    ),
)
STANDBY_NEEDS = (
    Need(
        "$import",
        "FHIR Data Importer",
        frozenset(_FHIR[r] for r in ("FHIR Data Importer", "FHIR Data Writer", "FHIR Data Contributor")),
    ),
    # Reconciliation deletes with _hardDelete=true, which only FHIR Data Contributor allows
    # (articles/healthcare-apis/fhir/fhir-bulk-delete.md, role requirements).
    Need("hard deletes (reconciliation)", "FHIR Data Contributor", frozenset({_FHIR["FHIR Data Contributor"]})),
)
STORAGE_NEEDS = (
    Need(
        "reading and writing the replication state and the cycles' files",
        "Storage Blob Data Contributor",
        frozenset({STORAGE_BLOB_DATA_CONTRIBUTOR, STORAGE_BLOB_DATA_OWNER}),
    ),
)


def runner_problems(ctx: Context, account: str | None, source: str = "primary") -> list[str]:
    """One problem per role the signed-in identity lacks on the primary, the standby or the storage account `account`
    (None: not configured, not checked). Roles held at a parent scope (workspace, resource group, subscription,
    management group) or through a group count. An identity whose token carries no object id is not checked.
    `source` is the side replication exports from (after a failover, the standby)."""
    with azure_errors("signing in to Azure"):
        token = ctx.azure.credential.get_token(ctx.azure.cloud.scope).token
    principal = token_object_id(token)
    if principal is None:
        log.info("the signed-in identity's token names no object id (oid): its data-plane roles were not checked")
        return []
    target = ctx.target
    standby = target.require_standby()
    primary = (f"the primary {target.workspace}/{target.service}", primary_id(target))
    secondary = (f"the standby {standby.workspace}/{standby.service}", standby_id(target))
    exporter, importer = (primary, secondary) if source == "primary" else (secondary, primary)
    places: list[tuple[str, str, tuple[Need, ...]]] = [(*exporter, PRIMARY_NEEDS), (*importer, STANDBY_NEEDS)]
    account_id = _account_id(ctx, account) if account else None
    if account_id:
        places.append((f"storage account {account}", account_id, STORAGE_NEEDS))
    auth = ctx.azure.authorization()
    # At the scope and above it, the principal's own and its groups' (role-assignments-list-rest.md).
    query = f"atScope() and assignedTo('{principal}')"

    def assigned(scope: str) -> set[str]:
        return {role_guid(a.role_definition_id) for a in auth.role_assignments.list_for_scope(scope, filter=query)}

    with azure_errors("reading the signed-in identity's role assignments"):
        held = concurrently(*(partial(assigned, scope) for _, scope, _ in places))
    return [
        f"the identity running fhirdr ({principal}) has no role on {where} that allows {need.work}: run "
        f'`az role assignment create --assignee {principal} --role "{need.role}" --scope {scope}`'
        for (where, scope, needs), roles in zip(places, held, strict=True)
        for need in needs
        if not roles & need.granted_by
    ]


def token_object_id(token: str) -> str | None:
    """The `oid` claim of a Microsoft Entra access token (a JWT): the object id of the user or service principal it
    was issued to (learn.microsoft.com entra/identity-platform/access-token-claims-reference). The signature is not
    checked: the token is our own, only the claim is read."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return None
    oid = claims.get("oid") if isinstance(claims, dict) else None
    return oid if isinstance(oid, str) and oid else None


def _account_id(ctx: Context, account: str) -> str | None:
    with azure_errors(f"looking for storage account {account}"):
        found: Any = next(
            (a for a in ctx.azure.storage().storage_accounts.list() if (a.name or "").lower() == account.lower()), None
        )
    return found.id if found is not None else None
