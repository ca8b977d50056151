"""`fhirdr configure-endpoint`: one Front Door endpoint in front of an AHDS FHIR service and its standby."""

from __future__ import annotations

import pytest

from fhirdr.fhir.client import FhirClient
from fhirdr.sim import lifecycle
from fhirdr.sim.providers.cdn import ENDPOINT_TYPE, ORIGIN_TYPE, ROUTE_TYPE
from tests.conftest import make_world

RG = "/subscriptions/5bd153b6-e28c-5725-b4d5-253e56d49e5d/resourceGroups/fhir-dr-rg/providers"
PROFILE = f"{RG}/Microsoft.Cdn/profiles/contosohealth-fd"
PRIMARY_HOST = "contosohealth-fhirdemo.fhir.azurehealthcareapis.com"
STANDBY_HOST = "contosohealthdr-fhirdemo.fhir.azurehealthcareapis.com"
PRIMARY = f"{RG}/Microsoft.HealthcareApis/workspaces/contosohealth/fhirservices/fhirdemo"
STANDBY = f"{RG}/Microsoft.HealthcareApis/workspaces/contosohealthdr/fhirservices/fhirdemo"


def _world(isolated, cli, audience: str | None = "api://contoso-fhir", **endpoint: object):
    world = make_world(isolated, kind="ahds")
    text = world.target_file.read_text()
    extra = "".join(f"{k} = {str(v).lower() if isinstance(v, bool) else repr(v)}\n" for k, v in endpoint.items())
    if audience:
        extra += f'audience = "{audience}"\n'
    world.target_file.write_text(
        text.replace('profile = "contosohealth-fd"\n', f'profile = "contosohealth-fd"\n{extra}')
    )
    assert cli("--sim", "enable", "--apply", "--yes").exit_code == 0
    return world


def _built(isolated, cli, **endpoint: object):
    world = _world(isolated, cli, **endpoint)
    result = cli("--sim", "configure-endpoint", "--apply", "--yes")
    assert result.exit_code == 0, result.output
    return world


def _origins(world) -> dict[str, dict]:
    return {o.body["properties"]["hostName"]: o.body["properties"] for o in world.store.by_type(ORIGIN_TYPE)}


def _front_door_host(world) -> str:
    (endpoint,) = world.store.by_type(ENDPOINT_TYPE)
    return endpoint.body["properties"]["hostName"]


def _metadata_through_front_door(world):
    client = FhirClient(
        world.session(), "fhirdemo", retry=False, base_url=f"https://{_front_door_host(world)}", audience="api://x"
    )
    return client.request("GET", "metadata")


def test_check_on_a_new_standby_lists_every_part_and_changes_nothing(isolated, cli):
    """AFDEndpoints_ListByProfile.json, AFDOriginGroups_Create.json, AFDOrigins_Create.json and Routes_Create.json
    (azure-rest-api-specs cdn stable/2024-02-01 examples) are the parts of a Front Door; none exists yet."""
    world = _world(isolated, cli)
    before = world.snapshot()
    result = cli("--sim", "-o", "json", "configure-endpoint")
    assert result.exit_code == 1, result.output
    steps = {s["id"]: s for s in result.json()["steps"]}
    assert [steps[i]["status"] for i in ("endpoint.profile", "endpoint.host", "endpoint.origin-group")] == [
        "changes"
    ] * 3
    summaries = " ".join(c["summary"] for c in steps["endpoint.origins"]["changes"])
    assert f"primary -> {PRIMARY_HOST} (host header {PRIMARY_HOST}, priority 1, enabled)" in summaries
    assert f"standby -> {STANDBY_HOST} (host header {STANDBY_HOST}, priority 2, disabled)" in summaries
    assert world.snapshot() == before


