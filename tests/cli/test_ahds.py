"""The AHDS FHIR service as a target: status, a standby that matches (`enable`), drift, bad input."""

from __future__ import annotations

from fhirdr.sim import lifecycle
from fhirdr.status import OUTAGE_KEYS, STATUS_KEYS
from tests.conftest import make_world

WS = "/subscriptions/5bd153b6-e28c-5725-b4d5-253e56d49e5d/resourceGroups/fhir-dr-rg/providers/Microsoft.HealthcareApis"
PRIMARY = f"{WS}/workspaces/contosohealth/fhirservices/fhirdemo"
STANDBY = f"{WS}/workspaces/contosohealthdr/fhirservices/fhirdemo"


def _ahds(isolated):
    return make_world(isolated, kind="ahds")


def _fhir(world, service_id):
    return world.store.get(service_id).body


def _roles(world, scope):
    return sorted(
        (a.body["properties"]["principalId"], a.body["properties"]["roleDefinitionId"].rsplit("/", 1)[-1])
        for a in world.store.by_type("Microsoft.Authorization/roleAssignments")
        if a.body["properties"]["scope"].lower() == scope.lower()
    )


def test_status_of_an_ahds_service_without_a_standby_says_dr_is_off(isolated, cli):
    """AHDS has no cross-region DR (azure-docs articles/healthcare-apis/business-continuity-disaster-recovery.md):
    status says so and exits 1, with the document's keys of every kind plus the standby's."""
    _ahds(isolated)
    result = cli("--sim", "-o", "json", "status")
    assert result.exit_code == 1, result.output
    document = result.json()
    assert list(document) == [*STATUS_KEYS, *OUTAGE_KEYS, "standby", "parity"]
    assert document["kind"] == "ahds" and document["primary_region"] == "westus2"
    assert document["dr"] == {
        "enabled": False,
        "state": "off",
        "detail": "no standby FHIR service (fhirdr enable --apply)",
    }
    assert document["standby"]["exists"] is False and document["standby"]["region"] == "westcentralus"
    assert document["standby"]["url"] == "https://contosohealthdr-fhirdemo.fhir.azurehealthcareapis.com"


def test_enable_builds_a_standby_with_the_primarys_configuration_then_is_a_no_op(isolated, cli):
    """FhirServices_Create.json (azure-rest-api-specs healthcareapis stable/2024-03-31) names the properties a
    FHIR service has; the standby gets the primary's, its own audience (the default audience is the service URL)
    and incremental import (learn.microsoft.com azure/healthcare-apis/fhir/import-data: enabled, initialImportMode
    false, integrationDataStore), and every FHIR data role of the primary (built-in-roles, FHIR Data *)."""
    world = _ahds(isolated)
    before_primary = _fhir(world, PRIMARY)
    result = cli("--sim", "enable", "--apply", "--yes")
    assert result.exit_code == 0, result.output
    standby = _fhir(world, STANDBY)
    primary = _fhir(world, PRIMARY)
    assert primary == before_primary  # the primary is read, never written
    assert standby["location"] == "westcentralus" and standby["kind"] == "fhir-R4"
    props, wanted = standby["properties"], primary["properties"]
    for key in ("corsConfiguration", "exportConfiguration", "acrConfiguration", "resourceVersionPolicyConfiguration"):
        assert props[key] == wanted[key], key
    assert props["authenticationConfiguration"]["authority"] == wanted["authenticationConfiguration"]["authority"]
    assert props["authenticationConfiguration"]["audience"] == (
        "https://contosohealthdr-fhirdemo.fhir.azurehealthcareapis.com"
    )
    assert props["importConfiguration"] == {
        "enabled": True,
        "initialImportMode": False,
        "integrationDataStore": "fhirdemoexports",
    }
    assert standby["identity"]["type"] == "SystemAssigned"
    assert _roles(world, STANDBY) == _roles(world, PRIMARY) and len(_roles(world, PRIMARY)) == 2
    storage = next(s.id for s in world.store.by_type("Microsoft.Storage/storageAccounts"))
    assert (standby["identity"]["principalId"], "ba92f5b4-2d11-453d-a403-e96b0029c9fe") in _roles(world, storage)

    snapshot = world.snapshot()
    again = cli("--sim", "-o", "json", "enable", "--apply", "--yes")
    assert again.exit_code == 0, again.output
    assert {step["status"] for step in again.json()["steps"]} == {"in-sync"}
    assert world.snapshot() == snapshot
    status = cli("--sim", "-o", "json", "status").json()
    assert status["dr"]["state"] == "standby-ready" and status["parity"] == []


