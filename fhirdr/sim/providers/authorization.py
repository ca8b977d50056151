"""Microsoft.Authorization: built-in role definitions and role assignments at any scope."""

from __future__ import annotations

import re
from typing import Any

from fhirdr.sim.exceptions import ArmError, InvalidRequestContent, NotFound
from fhirdr.sim.router import Request, Response, Router, paged

ASSIGNMENT_TYPE = "Microsoft.Authorization/roleAssignments"
BUILT_IN_ROLES = {
    "ba92f5b4-2d11-453d-a403-e96b0029c9fe": "Storage Blob Data Contributor",
    "e147488a-f6f5-4113-8e2d-b22465e65bf6": "Key Vault Crypto Service Encryption User",
    "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
    "acdd72a7-3385-48ef-bd42-f606fba81ae7": "Reader",
    # The FHIR service's data-plane roles (learn.microsoft.com azure/role-based-access-control/built-in-roles).
    "5a1fc7df-4bf1-4951-a576-89034ee01acd": "FHIR Data Contributor",
    "4c8d0bbc-75d3-4935-991f-5f3c56d81508": "FHIR Data Reader",
    "3f88fce4-5892-4214-ae73-ba5294559913": "FHIR Data Writer",
    "3db33094-8700-4567-8da5-1501d4e7e843": "FHIR Data Exporter",
    "4465e953-8ced-4406-a58e-0f6e3f3b530b": "FHIR Data Importer",
}
SCOPE = r"(?P<scope>(?:/subscriptions/[^/]+)(?:/.*?)?)/providers/Microsoft\.Authorization"


def _definition(sub: str, role_id: str) -> dict[str, Any]:
    return {
        "id": f"/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{role_id}",
        "name": role_id,
        "type": "Microsoft.Authorization/roleDefinitions",
        "properties": {
            "roleName": BUILT_IN_ROLES[role_id],
            "type": "BuiltInRole",
            "permissions": [],
            "assignableScopes": ["/"],
        },
    }


def role_guid(role_definition_id: str) -> str:
    """The role's GUID, the same in the /subscriptions/{sub}/providers/... and /providers/... forms."""
    return role_definition_id.rstrip("/").rsplit("/", 1)[-1].lower()


def role_definition_id(sub: str, role: str, form: str = "subscription") -> str:
    """A role definition id in the form an assignment carries: subscription-scoped or tenant (`/providers/...`)."""
    prefix = "" if form == "providers" else f"/subscriptions/{sub}"
    return f"{prefix}/providers/Microsoft.Authorization/roleDefinitions/{role}"


def _subscription(scope: str) -> str:
    return scope.strip("/").split("/")[1]


def _list_definitions(request: Request) -> Response:
    sub = _subscription(request.params["scope"])
    match = re.search(r"roleName\s+eq\s+'([^']+)'", request.query.get("$filter", ""), re.IGNORECASE)
    roles = [r for r, name in BUILT_IN_ROLES.items() if not match or name.lower() == match.group(1).lower()]
    return Response(200, {"value": [_definition(sub, r) for r in roles]})


def _put_assignment(request: Request) -> Response:
    scope = request.params["scope"]
    if request.store.get(scope) is None and scope.count("/") > 2:
        raise NotFound(f"The scope '{scope}' does not exist.")
    props = request.json_body().get("properties") or {}
    role, principal = props.get("roleDefinitionId"), props.get("principalId")
    if not role or not principal:
        raise InvalidRequestContent("roleDefinitionId and principalId are required.")
    if role_guid(role) not in BUILT_IN_ROLES:
        raise ArmError(f"The role definition '{role}' does not exist.", code="RoleDefinitionDoesNotExist", status=404)
    assignment_id = f"{scope}/providers/Microsoft.Authorization/roleAssignments/{request.params['name']}"
    for existing in request.store.children(scope, ASSIGNMENT_TYPE):
        p = existing.body["properties"]
        same = p["principalId"] == principal and role_guid(p["roleDefinitionId"]) == role_guid(role)
        if existing.id.lower() == assignment_id.lower():
            if not same:
                raise ArmError(
                    "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.",
                    code="RoleAssignmentUpdateNotPermitted",
                )
            return Response(201, existing.body)  # the same PUT again: ARM answers it like the first
        if same:
            # Either form of the role id names the same role: ARM refuses a second assignment of it.
            raise ArmError(
                "The role assignment already exists.",
                code="RoleAssignmentExists",
                status=409,
            )
    body = {
        "id": assignment_id,
        "name": request.params["name"],
        "type": ASSIGNMENT_TYPE,
        "properties": {
            "roleDefinitionId": role,
            "principalId": principal,
            "principalType": props.get("principalType", "ServicePrincipal"),
            "scope": scope,
        },
    }
    request.store.put(assignment_id, ASSIGNMENT_TYPE, scope, body)
    return Response(201, body)


def _list_assignments(request: Request) -> Response:
    scope = request.params["scope"].lower()
    # `principalId eq '{id}'`, or `assignedTo('{id}')` (alone or as `atScope() and assignedTo('{id}')`): a user's or
    # service principal's assignments, with those of the groups it is a member of, transitively (azure-docs
    # articles/role-based-access-control/role-assignments-list-rest.md). The sim has no groups: the principal's own.
    principal = re.search(
        r"(?:principalId\s+eq\s+|assignedTo\(\s*)'([^']+)'", request.query.get("$filter", ""), re.IGNORECASE
    )
    found = []
    for assignment in request.store.by_type(ASSIGNMENT_TYPE):
        at = assignment.body["properties"]["scope"].lower()
        if not (scope == at or scope.startswith(at + "/")):
            continue  # atScope(): assignments at this scope and above
        if principal and assignment.body["properties"]["principalId"] != principal.group(1):
            continue
        found.append(assignment.body)
    return paged(request, found)


def register(router: Router) -> None:
    router.add(SCOPE + r"/roleDefinitions", GET=_list_definitions)
    router.add(SCOPE + r"/roleAssignments/(?P<name>[^/]+)", PUT=_put_assignment)
    router.add(SCOPE + r"/roleAssignments", GET=_list_assignments)
