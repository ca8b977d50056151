"""check-cmk, check-export and init against what real Azure answers, not what a naive model would.

Each test names the spec example, recording or doc page the behaviour comes from.
"""

from __future__ import annotations

import uuid

import pytest

from fhirdr.steps.base import Context, Reader
from fhirdr.steps.cmk import assign_role
from fhirdr.target import load_target
from tests.conftest import make_world

BLOB_ROLE_ID = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"


def _finding(result, check: str) -> dict:
    return next(f for f in result.json()["findings"] if f["check"] == check)


def _account(world):
    return next(r for r in world.store.by_type("Microsoft.Storage/storageAccounts"))


# --- 3. role checks compare the role's GUID; 409 RoleAssignmentExists is "already there" ------------


def test_a_role_named_in_the_providers_form_counts_as_held(isolated, cli):
    """An assignment inherited from a management group names its role `/providers/Microsoft.Authorization/
    roleDefinitions/{guid}`, while the role definitions list answers `/subscriptions/{sub}/providers/...`.

    Azure/azure-rest-api-specs specification/authorization/resource-manager/Microsoft.Authorization/
    stable/2022-04-01/examples/RoleAssignments_ListForScope.json (roleDefinitionId in the /providers form);
    Azure/azure-cli src/azure-cli/azure/cli/command_modules/role/tests/latest/recordings/
    test_role_assignment_handle_conflicted_assignments.yaml (roleDefinitions list: the /subscriptions form).
    """
    world = make_world(isolated, export=True, role_id_form="providers")
    before = world.snapshot()
    result = cli("--sim", "-o", "json", "check-export")
    assert result.exit_code == 0, result.output
    assert _finding(result, "export.identity")["status"] == "ok"
    assert "Storage Blob Data Contributor: yes" in _finding(result, "export.identity")["observed"]
    applied = cli("--sim", "check-export", "--apply", "--yes")
    assert applied.exit_code == 0, applied.output
    assert world.snapshot() == before  # nothing created next to the inherited assignment


def _sdk_assignment(world, scope: str, role_id: str, principal: str, name: str | None = None):
    from azure.mgmt.authorization.models import RoleAssignmentCreateParameters

    auth = world.session().authorization()
    return auth.role_assignments.create(
        scope,
        name or str(uuid.uuid4()),
        RoleAssignmentCreateParameters(role_definition_id=role_id, principal_id=principal, principal_type="User"),
    )


def test_the_sim_refuses_a_second_assignment_of_the_same_role_with_409(isolated):
    """ARM refuses an assignment that exists under another name: 409 {"error": {"code": "RoleAssignmentExists",
    "message": "The role assignment already exists."}}, whichever form names the role.

    Body as recorded in an activity log entry quoted by openshift/cloud-credential-operator commit
    ec2398375eb68f00287dd73844848eaee42bb666; MicrosoftDocs/azure-docs articles/role-based-access-control/
    troubleshooting.md (assignments are identified by their name; same name with other properties is
    RoleAssignmentUpdateNotPermitted).
    """
    from azure.core.exceptions import HttpResponseError

    world = make_world(isolated, export=True, mistakes=("no-role",))
    scope = _account(world).id
    principal = str(uuid.uuid4())
    sub = world.spec.subscription
    _sdk_assignment(world, scope, f"/providers/Microsoft.Authorization/roleDefinitions/{BLOB_ROLE_ID}", principal)
    with pytest.raises(HttpResponseError) as refused:
        _sdk_assignment(
            world,
            scope,
            f"/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{BLOB_ROLE_ID}",
            principal,
        )
    assert refused.value.status_code == 409
    assert refused.value.error.code == "RoleAssignmentExists"
    assert refused.value.error.message == "The role assignment already exists."


def test_assigning_a_role_that_someone_else_just_assigned_is_success(isolated):
    """Between fhirdr's check and its create, the portal (or a template) can make the same assignment under
    another name; the create then answers 409 RoleAssignmentExists, which means the role is there.

    Azure/azure-rest-api-specs .../Microsoft.Authorization/stable/2022-04-01/examples/
    RoleAssignments_CreateForResource.json (the create); the 409 body as in the test above.
    """
    world = make_world(isolated, export=True, mistakes=("no-role",))
    scope = _account(world).id
    principal = str(uuid.uuid4())
    _sdk_assignment(world, scope, f"/providers/Microsoft.Authorization/roleDefinitions/{BLOB_ROLE_ID}", principal)
    ctx = Context(load_target(world.target_file), world.session())
    assign_role(Reader(ctx), scope, principal, "Storage Blob Data Contributor")  # no error
    assign_role(Reader(ctx), scope, principal, "Storage Blob Data Contributor")  # and again
    held = [
        a
        for a in world.store.by_type("Microsoft.Authorization/roleAssignments")
        if a.body["properties"]["principalId"] == principal
    ]
    assert len(held) == 1


