"""Readiness of the article's configuration areas (Private Link, CMK, $export, IoMT), one line each.

Each area is the plan of its check runbook, run read-only; `status` and `enable` show the summary.
`step` is anything with a `ctx` (a step, or the status reader).
"""

from __future__ import annotations

from typing import Any

from fhirdr.errors import FhirdrError


def readiness(step: Any) -> dict[str, dict[str, str]]:
    """One line for each configuration area of the article; the four checks run at the same time."""
    from fhirdr.azure.session import concurrently
    from fhirdr.kinds import kind_of

    kind = kind_of(step.ctx.target)
    checks = {
        "private_link": lambda: _private_link_summary(step),
        "cmk": lambda: _check_summary(step, "cmk", "check-cmk", "cmk.configured"),
        "export": lambda: _check_summary(step, "export", "check-export", "export.configured"),
        "iomt": lambda: _check_summary(step, "iomt", "check-iomt", "iomt.connectors"),
    }
    results = {}
    for area in list(checks):
        # The full reason is what the area's own command says; status keeps to one short line.
        if kind.not_applicable(area):
            results[area] = {"status": "not-applicable", "summary": f"no such setting on a {kind.title}"}
            del checks[area]
        elif kind.not_checked(area):
            results[area] = {"status": "not-checked", "summary": "not checked for this kind yet (a later release)"}
            del checks[area]
    results.update(zip(checks, concurrently(*checks.values()), strict=True))
    return {area: results[area] for area in ("private_link", "cmk", "export", "iomt")}


def _private_link_summary(step: Any) -> dict[str, str]:
    from fhirdr.kinds import kind_of
    from fhirdr.runbook.loader import load_runbook, shipped_runbook
    from fhirdr.runbook.runner import Runner

    target = step.ctx.target
    if target.private_link is None:
        return {"status": "not-configured", "summary": "no [private_link] in the target"}
    if not target.secondary_region:
        return {"status": "not-checked", "summary": "no secondary region chosen yet"}
    try:
        outcome = Runner(load_runbook(shipped_runbook(kind_of(target).check_runbook("private-link"))), step.ctx).plan()
    except FhirdrError as exc:
        return {"status": "error", "summary": exc.message}
    todo = [r.spec.id.split(".", 1)[1] for r in outcome.results if r.status in ("changes", "blocked", "waiting")]
    if not todo:
        return {"status": "ok", "summary": "in place"}
    return {"status": "findings", "summary": f"missing: {', '.join(todo)} (fhirdr configure-private-link)"}


def _check_summary(step: Any, runbook: str, command: str, configured_step: str) -> dict[str, str]:
    from fhirdr.kinds import kind_of
    from fhirdr.runbook.loader import load_runbook, shipped_runbook
    from fhirdr.runbook.runner import Runner

    try:
        outcome = Runner(
            load_runbook(shipped_runbook(kind_of(step.ctx.target).check_runbook(runbook))), step.ctx
        ).plan()
    except FhirdrError as exc:
        return {"status": "error", "summary": exc.message}
    first = next(r for r in outcome.results if r.spec.id == configured_step)
    if first.observed.startswith(
        ("no customer-managed key", "$export is not configured", "no IoMT connectors", "no MedTech services")
    ):
        return {"status": "not-configured", "summary": first.observed}
    failing = [r.spec.id.split(".", 1)[1] for r in outcome.results if r.status in ("changes", "blocked")]
    warnings = [r.spec.id.split(".", 1)[1] for r in outcome.results if r.status == "warning"]
    if failing:
        return {"status": "findings", "summary": f"failing: {', '.join(failing)} (fhirdr {command})"}
    if warnings:
        return {"status": "ok", "summary": f"warnings: {', '.join(warnings)} (fhirdr {command})"}
    return {"status": "ok", "summary": "in place"}
