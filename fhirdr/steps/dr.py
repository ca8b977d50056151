"""Steps of the article's "how to enable DR" that only read: region, throughput parity, readiness."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fhirdr.azure.session import azure_errors, get_or_none
from fhirdr.kinds import kind_of
from fhirdr.steps.base import Change, Step
from fhirdr.steps.service import read_service


def offer_throughput(service: Any) -> int | None:
    config = service.properties.cosmos_db_configuration
    return config.offer_throughput if config else None


def database_throughput(step: Step) -> int | None:
    """Throughput of the FHIR database in the backing Cosmos DB account (it applies to every region)."""
    backing = step.ctx.target.self_hosted
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
    """The primary and the chosen secondary are regions where the service is offered (Azure API for FHIR only:
    a self-hosted server runs wherever Cosmos DB and its compute do)."""

    uses = "dr.regions-offered"

    def facts(self) -> list[str]:
        target = self.ctx.target
        offered = kind_of(target).offered_regions(self.ctx)
        if offered is None:
            return []
        return [r for r in (target.primary_region, target.secondary_region) if r and r not in offered]

    def observe(self, facts: list[str]) -> str:
        return f"primary {self.ctx.target.primary_region}, secondary {self.ctx.target.secondary_region}"

    def plan(self, facts: list[str]) -> list[Change]:
        return [
            Change(
                "fix-region",
                region,
                f"{region} is not a region where {kind_of(self.ctx.target).title} is offered",
                fixable=False,
            )
            for region in facts
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
        if kind_of(self.ctx.target).support_operated:
            primary = offer_throughput(read_service(self))
            return ParityFacts(primary, primary, "support")
        # Provisioned throughput belongs to the database and applies in every region of the account.
        throughput = database_throughput(self)
        return ParityFacts(throughput, throughput, "account")

    def observe(self, facts: ParityFacts) -> str:
        if facts.kind == "support":
            return f"{facts.primary} RU/s; support provisions the same in the secondary"
        if facts.primary is None:
            return "Cosmos DB database throughput unknown (no cosmos_database, or shared/serverless throughput)"
        return f"Cosmos DB database {facts.primary} RU/s, the same in every region of the account"

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
    kind = kind_of(target)
    # Azure API for FHIR and AHDS are offered in some regions only; a self-hosted server can run in any.
    offered = kind.offered_regions(ctx)
    limited = offered is not None
    usable = offered if offered is not None else frozenset(by_name)
    offering = f"offering {kind.title}" if limited else "of the subscription"
    not_usable = f"is not a region where {kind.title} is offered" if limited else "is not a region of the subscription"

    def candidates() -> str:
        offered = [name for name in sorted(usable) if name != primary and name in by_name]
        offered.sort(key=lambda name: (getattr(by_name[name].metadata, "geography", None) != geography, name))
        return f"regions {offering}: " + ", ".join(offered)

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
        if region not in usable:
            raise TargetError(f"{region} {not_usable}", hint=candidates())
        return region
    paired = [
        p.name
        for p in (
            getattr(by_name.get(primary or ""), "metadata", None) and by_name[primary].metadata.paired_region or []
        )
    ]
    for region in paired:
        if normalise_region(region) in usable:
            return normalise_region(region)
    where = f"the paired region of {primary} ({', '.join(paired)})" if paired else f"{primary} has no paired region; it"
    missing = f"does not offer {kind.title}" if limited else "is not in the subscription"
    raise TargetError(f"{where} {missing}; choose a secondary with --secondary", hint=candidates())
