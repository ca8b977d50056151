"""Microsoft.Support: services, problem classifications, tickets, and a simulated support desk.

The desk works tickets as simulated time passes, as support does: a DR-enable ticket for a known
FHIR service is picked up after a while, the secondary region named in the ticket is added, and
the ticket is closed when the initial replication (longer with more data) is done.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timezone
from typing import Any

from fhirdr.sim import timeline
from fhirdr.sim.exceptions import ArmError, InvalidRequestContent, NotFound
from fhirdr.sim.router import SUB, Request, Response, Router, paged, poll_operation, require_subscription, start_async
from fhirdr.sim.store import Store

TICKET_TYPE = "Microsoft.Support/supportTickets"
_NS = uuid.UUID("4f1e0c5e-2b7a-4d0e-9d55-fa1bd7a3c0de")


def _guid(name: str) -> str:
    return str(uuid.uuid5(_NS, name))


FHIR_SERVICE = _guid("Azure API for FHIR")
SERVICES = [
    (FHIR_SERVICE, "Azure API for FHIR", ["MICROSOFT.HEALTHCAREAPIS/SERVICES"]),
    (_guid("Azure Health Data Services"), "Azure Health Data Services", ["MICROSOFT.HEALTHCAREAPIS/WORKSPACES"]),
    (_guid("Azure Cosmos DB"), "Azure Cosmos DB", ["MICROSOFT.DOCUMENTDB/DATABASEACCOUNTS"]),
    (_guid("Virtual Network"), "Virtual Network", ["MICROSOFT.NETWORK/VIRTUALNETWORKS"]),
]
PROBLEMS = {
    FHIR_SERVICE: [
        (_guid("fhir/dr-enable"), "Disaster recovery / Enable disaster recovery"),
        (_guid("fhir/dr-failback"), "Disaster recovery / Data failback after a regional outage"),
        (_guid("fhir/config"), "Configuration and setup / Private Link"),
        (_guid("fhir/perf"), "Performance / Slow requests"),
    ],
}
DR_ENABLE = _guid("fhir/dr-enable")
DR_FAILBACK = _guid("fhir/dr-failback")

PICKUP_SECONDS = 30 * 60
REQUIRED_CONTACT = (
    "firstName",
    "lastName",
    "preferredContactMethod",
    "primaryEmailAddress",
    "preferredTimeZone",
    "country",
    "preferredSupportLanguage",
)


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat().replace("+00:00", "Z")


def _service_body(guid: str, display: str, types: list[str]) -> dict[str, Any]:
    return {
        "id": f"/providers/Microsoft.Support/services/{guid}",
        "name": guid,
        "type": "Microsoft.Support/services",
        "properties": {"displayName": display, "resourceTypes": types},
    }


def _list_services(request: Request) -> Response:
    return Response(200, {"value": [_service_body(*s) for s in SERVICES]})


def _list_problems(request: Request) -> Response:
    service = request.params["service"].lower()
    if service not in {s[0] for s in SERVICES}:
        raise NotFound(f"Service '{request.params['service']}' was not found.")
    problems = PROBLEMS.get(service, [(_guid(service + "/other"), "Other / General question")])
    if request.store.get_meta("dr_classification") == "absent":
        # A service whose classifications name no DR request (as after the retirement of Azure API for FHIR).
        problems = [(pid, name) for pid, name in problems if pid not in (DR_ENABLE, DR_FAILBACK)]
    return Response(
        200,
        {
            "value": [
                {
                    "id": f"/providers/Microsoft.Support/services/{service}/problemClassifications/{pid}",
                    "name": pid,
                    "type": "Microsoft.Support/problemClassifications",
                    "properties": {"displayName": display},
                }
                for pid, display in problems
            ]
        },
    )


def _ticket_id(sub: str, name: str) -> str:
    return f"/subscriptions/{sub}/providers/Microsoft.Support/supportTickets/{name}"


def _check_name(request: Request) -> Response:
    sub = require_subscription(request)
    body = request.json_body()
    name = body.get("name", "")
    taken = request.store.get(_ticket_id(sub, name)) is not None
    result: dict[str, Any] = {"nameAvailable": not taken}
    if taken:
        result.update({"reason": "AlreadyExists", "message": f"A support ticket named '{name}' already exists."})
    return Response(200, result)


def _validate(props: dict[str, Any]) -> None:
    for key in ("title", "description", "problemClassificationId", "serviceId", "severity"):
        if not props.get(key):
            raise InvalidRequestContent(f"The '{key}' property is required to create a support ticket.")
    if props["severity"] not in ("minimal", "moderate", "critical", "highestcriticalimpact"):
        raise InvalidRequestContent(f"Severity '{props['severity']}' is not valid.")
    if props.get("advancedDiagnosticConsent") not in ("Yes", "No"):
        raise InvalidRequestContent("The 'advancedDiagnosticConsent' property is required (Yes or No).")
    contact = props.get("contactDetails") or {}
    for key in REQUIRED_CONTACT:
        if not contact.get(key):
            raise InvalidRequestContent(f"The 'contactDetails.{key}' property is required.")
    if not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", contact["primaryEmailAddress"]):
        raise InvalidRequestContent("contactDetails.primaryEmailAddress is not a valid email address.")
    service = props["serviceId"].rsplit("/", 1)[-1].lower()
    if service not in {s[0] for s in SERVICES}:
        raise ArmError(f"Service '{props['serviceId']}' is not valid.", code="InvalidServiceId")
    problem = props["problemClassificationId"].rsplit("/", 1)[-1].lower()
    if problem not in {p[0] for p in PROBLEMS.get(service, [])}:
        raise ArmError(
            f"Problem classification '{props['problemClassificationId']}' is not valid for the service.",
            code="InvalidProblemClassificationId",
        )


# `sim init --support-plan`: the plan types tickets carry (supportPlanType), and what each may file.
PLANS = {
    "none": None,
    "basic": "Basic",
    "developer": "Developer",
    "standard": "Standard",
    "professional-direct": "ProfessionalDirect",
    "premier": "Premier",
    "unified": "Unified",
}
# learn.microsoft.com/rest/api/support "Prerequisites": the API files tickets on these plans only.
API_PLANS = ("professional-direct", "premier", "unified")
# support.json SeverityLevel: highestcriticalimpact is reserved for Premier (and Unified) customers.
TOP_SEVERITY_PLANS = ("premier", "unified")
DEFAULT_PLAN = "premier"


def plan_of(store: Store) -> str:
    return store.get_meta("support_plan", DEFAULT_PLAN) or DEFAULT_PLAN


def _check_plan(store: Store, props: dict[str, Any]) -> None:
    """Refuse like Azure when the subscription's plan does not let the API file this ticket.

    The exact error code of this refusal is not in the public specs or recordings: the sim answers a
    plain ARM 400 BadRequest whose message names the support plan.
    """
    plan = plan_of(store)
    if plan not in API_PLANS:
        shown = PLANS.get(plan) or "no"
        raise ArmError(
            f"The subscription has {shown} support plan; creating a technical support ticket through the API "
            "requires a Professional Direct, Premier or Unified support plan.",
            code="BadRequest",
        )
    if props["severity"] == "highestcriticalimpact" and plan not in TOP_SEVERITY_PLANS:
        raise ArmError(
            "Severity 'highestcriticalimpact' is reserved for Premier and Unified support plan customers.",
            code="BadRequest",
        )


def _create_ticket(request: Request) -> Response:
    store = request.store
    sub = require_subscription(request)
    ticket_id = _ticket_id(sub, request.params["ticket"])
    if store.get(ticket_id) is not None:
        raise ArmError(
            f"A support ticket named '{request.params['ticket']}' already exists.", code="Conflict", status=409
        )
    if store.get_meta("support_role") == "missing":
        # ARM's answer to a caller without the action (Support Request Contributor grants it).
        raise ArmError(
            f"The client 'sim-user' with object id '{store.new_uuid()}' does not have authorization to perform "
            f"action 'Microsoft.Support/supportTickets/write' over scope '/subscriptions/{sub}' or the scope is "
            "invalid.",
            code="AuthorizationFailed",
            status=403,
        )
    props = dict(request.json_body().get("properties") or {})
    _validate(props)
    _check_plan(store, props)
    service = props["serviceId"].rsplit("/", 1)[-1].lower()
    problem = props["problemClassificationId"].rsplit("/", 1)[-1].lower()
    now = store.now()
    number = 2600000000000000 + store.next_seq()
    body = {
        "id": ticket_id,
        "name": request.params["ticket"],
        "type": TICKET_TYPE,
        "properties": {
            **props,
            "supportTicketId": str(number),
            "serviceDisplayName": next(s[1] for s in SERVICES if s[0] == service),
            "problemClassificationDisplayName": next(p[1] for p in PROBLEMS[service] if p[0] == problem),
            "status": "Open",
            "createdDate": _iso(now),
            "modifiedDate": _iso(now),
            "supportPlanType": PLANS[plan_of(store)],
            "supportPlanDisplayName": _plan_display(plan_of(store)),
            "supportPlanId": _plan_id(store, sub),
            "serviceLevelAgreement": {
                "startTime": _iso(now),
                "expirationTime": _iso(now + 8 * 3600),
                "slaMinutes": 480,
            },
            "supportEngineer": {"emailAddress": None},
        },
    }
    store.put(ticket_id, TICKET_TYPE, f"/subscriptions/{sub}", body)
    store.record_event("support.ticket-created", {"ticket": body["name"], "problem": problem})
    if problem in (DR_ENABLE, DR_FAILBACK):
        store.schedule(now + PICKUP_SECONDS, "support.pickup", {"ticket": ticket_id})
    op = store.new_uuid()
    headers = start_async(request, None, {}, f"/subscriptions/{sub}/providers/Microsoft.Support/operationsStatus/{op}")
    headers["Location"] = headers["Azure-AsyncOperation"]
    return Response(202, None, headers)


def _plan_id(store: Store, sub: str) -> str:
    """An opaque plan id, base64 as in the spec's examples (CreateTechnicalSupportTicketForSubscription.json)."""
    import base64

    return base64.b64encode(f"Source:SCM,Plan:{plan_of(store)},SubscriptionId:{sub},".encode()).decode()


