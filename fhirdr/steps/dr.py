"""Steps of the article's "how to enable DR" that only read: region, throughput parity, readiness."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fhirdr.azure.session import azure_errors, get_or_none
from fhirdr.regions import FHIR_REGIONS
from fhirdr.steps.base import Change, Step
from fhirdr.steps.service import read_service


def offer_throughput(service: Any) -> int | None:
    config = service.properties.cosmos_db_configuration
    return config.offer_throughput if config else None


def database_throughput(step: Step) -> int | None:
    """Throughput of the FHIR database in the backing Cosmos DB account (it applies to every region)."""
    backing = step.ctx.target.backing
    if backing is None or not backing.cosmos_database:
        return None
    setting = get_or_none(
        step.ctx.azure.cosmos().sql_resources.get_sql_database_throughput,
        backing.cosmos_resource_group,
        backing.cosmos_account,
        backing.cosmos_database,
    )
    if setting is None or setting.resource is None:
        return None
    return setting.resource.throughput or getattr(setting.resource.autoscale_settings, "max_throughput", None)


class RegionsOffered(Step):
    """The primary and the chosen secondary are regions where Azure API for FHIR is offered."""

    uses = "dr.regions-offered"

    def facts(self) -> Any:
        return read_service(self)

    def observe(self, facts: Any) -> str:
        return f"primary {self.ctx.target.primary_region}, secondary {self.ctx.target.secondary_region}"

    def plan(self, facts: Any) -> list[Change]:
        target = self.ctx.target
        return [
            Change(
                "fix-region", facts.id, f"{region} is not a region where Azure API for FHIR is offered", fixable=False
            )
            for region in (target.primary_region, target.secondary_region)
            if region not in FHIR_REGIONS
        ]


@dataclass
class ParityFacts:
    primary: int | None
    secondary: int | None
    kind: str


class ThroughputParity(Step):
    """RU/s the secondary will have equals the primary's (the article: the same in both regions)."""

    uses = "dr.throughput-parity"

    def facts(self) -> ParityFacts:
        primary = offer_throughput(read_service(self))
        if self.ctx.target.kind == "backing":
            return ParityFacts(primary, database_throughput(self), "backing")
        return ParityFacts(primary, primary, "managed")

    def observe(self, facts: ParityFacts) -> str:
        if facts.kind == "managed":
            return f"{facts.primary} RU/s; support provisions the same in the secondary"
        return f"service {facts.primary} RU/s, Cosmos DB database {facts.secondary} RU/s (every region)"

    def plan(self, facts: ParityFacts) -> list[Change]:
        if facts.primary is None or facts.secondary is None or facts.primary == facts.secondary:
            return []
        return [
            Change(
                "fix-throughput",
                self.ctx.target.service,
                f"throughput differs: the service has {facts.primary} RU/s, the secondary will have "
                f"{facts.secondary} RU/s; make them equal before relying on DR",
                fixable=False,
            )
        ]


class Readiness(Step):
    """Private Link, CMK, $export and IoMT readiness, summarised (read-only; never blocks)."""

    uses = "dr.readiness"

    def facts(self) -> dict[str, dict[str, str]]:
        # Worked out by the command before the run (fhirdr.readiness): a step does not drive runbooks.
        return self.ctx.options.get("readiness") or {
            area: {"status": "not-checked", "summary": "not checked in this run"}
            for area in ("private_link", "cmk", "export", "iomt")
        }

    def observe(self, facts: dict[str, dict[str, str]]) -> str:
        return "; ".join(f"{area}: {item['status']}" for area, item in facts.items())

    def plan(self, facts: Any) -> list[Change]:
        return []


STEPS = [RegionsOffered, ThroughputParity, Readiness]


def choose_secondary(ctx: Any, requested: str | None) -> str:
    """The secondary region: as asked, else the target's, else the paired region when it offers the service.

    Pairs come from the subscription's locations. Every refusal lists the regions that would work.
    """
    from fhirdr.errors import TargetError
    from fhirdr.regions import normalise_region, validate_region

    target = ctx.target
    primary = target.primary_region
    with azure_errors("reading the subscription's locations"):
        locations = list(ctx.azure.subscriptions().subscriptions.list_locations(target.subscription))
    by_name = {loc.name: loc for loc in locations}
    geography = getattr(getattr(by_name.get(primary or ""), "metadata", None), "geography", None)

    def candidates() -> str:
        offered = [name for name in FHIR_REGIONS if name != primary and name in by_name]
        offered.sort(key=lambda name: (getattr(by_name[name].metadata, "geography", None) != geography, name))
        return "regions offering Azure API for FHIR: " + ", ".join(offered)

    choice = requested or target.secondary_region
    if choice:
        try:
            region = validate_region(choice, "--secondary" if requested else "secondary_region")
        except TargetError as exc:
            raise TargetError(exc.message, hint=f"{exc.hint}; {candidates()}") from None
        if region == primary:
            raise TargetError(
                f"the secondary region must differ from the primary region ({primary})", hint=candidates()
            )
        if region not in FHIR_REGIONS:
            raise TargetError(f"{region} is not a region where Azure API for FHIR is offered", hint=candidates())
        return region
    paired = [
        p.name
        for p in (
            getattr(by_name.get(primary or ""), "metadata", None) and by_name[primary].metadata.paired_region or []
        )
    ]
    for region in paired:
        if normalise_region(region) in FHIR_REGIONS:
            return normalise_region(region)
    where = f"the paired region of {primary} ({', '.join(paired)})" if paired else f"{primary} has no paired region; it"
    raise TargetError(
        f"{where} does not offer Azure API for FHIR; choose a secondary with --secondary", hint=candidates()
    )
