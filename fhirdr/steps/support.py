"""Steps that go through Microsoft support: the DR request ticket and the wait for support to finish."""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fhirdr import __version__
from fhirdr.azure.session import wait
from fhirdr.errors import TargetError
from fhirdr.steps.base import Change, Param, Step, text
from fhirdr.steps.ids import service_id
from fhirdr.target import Contact, Target

log = logging.getLogger(__name__)

FHIR_RESOURCE_TYPE = "MICROSOFT.HEALTHCAREAPIS/SERVICES"
REQUESTS = {
    "enable": ("enable disaster recovery", "Enable disaster recovery for Azure API for FHIR service {service}"),
    "failback": ("failback", "Fail back the data of Azure API for FHIR service {service}"),
}
# The problem classification each request is filed under, as the API names them: "Category / Subcategory".
CATEGORY = "disaster recovery"

# learn.microsoft.com/rest/api/support "Prerequisites": creating a ticket through the API needs one of these
# technical support plans and the Support Request Contributor role; listing tickets needs Reader.
API_PLANS = ("professionaldirect", "premier", "unified")
API_PLAN_NAMES = "Professional Direct, Premier or Unified"
SEVERITIES = ("minimal", "moderate", "critical", "highestcriticalimpact")
# support.json SeverityLevel: 'highestcriticalimpact' ("Emergency - Severe impact") is for Premier and Unified
# customers only; Developer plans file minimal (severity C) only.
PLAN_SEVERITIES = {
    "developer": ("minimal",),
    "standard": ("minimal", "moderate", "critical"),
    "professionaldirect": ("minimal", "moderate", "critical"),
    "premier": SEVERITIES,
    "unified": SEVERITIES,
}
CONSENTS = ("yes", "no")


def plan_key(plan: str | None) -> str:
    return (plan or "").replace(" ", "").replace("_", "").replace("-", "").lower()


def find_fhir_service(step: Step) -> Any:
    """The support service for Azure API for FHIR, found by resource type (no id is published)."""
    services = list(step.ctx.azure.support().services.list())
    for service in services:
        if FHIR_RESOURCE_TYPE in [t.upper() for t in service.resource_types or []]:
            return service
    for service in services:
        if (service.display_name or "").lower() == "azure api for fhir":
            return service
    return None


def find_problem(step: Step, service: Any, request: str) -> tuple[Any | None, list[str]]:
    """The problem classification "Disaster recovery / <the request>", and every name the API lists."""
    problems = list(step.ctx.azure.support().problem_classifications.list(service.name))
    names = [p.display_name or "" for p in problems]
    words = REQUESTS[request][0]
    for problem in problems:
        category, _, subcategory = (problem.display_name or "").partition(" / ")
        if category.strip().lower() == CATEGORY and words in subcategory.lower():
            return problem, names
    return None, names


@dataclass
class Classification:
    """Where a ticket goes: the support service and problem classification, or why none fits."""

    service: Any | None
    problem: Any | None
    names: list[str]

    @property
    def problem_name(self) -> str:
        return self.problem.display_name if self.problem is not None else ""

    @property
    def missing(self) -> str | None:
        if self.service is None:
            return "Microsoft.Support lists no service for Azure API for FHIR"
        if self.problem is None:
            listed = "; ".join(self.names) or "none"
            return f"no problem classification of Azure API for FHIR is 'Disaster recovery / ...' (listed: {listed})"
        return None


def classify(step: Step, request: str) -> Classification:
    service = find_fhir_service(step)
    if service is None:
        return Classification(None, None, [])
    problem, names = find_problem(step, service, request)
    return Classification(service, problem, names)


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


# learn.microsoft.com azure-portal/supportability "Create an Azure support request": support keeps a
# ticket's data for 18 months, so an older DR request is not listed any more.
TICKET_RETENTION = "18 months"


