"""Live progress of a runbook run on stderr."""

from __future__ import annotations

from typing import Any

from rich.markup import escape

from fhirdr.cli.terminal import Terminal

_DONE = {
    "step.verified": ("[green]✓[/]", "in place"),
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
        elif kind == "change.applied":
            self.terminal.err.print(f"  [green]+[/] {escape(event['change']['summary'])}")
        elif kind in _DONE:
            mark, text = _DONE[kind]
            if kind == "step.verified" and event.get("changes"):
                text = "changed and verified"
            self.terminal.err.print(f"{mark} {escape(step)}: {text}")
