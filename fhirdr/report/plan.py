"""The plan / findings document of a runbook run, and its table."""

from __future__ import annotations

from typing import Any

from rich.markup import escape

from fhirdr.report.table import Column, FittedTable
from fhirdr.runbook.model import Runbook
from fhirdr.runbook.runner import RunOutcome

# The table shows the JSON's own status words, so a table and a script name a step's state alike.
STATUS_COLOURS = {
    "in-sync": "green",
    "changes": "yellow",
    "blocked": "red",
    "refused": "red",
    "waiting": "cyan",
    "warning": "yellow",
    "instruction": "cyan",
    "applied": "green",
    "overridden": "yellow",
    "failed": "red",
    "skipped": "dim",
    "not-run": "dim",
}
FINDING_COLOURS = {"ok": "green", "warning": "yellow", "fail": "red", "info": "cyan"}


def plan_document(
    runbook: Runbook, service: str, mode: str, outcome: RunOutcome, run_id: str | None = None
) -> dict[str, Any]:
    """A stable JSON document: what each step found and what it needs (or did)."""
    return {
        "runbook": runbook.name,
        "title": runbook.title,
        "article": runbook.article,
        "service": service,
        "mode": mode,
        "run_id": run_id,
        "status": outcome.status,
        "pending_changes": outcome.pending_changes,
        "steps": [r.to_dict() for r in outcome.results],
        "findings": [finding for r in outcome.results for finding in _findings(r.to_dict())],
    }


FINDING_STATUS = {
    "in-sync": "ok",
    "applied": "ok",
    "overridden": "warning",
    "warning": "warning",
    "instruction": "info",
    "skipped": "ok",
}


def _findings(step: dict[str, Any]) -> list[dict[str, Any]]:
    """A check's view of a step: ok / warning / fail, what was observed, what to do, the article section."""
    status = FINDING_STATUS.get(step["status"], "fail")
    base = {"check": step["id"], "title": step["title"], "observed": step["observed"], "section": step["section"]}
    if not step["changes"]:
        todo = step["observed"] if status == "info" else ""
        return [{**base, "status": status, "action": todo, "fixable": False}]
    return [
        {
            **base,
            "status": "warning" if change.get("severity") == "warning" else status,
            "action": change["summary"],
            "fixable": change["fixable"],
        }
        for change in step["changes"]
    ]


def findings_table(document: dict[str, Any]) -> FittedTable:
    """A check's findings, with the step ids the JSON and the journal use."""
    columns = [Column("check"), Column("status"), Column("observed", text=True), Column("what to do", text=True)]
    columns.append(Column("section", text=True))
    rows = [
        [
            escape(item["check"]),
            f"[{FINDING_COLOURS.get(item['status'], 'white')}]{item['status']}[/]",
            escape(item["observed"] if item["status"] != "info" else ""),
            escape(item["action"]),
            escape(item["section"]),
        ]
        for item in document["findings"]
    ]
    return FittedTable(f"{document['title']} — {document['service']}", columns, rows)


def plan_table(document: dict[str, Any]) -> FittedTable:
    """Each step with the id and the status word of the JSON document: in-sync, changes, applied, ..."""
    columns = [Column("step"), Column("owner", usual="fhirdr"), Column("status")]
    columns += [Column("observed", text=True), Column("needed / done", text=True)]
    rows = []
    for step in document["steps"]:
        observed, needed = step["observed"], "\n".join(c["summary"] for c in step["changes"])
        if step["status"] == "instruction":
            observed, needed = "", observed
        if step.get("error"):
            needed = (needed + "\n" if needed else "") + step["error"]
        colour = STATUS_COLOURS.get(step["status"], "white")
        rows.append(
            [
                escape(step["id"]),
                escape(step["owner"]),
                f"[{colour}]{step['status']}[/]",
                escape(observed),
                escape(needed),
            ]
        )
    return FittedTable(f"{document['title']} — {document['service']}", columns, rows)