def service_tickets(step: Step) -> list[Any]:
    """Every ticket about this service (technicalTicketDetails.resourceId is its id), newest first."""
    wanted = service_id(step.ctx.target).lower()
    tickets = [
        t
        for t in step.ctx.azure.support().support_tickets.list()
        if t.technical_ticket_details and (t.technical_ticket_details.resource_id or "").lower() == wanted
    ]
    tickets.sort(key=lambda t: str(t.created_date or ""), reverse=True)
    return tickets


def subscription_plan(step: Step) -> str | None:
    """The support plan, where readable: the plan type Azure wrote on the subscription's newest ticket."""
    tickets = sorted(
        step.ctx.azure.support().support_tickets.list(), key=lambda t: str(t.created_date or ""), reverse=True
    )
    return next((t.support_plan_type for t in tickets if t.support_plan_type), None)


@dataclass
class TicketFacts:
    ticket: Any | None
    plan: str | None = None
    confirmation: str | None = None


def _is_request(ticket: Any, request: str) -> bool:
    return REQUESTS[request][0] in (ticket.problem_classification_display_name or "").lower()


def find_ticket(step: Step, request: str) -> Any | None:
    """The newest ticket asking for `request` about this service: open ones first, then closed ones.

    Enabling DR is done once, so a closed request counts. A failback belongs to one outage: only an
    open request or the one this run filed counts.
    """
    run_id = step.ctx.options.get("run_id")
    matches = []
    for ticket in service_tickets(step):
        if not _is_request(ticket, request):
            continue
        if (
            request == "failback"
            and text(ticket.status) != "Open"
            and f"fhirdr run: {run_id}" not in (ticket.description or "")
        ):
            continue
        matches.append(ticket)
    matches.sort(key=lambda t: (text(t.status) == "Open", str(t.created_date or "")), reverse=True)
    return matches[0] if matches else None


# What support writes when the request is done; a Closed ticket alone does not say the request was carried out.
CONFIRMATIONS = {
    "enable": re.compile(r"disaster recovery (is|has been) (enabled|on)\b|\bdr (is|has been) (enabled|on)\b", re.I),
    "failback": re.compile(r"failback (is |has been )?(complete|completed|done)\b|data failback complete", re.I),
}


def confirmation(step: Step, ticket: Any, request: str) -> str | None:
    """Support's own words that the request was carried out, with their date; None when support never said so."""
    for item in step.ctx.azure.support().communications.list(ticket.name):
        said = f"{item.subject or ''} {item.body or ''}"
        if text(item.communication_direction) == "outbound" and CONFIRMATIONS[request].search(said):
            when = str(item.created_date)[:19] if item.created_date else "undated"
            return f"support wrote '{item.subject}' ({when})"
    return None


@dataclass
class DrRequest:
    """Whether DR of a managed service is on, by what Azure shows: state on | unverified | requested | off."""

    state: str
    detail: str
    ticket: Any | None = None

    @property
    def enabled(self) -> bool:
        return self.state == "on"


def dr_request(step: Step) -> DrRequest:
    """DR of a managed service is on when support confirmed an enable request for it, not when one is Closed."""
    requests = [t for t in service_tickets(step) if _is_request(t, "enable")]
    if not requests:
        return DrRequest(
            "off",
            f"no DR request for this service in its support tickets (fhirdr enable); tickets are kept "
            f"{TICKET_RETENTION}, so an older request would not show",
        )
    closed = [t for t in requests if text(t.status) == "Closed"]
    for ticket in closed:
        said = confirmation(step, ticket, "enable")
        if said is not None:
            return DrRequest("on", f"enabled by support (ticket {ticket.support_ticket_id}: {said})", ticket)
    working = [t for t in requests if text(t.status) != "Closed"]
    if working:
        ticket = working[0]
        return DrRequest(
            "requested", f"support is working ticket {ticket.support_ticket_id} ({text(ticket.status)})", ticket
        )
    ticket = closed[0]
    return DrRequest(
        "unverified",
        f"ticket {ticket.support_ticket_id} is Closed but support never confirmed DR is on (Closed is not "
        "fulfilled): ask support to confirm the secondary region",
        ticket,
    )


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
        ticket = find_ticket(self, self.args["request"])
        plan = ticket.support_plan_type if ticket is not None else subscription_plan(self)
        said = None
        if ticket is not None and text(ticket.status) == "Closed":
            said = confirmation(self, ticket, self.args["request"])
        return TicketFacts(ticket, plan, said)

    def observe(self, facts: TicketFacts) -> str:
        if facts.ticket is None:
            return "no ticket" + (f"; support plan {facts.plan}" if facts.plan else "")
        t = facts.ticket
        seen = f"ticket {t.support_ticket_id} ({t.name}): {text(t.status)}"
        if text(t.status) == "Closed":
            seen += f", {facts.confirmation}" if facts.confirmation else ", not confirmed by support"
        return seen


