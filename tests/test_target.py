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


def _write_target(private_link: dict | None = None, **top: object) -> None:
    data = {**target_for(WorldSpec()), **top}
    if private_link is not None:
        data["private_link"] = {**data["private_link"], **private_link}
    Path("fhirdr.toml").write_text(dump_toml(data), encoding="utf-8")


@pytest.mark.parametrize(
    ("private_link", "message"),
    [
        ({"secondary_address_space": ["10.20.0.0/16", "10.20.128.0/17"]}, "'10.20.128.0/17' overlaps '10.20.0.0/16'"),
        ({"secondary_address_space": [167772160]}, "entry 167772160 is not a CIDR range"),
        ({"secondary_address_space": [True]}, "entry True is not a CIDR range"),
        ({"secondary_address_space": ["::/0"]}, "is IPv6; the secondary VNet needs IPv4"),
        ({"zone": "../../providers/Microsoft.Network/virtualNetworks/x"}, "is not a private DNS zone name"),
        ({"zone": "zone?api-version=1"}, "is not a private DNS zone name"),
        ({"secondary_vnet": "../x"}, "'secondary_vnet' = '../x' is not a valid virtual network name"),
        ({"private_endpoint": "pe?x=1"}, "'private_endpoint' = 'pe?x=1' is not a valid private endpoint name"),
        ({"resource_group": "rg/../other"}, "'resource_group' = 'rg/../other' is not a valid resource group name"),
    ],
)
def test_private_link_settings_azure_refuses_are_refused_with_exit_2(cli, private_link, message):
    """Azure refuses overlapping ranges in one VNet (AZURE-FACTS.md, peering) and names that break its rules.

    Naming rules: learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules
    (MicrosoftDocs/azure-docs articles/azure-resource-manager/management/resource-name-rules.md):
    virtualNetworks and privateEndpoints 2-64 alphanumerics, underscores, periods, hyphens;
    resourcegroups 1-90 of letters, digits, underscores, periods, hyphens, parentheses.
    """
    _write_target(private_link)
    result = cli("--sim", "configure-private-link")
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output and "internal error" not in result.output


@pytest.mark.parametrize(
    ("section", "values", "message"),
    [
        ("cmk", {"key_vault": "kv--double"}, "is not a valid key vault name"),
        ("export", {"storage_account": "Has-Upper"}, "is not a valid storage account name"),
        ("self_hosted", {"cosmos_account": "UPPER"}, "is not a valid Cosmos DB account name"),
        (
            "self_hosted",
            {"cosmos_account": "ok-account", "traffic_manager_profile": "tm/../x"},
            "Traffic Manager profile",
        ),
        (
            "self_hosted",
            {"cosmos_account": "ok-account", "traffic_manager_profile": "tm", "cosmos_database": "db?x"},
            "Cosmos DB database name",
        ),
    ],
)
def test_names_of_every_resource_follow_azure_naming_rules(cli, section, values, message):
    """learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules: vaults 3-24 alphanumerics
    and hyphens, no consecutive hyphens; storageAccounts 3-24 lower-case letters and digits; databaseAccounts
    3-44 lower-case letters, digits, hyphens; trafficmanagerprofiles 1-63 alphanumerics, hyphens, periods."""
    _write_target(**{section: values}, **({"kind": "self-hosted"} if section == "self_hosted" else {}))
    result = cli("status")
    assert result.exit_code == 2, result.output
    assert message in result.stderr and f"[{section}]" in result.stderr


def test_a_target_file_that_is_not_utf8_is_refused_with_exit_2(cli):
    Path("fhirdr.toml").write_bytes(b'subscription = "\xff\xfe"\n')
    result = cli("status")
    assert result.exit_code == 2, result.output
    assert "fhirdr.toml: not UTF-8 text" in result.stderr
    assert "UnicodeDecodeError" not in result.output


@pytest.mark.parametrize(
    ("target", "message"),
    [("/tmp", "target file /tmp is a directory"), ("", "--target is empty"), ("nope.toml", "does not exist")],
)
def test_a_target_option_that_is_not_a_file_says_so(cli, target, message):
    result = cli("--target", target, "status")
    assert result.exit_code == 2, result.output
    assert message in result.stderr and "internal error" not in result.output
