"""Shared fixtures: an isolated state directory, a simulated world, and a CLI runner."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fhirdr.azure.session import AzureSession
from fhirdr.sim.store import Store
from fhirdr.sim.world import WorldSpec, build_world, target_for
from fhirdr.target import dump_toml


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def json(self) -> object:
        return json.loads(self.stdout)


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own state directory, sim file and working directory."""
    monkeypatch.setenv("FHIRDR_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("FHIRDR_SIM", raising=False)
    monkeypatch.delenv("AZURE_SUBSCRIPTION_ID", raising=False)
    monkeypatch.delenv("FHIRDR_SIM_LATENCY_MS", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "220")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def cli():
    """Run fhirdr in-process: cli("--sim", "configure-private-link") -> CliResult."""
    from fhirdr.cli.app import app

    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> CliResult:
        result = runner.invoke(app, list(args), input=input, env={"NO_COLOR": "1", "COLUMNS": "220"})
        return CliResult(result.exit_code, result.stdout, result.stderr)

    return invoke


@dataclass
class World:
    spec: WorldSpec
    path: Path
    target_file: Path
    store: Store

    def session(self) -> AzureSession:
        return AzureSession(self.spec.subscription, sim_path=self.path)

    def snapshot(self) -> dict[str, dict]:
        """Every resource body by id: compare two snapshots to prove nothing changed."""
        return {r.id.lower(): r.body for r in self.store.all_resources()}


def make_world(tmp_path: Path, **spec_fields: object) -> World:
    spec = WorldSpec(**spec_fields)  # type: ignore[arg-type]
    path = tmp_path / "state" / "sim.sqlite"
    store = build_world(path, spec)
    target_file = tmp_path / "fhirdr.toml"
    target_file.write_text(dump_toml(target_for(spec)), encoding="utf-8")
    return World(spec, path, target_file, store)


def ahds_with_front_door(tmp_path: Path, cli: Any) -> World:
    """An ahds target with its standby, one token audience on both, and the Front Door in front of them."""
    world = make_world(tmp_path, kind="ahds")
    text = world.target_file.read_text()
    world.target_file.write_text(
        text.replace(
            'profile = "contosohealth-fd"\n', 'profile = "contosohealth-fd"\naudience = "api://contoso-fhir"\n'
        )
    )
    assert cli("--sim", "enable", "--apply", "--yes").exit_code == 0
    built = cli("--sim", "configure-endpoint", "--apply", "--yes")
    assert built.exit_code == 0, built.output
    return world


@pytest.fixture
def world(isolated: Path) -> World:
    """The default world of `fhirdr sim init`, with ./fhirdr.toml describing it."""
    return make_world(isolated)
