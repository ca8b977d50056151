"""Every resource type the sim serves answers a GET with the keys, and the casing, of the spec's example.

The key sets come from tests/data/spec_shapes.json, written by reading each Azure/azure-rest-api-specs
example named there. Keys the sim does not answer yet are listed per example (`not_simulated`) so a gap is
visible instead of silent; casing is checked for every key.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from azure.core.rest import HttpRequest

from tests.conftest import make_world

FIXTURE = json.loads((Path(__file__).parent.parent / "data" / "spec_shapes.json").read_text(encoding="utf-8"))
SHAPES = FIXTURE["shapes"]
WORLDS = {
    "managed": {"kind": "managed", "cmk": True, "export": True, "dr_enabled": True},
    "self-hosted": {"kind": "self-hosted", "dr_enabled": True},
    "ahds": {"kind": "ahds"},
}
ROLE_ASSIGNMENTS = "/providers/Microsoft.Authorization/roleAssignments/"


@pytest.fixture(scope="module")
def worlds(tmp_path_factory):
    built = {}
    for name, spec in WORLDS.items():
        world = make_world(tmp_path_factory.mktemp(name), **spec)
        if name == "managed":
            _peer(world)
        built[name] = world
    return built


def _peer(world) -> None:
    """A peering to read: the default world has none until configure-private-link makes one."""
    from azure.mgmt.network.models import AddressSpace, SubResource, VirtualNetwork, VirtualNetworkPeering

    network = world.session().network()
    group = world.spec.resource_group
    secondary = network.virtual_networks.begin_create_or_update(
        group,
        "shape-secondary",
        VirtualNetwork(location="westcentralus", address_space=AddressSpace(address_prefixes=["10.20.0.0/16"])),
    ).result()
    peering = VirtualNetworkPeering(
        remote_virtual_network=SubResource(id=secondary.id), allow_virtual_network_access=True
    )
    network.virtual_network_peerings.begin_create_or_update(
        group, world.spec.primary_vnet, "to-secondary", peering
    ).result()


def _get(world, path: str):
    client = world.session().healthcare()  # any ARM client: the pipeline and transport are what is under test
    return client._send_request(HttpRequest("GET", f"{path}?api-version=2024-03-31"))


def _read(world, resource_type: str) -> tuple[dict, dict]:
    """The sim's answer to a GET of the first resource of the type (a list of a scope for role assignments)."""
    stored = world.store.by_type(resource_type)
    assert stored, f"the {resource_type} world has no {resource_type}"
    resource_id = stored[0].id
    if resource_type == "Microsoft.Authorization/roleAssignments":
        response = _get(world, resource_id.split(ROLE_ASSIGNMENTS)[0] + ROLE_ASSIGNMENTS.rstrip("/"))
        assert response.status_code == 200, response.text()
        return response.json()["value"][0], dict(response.headers)
    response = _get(world, resource_id)
    assert response.status_code == 200, response.text()
    return response.json(), dict(response.headers)


def _check(found: dict, wanted: list[str], gaps: set[str], prefix: str) -> list[str]:
    problems = []
    by_lower = {key.lower(): key for key in found}
    for key in wanted:
        name = f"{prefix}{key}"
        actual = by_lower.get(key.lower())
        if actual is not None and actual != key:
            problems.append(f"{name} is spelled {prefix}{actual}")
        elif actual is None and name not in gaps:
            problems.append(f"{name} is missing")
        elif actual is not None and name in gaps:
            problems.append(f"{name} is answered now: remove it from not_simulated")
    return problems


@pytest.mark.parametrize("shape", SHAPES, ids=[s["resource"] for s in SHAPES])
def test_a_get_has_the_keys_and_casing_of_the_spec_example(worlds, shape):
    world = worlds[shape["world"]]
    body, headers = _read(world, shape["resource"])
    gaps = set(shape["not_simulated"])
    problems = _check(body, shape["top"], gaps, "")
    problems += _check(body.get("properties") or {}, shape["properties"], gaps, "properties.")
    assert not problems, f"{shape['example']}: " + "; ".join(problems)
    if "etag" in shape["top"] and shape["resource"] != "Microsoft.Authorization/roleAssignments":
        etag = {k.lower(): v for k, v in headers.items()}.get("etag", "")
        assert etag.removeprefix("W/").strip('"') == str(body["etag"]).removeprefix("W/").strip('"')


def test_every_example_path_in_the_fixture_is_a_spec_example():
    for shape in SHAPES:
        assert shape["example"].startswith("specification/") and "/examples/" in shape["example"], shape
        assert shape["example"].endswith(".json")