def test_drift_on_the_standby_is_found_and_only_the_difference_is_changed(isolated, cli):
    world = _ahds(isolated)
    assert cli("--sim", "enable", "--apply", "--yes").exit_code == 0
    stored = world.store.get(STANDBY)
    stored.body["properties"]["corsConfiguration"]["origins"] = ["https://other.example"]
    world.store.put(stored.id, stored.type, stored.id.rsplit("/fhirservices/", 1)[0], stored.body)

    status = cli("--sim", "-o", "json", "status")
    assert status.exit_code == 1
    assert [p["property"] for p in status.json()["parity"]] == ["corsConfiguration"]
    assert status.json()["dr"]["state"] == "drift"
    plan = cli("--sim", "-o", "json", "enable")
    service = next(step for step in plan.json()["steps"] if step["id"] == "enable.standby-service")
    assert [c["summary"].split(":")[0] for c in service["changes"]] == ["corsConfiguration"]
    assert "https://other.example" in service["changes"][0]["summary"]

    roles_before = _roles(world, STANDBY)
    fixed = cli("--sim", "enable", "--apply", "--yes")
    assert fixed.exit_code == 0, fixed.output
    assert _fhir(world, STANDBY)["properties"]["corsConfiguration"]["origins"] == ["https://portal.contoso.example"]
    assert _roles(world, STANDBY) == roles_before
    assert cli("--sim", "-o", "json", "status").json()["parity"] == []


def test_an_unknown_workspace_is_bad_input_and_changes_nothing(isolated, cli):
    world = _ahds(isolated)
    world.target_file.write_text(
        world.target_file.read_text().replace('workspace = "contosohealth"', 'workspace = "nosuchws"')
    )
    before = world.snapshot()
    result = cli("--sim", "enable", "--apply", "--yes")
    assert result.exit_code == 2, result.output
    assert "workspace 'nosuchws' was not found in resource group 'fhir-dr-rg'" in result.stderr
    assert world.snapshot() == before


def test_a_standby_in_the_primary_region_or_where_ahds_is_not_offered_is_refused(isolated, cli):
    """Where AHDS runs is read from the provider registration (GET /subscriptions/{id}/providers/
    Microsoft.HealthcareApis, resourceTypes[].locations, azure-rest-api-specs resources Providers_Get.json)."""
    world = _ahds(isolated)
    before = world.snapshot()
    text = world.target_file.read_text()
    world.target_file.write_text(
        text.replace('secondary_region = "westcentralus"\n', "").replace(
            '[standby]\nworkspace = "contosohealthdr"\nregion = "westcentralus"',
            '[standby]\nworkspace = "contosohealthdr"\nregion = "westus2"',
        )
    )
    same = cli("--sim", "enable")
    assert same.exit_code == 2, same.output
    assert "[standby]: 'region' must differ from 'primary_region' (westus2)" in same.stderr

    world.target_file.write_text(text)
    elsewhere = cli("--sim", "enable", "--apply", "--yes", "--secondary", "eastasia")
    assert elsewhere.exit_code == 2, elsewhere.output
    assert "eastasia is not a region where Azure Health Data Services FHIR service is offered" in elsewhere.stderr
    assert "westcentralus" in elsewhere.stderr  # the candidates
    assert world.snapshot() == before


