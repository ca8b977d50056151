"""`fhirdr test-plan`: the article's DR test plan for this target, as Markdown or JSON."""

from __future__ import annotations

from pathlib import Path

import typer

from fhirdr.cli.settings import Settings


def test_plan(
    ctx: typer.Context,
    out: Path | None = typer.Option(None, "--out", help="Write the plan to this file instead of stdout."),
) -> None:
    """Write the DR test plan for this target.

    Scope, steps with owners, the ticket's content, success criteria, what to record, failback, cost.
    """
    from fhirdr.cli.output import OutputFormat, render
    from fhirdr.paths import write_text
    from fhirdr.report.testplan import markdown
    from fhirdr.testplan import build_test_plan

    settings: Settings = ctx.obj
    plan = build_test_plan(settings.load_target())
    if settings.output is OutputFormat.table and not settings.query:
        text = markdown(plan)
        if out is not None:
            write_text(out, text, "test plan")
            settings.terminal.display_success(f"test plan written to {out}")
        else:
            settings.terminal.write_data(text)
        return
    render(settings.terminal, plan, settings.output, settings.query)


def register(app: typer.Typer) -> None:
    app.command("test-plan")(test_plan)
