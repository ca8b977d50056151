"""A runbook is an ordered list of steps, each naming an implementation, an owner and its source."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OWNERS = ("fhirdr", "customer", "support")


@dataclass(frozen=True)
class StepSpec:
    id: str
    title: str
    uses: str
    owner: str
    section: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Runbook:
    name: str
    title: str
    description: str
    article: str
    steps: tuple[StepSpec, ...]
    source: Path

    def step(self, step_id: str) -> StepSpec:
        for spec in self.steps:
            if spec.id == step_id:
                return spec
        raise KeyError(step_id)