def test_the_fhir_endpoint_of_an_ahds_service_answers_and_goes_down_with_its_region(isolated):
    """Endpoint https://{workspace}-{service}.fhir.azurehealthcareapis.com (azure-docs healthcare-apis
    fhir/overview); one service lives in one region, so an outage there takes it down."""
    from fhirdr.fhir.client import FhirClient

    world = _ahds(isolated)
    client = FhirClient(
        world.session(), "fhirdemo", base_url="https://contosohealth-fhirdemo.fhir.azurehealthcareapis.com"
    )
    assert client.metadata().status == 200
    lifecycle.outage(world.store, "westus2")
    assert client.metadata().status == 503


def test_ahds_names_and_target_keys_are_validated(isolated, cli):
    world = _ahds(isolated)
    text = world.target_file.read_text()
    for old, new, message in (
        ('workspace = "contosohealth"', 'workspace = "contoso-health"', "'workspace' = 'contoso-health'"),
        (
            'service = "fhirdemo"',
            'service = "fhir-demo"',
            "is not a valid name for the Azure Health Data Services FHIR service",
        ),
        ("[standby]", "[standby]\ncolour = 1", "unknown key 'colour'"),
    ):
        world.target_file.write_text(text.replace(old, new))
        result = cli("--sim", "status")
        assert result.exit_code == 2, result.output
        assert message in result.stderr, result.stderr


def test_the_sims_fhir_service_answers_with_the_keys_of_the_spec_example(isolated):
    """Keys of the 200 body in azure-rest-api-specs specification/healthcareapis/resource-manager/
    Microsoft.HealthcareApis/stable/2024-03-31/examples/fhirservices/FhirServices_Create.json (written down
    here by reading it), compared with what the sim answers on GET, through the SDK's pipeline."""
    from azure.core.rest import HttpRequest

    example_top = {"name", "id", "location", "type", "tags", "kind", "etag", "properties", "identity"}
    example_properties = {
        "authenticationConfiguration",
        "corsConfiguration",
        "exportConfiguration",
        "importConfiguration",
        "implementationGuidesConfiguration",
        "eventState",
        "provisioningState",
        "encryption",
    }
    world = _ahds(isolated)
    response = (
        world.session()
        .resources()
        .send_request(
            HttpRequest("GET", f"https://management.azure.com{PRIMARY}", params={"api-version": "2024-03-31"})
        )
    )
    assert response.status_code == 200
    body = response.json()
    assert example_top <= set(body)
    assert example_properties <= set(body["properties"])
    assert body["type"] == "Microsoft.HealthcareApis/workspaces/fhirservices"


def test_init_writes_an_ahds_target_from_what_is_deployed(isolated, cli):
    world = _ahds(isolated)
    world.target_file.unlink()
    result = cli("--sim", "--subscription", world.spec.subscription, "-g", "fhir-dr-rg", "-n", "fhirdemo",
                 "init", "--kind", "ahds", "--workspace", "contosohealth")  # fmt: skip
    assert result.exit_code == 0, result.output
    from pathlib import Path

    from fhirdr.target import load_target

    target = load_target(Path("fhirdr.toml"))
    assert (target.kind, target.workspace, target.service, target.primary_region) == (
        "ahds",
        "contosohealth",
        "fhirdemo",
        "westus2",
    )
    assert target.standby.workspace == "contosohealthdr" and target.standby.region == "westcentralus"
    assert target.extras.export_storage_account == "fhirdemoexports"
    assert cli("--sim", "enable", "--apply", "--yes").exit_code == 0
    wrong = cli("--sim", "--subscription", world.spec.subscription, "-g", "fhir-dr-rg", "-n", "fhirdemo",
                "init", "--kind", "ahds", "--workspace", "contosohealth", "--cosmos-account", "x")  # fmt: skip
    assert wrong.exit_code == 2 and "do not describe a target of kind ahds" in wrong.stderr
