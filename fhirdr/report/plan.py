"""The plan / findings document of a runbook run, and its table."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from fhirdr.runbook.model import Runbook
from fhirdr.runbook.runner import RunOutcome

STATUS_LABELS = {
    "in-sync": ("ok", "green"),
    "changes": ("to do", "yellow"),
    "blocked": ("needs a person", "red"),
    "refused": ("refused", "red"),
    "waiting": ("waiting", "cyan"),
    "warning": ("warning", "yellow"),
    "instruction": ("instruction", "cyan"),
    "applied": ("changed", "green"),
    "failed": ("failed", "red"),
    "skipped": ("skipped", "dim"),
    "not-run": ("not run", "dim"),
}


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


FINDING_STATUS = {"in-sync": "ok", "applied": "ok", "warning": "warning", "instruction": "info", "skipped": "ok"}


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


def findings_table(document: dict[str, Any]) -> Table:
    colours = {"ok": "green", "warning": "yellow", "fail": "red", "info": "cyan"}
    table = Table(title=f"{document['title']} — {document['service']}", title_justify="left")
    for column in ("check", "status", "observed", "what to do", "section"):
        table.add_column(column, overflow="fold", no_wrap=column in ("check", "status"))
    prefix = f"{document['runbook']}."
    for item in document["findings"]:
        name = item["check"][len(prefix) :] if item["check"].startswith(prefix) else item["check"]
        colour = colours.get(item["status"], "white")
        table.add_row(
            name,
            f"[{colour}]{item['status']}[/]",
            item["observed"] if item["status"] != "info" else "",
            item["action"],
            item["section"],
        )
    return table


def plan_table(document: dict[str, Any]) -> Table:
    table = Table(title=f"{document['title']} — {document['service']}", title_justify="left", expand=False)
    table.add_column("step", no_wrap=True)
    table.add_column("owner", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("observed", ratio=1, overflow="fold")
    table.add_column("needed / done", ratio=1, overflow="fold")
    prefix = f"{document['runbook']}."
    for step in document["steps"]:
        label, colour = STATUS_LABELS.get(step["status"], (step["status"], "white"))
        observed, needed = step["observed"], "\n".join(c["summary"] for c in step["changes"])
        if step["status"] == "instruction":
            observed, needed = "", observed
        if step.get("error"):
            needed = (needed + "\n" if needed else "") + step["error"]
        name = step["id"][len(prefix) :] if step["id"].startswith(prefix) else step["id"]
        table.add_row(name, step["owner"], f"[{colour}]{label}[/]", observed, needed)
    return table
