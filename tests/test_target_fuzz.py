"""Fuzzed target files: every bad one is refused with exit 2 and a message naming its key, never a traceback."""

from __future__ import annotations

import copy
import random
from pathlib import Path

import pytest

from fhirdr.sim.world import WorldSpec, target_for
from fhirdr.target import dump_toml

SEED = 20261201
CASES = 240

# Values no key of that kind may take. Names: what Azure's naming rules refuse
# (learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules), and the
# shapes that would reach an ARM path as something else ("../", "?", "#", "/").
BAD_NAMES = [
    "",
    " ",
    "../../providers/Microsoft.Network/virtualNetworks/x",
    "name?api-version=1",
    "name#fragment",
    "a/b",
    "x" * 300,
    "ends.with.period.",
    "tab\there",
    "new\nline",
    "%2e%2e%2f",
    7,
    True,
    1.5,
    ["list"],
    {"table": 1},
]
BAD_SPACES = [
    [167772160],
    [True],
    ["::/0"],
    ["10.20.0.0/16", "10.20.128.0/17"],
    ["10.20.0.1/16"],
    ["not a range"],
    ["10.20.0.0/33"],
    [["10.20.0.0/16"]],
    5,
    {"a": "10.20.0.0/16"},
    ["10.20.0.0/16", "10.20.0.0/16"],
]
BAD_ZONES = [
    "../../providers/Microsoft.Network/virtualNetworks/x",
    "zone?api-version=1",
    "nodots",
    "a..b",
    "-bad.example.com",
    "x" * 64 + ".com",
    "zone/with/slash.com",
]
BAD_OTHERS = {
    "subscription": ["not-a-guid", "00000000-0000-0000-0000-00000000000", 1, "../x"],
    "service": ["UPPER", "a", "x" * 25, "fhir_demo", "fhir?x"],
    "kind": ["serverless", 1, ""],
    "primary_region": ["mars-north", 3, ""],
    "secondary_region": ["westus2", "moon", []],
    "test_environment": ["yes", 1, None],
}
# key (dotted for tables) -> the values to try
KEYS: dict[str, list] = {
    "resource_group": BAD_NAMES,
    "private_link.resource_group": BAD_NAMES,
    "private_link.private_endpoint": BAD_NAMES,
    "private_link.primary_vnet": BAD_NAMES,
    "private_link.secondary_vnet": BAD_NAMES,
    "private_link.zone_resource_group": BAD_NAMES,
    "private_link.secondary_address_space": BAD_SPACES,
    "private_link.zone": BAD_ZONES + [n for n in BAD_NAMES if not isinstance(n, str)],
    "self_hosted.cosmos_account": BAD_NAMES + ["UPPER", "ab"],
    "self_hosted.cosmos_resource_group": BAD_NAMES,
    "self_hosted.cosmos_database": ["", "a/b", "db?x", "db#x", "x" * 256, 3],
    "self_hosted.traffic_manager_profile": BAD_NAMES,
    "self_hosted.traffic_manager_resource_group": BAD_NAMES,
    "cmk.key_vault": BAD_NAMES + ["kv--double", "1starts-with-digit", "ab"],
    "cmk.key_name": BAD_NAMES,
    "export.storage_account": BAD_NAMES + ["HasUpper", "has-hyphen", "ab"],
    "iomt.connectors": [[n] for n in BAD_NAMES if n not in (True, 7, 1.5)] + ["not-a-list", [1]],
    **BAD_OTHERS,
}
# a value the TOML writer cannot express (None) is written by leaving the key out: that is valid,
# except where the key is required, so None is only used for test_environment (not required: skip it)
KEYS["test_environment"] = ["yes", 1]


def _cases() -> list[tuple[str, object]]:
    rng = random.Random(SEED)
    keys = sorted(KEYS)
    return [(key, rng.choice(KEYS[key])) for key in (rng.choice(keys) for _ in range(CASES))]


def _base() -> dict:
    target = target_for(WorldSpec(kind="self-hosted", cmk=True, export=True, iomt=True))
    target.setdefault("cmk", {"key_vault": "fhirdemo-kv", "key_name": "fhir-cmk"})
    target.setdefault("export", {"storage_account": "fhirexports"})
    target.setdefault("iomt", {"connectors": ["iomt-ingest"]})
    return target


def _mutated(key: str, value: object) -> dict:
    data = copy.deepcopy(_base())
    *tables, leaf = key.split(".")
    node = data
    for table in tables:
        node = node.setdefault(table, {})
    node[leaf] = value
    return data


def test_the_unmutated_fuzz_base_is_a_valid_target(cli):
    Path("fhirdr.toml").write_text(dump_toml(_base()), encoding="utf-8")
    result = cli("test-plan")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("chunk", range(3))
def test_fuzzed_target_files_are_refused_naming_the_key(cli, chunk):
    """A few hundred targets (seed fixed), each with one key given a value Azure or TOML types refuse."""
    cases = _cases()[chunk::3]
    for key, value in cases:
        Path("fhirdr.toml").write_text(dump_toml(_mutated(key, value)), encoding="utf-8")
        result = cli("test-plan")  # reads and validates the whole target, and talks to no Azure
        leaf = key.split(".")[-1]
        context = f"{key} = {value!r}: {result.output}"
        assert result.exit_code == 2, context
        assert "Traceback" not in result.output and "internal error" not in result.output, context
        assert f"'{leaf}'" in result.stderr or f"[{leaf}]" in result.stderr, context


def test_fuzzed_bytes_in_a_target_file_are_refused_without_a_traceback(cli):
    rng = random.Random(SEED)
    clean = dump_toml(_base()).encode("utf-8")
    for _ in range(60):
        data = bytearray(clean)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.choice([0xFF, 0xC3, 0x00, ord("["), ord('"'), ord("="), 0x80])
        Path("fhirdr.toml").write_bytes(bytes(data))
        result = cli("test-plan")
        assert result.exit_code in (0, 2), result.output
        assert "Traceback" not in result.output and "internal error" not in result.output, result.output
        if result.exit_code == 2:
            assert "fhirdr.toml" in result.stderr, result.output
