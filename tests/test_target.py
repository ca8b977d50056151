"""Target files: parsing, validation messages, overrides, writing."""

from __future__ import annotations

from pathlib import Path

import pytest

from fhirdr.errors import TargetError
from fhirdr.sim.world import WorldSpec, target_for
from fhirdr.target import dump_toml, load_target, parse_target

BASE = {"subscription": "00000000-0000-0000-0000-000000000001", "resource_group": "rg", "service": "fhirdemo"}


def test_written_target_reads_back_the_same():
    data = target_for(WorldSpec())
    path = Path("t.toml")
    path.write_text(dump_toml(data, header="hello"))
    target = load_target(path)
    assert target.service == "fhirdemo"
    assert target.private_link.secondary_address_space == ("10.20.0.0/16",)
    assert target.objectives.rpo_minutes == 15
    assert target.test_environment is True


def test_flags_and_environment_override_the_file(monkeypatch):
    path = Path("t.toml")
    path.write_text(dump_toml(BASE))
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", "00000000-0000-0000-0000-000000000002")
    target = load_target(path, {"service": "other", "resource_group": None})
    assert target.subscription == "00000000-0000-0000-0000-000000000002"
    assert target.service == "other"
    assert target.resource_group == "rg"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"subscription": None}, "'subscription' is required"),
        ({"subscription": "abc"}, "is not a subscription id"),
        ({"service": "Bad_Name"}, "is not a valid name for the Azure API for FHIR"),
        ({"kind": "other"}, "'kind' must be one of managed, self-hosted"),
        ({"primary_region": "westus9"}, "'westus9' is not an Azure region"),
        ({"primary_region": "westus2", "secondary_region": "West US 2"}, "must differ from 'primary_region'"),
        ({"colour": "blue"}, "unknown key 'colour'"),
        ({"objectives": {"rpo_minutes": 0}}, "'rpo_minutes' must be a positive whole number"),
        ({"private_link": {"secondary_address_space": ["10.0.0.1/16"]}}, "is not a CIDR range"),
        ({"private_link": {"secondary_link_registration": "yes"}}, "must be true or false"),
    ],
)
def test_bad_targets_name_the_key(change, message):
    data = {**BASE, **change}
    data = {k: v for k, v in data.items() if v is not None}
    with pytest.raises(TargetError) as error:
        parse_target(data, "f.toml")
    assert message in error.value.message
    assert error.value.message.startswith("f.toml")


def test_region_display_names_are_normalised():
    target = parse_target({**BASE, "primary_region": "West US 2", "secondary_region": "westcentralus"})
    assert target.primary_region == "westus2"


def test_missing_target_file_says_how_to_make_one():
    with pytest.raises(TargetError) as error:
        load_target(Path("nope.toml"))
    assert "fhirdr sim init" in error.value.hint
