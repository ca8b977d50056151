"""init: a target file from what is deployed; re-running keeps what a person wrote."""

from __future__ import annotations

from pathlib import Path

from fhirdr.target import load_target
from tests.conftest import make_world


def test_init_reads_a_self_hosted_deployment_without_a_service_resource(isolated, cli):
    """A self-hosted FHIR Server for Azure has no Microsoft.HealthcareApis resource (DESIGN.md, three kinds):
    init reads the Cosmos DB account and Traffic Manager profile the user names, and their regions."""
    world = make_world(isolated, kind="self-hosted", dr_enabled=True)
    assert world.store.by_type("Microsoft.HealthcareApis/services") == []
    world.target_file.unlink()
    result = cli(
        "--sim", "--subscription", world.spec.subscription, "-g", "fhir-dr-rg", "-n", "fhirdemo",
        "init", "--kind", "self-hosted", "--cosmos-account", "fhirdemo-cosmos", "--traffic-manager", "fhirdemo-tm",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    target = load_target(Path("fhirdr.toml"))
    assert target.kind == "self-hosted"
    assert target.primary_region == "westus2" and target.secondary_region == "westcentralus"
    assert target.private_link is None
    hosted = target.self_hosted
    assert (hosted.cosmos_account, hosted.traffic_manager_profile, hosted.cosmos_database) == (
        "fhirdemo-cosmos",
        "fhirdemo-tm",
        "fhir",
    )
    assert hosted.url == "https://fhirdemo-tm.trafficmanager.net"
    assert dict(hosted.compute) == {
        "westus2": "fhirdemo-westus2.azurewebsites.net",
        "westcentralus": "fhirdemo-westcentralus.azurewebsites.net",
    }
    assert cli("--sim", "-o", "json", "status").exit_code == 0


def test_init_of_a_managed_service_does_not_take_cosmos_db_or_traffic_manager_flags(world, cli):
    world.target_file.unlink()
    result = cli("--sim", "--subscription", world.spec.subscription, "-g", "fhir-dr-rg", "-n", "fhirdemo",
                 "init", "--cosmos-account", "fhirdemo-cosmos")  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "are for --kind self-hosted" in result.stderr
    assert not Path("fhirdr.toml").exists()


def test_init_reads_cmk_and_export_settings_of_a_managed_service(world, cli):
    service = world.store.by_type("Microsoft.HealthcareApis/services")[0]
    service.body["properties"]["cosmosDbConfiguration"]["keyVaultKeyUri"] = (
        "https://fhir-kv.vault.azure.net/keys/fhir-key"
    )
    service.body["properties"]["exportConfiguration"] = {"storageAccountName": "fhirexports"}
    world.store.put(service.id, service.type, service.id.split("/providers/")[0], service.body)
    world.target_file.unlink()
    result = cli("--sim", "--subscription", world.spec.subscription, "-g", "fhir-dr-rg", "-n", "fhirdemo", "init")
    assert result.exit_code == 0, result.output
    target = load_target(Path("fhirdr.toml"))
    assert target.kind == "managed"
    assert (target.extras.key_vault, target.extras.key_name) == ("fhir-kv", "fhir-key")
    assert target.extras.export_storage_account == "fhirexports"


def test_rerunning_init_keeps_hand_edits(world, cli):
    world.target_file.write_text(
        f'# ours\nsubscription = "{world.spec.subscription}"\nresource_group = "fhir-dr-rg"\nservice = "fhirdemo"\n'
        'secondary_region = "northcentralus"  # chosen by us\n\n[private_link]\nsecondary_address_space = '
        '["10.99.0.0/16"]\n'
    )
    result = cli("--sim", "init")
    assert result.exit_code == 0, result.output
    text = Path("fhirdr.toml").read_text()
    assert text.startswith("# ours\n")
    assert 'secondary_region = "northcentralus"  # chosen by us' in text
    target = load_target(Path("fhirdr.toml"))
    assert target.private_link.secondary_address_space == ("10.99.0.0/16",)
    assert target.private_link.primary_vnet == "fhir-vnet-westus2"
    again = cli("--sim", "init")
    assert "nothing changed" in again.stderr
    assert Path("fhirdr.toml").read_text() == text


def test_init_for_an_unknown_service_is_bad_input(world, cli):
    result = cli("--sim", "-n", "nosuch", "init")
    assert result.exit_code == 2, result.output
    assert "service 'nosuch' was not found" in result.stderr
