"""`fhirdr enable`: the article's "how to enable DR" as a runbook, for every kind of target."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import typer

from fhirdr.cli.settings import Settings
from fhirdr.cli.ticket_options import consent_option, severity_option
from fhirdr.durations import duration_option


def enable(
    ctx: typer.Context,
    secondary: str | None = typer.Option(
        None,
        "--secondary",
        help="Secondary region (default: the target's, else the paired region when it offers Azure API for FHIR).",
    ),
    apply: bool = typer.Option(False, "--apply", help="Act: file the ticket, or change Cosmos DB and Traffic Manager."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    wait: bool = typer.Option(False, "--wait", help="Keep polling until DR is on (or --timeout passes)."),
    timeout: float = duration_option("4h", "--timeout", help="How long --wait polls, e.g. 90m or 4h."),
    ticket_draft: Path | None = typer.Option(
        None, "--ticket-draft", help="Write the support ticket to this file instead of filing it (managed targets)."
    ),
    contact_first_name: str | None = typer.Option(
        None, "--contact-first-name", help="Support ticket contact: first name (managed targets)."
    ),
    contact_last_name: str | None = typer.Option(None, "--contact-last-name", help="Contact: last name."),
    contact_email: str | None = typer.Option(None, "--contact-email", help="Contact: email address."),
    contact_country: str | None = typer.Option(None, "--contact-country", help="Contact: ISO 3166 alpha-3, e.g. USA."),
    contact_timezone: str | None = typer.Option(
        None, "--contact-timezone", help="Contact: time zone, e.g. Pacific Standard Time."
    ),
    contact_language: str | None = typer.Option(None, "--contact-language", help="Contact: language, e.g. en-US."),
    severity: str | None = severity_option(),
    diagnostic_consent: str | None = consent_option(),
    resume: str | None = typer.Option(None, "--resume", metavar="RUN_ID", help="Continue an earlier apply run."),
) -> None:
    """Turn DR on for the target.

    A support ticket (managed), a Cosmos DB region and Traffic Manager endpoint (self-hosted), or a matching
    standby (ahds).
    """
    from fhirdr.cli.runbook_command import RunRequest, run_runbook
    from fhirdr.durations import parse_duration
    from fhirdr.errors import TargetError
    from fhirdr.kinds import kind_of
    from fhirdr.steps.base import Context, Reader
    from fhirdr.steps.dr import choose_secondary
    from fhirdr.steps.support import require_contact, write_ticket_draft
    from fhirdr.target import parse_contact

    settings: Settings = ctx.obj
    target = settings.load_target()
    if not target.primary_region:
        raise TargetError("primary_region is not set in the target", hint="run `fhirdr init` or add primary_region")
    flags = {
        "first_name": contact_first_name,
        "last_name": contact_last_name,
        "email": contact_email,
        "country": contact_country,
        "timezone": contact_timezone,
        "language": contact_language,
    }
    if any(flags.values()):
        base = dataclasses.asdict(target.contact) if target.contact else {}
        merged = {k: v for k, v in {**base, **{k: v for k, v in flags.items() if v}}.items() if v is not None}
        target = dataclasses.replace(target, contact=parse_contact(merged, "--contact-*"))
    wait_timeout = parse_duration(timeout) if wait else None

    session = settings.azure(target)
    region = choose_secondary(Context(target, session), secondary)
    target = target.with_secondary(region)
    kind = kind_of(target)
    runbook = kind.enable_runbook
    from fhirdr.readiness import readiness

    with settings.terminal.status("checking Private Link, CMK, $export and IoMT readiness"):
        options: dict[str, Any] = {"readiness": readiness(Reader(Context(target, session)))}
    if kind.support_operated:
        from fhirdr.cli.ticket_options import ticket_choices

        options.update(ticket_choices(settings, severity, diagnostic_consent, yes))
    if ticket_draft is not None and kind.support_operated:
        write_ticket_draft(target, "enable", ticket_draft, options)
        settings.terminal.display_success(f"ticket text written to {ticket_draft}")
        options["ticket_draft"] = str(ticket_draft)

    def needs_contact(outcome: Any, options: dict[str, Any]) -> None:
        if any(c.action == "create" for r in outcome.results if r.spec.uses == "support.ticket" for c in r.changes):
            require_contact(target)

    request = RunRequest(
        runbook,
        "enable",
        target,
        apply=apply,
        yes=yes,
        resume=resume,
        options=options,
        wait_timeout=wait_timeout,
        session=session,
        before_apply=needs_contact,
    )
    raise typer.Exit(run_runbook(settings, request))


def register(app: typer.Typer) -> None:
    app.command("enable")(enable)