def test_apply_builds_the_front_door_then_a_second_apply_changes_nothing(isolated, cli):
    """Origin host header = the origin's own name (AFDOrigins_Create.json `originHostHeader`; learn.microsoft.com
    azure/frontdoor/origin "Origin host header"), so the FHIR service's certificate matches; the probe is
    `GET /metadata` (AFDOriginGroups_Create.json `healthProbeSettings`; the FHIR capability statement is
    anonymous); the route has no `cacheConfiguration` (Routes_Create.json) so no FHIR response is cached."""
    world = _built(isolated, cli)
    origins = _origins(world)
    assert origins[PRIMARY_HOST]["originHostHeader"] == PRIMARY_HOST and origins[PRIMARY_HOST]["priority"] == 1
    assert origins[STANDBY_HOST]["priority"] == 2 and origins[STANDBY_HOST]["enabledState"] == "Disabled"
    (group,) = world.store.by_type("Microsoft.Cdn/profiles/origingroups")
    probe = group.body["properties"]["healthProbeSettings"]
    assert (probe["probePath"], probe["probeRequestType"], probe["probeProtocol"]) == ("/metadata", "GET", "Https")
    (route,) = world.store.by_type(ROUTE_TYPE)
    assert route.body["properties"]["cacheConfiguration"] is None
    assert route.body["properties"]["forwardingProtocol"] == "HttpsOnly"
    for service in (PRIMARY, STANDBY):
        assert world.store.get(service).body["properties"]["authenticationConfiguration"]["audience"] == (
            "api://contoso-fhir"
        )
    before = world.snapshot()
    again = cli("--sim", "configure-endpoint", "--apply", "--yes")
    assert again.exit_code == 0, again.output
    assert world.snapshot() == before
    assert cli("--sim", "configure-endpoint").exit_code == 0


def test_requests_through_the_front_door_reach_the_primary_and_not_the_standby_during_an_outage(isolated, cli):
    """CapabilityStatement.implementation.url (FHIR R4) names the base URL of the server that answered. With
    the standby's origin disabled (the default) an outage of the primary leaves Front Door without a healthy
    origin (503) instead of sending writes to a standby that replication would not carry back."""
    world = _built(isolated, cli)
    answer = _metadata_through_front_door(world)
    assert answer.status == 200 and answer.body["implementation"]["url"] == f"https://{PRIMARY_HOST}"
    lifecycle.outage(world.store, "westus2")
    assert _metadata_through_front_door(world).status == 503


def test_automatic_failover_lets_front_door_send_traffic_to_the_standby(isolated, cli):
    """Priority routing (learn.microsoft.com azure/frontdoor/routing-methods "Priority"): the lower priority
    origin gets traffic when every higher one fails its probe; automatic_failover = true enables the standby."""
    world = _built(isolated, cli, automatic_failover=True)
    assert _origins(world)[STANDBY_HOST]["enabledState"] == "Enabled"
    lifecycle.outage(world.store, "westus2")
    answer = _metadata_through_front_door(world)
    assert answer.status == 200 and answer.body["implementation"]["url"] == f"https://{STANDBY_HOST}"


def test_drift_is_found_and_fixed(isolated, cli):
    """Equal priorities make Front Door spread requests over both services (learn.microsoft.com
    azure/frontdoor/routing-methods: origins of one priority share traffic by weight), and a cached route serves
    stale patient data; both are fixed. A foreign origin behind both services is a warning for a person."""
    world = _built(isolated, cli)
    session = world.session()
    from azure.mgmt.cdn.models import AFDOrigin, CacheConfiguration, ResourceReference, Route

    client = session.front_door()
    client.afd_origins.begin_create(
        "fhir-dr-rg",
        "contosohealth-fd",
        "fhir",
        "standby",
        AFDOrigin(host_name=STANDBY_HOST, origin_host_header=STANDBY_HOST, priority=1, enabled_state="Enabled"),
    ).result()
    group_id = f"{PROFILE}/originGroups/fhir"
    client.routes.begin_create(
        "fhir-dr-rg",
        "contosohealth-fd",
        "contosohealth-fhirdemo",
        "fhir",
        Route(
            origin_group=ResourceReference(id=group_id),
            patterns_to_match=["/*"],
            supported_protocols=["Https"],
            forwarding_protocol="HttpsOnly",
            link_to_default_domain="Enabled",
            cache_configuration=CacheConfiguration(query_string_caching_behavior="IgnoreQueryString"),
        ),
    ).result()
    client.afd_origins.begin_create(
        "fhir-dr-rg", "contosohealth-fd", "fhir", "legacy", AFDOrigin(host_name="old.example.com", priority=3)
    ).result()
    result = cli("--sim", "-o", "json", "configure-endpoint")
    assert result.exit_code == 1
    steps = {s["id"]: s for s in result.json()["steps"]}
    origin_changes = " ".join(c["summary"] for c in steps["endpoint.origins"]["changes"])
    assert "priority 1 -> 2" in origin_changes and "old.example.com is neither the primary nor the standby" in (
        origin_changes
    )
    assert "caches responses at the edge" in steps["endpoint.route"]["changes"][0]["summary"]
    fixed = cli("--sim", "configure-endpoint", "--apply", "--yes")
    assert fixed.exit_code == 0, fixed.output  # the foreign origin behind both is a warning, left for a person
    assert "old.example.com" in fixed.output
    assert _origins(world)[STANDBY_HOST]["priority"] == 2
    (route,) = world.store.by_type(ROUTE_TYPE)
    assert route.body["properties"]["cacheConfiguration"] is None


