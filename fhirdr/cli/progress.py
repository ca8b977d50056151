"""Live progress of a runbook run on stderr."""

from __future__ import annotations

from typing import Any

from rich.markup import escape

from fhirdr.cli.terminal import Terminal
from fhirdr.steps.base import OVERRIDE

_DONE = {
    "step.blocked": ("[red]✗[/]", "needs a person"),
    "step.failed": ("[red]✗[/]", "failed"),
    "step.skipped": ("[dim]-[/]", "skipped (verified earlier)"),
    "step.instruction": ("[cyan]i[/]", "instructions for the owner"),
    "phase.done": ("[green]✓[/]", "done"),
}


class Progress:
    """An observer: a spinner naming the step at work, and one line per finished step."""

    def __init__(self, terminal: Terminal) -> None:
        self.terminal = terminal
        self._status: Any = None

    def __enter__(self) -> Progress:
        self._status = self.terminal.status("starting")
        self._status.start()
        return self

    def __exit__(self, *args: Any) -> None:
        if self._status is not None:
            self._status.stop()

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        step = event.get("step", "")
        if kind in ("step.checking", "step.started") and self._status is not None:
            self._status.update(f"{'checking' if kind == 'step.checking' else 'working on'} {escape(step)}")
        elif kind == "change.started" and self._status is not None:
            self._status.update(f"{escape(step)}: {escape(event['change']['summary'])}")
        elif kind == "change.applied" and event["change"]["action"] != OVERRIDE:
            self.terminal.err.print(f"  [green]+[/] {escape(event['change']['summary'])}")
        elif kind == "change.dropped":
            name = escape(step)
            self.terminal.err.print(f"  [yellow]![/] connection dropped before Azure answered; reading {name} again")
        elif kind == "change.found-made":
            self.terminal.err.print(f"  [yellow]![/] {escape(step)}: the change was made before the connection dropped")
        elif kind == "change.retried":
            summary = escape(event["change"]["summary"])
            self.terminal.err.print(f"  [yellow]![/] not made before the connection dropped; once more: {summary}")
        elif kind == "step.verified":
            self._verified(step, event)
        elif kind in _DONE:
            mark, text = _DONE[kind]
            self.terminal.err.print(f"{mark} {escape(step)}: {text}")

    def _verified(self, step: str, event: dict[str, Any]) -> None:
        """In place, changed, overridden or with warnings left: each said as it is."""
        changes = event.get("changes") or []
        overridden = [c for c in changes if c["action"] == OVERRIDE]
        warnings = event.get("warnings") or []
        name = escape(step)
        if overridden:
            for change in overridden:
                self.terminal.err.print(f"[yellow]![/] {name}: --force: {escape(change['summary'])}")
        elif changes:
            self.terminal.err.print(f"[green]✓[/] {name}: changed and verified")
        elif warnings:
            for warning in warnings:
                self.terminal.err.print(f"[yellow]![/] {name}: in place, with a warning: {escape(warning['summary'])}")
        else:
            self.terminal.err.print(f"[green]✓[/] {name}: in place")