# --- 13. Microsoft Graph only when needed; a refusal is "unknown", not an error ----------------------


def test_check_cmk_without_a_key_never_asks_graph(isolated, cli):
    """A service with a Microsoft-managed key needs no Graph lookup: an identity without
    Application.Read.All (Graph answers 403 Authorization_RequestDenied, "Insufficient privileges to
    complete the operation.") still gets a clean check and a clean status.

    Error body: MicrosoftDocs/SupportArticles-docs support/entra/entra-id/app-integration/
    troubleshoot-authorization-requestdenied-graph-api.md; the full 403 body with innerError in
    Azure-Samples/active-directory-dotnetcore-daemon-v2 2-Call-OwnApi/ReadmeFiles/ReadmeTroubleshooting.md.
    """
    make_world(isolated, graph_denied=True)
    result = cli("--sim", "-o", "json", "check-cmk")
    assert result.exit_code == 0, result.output
    assert _finding(result, "cmk.cosmos-access")["observed"].startswith("not applicable")
    status = cli("--sim", "-o", "json", "status")
    assert status.json()["readiness"]["cmk"]["status"] == "not-configured", status.output


def test_check_cmk_with_graph_refused_reports_unknown_with_the_permission_to_grant(isolated, cli):
    """With a key but no Graph permission, who may use the key cannot be known: say "unknown" and name
    Application.Read.All and the Cosmos DB application id to check by hand; not an error (exit 3).

    MicrosoftDocs/azure-docs articles/cosmos-db/how-to-setup-customer-managed-keys.md (the Azure Cosmos DB
    principal is found by its application id); Graph 403 body as in the test above.
    """
    make_world(isolated, cmk=True, graph_denied=True)
    result = cli("--sim", "-o", "json", "check-cmk")
    assert result.exit_code == 0, result.output
    finding = _finding(result, "cmk.cosmos-access")
    assert finding["status"] == "warning"
    assert finding["observed"].startswith("unknown: Microsoft Graph refused")
    assert "Application.Read.All" in finding["action"]
    assert "a232010e-820c-4083-83bb-3ace5fc29d0b" in finding["action"]
    readiness = cli("--sim", "-o", "json", "status").json()["readiness"]["cmk"]
    assert readiness["status"] == "ok" and "cosmos-access" in readiness["summary"]


# --- 14. key vault and export account found by name anywhere in the subscription ---------------------


def test_vault_and_export_account_in_another_resource_group_are_found(isolated, cli):
    """The key URI names only the vault and exportConfiguration only the account name; both can live in
    any resource group of the subscription.

    Azure/azure-rest-api-specs specification/keyvault/resource-manager/Microsoft.KeyVault/stable/2023-07-01/
    examples/listVaultByResourceGroup.json (a vault list: full ids and properties, access policies included;
    listVaultBySubscription is the same list for the subscription); specification/storage/resource-manager/
    Microsoft.Storage/stable/2023-05-01/examples/StorageAccountList.json (the subscription's accounts).
    """
    make_world(isolated, cmk=True, export=True, vault_resource_group="shared-keys-rg")
    cmk = cli("--sim", "-o", "json", "check-cmk")
    assert cmk.exit_code == 0, cmk.output
    assert [f for f in cmk.json()["findings"] if f["status"] in ("fail", "warning")] == [], cmk.output
    assert "soft delete on, purge protection on" in _finding(cmk, "cmk.vault-recovery")["observed"]
    export = cli("--sim", "-o", "json", "check-export")
    assert export.exit_code == 0, export.output
    assert _finding(export, "export.account")["observed"].startswith("fhirdemoexports in")


