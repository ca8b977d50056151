"""Runbook validation: every problem names the file, the step and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from fhirdr.errors import RunbookError
from fhirdr.runbook.loader import load_runbook, shipped_runbook

GOOD_STEP = "  - id: a.b\n    title: t\n    uses: dns.private-zone\n    owner: fhirdr\n"


def _load(tmp_path: Path, text: str):
    path = tmp_path / "rb.yaml"
    path.write_text(text)
    return load_runbook(path)


def test_the_shipped_private_link_runbook_is_valid():
    runbook = load_runbook(shipped_runbook("private-link"))
    assert runbook.name == "private-link"
    assert [s.id for s in runbook.steps][:2] == ["private-link.service", "private-link.private-endpoint"]
    assert {s.owner for s in runbook.steps} == {"fhirdr", "customer"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- just a list\n", "a runbook must be a mapping"),
        ("runbook: x\ntitle: t\nsteps: []\n", "field 'steps' must be a non-empty list"),
        ("runbook: x\ntitle: t\nextra: 1\nsteps: []\n", "unknown field 'extra'"),
        (
            "runbook: x\ntitle: t\nsteps:\n  - id: Bad_Id\n    title: t\n"
            "    uses: dns.private-zone\n    owner: fhirdr\n",
            "step Bad_Id: field 'id' must look like 'section.step'",
        ),
        ("runbook: x\ntitle: t\nsteps:\n" + GOOD_STEP + GOOD_STEP, "step a.b: field 'id' is used twice"),
        (
            "runbook: x\ntitle: t\nsteps:\n  - id: a.b\n    title: t\n    uses: nope.step\n    owner: fhirdr\n",
            "step a.b: field 'uses' names no step implementation: 'nope.step'",
        ),
        (
            "runbook: x\ntitle: t\nsteps:\n  - id: a.b\n    title: t\n    uses: dns.private-zone\n    owner: bob\n",
            "step a.b: field 'owner' must be one of fhirdr, customer, support",
        ),
        (
            "runbook: x\ntitle: t\nsteps:\n  - id: a.b\n    title: t\n    uses: dns.vnet-link\n    owner: fhirdr\n",
            "step a.b: field 'with.role' is required by dns.vnet-link",
        ),
        (
            "runbook: x\ntitle: t\nsteps:\n  - id: a.b\n    title: t\n    uses: network.peering\n    owner: fhirdr\n"
            "    with: {source: primary, remote: secondary, connected: 'yes'}\n",
            "step a.b: field 'with.connected' must be bool",
        ),
        (
            "runbook: x\ntitle: t\nsteps:\n  - id: a.b\n    title: t\n    uses: dns.private-zone\n    owner: fhirdr\n"
            "    with: {zone: x}\n",
            "step a.b: field 'with.zone' is not a parameter of dns.private-zone",
        ),
        (
            "runbook: x\ntitle: t\nsteps:\n  - id: a.b\n    title: t\n    owner: fhirdr\n",
            "step a.b: field 'uses' is required",
        ),
        ("runbook: x\ntitle: [unclosed\n", "not valid YAML at line"),
    ],
)
def test_broken_runbooks_are_refused_with_the_field_named(tmp_path, text, message):
    with pytest.raises(RunbookError) as error:
        _load(tmp_path, text)
    assert message in error.value.message
    assert str(tmp_path / "rb.yaml") in error.value.message