def draft_path(step: Step) -> Path:
    """Where the ticket text goes when fhirdr cannot file it: --ticket-draft, else a file in this folder."""
    given = step.ctx.options.get("ticket_draft")
    return Path(given) if given else Path(f"fhirdr-{step.args['request']}-ticket.md")


class Ticket(TicketStep):
    """A support ticket asks Microsoft for the DR operation; an existing one is reused, never duplicated.

    Without a plan that files tickets through the API (or without the role), the ticket text is written
    for a person to file in the portal, with every field to paste.
    """

    uses = "support.ticket"

    def plan(self, facts: TicketFacts) -> list[Change]:
        if facts.ticket is not None:
            return []
        options = self.ctx.options
        draft = options.get("ticket_draft")
        if draft:
            why = options.get("ticket_refused")
            return [
                Change(
                    "wait",
                    str(draft),
                    f"the ticket drafted in {draft} to be filed (then run again)" + (f": {why}" if why else ""),
                    {"draft": str(draft)},
                )
            ]
        severity = options.get("severity") or "moderate"
        allowed = PLAN_SEVERITIES.get(plan_key(facts.plan))
        if facts.plan and plan_key(facts.plan) not in API_PLANS:
            why = (
                f"the subscription's support plan is {facts.plan}: the support API files tickets only on "
                f"{API_PLAN_NAMES} plans"
            )
            return [
                Change("draft", str(draft_path(self)), f"{why}; write the ticket text for the portal", {"why": why})
            ]
        if facts.plan and allowed is not None and severity not in allowed:
            return [
                Change(
                    "fix-input",
                    "--severity",
                    f"severity {severity} is not offered on the {facts.plan} support plan "
                    f"(it offers {', '.join(allowed)}): choose one with --severity",
                    fixable=False,
                )
            ]
        return [
            Change(
                "create",
                self.ctx.target.service,
                f"file a support ticket ({severity}): {ticket_text(self.ctx.target, self.args['request'])[0]}",
            )
        ]

    def apply(self, change: Change) -> None:
        if change.action == "draft":
            self._fall_back(change.data["why"], classify(self, self.args["request"]))
            return
        from azure.core.exceptions import HttpResponseError

        target = self.ctx.target
        require_contact(target)
        where = classify(self, self.args["request"])
        if where.missing:
            self._fall_back(where.missing, where)
            return
        try:
            self._create(where)
        except HttpResponseError as exc:
            refusal = _refusal(exc)
            if refusal is None:
                raise
            self._fall_back(refusal, where)

    def _fall_back(self, why: str, where: Classification | None = None) -> None:
        """Say why no ticket was filed, and write its text with every field the portal asks for."""
        path = draft_path(self)
        write_ticket_draft(self.ctx.target, self.args["request"], path, self.ctx.options, where, why)
        self.ctx.options["ticket_draft"] = str(path)
        self.ctx.options["ticket_refused"] = why
        log.warning("%s; the ticket text is in %s", why, path)

    def _create(self, where: Classification) -> None:
        from azure.mgmt.support.models import (
            CheckNameAvailabilityInput,
            ContactProfile,
            SupportTicketDetails,
            TechnicalTicketDetails,
        )

        target = self.ctx.target
        contact = require_contact(target)
        options = self.ctx.options
        support = self.ctx.azure.support()
        title, description = ticket_text(target, self.args["request"], options.get("run_id"))
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
            problem_classification_id=where.problem.id,
            service_id=where.service.id,
            severity=options.get("severity") or "moderate",
            advanced_diagnostic_consent=consent_value(options),
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


