"""Steps of the article's "how to enable DR" that only read: region, throughput parity, readiness."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fhirdr.azure.session import get_or_none
from fhirdr.errors import FhirdrError
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


def readiness(step: Step) -> dict[str, dict[str, str]]:
    """One line for each configuration area of the article; the four checks run at the same time."""
    from fhirdr.azure.session import concurrently

    private_link, cmk, export, iomt = concurrently(
        lambda: _private_link_summary(step),
        lambda: _check_summary(step, "cmk", "check-cmk", "cmk.configured"),
        lambda: _check_summary(step, "export", "check-export", "export.configured"),
        lambda: _check_summary(step, "iomt", "check-iomt", "iomt.connectors"),
    )
    return {"private_link": private_link, "cmk": cmk, "export": export, "iomt": iomt}


def _private_link_summary(step: Step) -> dict[str, str]:
    from fhirdr.runbook.loader import load_runbook, shipped_runbook
    from fhirdr.runbook.runner import Runner

    target = step.ctx.target
    if target.private_link is None:
        return {"status": "not-configured", "summary": "no [private_link] in the target"}
    if not target.secondary_region:
        return {"status": "not-checked", "summary": "no secondary region chosen yet"}
    try:
        outcome = Runner(load_runbook(shipped_runbook("private-link")), step.ctx).plan()
    except FhirdrError as exc:
        return {"status": "error", "summary": exc.message}
    todo = [r.spec.id.split(".", 1)[1] for r in outcome.results if r.status in ("changes", "blocked", "waiting")]
    if not todo:
        return {"status": "ok", "summary": "in place"}
    return {"status": "findings", "summary": f"missing: {', '.join(todo)} (fhirdr configure-private-link)"}


def _check_summary(step: Step, runbook: str, command: str, configured_step: str) -> dict[str, str]:
    from fhirdr.runbook.loader import load_runbook, shipped_runbook
    from fhirdr.runbook.runner import Runner

    try:
        outcome = Runner(load_runbook(shipped_runbook(runbook)), step.ctx).plan()
    except FhirdrError as exc:
        return {"status": "error", "summary": exc.message}
    first = next(r for r in outcome.results if r.spec.id == configured_step)
    if first.observed.startswith(("no customer-managed key", "$export is not configured", "no IoMT connectors")):
        return {"status": "not-configured", "summary": first.observed}
    failing = [r.spec.id.split(".", 1)[1] for r in outcome.results if r.status in ("changes", "blocked")]
    warnings = [r.spec.id.split(".", 1)[1] for r in outcome.results if r.status == "warning"]
    if failing:
        return {"status": "findings", "summary": f"failing: {', '.join(failing)} (fhirdr {command})"}
    if warnings:
        return {"status": "ok", "summary": f"warnings: {', '.join(warnings)} (fhirdr {command})"}
    return {"status": "ok", "summary": "in place"}


class Readiness(Step):
    """Private Link, CMK, $export and IoMT readiness, summarised (read-only; never blocks)."""

    uses = "dr.readiness"

    def facts(self) -> dict[str, dict[str, str]]:
        return readiness(self)

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
    with _reading("the subscription's locations"):
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


def _reading(what: str) -> Any:
    from fhirdr.azure.session import azure_errors

    return azure_errors(f"reading {what}")
