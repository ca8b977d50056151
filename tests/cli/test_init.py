"""init: a target file from what is deployed; re-running keeps what a person wrote."""

from __future__ import annotations

from pathlib import Path

from fhirdr.target import load_target
from tests.conftest import make_world


def test_init_reads_a_backing_deployment(isolated, cli):
    world = make_world(isolated, kind="backing", iomt=True)
    world.target_file.unlink()
    result = cli("--sim", "--subscription", world.spec.subscription, "-g", "fhir-dr-rg", "-n", "fhirdemo", "init")
    assert result.exit_code == 0, result.output
    target = load_target(Path("fhirdr.toml"))
    assert target.kind == "backing"
    assert target.primary_region == "westus2" and target.secondary_region == "westcentralus"
    assert target.private_link.private_endpoint == "fhirdemo-pe"
    assert target.private_link.primary_vnet == "fhir-vnet-westus2"
    assert target.private_link.secondary_address_space == ("10.20.0.0/16",)
    assert target.backing.cosmos_account == "fhirdemo-cosmos"
    assert target.backing.traffic_manager_profile == "fhirdemo-tm"
    assert target.backing.cosmos_database == "fhir"
    assert target.extras.iomt_connectors == ("iomt-ingest",)


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