def consent_value(options: dict[str, Any]) -> str:
    """Advanced diagnostic consent as the API spells it; never assumed: without an answer it is No."""
    return "Yes" if options.get("diagnostic_consent") == "yes" else "No"


def _refusal(exc: Any) -> str | None:
    """Why Azure will not file a ticket for this caller, when the refusal says so; None for other errors.

    learn.microsoft.com/rest/api/support "Prerequisites": a Professional Direct, Premier or Unified plan
    and the Support Request Contributor role. ARM answers a missing role with 403 AuthorizationFailed.
    """
    code = getattr(getattr(exc, "error", None), "code", None) or ""
    message = str(getattr(getattr(exc, "error", None), "message", None) or exc)
    if exc.status_code == 403 or code in ("AuthorizationFailed", "LinkedAuthorizationFailed"):
        return (
            f"Azure refused to file it ({exc.status_code} {code}): the identity lacks the Support Request "
            "Contributor role on the subscription"
        )
    if exc.status_code == 400 and "support plan" in message.lower() and "severity" not in message.lower():
        return (
            f"Azure refused to file it ({exc.status_code} {code}): the subscription has no {API_PLAN_NAMES} "
            "support plan, which the support API needs"
        )
    return None


def write_ticket_draft(
    target: Target,
    request: str,
    path: Path,
    options: dict[str, Any] | None = None,
    where: Classification | None = None,
    why: str | None = None,
) -> None:
    """The ticket as text for people who file it in the portal: every field, as the portal and the API name it."""
    options = options or {}
    title, description = ticket_text(target, request, options.get("run_id"))
    contact = target.contact
    if where is not None and where.problem is not None:
        problem = f"{where.problem_name}  (problemClassificationId {where.problem.id})"
    elif where is not None and where.missing:
        problem = f"none fits ({where.missing}): choose the closest under Azure API for FHIR"
    else:
        problem = "Disaster recovery / " + ("Enable disaster recovery" if request == "enable" else "Data failback")
    fields = [
        ("Issue type", "Technical"),
        ("Subscription", target.subscription),
        ("Service", "Azure API for FHIR"),
        ("Resource", service_id(target)),
        ("Problem type / subtype (Category / Subcategory)", problem),
        ("Summary (title)", title),
        ("Severity", options.get("severity") or "moderate"),
        ("Advanced diagnostic information", consent_value(options)),
        ("Preferred contact method", "Email"),
    ]
    if contact is not None:
        fields += [
            ("Contact", f"{contact.first_name} {contact.last_name}"),
            ("Email", contact.email),
            ("Country", contact.country),
            ("Time zone", contact.timezone),
            ("Language", contact.language),
        ]
    body = [f"# {title}", ""]
    if why:
        body += [f"fhirdr did not file this ticket. {why[0].upper()}{why[1:]}.", ""]
    body += [
        "File it in the Azure portal: Help + support > Create a support request, with these fields:",
        "",
        *(f"- {name}: {value}" for name, value in fields),
        "",
        "Description (paste as it is):",
        "",
        "```",
        description,
        "```",
        "",
    ]
    from fhirdr.paths import write_text

    write_text(path, "\n".join(body), "ticket draft")


class SupportDone(TicketStep):
    """Waits until support has worked the ticket: closed, and support confirmed the request was carried out."""

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
        if facts.confirmation is None:
            return [
                Change(
                    "verify",
                    facts.ticket.name,
                    f"ticket {facts.ticket.support_ticket_id} is Closed but support never confirmed the request "
                    "was carried out (Closed is not fulfilled): ask support on the ticket",
                    fixable=False,
                )
            ]
        return []


STEPS = [Ticket, SupportDone]
