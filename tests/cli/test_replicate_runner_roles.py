"""`fhirdr replicate` refuses, before any export, when the identity running it lacks a data-plane role it needs."""

from __future__ import annotations

import logging
import time
import uuid

import pytest
from azure.core.credentials import AccessToken

from fhirdr.sim.graph import RUNNER_OBJECT_ID
from fhirdr.sim.transport import SimCredential
from tests.cli.test_replicate import PRIMARY, STANDBY, WS, _jobs, _seed
from tests.conftest import make_world

SUBSCRIPTION = WS.split("/")[2]
GROUP = WS.rsplit("/providers/", 1)[0]
EXPORTER = "3db33094-8700-4567-8da5-1501d4e7e843"
CONTRIBUTOR = "5a1fc7df-4bf1-4951-a576-89034ee01acd"


def _role(guid: str, form: str = "subscription") -> str:
    prefix = "" if form == "providers" else f"/subscriptions/{SUBSCRIPTION}"
    return f"{prefix}/providers/Microsoft.Authorization/roleDefinitions/{guid}"


def _assign(world, scope: str, role_definition_id: str) -> None:
    """Give the signed-in identity a role at a scope, through the SDK as `az role assignment create` would."""
    from azure.mgmt.authorization.models import RoleAssignmentCreateParameters

    world.session().authorization().role_assignments.create(
        scope,
        str(uuid.uuid4()),
        RoleAssignmentCreateParameters(
            role_definition_id=role_definition_id, principal_id=RUNNER_OBJECT_ID, principal_type="User"
        ),
    )


def _text(result) -> str:
    return " ".join(result.output.split())


@pytest.fixture
def no_exporter(isolated, cli):
    """An AHDS world with its standby, where the signed-in identity holds everything replication uses but a role
    that allows $export on the primary: FHIR Data Importer and Storage Blob Data Contributor on the resource group,
    FHIR Data Contributor (which would allow $export too) on the standby alone."""
    world = make_world(isolated, kind="ahds", runner_roles=("FHIR Data Importer", "Storage Blob Data Contributor"))
    result = cli("--sim", "enable", "--apply", "--yes")
    assert result.exit_code == 0, result.output
    _assign(world, STANDBY, _role(CONTRIBUTOR))
    _seed(world, count=4)
    return world


def test_replicate_refuses_before_any_export_when_the_runner_may_not_export_from_the_primary(no_exporter, cli):
    """configure-azure-rbac.md (healthcare-apis): FHIR Data Exporter is the role that may call $export; the refusal
    names it, the primary's scope and the `az role assignment create` that fixes it, and nothing is exported."""
    result = cli("--sim", "replicate")
    assert result.exit_code == 2, result.output
    text = _text(result)
    assert f'--assignee {RUNNER_OBJECT_ID} --role "FHIR Data Exporter" --scope {PRIMARY}`' in text
    assert "allows $export" in text and text.count("az role assignment create") == 1
    assert _jobs(no_exporter, "export") == 0


def test_the_exporter_role_named_by_its_bare_guid_counts(no_exporter, cli):
    """A role assignment names its role as /subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/
    {guid} or /providers/... (RoleAssignments_ListForScope.json, 2022-04-01); the GUID is the role
    (built-in-roles.md lists FHIR Data Exporter as 3db33094-...), so one naming the bare GUID counts too."""
    _assign(no_exporter, PRIMARY, EXPORTER)
    result = cli("--sim", "replicate")
    assert result.exit_code == 0, result.output
    assert _jobs(no_exporter, "export") == 1


def test_an_exporter_role_inherited_from_the_resource_group_counts(no_exporter, cli):
    """role-assignments-list-rest.md: `atScope()` lists the assignments at the scope and above it; a role assigned
    on the resource group applies to every resource in it (role-based-access-control/scope-overview.md)."""
    _assign(no_exporter, GROUP, _role(EXPORTER))
    result = cli("--sim", "replicate")
    assert result.exit_code == 0, result.output
    assert _jobs(no_exporter, "export") == 1


def test_fhir_data_contributor_on_the_primary_allows_export_too(no_exporter, cli):
    """built-in-roles/integration.md: FHIR Data Contributor's data actions are workspaces/fhirservices/resources/*,
    which include resources/export/action; the role is named in the /providers/... form a management group's
    assignment carries."""
    _assign(no_exporter, PRIMARY, _role(CONTRIBUTOR, "providers"))
    result = cli("--sim", "replicate")
    assert result.exit_code == 0, result.output


def test_replicate_names_the_standby_when_the_runner_may_neither_import_nor_hard_delete_there(isolated, cli):
    """fhir/import-data.md: $import needs FHIR Data Importer; fhir/fhir-bulk-delete.md: hard deletes (what
    reconciliation does on the standby) need FHIR Data Contributor. Both are named with the standby's scope."""
    world = make_world(isolated, kind="ahds", runner_roles=("FHIR Data Exporter", "Storage Blob Data Contributor"))
    assert cli("--sim", "enable", "--apply", "--yes").exit_code == 0
    result = cli("--sim", "replicate")
    assert result.exit_code == 2, result.output
    text = _text(result)
    assert f'--role "FHIR Data Importer" --scope {STANDBY}`' in text
    assert f'--role "FHIR Data Contributor" --scope {STANDBY}`' in text
    assert text.count("az role assignment create") == 2
    assert _jobs(world, "export") == 0


def test_a_runner_whose_token_has_no_object_id_is_not_checked(no_exporter, cli, monkeypatch, caplog):
    """access-token-claims-reference.md (Microsoft Entra): `oid` is the object id of the principal the token was
    issued to; without it the principal is unknown, so its roles are not checked (said at INFO) and replication
    goes on as it did before the check existed."""
    monkeypatch.setattr(
        SimCredential, "get_token", lambda self, *scopes, **kwargs: AccessToken("opaque", int(time.time()) + 3600)
    )
    with caplog.at_level(logging.INFO, logger="fhirdr.replication.runner_roles"):
        result = cli("--sim", "replicate")
    assert result.exit_code == 0, result.output
    assert "were not checked" in caplog.text
