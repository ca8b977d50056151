"""The journal: one JSON line per step transition, one file per run, under the state directory."""

from __future__ import annotations

import json
import os
import secrets
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from fhirdr.errors import BadInputError
from fhirdr.paths import ensure_dir, journal_dir, why

_RUN_ID_CHARS = set("0123456789abcdefTZ-")


def new_run_id() -> str:
    return f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def journal_path(run_id: str) -> Path:
    if not run_id or not set(run_id) <= _RUN_ID_CHARS:
        raise BadInputError(f"'{run_id}' is not a run id", hint="run ids look like 20261127T093012Z-3f9a1c")
    return journal_dir() / f"{run_id}.jsonl"


class JournalWriter:
    """Appends events to a run's journal; every line is flushed so a crash loses nothing written."""

    def __init__(self, run_id: str, runbook: str, attempt: int = 1) -> None:
        self.run_id = run_id
        self.runbook = runbook
        self.attempt = attempt
        self.path = journal_path(run_id)
        ensure_dir(self.path.parent, "journal folder")
        try:
            self._handle = self.path.open("a", encoding="utf-8")
        except OSError as exc:
            raise BadInputError(f"cannot write the journal {self.path}: {why(exc, self.path)}") from None

    def __call__(self, event: dict[str, Any]) -> None:
        record = {
            "ts": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            "run_id": self.run_id,
            "runbook": self.runbook,
            "attempt": self.attempt,
            **event,
        }
        self._handle.write(json.dumps(record, sort_keys=False, default=str) + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        self._handle.close()


def read_journal(run_id: str) -> list[dict[str, Any]]:
    path = journal_path(run_id)
    if not path.exists():
        raise BadInputError(f"no journal for run {run_id} in {path.parent}", hint="list runs with `fhirdr runs`")
    events = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if line:
                try:
                    events.append(json.loads(line))
                except ValueError:
                    continue  # a line cut short by a crash
    return events


def verified_steps(events: list[dict[str, Any]]) -> set[str]:
    """Steps that reached their desired state in this run (any attempt)."""
    return {e["step"] for e in events if e.get("event") == "step.verified" and e.get("step")}


def list_runs(limit: int = 20) -> list[dict[str, Any]]:
    """The most recent runs with their runbook, attempts and final status."""
    directory = journal_dir()
    if not directory.exists():
        return []
    runs = []
    for path in sorted(directory.glob("*.jsonl"), reverse=True)[:limit]:
        events = read_journal(path.stem)
        if not events:
            continue
        finished = [e for e in events if e.get("event") == "run.finished"]
        runs.append(
            {
                "run_id": path.stem,
                "runbook": events[0].get("runbook"),
                "started": events[0].get("ts"),
                "attempts": max(e.get("attempt", 1) for e in events),
                "status": finished[-1].get("status") if finished else "unfinished",
                "steps_verified": len(verified_steps(events)),
            }
        )
    # Run ids name the second a run started; two runs of one second are told apart by their first event.
    runs.sort(key=lambda run: (run["started"] or "", run["run_id"]), reverse=True)
    return runs
