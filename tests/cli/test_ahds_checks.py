"""check-cmk and check-export on an AHDS FHIR service: its own identity uses the key; the standby's side."""

from __future__ import annotations

from tests.cli.test_ahds import PRIMARY, STANDBY
from tests.conftest import make_world


def _steps(result):
    return {step["id"]: step for step in result.json()["steps"]}


def test_the_services_own_identity_must_be_able_to_use_the_key_and_apply_grants_it(isolated, cli):
    """An AHDS FHIR service's customer-managed key is used by the service's managed identity, which needs
    get, wrap key and unwrap key on it (learn.microsoft.com azure/healthcare-apis/fhir/
    configure-customer-managed-keys); the key URL is encryption.customerManagedKeyEncryption.keyEncryptionKeyUrl
    (azure-rest-api-specs healthcareapis stable/2024-03-31 examples/fhirservices/FhirServices_Create.json)."""
    world = make_world(isolated, kind="ahds", cmk=True, mistakes=("no-access-policy",))
    result = cli("--sim", "-o", "json", "check-cmk")
    assert result.exit_code == 1, result.output
    access = _steps(result)["cmk.key-access"]
    assert access["status"] == "changes"
    assert access["changes"][0]["summary"] == "give the service's identity wrapKey, unwrapKey on keys in fhirdemo-kv"
    assert "cmk.cross-tenant" not in _steps(result)  # Azure API for FHIR only
    fixed = cli("--sim", "check-cmk", "--apply", "--yes")
    assert fixed.exit_code == 0, fixed.output
    assert _steps(cli("--sim", "-o", "json", "check-cmk"))["cmk.standby-key"]["status"] == "warning"  # no standby yet
    principal = world.store.get(PRIMARY).body["identity"]["principalId"]
    vault = world.store.by_type("Microsoft.KeyVault/vaults")[0].body
    granted = {p["objectId"]: set(p["permissions"]["keys"]) for p in vault["properties"]["accessPolicies"]}
    assert {"get", "wrapKey", "unwrapKey"} <= granted[principal]
    assert _steps(cli("--sim", "-o", "json", "check-cmk"))["cmk.key-access"]["status"] == "in-sync"


def test_the_standby_needs_a_key_of_its_own(isolated, cli):
    world = make_world(isolated, kind="ahds", cmk=True)
    assert cli("--sim", "enable", "--apply", "--yes").exit_code == 0
    key = _steps(cli("--sim", "-o", "json", "check-cmk"))["cmk.standby-key"]
    assert key["status"] == "blocked"
    assert "give the standby a key in a vault in westcentralus" in key["changes"][0]["summary"]
    standby = world.store.get(STANDBY)
    standby.body["properties"]["encryption"] = {
        "customerManagedKeyEncryption": {"keyEncryptionKeyUrl": "https://fhirdemo-kv.vault.azure.net/keys/dr"}
    }
    world.store.put(standby.id, standby.type, standby.id.rsplit("/fhirservices/", 1)[0], standby.body)
    shared = _steps(cli("--sim", "-o", "json", "check-cmk"))["cmk.standby-key"]
    assert shared["status"] == "warning" and "uses the primary's vault" in shared["changes"][0]["summary"]


def test_check_export_covers_the_primarys_role_and_the_standbys_import(isolated, cli):
    """Incremental import (importConfiguration enabled, initialImportMode false, integrationDataStore) and the
    storage account the standby reads (learn.microsoft.com azure/healthcare-apis/fhir/configure-import-data)."""
    world = make_world(isolated, kind="ahds", export=True, mistakes=("no-role",))
    before = cli("--sim", "-o", "json", "check-export")
    assert before.exit_code == 1
    steps = _steps(before)
    assert steps["export.identity"]["status"] == "changes"
    assert steps["export.standby-import"]["status"] == "warning"
    assert cli("--sim", "enable", "--apply", "--yes").exit_code == 0
    assert cli("--sim", "check-export", "--apply", "--yes").exit_code == 0
    assert _steps(cli("--sim", "-o", "json", "check-export"))["export.standby-import"]["status"] == "in-sync"

    standby = world.store.get(STANDBY)
    standby.body["properties"]["importConfiguration"]["initialImportMode"] = True
    world.store.put(standby.id, standby.type, standby.id.rsplit("/fhirservices/", 1)[0], standby.body)
    drift = _steps(cli("--sim", "-o", "json", "check-export"))["export.standby-import"]
    assert drift["status"] == "blocked"
    assert drift["changes"][0]["summary"].startswith("initial import mode is on")


def test_medtech_services_are_named_until_the_standby_workspace_has_them(isolated, cli):
    """MedTech services (workspaces/iotconnectors, azure-rest-api-specs healthcareapis stable/2024-03-31
    examples/iotconnectors/iotconnector_Patch.json) have no DR: each needs a counterpart in the standby workspace."""
    from fhirdr.sim.providers.workspaces import put_medtech

    world = make_world(isolated, kind="ahds", iomt=True)
    result = cli("--sim", "-o", "json", "check-iomt")
    assert result.exit_code == 0, result.output  # a warning: nothing fails today
    finding = _steps(result)["iomt.connectors"]
    assert finding["status"] == "warning"
    assert finding["changes"][0]["summary"].startswith("MedTech service devices does not fail over: create devices")
    assert cli("--sim", "enable", "--apply", "--yes").exit_code == 0
    standby_ws = STANDBY.rsplit("/fhirservices/", 1)[0]
    put_medtech(world.store, standby_ws, "devices", "westcentralus", "devices-eventhub", "ns.servicebus.windows.net")
    assert _steps(cli("--sim", "-o", "json", "check-iomt"))["iomt.connectors"]["status"] == "in-sync"
    assert cli("--sim", "-o", "json", "status").json()["readiness"]["export"]["status"] == "ok"
