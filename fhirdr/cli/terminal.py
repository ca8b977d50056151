"""One object owns the consoles: data to stdout, everything else (progress, errors) to stderr."""

from __future__ import annotations

import os
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape

# Piped output (files, CI logs, `| less`) wraps to the terminal the user sits at, else to this.
PIPED_WIDTH = 120


def _terminal_width() -> int | None:
    """The width of the terminal behind stderr or stdin, when one of them still is a terminal."""
    for stream in (sys.stderr, sys.stdin):
        try:
            if stream is not None and stream.isatty():
                return os.get_terminal_size(stream.fileno()).columns
        except (OSError, ValueError):
            continue
    return None


class Terminal:
    def __init__(self, verbose: int = 0) -> None:
        self.verbose = verbose
        self.out = Console(file=sys.stdout, highlight=False, soft_wrap=False)
        # Messages are not hard-wrapped: a log line stays one line however wide the terminal is.
        self.err = Console(file=sys.stderr, highlight=False, soft_wrap=True)
        for console in (self.out, self.err):
            if not console.is_terminal and "COLUMNS" not in os.environ:
                console.width = _terminal_width() or PIPED_WIDTH

    def display_error(self, message: str, hint: str | None = None) -> None:
        self.err.print(f"[bold red]error:[/] {escape(message)}")
        if hint:
            self.err.print(f"[dim]hint:[/] {escape(hint)}")

    def display_warning(self, message: str) -> None:
        self.err.print(f"[yellow]warning:[/] {escape(message)}")

    def display_success(self, message: str) -> None:
        self.err.print(f"[green]{escape(message)}[/]")

    def display_info(self, message: str) -> None:
        self.err.print(escape(message))

    def write_data(self, text: str) -> None:
        """Machine-readable data, written as is: no wrapping, no markup, no colour."""
        self.out.file.write(text + "\n")
        self.out.file.flush()

    def display_table(self, table: Any) -> None:
        self.out.print(table)

    def status(self, message: str) -> Any:
        return self.err.status(escape(message), spinner="dots")

    def ask(self, question: str) -> str | None:
        """One line typed at the terminal; None at the end of input (Ctrl-D). Ctrl-C is not caught: it stops
        the command with exit 130, as anywhere else."""
        self.err.file.write(f"{question}: ")
        self.err.file.flush()
        try:
            line = sys.stdin.readline()
        except KeyboardInterrupt:
            self.err.file.write("\n")  # the message goes on a line of its own, not after ^C
            raise
        if not line:
            self.err.file.write("\n")
            return None
        return line.rstrip("\r\n")

    def confirm(self, question: str) -> bool:
        """Yes only when the operator types yes; no, an empty line and the end of input are all no."""
        while True:
            answer = self.ask(f"{question} [y/N]")
            if answer is None:
                return False
            answer = answer.strip().lower()
            if answer in ("y", "yes"):
                return True
            if answer in ("", "n", "no"):
                return False
            self.err.print("answer y or n")

    @property
    def interactive(self) -> bool:
        return sys.stdin.isatty() and self.err.is_terminal
