"""Steps about a self-hosted FHIR server itself: its data store and the URL its clients use."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fhirdr.kinds import kind_of
from fhirdr.steps.base import Change, Step
from fhirdr.steps.cosmos import read_account, write_region


def fhir_client(ctx: Any, retry: bool = True) -> Any:
    """A FHIR client for the target's endpoint, whichever kind it is."""
    from fhirdr.fhir.client import FhirClient

    base_url, audience = kind_of(ctx.target).fhir_endpoint(ctx.target, ctx.azure.cloud)
    return FhirClient(ctx.azure, ctx.target.service, retry=retry, base_url=base_url, audience=audience)


@dataclass
class ServerFacts:
    url: str
    write_region: str
    status: int
    elapsed_ms: float


class FhirServer(Step):
    """The FHIR server answers at the URL its clients use, and its data is written in the primary region."""

    uses = "fhir.server"

    def facts(self) -> ServerFacts:
        account = read_account(self)
        client = fhir_client(self.ctx)
        probe = client.metadata()
        return ServerFacts(client.base_url, write_region(account), probe.status, probe.elapsed_ms)

    def observe(self, facts: ServerFacts) -> str:
        answer = f"HTTP {facts.status}" if facts.status else "no answer"
        return f"{facts.url}/metadata {answer} in {facts.elapsed_ms:.0f} ms; data written in {facts.write_region}"

    def plan(self, facts: ServerFacts) -> list[Change]:
        changes = []
        primary = self.ctx.target.primary_region
        if primary and facts.write_region != primary:
            changes.append(
                Change(
                    "fix-target",
                    self.ctx.target.require_self_hosted().cosmos_account,
                    f"the Cosmos DB account writes in {facts.write_region}, but the target's primary_region is "
                    f"{primary} (after a failover: `fhirdr failback` first)",
                    fixable=False,
                )
            )
        if not 200 <= facts.status < 300:
            changes.append(
                Change(
                    "fix-server",
                    facts.url,
                    f"the FHIR server does not answer at {facts.url}/metadata ({self.observe(facts)})",
                    fixable=False,
                )
            )
        return changes


STEPS = [FhirServer]