def test_without_a_shared_audience_the_switch_would_break_clients_tokens(isolated, cli):
    """Each FHIR service accepts tokens for its `authenticationConfiguration.audience` (FhirServices_Create.json;
    azure-docs articles/healthcare-apis/fhir/fhir-service-access-token-validation-old.md: the audience must match),
    by default its own URL: without one shared audience the step says what to do and fhirdr changes nothing."""
    world = _world(isolated, cli, audience=None)
    result = cli("--sim", "-o", "json", "configure-endpoint", "--apply", "--yes")
    assert result.exit_code == 1
    steps = {s["id"]: s for s in result.json()["steps"]}
    assert steps["endpoint.audience"]["status"] == "blocked"
    assert "clients' tokens are refused (401)" in steps["endpoint.audience"]["changes"][0]["summary"]
    assert world.store.get(PRIMARY).body["properties"]["authenticationConfiguration"]["audience"] == (
        f"https://{PRIMARY_HOST}"
    )


def test_a_private_workspace_needs_a_premium_front_door(isolated, cli):
    """Front Door reaches an origin without public access only through Private Link, a Premium feature
    (learn.microsoft.com azure/frontdoor/private-link; AFDOrigins_Create.json `sharedPrivateLinkResource`)."""
    world = _world(isolated, cli)
    workspace = world.store.get(PRIMARY.split("/fhirservices/")[0])
    workspace.body["properties"]["publicNetworkAccess"] = "Disabled"
    world.store.put(workspace.id, workspace.type, RG.rsplit("/providers", 1)[0], workspace.body)
    result = cli("--sim", "-o", "json", "configure-endpoint")
    steps = {s["id"]: s for s in result.json()["steps"]}
    assert any(
        "Premium_AzureFrontDoor" in c["summary"] and not c["fixable"] for c in steps["endpoint.origins"]["changes"]
    )


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('[endpoint]\nkind = "traffic-manager"\n', "'kind' must be one of front-door"),
        ('[endpoint]\nprofile = "bad_name!"\n', "is not a valid Front Door profile name"),
        ('[endpoint]\naudience = "not a uri"\n', "is not a token audience"),
        ('[endpoint]\nsku = "Standard_Verizon"\n', "'sku' must be one of"),
    ],
)
def test_bad_endpoint_settings_are_refused_before_anything_changes(isolated, cli, table, message):
    world = make_world(isolated, kind="ahds")
    text = world.target_file.read_text()
    start = text.index("[endpoint]")
    end = text.find("\n[", start + 1)
    world.target_file.write_text(text[:start] + table + (text[end + 1 :] if end != -1 else ""))
    before = world.snapshot()
    result = cli("--sim", "configure-endpoint", "--apply", "--yes")
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert world.snapshot() == before


def test_other_kinds_have_their_own_endpoint(isolated, cli):
    """Azure API for FHIR keeps its URL across Microsoft's failover; a self-hosted server has Traffic Manager."""
    world = make_world(isolated)
    result = cli("--sim", "configure-endpoint")
    assert result.exit_code == 2 and "configure-endpoint is for kind 'ahds'" in result.output
    world.target_file.write_text(world.target_file.read_text() + '\n[endpoint]\nkind = "front-door"\n')
    refused = cli("--sim", "status")
    assert refused.exit_code == 2 and "[endpoint] is for kind 'ahds'" in refused.output