@pytest.mark.parametrize(
    ("mistake", "command", "check"),
    [("vault-firewall", "check-cmk", "cmk.vault-network"), ("storage-firewall", "check-export", "export.network")],
)
def test_fixes_reach_resources_in_another_resource_group(isolated, cli, mistake, command, check):
    """The fix is sent to the resource group the resource is in (its id), not the service's.

    Same spec examples as the test above; Azure/azure-rest-api-specs .../Microsoft.Storage/stable/2023-05-01/
    examples/StorageAccountUpdate.json for the PATCH.
    """
    world = make_world(isolated, cmk=True, export=True, mistakes=(mistake,), vault_resource_group="shared-keys-rg")
    applied = cli("--sim", command, "--apply", "--yes")
    assert applied.exit_code == 0, applied.output
    recheck = cli("--sim", "-o", "json", command)
    assert _finding(recheck, check)["status"] == "ok", recheck.output
    assert all("/resourceGroups/shared-keys-rg/" in r.id for r in world.store.by_type("Microsoft.KeyVault/vaults"))


# --- 15. the storage firewall fix sends back every rule it read ---------------------------------------


def test_export_network_fix_keeps_resource_access_ipv6_and_vnet_rules(isolated, cli):
    """A networkAcls PATCH replaces the whole rule set: the example PATCHes only resourceAccessRules and
    defaultAction and the answer shows bypass, ipRules and virtualNetworkRules back at their defaults.

    Azure/azure-rest-api-specs specification/storage/resource-manager/Microsoft.Storage/stable/2023-05-01/
    examples/StorageAccountUpdate.json.
    """
    world = make_world(isolated, export=True, mistakes=("storage-firewall",), storage_access_rules=True)
    before = _account(world).body["properties"]["networkAcls"]
    assert before["resourceAccessRules"] and before["ipv6Rules"] and before["virtualNetworkRules"]
    applied = cli("--sim", "check-export", "--apply", "--yes")
    assert applied.exit_code == 0, applied.output
    after = _account(world).body["properties"]["networkAcls"]
    assert after["bypass"] == "AzureServices" and after["defaultAction"] == "Deny"
    for rules in ("resourceAccessRules", "ipv6Rules", "virtualNetworkRules", "ipRules"):
        assert after[rules] == before[rules], rules


# --- 6. init takes only what is named or tied to the service -------------------------------------------


def _init(cli, world, *flags: str):
    return cli("--sim", "--subscription", world.spec.subscription, "-g", "fhir-dr-rg", "-n", "fhirdemo", "init", *flags)


def test_init_never_takes_a_cosmos_account_or_profile_it_was_not_named(isolated, cli):
    """A Cosmos DB account and a Traffic Manager profile in the service's group prove nothing: `enable --apply`
    would add a billed region to whatever account init took. An Azure API for FHIR service keeps its Cosmos DB
    out of reach, so init of a managed target takes none; a self-hosted target takes exactly what is named.

    microsoft/fhir-server samples/templates/default-azuredeploy.json (a self-hosted server's parts);
    MicrosoftDocs/azure-docs articles/azure-resource-manager/management/tag-resources.md.
    """
    from fhirdr.sim.providers.cosmosdb import account_body
    from fhirdr.sim.providers.trafficmanager import new_profile

    world = make_world(isolated)
    group = f"/subscriptions/{world.spec.subscription}/resourceGroups/fhir-dr-rg"
    other = f"{group}/providers/Microsoft.DocumentDB/databaseAccounts/billing-cosmos"
    body = account_body("billing-cosmos", other, "westus2", ["westus2"], False)
    world.store.put(other, body["type"], group, body)
    new_profile(world.store, f"{group}/providers/Microsoft.Network/trafficManagerProfiles/billing-tm", "billing-tm")
    (isolated / "fhirdr.toml").unlink()
    result = _init(cli, world)
    assert result.exit_code == 0, result.output
    target = load_target(isolated / "fhirdr.toml")
    assert target.kind == "managed" and target.self_hosted is None
    assert "billing" not in (isolated / "fhirdr.toml").read_text()


# --- 9. sovereign clouds: regions, Cosmos DB application id, DNS names per cloud -----------------------


