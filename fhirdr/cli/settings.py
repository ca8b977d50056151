"""Global options, resolved once per invocation: target file, overrides, sim, cloud, output."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fhirdr.cli.output import OutputFormat
from fhirdr.cli.terminal import Terminal
from fhirdr.paths import default_sim_path
from fhirdr.target import DEFAULT_TARGET_FILE, Target, load_target


@dataclass
class Settings:
    target_path: Path | None = None
    subscription: str | None = None
    resource_group: str | None = None
    service: str | None = None
    sim: bool = False
    cloud: str = "AzureCloud"
    output: OutputFormat = OutputFormat.table
    query: str | None = None
    verbose: int = 0
    debug: bool = False
    terminal: Terminal = field(default_factory=Terminal)

    @property
    def sim_path(self) -> Path:
        explicit = os.environ.get("FHIRDR_SIM")
        return Path(explicit).expanduser() if explicit else default_sim_path()

    @property
    def use_sim(self) -> bool:
        return self.sim or bool(os.environ.get("FHIRDR_SIM"))

    def target_file(self) -> Path | None:
        """--target, else ./fhirdr.toml when present."""
        if self.target_path is not None:
            return self.target_path
        default = Path(DEFAULT_TARGET_FILE)
        return default if default.exists() else None

    def target_file_for_writing(self) -> Path:
        return self.target_path or Path(DEFAULT_TARGET_FILE)

    def load_target(self) -> Target:
        overrides = {"subscription": self.subscription, "resource_group": self.resource_group, "service": self.service}
        path = self.target_file()
        if path is None and self.use_sim:
            target = self._world_target(overrides)
        else:
            target = load_target(path, overrides, self.cloud)
        for warning in target.warnings:
            self.terminal.display_warning(warning)
        return target

    def _world_target(self, overrides: dict[str, Any]) -> Target:
        """With --sim and no target file, the target of the world the sim holds (recorded by `sim init`)."""
        from fhirdr.errors import TargetError
        from fhirdr.sim.transport import open_world
        from fhirdr.target import parse_target

        store = open_world(self.sim_path)
        data = store.recorded_target()
        if data is None:
            raise TargetError(
                f"no {DEFAULT_TARGET_FILE} here, and the simulated world at {self.sim_path} does not record its target",
                hint="`fhirdr sim init --force` rebuilds the world and writes the target file",
            )
        data.update({key: value for key, value in overrides.items() if value is not None})
        target = parse_target(data, f"the simulated world at {self.sim_path}", cloud=self.cloud)
        self.terminal.display_info(
            f"no {DEFAULT_TARGET_FILE} here: using the simulated world's target ({target.kind} service "
            f"{target.service} in {target.resource_group}); `fhirdr sim init` writes it to a file"
        )
        return target

    def azure(self, target: Target) -> Any:
        from fhirdr.azure.session import AzureSession

        session = AzureSession(target.subscription, self.cloud, self.sim_path if self.use_sim else None)
        if session.simulated:
            session.sim_store  # noqa: B018 - fail early, with the hint, when there is no world yet
        else:
            self.warn_cloud_mismatch()
            session.sign_in()
        return session

    def warn_cloud_mismatch(self) -> None:
        """Say so when `az cloud set` names another cloud than --cloud (AzureCliCredential follows the CLI's)."""
        from fhirdr.azure.clouds import cli_cloud_mismatch

        mismatch = cli_cloud_mismatch(self.cloud)
        if mismatch:
            self.terminal.display_warning(mismatch)
