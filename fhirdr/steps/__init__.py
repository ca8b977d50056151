"""Step implementations, one module per concern; `registry()` maps runbook names to them."""

from __future__ import annotations

from functools import cache

from fhirdr.steps.base import InstructionStep, Step


@cache
def registry() -> dict[str, type[Step]]:
    from fhirdr.steps import (
        cmk,
        cosmos,
        dns,
        dr,
        export,
        failback,
        fhir_server,
        frontdoor,
        iomt,
        medtech,
        network,
        replication,
        service,
        standby,
        support,
        switch,
        traffic,
    )

    steps: list[type[Step]] = [InstructionStep]
    for module in (
        service,
        network,
        dns,
        dr,
        support,
        cosmos,
        traffic,
        failback,
        cmk,
        export,
        iomt,
        medtech,
        fhir_server,
        standby,
        frontdoor,
        replication,
        switch,
    ):
        steps.extend(module.STEPS)
    return {step.uses: step for step in steps}
