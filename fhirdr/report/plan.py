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
    }


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
