"""Peering and VNet plans as data: facts in, expected changes out."""

from __future__ import annotations

from types import SimpleNamespace as NS

import pytest

from fhirdr.errors import BadInputError
from fhirdr.sim.world import WorldSpec, target_for
from fhirdr.steps.base import Context
from fhirdr.steps.network import Peering as PeeringStep
from fhirdr.steps.network import PeeringFacts, VirtualNetwork, VnetFacts
from fhirdr.target import parse_target

TARGET = parse_target(target_for(WorldSpec()))
CTX = Context(TARGET, None)  # type: ignore[arg-type] - plan() never touches Azure


def peering(state: str, access: bool = True, name: str = "p") -> NS:
    return NS(id=f"/x/{name}", name=name, peering_state=state, allow_virtual_network_access=access)


@pytest.mark.parametrize(
    ("connected", "own", "reverse", "expected"),
    [
        (False, None, None, [("create", True)]),
        (False, peering("Initiated"), None, []),
        (False, peering("Connected"), peering("Connected"), []),
        (False, peering("Disconnected"), None, [("recreate", True)]),
        (False, peering("Initiated", access=False), None, [("update", True)]),
        (True, None, peering("Initiated"), [("create", True)]),
        (True, peering("Connected"), peering("Connected"), []),
        (True, peering("Initiated"), None, [("create", False)]),
        (True, peering("Initiated"), peering("Initiated"), [("wait", True)]),
    ],
)
def test_peering_plan(connected, own, reverse, expected):
    step = PeeringStep(CTX, source="secondary", remote="primary", connected=connected)
    changes = step.plan(PeeringFacts(local=NS(), remote=NS(), peering=own, reverse=reverse))
    assert [(c.action, c.fixable) for c in changes] == expected


def vnet(prefix: str, location: str) -> NS:
    return NS(id=f"/v/{prefix}", address_space=NS(address_prefixes=[prefix]), location=location)


def test_secondary_vnet_plan_creates_from_the_target_range():
    step = VirtualNetwork(CTX, role="secondary")
    (change,) = step.plan(VnetFacts(vnet=None, other=vnet("10.10.0.0/16", "westus2")))
    assert change.action == "create"
    assert change.data == {"location": "westcentralus", "prefixes": ["10.20.0.0/16"]}


def test_secondary_vnet_plan_refuses_an_overlapping_range():
    step = VirtualNetwork(CTX, role="secondary")
    with pytest.raises(BadInputError) as error:
        step.plan(VnetFacts(vnet=None, other=vnet("10.0.0.0/8", "westus2")))
    assert "10.20.0.0/16 overlaps the primary VNet's range 10.0.0.0/8" in error.value.message


def test_existing_vnets_in_the_wrong_region_or_overlapping_need_a_person():
    step = VirtualNetwork(CTX, role="secondary")
    changes = step.plan(VnetFacts(vnet=vnet("10.10.5.0/24", "eastus"), other=vnet("10.10.0.0/16", "westus2")))
    assert [(c.action, c.fixable) for c in changes] == [("fix-vnet", False), ("fix-vnet", False)]
    assert VirtualNetwork(CTX, role="primary").plan(VnetFacts(vnet=None, other=None))[0].fixable is False
