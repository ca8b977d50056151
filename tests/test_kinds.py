"""The kind `self-hosted` (was `backing`): target file, old names accepted with a warning, the sim world."""

from __future__ import annotations

from fhirdr.fhir.client import FhirClient
from fhirdr.kinds import kind_of
from fhirdr.target import dump_toml, parse_target
from tests.conftest import make_world

BASE = {
    "subscription": "5bd153b6-e28c-5725-b4d5-253e56d49e5d",
    "resource_group": "fhir-dr-rg",
    "service": "fhirdemo",
    "primary_region": "westus2",
    "secondary_region": "westcentralus",
}


def test_the_old_kind_name_and_section_still_read_with_a_warning_each():
    target = parse_target(
        {
            **BASE,
            "kind": "backing",
            "backing": {
                "cosmos_account": "fhirdemo-cosmos",
                "traffic_manager_profile": "fhirdemo-tm",
                "secondary_compute": "fhirdemo-westcentralus.azurewebsites.net",
            },
        }
    )
    assert target.kind == "self-hosted" and kind_of(target).name == "self-hosted"
    assert target.self_hosted.compute_in("westcentralus") == "fhirdemo-westcentralus.azurewebsites.net"
    assert target.self_hosted.url == "https://fhirdemo-tm.trafficmanager.net"
    assert [w.split(": ", 1)[1].split(";")[0] for w in target.warnings] == [
        "kind 'backing' is now called 'self-hosted'",
        "[backing] is now called [self_hosted]",
        "[backing]: 'secondary_compute' is now [self_hosted.compute] westcentralus = HOST",
    ]


def test_a_self_hosted_target_names_its_url_compute_hosts_and_audience():
    target = parse_target(
        {
            **BASE,
            "kind": "self-hosted",
            "self_hosted": {
                "fhir_url": "https://fhir.contoso.example/",
                "audience": "api://fhir-server",
                "cosmos_account": "fhirdemo-cosmos",
                "compute": {"westus2": "FHIR-West.azurewebsites.net"},
            },
        }
    )
    assert target.warnings == ()
    assert kind_of(target).fhir_endpoint(target, None) == ("https://fhir.contoso.example", "api://fhir-server")
    assert target.self_hosted.compute == (("westus2", "fhir-west.azurewebsites.net"),)


def test_bad_self_hosted_settings_name_the_key(cli, isolated):
    url = {"cosmos_account": "fhir-cosmos", "fhir_url": "https://x.example"}
    for table, message in (
        ({"cosmos_account": "fhir-cosmos"}, "'fhir_url' is required without a traffic_manager_profile"),
        ({"cosmos_account": "fhir-cosmos", "fhir_url": "http://plain.example"}, "must be an https:// URL"),
        ({**url, "compute": {"westus2": "a/b"}}, "not a host name"),
        ({**url, "compute": {"mars": "a.example"}}, "mars"),
    ):
        (isolated / "fhirdr.toml").write_text(dump_toml({**BASE, "kind": "self-hosted", "self_hosted": table}))
        result = cli("--sim", "test-plan")
        assert result.exit_code == 2, result.output
        assert message in result.stderr and "[self_hosted]" in result.stderr


def test_the_self_hosted_world_answers_fhir_through_traffic_manager_and_each_regions_host(isolated):
    """The FHIR Server for Azure runs on App Service (`{app}.azurewebsites.net`) behind Traffic Manager
    (`{profile}.trafficmanager.net`), data in Cosmos DB (microsoft/fhir-server README, "Deploy to Azure";
    learn.microsoft.com azure/traffic-manager/traffic-manager-overview); there is no Azure API for FHIR resource."""
    world = make_world(isolated, kind="self-hosted", dr_enabled=True)
    assert world.store.by_type("Microsoft.HealthcareApis/services") == []
    front = FhirClient(world.session(), "fhirdemo", base_url="https://fhirdemo-tm.trafficmanager.net")
    assert front.metadata().headers["x-ms-region"] == "westus2"
    secondary = FhirClient(world.session(), "fhirdemo", base_url="https://fhirdemo-westcentralus.azurewebsites.net")
    assert secondary.metadata().headers["x-ms-region"] == "westcentralus"
    assert FhirClient(world.session(), "fhirdemo").metadata().status == 0  # no fhirdemo.azurehealthcareapis.com


def test_sim_init_accepts_the_old_kind_name_with_a_warning(isolated, cli):
    result = cli("sim", "init", "--kind", "backing")
    assert result.exit_code == 0, result.output
    assert "--kind backing is now called self-hosted" in result.stderr
    assert 'kind = "self-hosted"' in (isolated / "fhirdr.toml").read_text()
    refused = cli("sim", "init", "--force", "--kind", "self-hosted", "--cmk")
    assert refused.exit_code == 2 and "a self-hosted world has none" in refused.stderr


def test_the_test_plan_asks_for_a_test_deployment_of_the_targets_own_kind(cli, isolated):
    assert cli("sim", "init", "--kind", "self-hosted").exit_code == 0
    plan = cli("--sim", "test-plan")
    assert plan.exit_code == 0, plan.output
    assert "A separate deployment of the self-hosted FHIR Server for Azure" in plan.stdout
    assert "Azure API for FHIR service with" not in plan.stdout