def _plan_display(plan: str) -> str:
    return "Professional Direct" if plan == "professional-direct" else (PLANS.get(plan) or "")


def put_ticket(
    store: Store, sub: str, name: str, resource_id: str, problem: str, status: str, created: float, description: str
) -> str:
    """A ticket that exists already (the world's history), as the API lists it; returns its id."""
    ticket_id = _ticket_id(sub, name)
    display = next(d for guid, d in PROBLEMS[FHIR_SERVICE] if guid == problem)
    service = f"/providers/Microsoft.Support/services/{FHIR_SERVICE}"
    body = {
        "id": ticket_id,
        "name": name,
        "type": TICKET_TYPE,
        "properties": {
            "supportTicketId": str(2600000000000000 + store.next_seq()),
            "title": display.split(" / ", 1)[1],
            "description": description,
            "problemClassificationId": f"{service}/problemClassifications/{problem}",
            "problemClassificationDisplayName": display,
            "serviceId": service,
            "serviceDisplayName": "Azure API for FHIR",
            "severity": "moderate",
            "require24X7Response": False,
            "advancedDiagnosticConsent": "No",
            "technicalTicketDetails": {"resourceId": resource_id},
            "status": status,
            "createdDate": _iso(created),
            "modifiedDate": _iso(created),
            "supportPlanType": PLANS[plan_of(store)],
            "supportPlanDisplayName": _plan_display(plan_of(store)),
            "supportPlanId": _plan_id(store, sub),
            "contactDetails": {
                "firstName": "Dana",
                "lastName": "Operator",
                "preferredContactMethod": "email",
                "primaryEmailAddress": "dana.operator@example.com",
                "preferredTimeZone": "Pacific Standard Time",
                "country": "USA",
                "preferredSupportLanguage": "en-US",
            },
            "serviceLevelAgreement": {
                "startTime": _iso(created),
                "expirationTime": _iso(created + 8 * 3600),
                "slaMinutes": 480,
            },
            "supportEngineer": {"emailAddress": None},
        },
    }
    store.put(ticket_id, TICKET_TYPE, f"/subscriptions/{sub}", body)
    return ticket_id