def test_a_government_deployment_checks_out_under_its_cloud(isolated, cli):
    """Azure Government has its own regions, privatelink zone and Azure Cosmos DB application id
    (57506a73-e302-42a9-b869-6f12d9ec29e9), which the key vault must let in.

    MicrosoftDocs/azure-docs articles/cosmos-db/how-to-setup-customer-managed-keys.md ("except Azure
    Government regions where the application ID is 57506a73-..."); articles/private-link/
    private-endpoint-dns.md (Government zones end in .azurehealthcareapis.us).
    """
    made = cli("--cloud", "AzureUSGovernment", "sim", "init", "--cmk")
    assert made.exit_code == 0, made.output
    target = load_target(isolated / "fhirdr.toml", cloud="AzureUSGovernment")
    assert (target.primary_region, target.secondary_region) == ("usgovvirginia", "usgovtexas")
    assert target.private_link.zone == "privatelink.azurehealthcareapis.us"
    result = cli("--cloud", "AzureUSGovernment", "--sim", "-o", "json", "check-cmk")
    assert result.exit_code == 0, result.output
    assert _finding(result, "cmk.cosmos-access")["status"] == "ok"
    assert "wrapKey" in _finding(result, "cmk.cosmos-access")["observed"]


def test_government_regions_are_refused_only_outside_their_cloud(isolated, cli):
    """Region names are per cloud: usgovvirginia is valid with --cloud AzureUSGovernment and, under the public
    cloud, refused with a hint naming the cloud it belongs to.

    MicrosoftDocs/azure-docs articles/azure-government/documentation-government-developer-guide.md (Azure
    Government regions); microsoft/fhir-starter docs/Readme.md (Azure API for FHIR in US Gov regions).
    """
    make_world(isolated, cloud="AzureUSGovernment", primary_region="usgovvirginia", secondary_region="usgovtexas")
    ok = cli("--cloud", "AzureUSGovernment", "test-plan")
    assert ok.exit_code == 0, ok.output
    refused = cli("test-plan")
    assert refused.exit_code == 2, refused.output
    assert "'usgovvirginia' is not an Azure region" in refused.stderr
    assert "--cloud AzureUSGovernment" in refused.stderr
    assert "Traceback" not in refused.output


def test_init_in_government_proposes_a_government_secondary_and_zone(isolated, cli):
    """init reads the pair from the subscription's locations and keeps to regions offering the service in
    that cloud; the private DNS zone it looks for is the cloud's own.

    Azure/azure-rest-api-specs specification/resources/resource-manager/Microsoft.Resources/stable/2022-12-01/
    examples/GetLocationsWithExtendedLocations.json (pairedRegion metadata); MicrosoftDocs/azure-docs
    articles/private-link/private-endpoint-dns.md.
    """
    world = make_world(
        isolated, cloud="AzureUSGovernment", primary_region="usgovvirginia", secondary_region="usgovtexas"
    )
    (isolated / "fhirdr.toml").unlink()
    result = cli(
        "--cloud",
        "AzureUSGovernment",
        "--sim",
        "--subscription",
        world.spec.subscription,
        "-g",
        "fhir-dr-rg",
        "-n",
        "fhirdemo",
        "init",
    )
    assert result.exit_code == 0, result.output
    target = load_target(isolated / "fhirdr.toml", cloud="AzureUSGovernment")
    assert target.secondary_region == "usgovtexas"
    assert target.private_link.zone == "privatelink.azurehealthcareapis.us"


def test_a_cli_signed_in_to_another_cloud_is_named(tmp_path):
    """AzureCliCredential ignores `authority` and uses the Azure CLI's cloud (`az cloud set`, kept in
    $AZURE_CONFIG_DIR/config under [cloud] name): a mismatch with --cloud is said, with the fix.

    MicrosoftDocs/azure-docs articles/azure-government/documentation-government-get-started-connect-with-cli.md
    (`az cloud set --name AzureUSGovernment` before `az login`).
    """
    from fhirdr.azure.clouds import cli_cloud_mismatch

    config = tmp_path / "azure"
    config.mkdir()
    env = {"AZURE_CONFIG_DIR": str(config)}
    assert cli_cloud_mismatch("AzureUSGovernment", env) is None  # no Azure CLI configuration: nothing to say
    (config / "config").write_text("[core]\noutput = json\n", encoding="utf-8")
    warning = cli_cloud_mismatch("AzureUSGovernment", env)
    assert warning is not None and "az cloud set --name AzureUSGovernment" in warning
    assert cli_cloud_mismatch("AzureCloud", env) is None  # never switched: the public cloud
    (config / "config").write_text("[cloud]\nname = AzureUSGovernment\n", encoding="utf-8")
    assert cli_cloud_mismatch("AzureUSGovernment", env) is None
    assert "set to AzureUSGovernment, not AzureCloud" in (cli_cloud_mismatch("AzureCloud", env) or "")
