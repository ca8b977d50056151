"""The choices a support ticket carries (severity, advanced diagnostic consent): given, or asked, never assumed."""

from __future__ import annotations

from typing import Any

import typer

from fhirdr.cli.settings import Settings

SEVERITY_HELP = "Support ticket severity: minimal, moderate (default), critical or highestcriticalimpact (managed)."
CONSENT_HELP = (
    "Let support collect advanced diagnostic information from the service, which holds patient data: yes or no "
    "(asked when not given; no without a terminal)."
)


def severity_option() -> Any:
    return typer.Option(None, "--severity", metavar="LEVEL", help=SEVERITY_HELP)


def consent_option() -> Any:
    return typer.Option(None, "--diagnostic-consent", metavar="yes|no", help=CONSENT_HELP)


def ticket_choices(
    settings: Settings, severity: str | None, consent: str | None, yes: bool, outage: bool = False
) -> dict[str, str]:
    """The ticket's severity and consent: from the options, or asked at a terminal; bad values are refused."""
    from fhirdr.errors import BadInputError
    from fhirdr.steps.support import CONSENTS, SEVERITIES

    if severity is not None and severity.lower() not in SEVERITIES:
        raise BadInputError(f"--severity {severity!r} is not a severity", hint=f"use {', '.join(SEVERITIES)}")
    if consent is not None and consent.lower() not in CONSENTS:
        raise BadInputError(f"--diagnostic-consent {consent!r} is not yes or no", hint="use yes or no")
    terminal = settings.terminal
    ask = terminal.interactive and not yes
    if severity is None and outage and ask:
        critical = typer.confirm(
            "A data failback after an outage: file it as critical (severity A)? Only Standard, Professional "
            "Direct, Premier and Unified plans offer it",
            default=False,
            err=True,
        )
        severity = "critical" if critical else None
    if consent is None and ask:
        consent = (
            "yes"
            if typer.confirm(
                "Allow Microsoft support to collect advanced diagnostic information from the service "
                "(it holds patient data)?",
                default=False,
                err=True,
            )
            else "no"
        )
    if consent is None:
        terminal.display_info("advanced diagnostic consent not given: the ticket says No (--diagnostic-consent yes)")
    return {"severity": (severity or "moderate").lower(), "diagnostic_consent": (consent or "no").lower()}