def _get_ticket(request: Request) -> Response:
    sub = require_subscription(request)
    stored = request.store.get(_ticket_id(sub, request.params["ticket"]))
    if stored is None:
        raise NotFound(f"Support ticket '{request.params['ticket']}' was not found.")
    return Response(200, stored.body)


def _list_tickets(request: Request) -> Response:
    sub = require_subscription(request)
    tickets = [t.body for t in request.store.children(f"/subscriptions/{sub}", TICKET_TYPE)]
    status = re.search(r"status\s+eq\s+'(\w+)'", request.query.get("$filter", ""), re.IGNORECASE)
    if status:
        tickets = [t for t in tickets if t["properties"]["status"].lower() == status.group(1).lower()]
    return paged(request, tickets)


def _list_communications(request: Request) -> Response:
    sub = require_subscription(request)
    ticket_id = _ticket_id(sub, request.params["ticket"])
    if request.store.get(ticket_id) is None:
        raise NotFound(f"Support ticket '{request.params['ticket']}' was not found.")
    return paged(request, [c.body for c in request.store.children(ticket_id)])


def add_communication(store: Store, ticket_id: str, subject: str, text: str) -> None:
    name = store.new_uuid()
    comm_id = f"{ticket_id}/communications/{name}"
    store.put(
        comm_id,
        "Microsoft.Support/communications",
        ticket_id,
        {
            "id": comm_id,
            "name": name,
            "type": "Microsoft.Support/communications",
            "properties": {
                "communicationType": "web",
                "communicationDirection": "outbound",
                "sender": "Microsoft Support",
                "subject": subject,
                "body": text,
                "createdDate": _iso(store.now()),
            },
        },
    )


