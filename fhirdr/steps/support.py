"""Steps that go through Microsoft support: the DR request ticket and the wait for support to finish."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fhirdr import __version__
from fhirdr.azure.session import wait
from fhirdr.errors import AzureError, TargetError
from fhirdr.steps.base import Change, Param, Step, text
from fhirdr.steps.ids import service_id
from fhirdr.target import Contact, Target

FHIR_RESOURCE_TYPE = "MICROSOFT.HEALTHCAREAPIS/SERVICES"
REQUESTS = {
    "enable": ("enable disaster recovery", "Enable disaster recovery for Azure API for FHIR service {service}"),
    "failback": ("failback", "Fail back the data of Azure API for FHIR service {service}"),
}


def find_fhir_service(step: Step) -> Any:
    """The support service for Azure API for FHIR, found by resource type (no id is published)."""
    services = list(step.ctx.azure.support().services.list())
    for service in services:
        if FHIR_RESOURCE_TYPE in [t.upper() for t in service.resource_types or []]:
            return service
    for service in services:
        if (service.display_name or "").lower() == "azure api for fhir":
            return service
    raise AzureError(
        "Microsoft.Support lists no service for Azure API for FHIR; file the request in the portal",
        hint="use --ticket-draft FILE to get the ticket text",
    )


def find_problem(step: Step, service: Any, words: str) -> Any:
    problems = list(step.ctx.azure.support().problem_classifications.list(service.name))
    for problem in problems:
        if words in (problem.display_name or "").lower():
            return problem
    names = ", ".join(p.display_name for p in problems)
    raise AzureError(f"no support problem classification about '{words}' for Azure API for FHIR (found: {names})")


def ticket_text(target: Target, request: str, run_id: str | None = None) -> tuple[str, str]:
    """Title and description of a DR ticket: what the article says the ticket carries."""
    title = REQUESTS[request][1].format(service=target.service)
    lines = [
        f"Subscription: {target.subscription}",
        f"Service name: {target.service}",
        f"Resource id: {service_id(target)}",
        f"Primary region: {target.primary_region}",
        f"Preferred secondary region: {target.secondary_region}",
        "",
        f"Please {REQUESTS[request][0]} for this Azure API for FHIR service as described in "
        "'Disaster recovery for Azure API for FHIR'. RU/s must be the same in both regions.",
        "",
        f"Filed with fhirdr {__version__}." + (f" fhirdr run: {run_id}" if run_id else ""),
    ]
    return title, "\n".join(lines)


def ticket_name(target: Target, request: str, attempt: int = 0) -> str:
    digest = hashlib.sha256(service_id(target).lower().encode()).hexdigest()[:10]
    return f"fhirdr-{request}-{target.service}-{digest}" + (f"-{attempt}" if attempt else "")


@dataclass
class TicketFacts:
    ticket: Any | None


def find_ticket(step: Step, request: str) -> Any | None:
    """The newest ticket asking for `request` about this service: open ones first, then closed ones.

    Enabling DR is done once, so a closed request counts. A failback belongs to one outage: only an
    open request or the one this run filed counts.
    """
    words = REQUESTS[request][0]
    wanted = service_id(step.ctx.target).lower()
    run_id = step.ctx.options.get("run_id")
    matches = []
    for ticket in step.ctx.azure.support().support_tickets.list():
        resource = (ticket.technical_ticket_details.resource_id if ticket.technical_ticket_details else "") or ""
        if resource.lower() != wanted or words not in (ticket.problem_classification_display_name or "").lower():
            continue
        if (
            request == "failback"
            and text(ticket.status) != "Open"
            and f"fhirdr run: {run_id}" not in (ticket.description or "")
        ):
            continue
        matches.append(ticket)
    matches.sort(key=lambda t: (text(t.status) == "Open", t.created_date or 0), reverse=True)
    return matches[0] if matches else None


def require_contact(target: Target) -> Contact:
    if target.contact is None:
        raise TargetError(
            "a support ticket needs contact details, and the target has none",
            hint="add [contact] (first_name, last_name, email, country) to the target file, pass --contact-* "
            "options, or use --ticket-draft FILE to file the ticket yourself",
        )
    return target.contact


class TicketStep(Step):
    """Steps about the ticket of one request (enable or failback): found the same way, shown the same way."""

    params = {"request": Param(str, required=True, choices=tuple(REQUESTS))}

    def facts(self) -> TicketFacts:
        return TicketFacts(find_ticket(self, self.args["request"]))

    def observe(self, facts: TicketFacts) -> str:
        if facts.ticket is None:
            return "no ticket"
        t = facts.ticket
        return f"ticket {t.support_ticket_id} ({t.name}): {text(t.status)}"


class Ticket(TicketStep):
    """A support ticket asks Microsoft for the DR operation; an existing one is reused, never duplicated."""

    uses = "support.ticket"

    def plan(self, facts: TicketFacts) -> list[Change]:
        if facts.ticket is not None:
            return []
        draft = self.ctx.options.get("ticket_draft")
        if draft:
            return [
                Change(
                    "wait",
                    str(draft),
                    f"the ticket drafted in {draft} to be filed (then run again)",
                    {"draft": str(draft)},
                )
            ]
        return [
            Change(
                "create",
                self.ctx.target.service,
                f"file a support ticket: {ticket_text(self.ctx.target, self.args['request'])[0]}",
            )
        ]

    def apply(self, change: Change) -> None:
        from azure.mgmt.support.models import (
            CheckNameAvailabilityInput,
            ContactProfile,
            SupportTicketDetails,
            TechnicalTicketDetails,
        )

        target = self.ctx.target
        contact = require_contact(target)
        support = self.ctx.azure.support()
        service = find_fhir_service(self)
        problem = find_problem(self, service, REQUESTS[self.args["request"]][0])
        title, description = ticket_text(target, self.args["request"], self.ctx.options.get("run_id"))
        for attempt in range(20):
            name = ticket_name(target, self.args["request"], attempt)
            check = support.support_tickets.check_name_availability(
                CheckNameAvailabilityInput(name=name, type="Microsoft.Support/supportTickets")
            )
            if check.name_available:
                break
        details = SupportTicketDetails(
            title=title,
            description=description,
            problem_classification_id=problem.id,
            service_id=service.id,
            severity="minimal",
            advanced_diagnostic_consent="Yes",
            require24_x7_response=False,
            technical_ticket_details=TechnicalTicketDetails(resource_id=service_id(target)),
            contact_details=ContactProfile(
                first_name=contact.first_name,
                last_name=contact.last_name,
                preferred_contact_method="email",
                primary_email_address=contact.email,
                preferred_time_zone=contact.timezone,
                country=contact.country,
                preferred_support_language=contact.language,
                phone_number=contact.phone,
            ),
        )
        wait(support.support_tickets.begin_create(name, details))


def write_ticket_draft(target: Target, request: str, path: Path) -> None:
    """The ticket as text, for people who file it by hand in the portal."""
    title, description = ticket_text(target, request)
    body = [
        f"# {title}",
        "",
        "File this in the Azure portal: Help + support > Create a support request.",
        "Service: Azure API for FHIR. Problem type: Disaster recovery.",
        "",
        "```",
        description,
        "```",
        "",
    ]
    from fhirdr.paths import write_text

    write_text(path, "\n".join(body), "ticket draft")


class SupportDone(TicketStep):
    """Waits until support has worked the ticket: closed, with the request carried out."""

    uses = "support.done"

    def plan(self, facts: TicketFacts) -> list[Change]:
        if facts.ticket is None:
            return [Change("wait", self.ctx.target.service, "a ticket to be filed")]
        if text(facts.ticket.status) != "Closed":
            return [
                Change(
                    "wait",
                    facts.ticket.name,
                    f"support to work ticket {facts.ticket.support_ticket_id} ({text(facts.ticket.status)})",
                )
            ]
        return []


STEPS = [Ticket, SupportDone]