def set_ticket_status(store: Store, ticket_id: str, status: str) -> None:
    stored = store.get(ticket_id)
    if stored is None:
        return
    stored.body["properties"]["status"] = status
    stored.body["properties"]["modifiedDate"] = _iso(store.now())
    store.put(stored.id, TICKET_TYPE, "/" + "/".join(stored.id.strip("/").split("/")[:2]), stored.body)


# -- the desk --------------------------------------------------------------------------------------

DESK_HANDLERS: dict[str, Any] = {}


def desk(problem: str):  # noqa: ANN201 - decorator
    """Register how the desk works tickets of one problem classification (other providers add theirs)."""

    def register(handler: Any) -> Any:
        DESK_HANDLERS[problem] = handler
        return handler

    return register


@timeline.on("support.pickup")
def pickup(store: Store, payload: dict[str, Any]) -> None:
    stored = store.get(payload["ticket"])
    if stored is None or stored.body["properties"]["status"] != "Open":
        return
    problem = stored.body["properties"]["problemClassificationId"].rsplit("/", 1)[-1].lower()
    handler = DESK_HANDLERS.get(problem)
    if handler is None:
        add_communication(store, stored.id, "We are looking into your request", "A support engineer will contact you.")
        return
    handler(store, stored)


def register(router: Router) -> None:
    router.add(r"/providers/Microsoft\.Support/services", GET=_list_services)
    router.add(r"/providers/Microsoft\.Support/services/(?P<service>[^/]+)/problemClassifications", GET=_list_problems)
    router.add(SUB + r"/providers/Microsoft\.Support/checkNameAvailability", POST=_check_name)
    router.add(
        SUB + r"/providers/Microsoft\.Support/supportTickets/(?P<ticket>[^/]+)", GET=_get_ticket, PUT=_create_ticket
    )
    router.add(SUB + r"/providers/Microsoft\.Support/supportTickets", GET=_list_tickets)
    router.add(
        SUB + r"/providers/Microsoft\.Support/supportTickets/(?P<ticket>[^/]+)/communications", GET=_list_communications
    )
    router.add(
        SUB + r"/providers/Microsoft\.Support/operationsStatus/(?P<op>[^/]+)",
        GET=lambda request: poll_operation(request, request.params["op"]),
    )
