"""Microsoft Graph, as much as fhirdr reads: service principals by application id (their object ids)."""

from __future__ import annotations

import re
import uuid
from urllib.parse import parse_qs, urlsplit

from fhirdr.sim.router import Response
from fhirdr.sim.store import Store

GRAPH_HOST = "graph.microsoft.com"
# The object id of the identity signed in to the sim (the user of `az login`): the `oid` claim of the sim's tokens,
# the same in every world.
RUNNER_OBJECT_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "fhirdr/sim/signed-in-user"))


def known_apps(store: Store) -> dict[str, str]:
    """First-party applications with a service principal in the world's tenant: those of its cloud."""
    from fhirdr.azure.clouds import get_cloud

    cloud = get_cloud(store.get_meta("cloud", "AzureCloud") or "AzureCloud")
    return {cloud.cosmos_cmk_app_id: "Azure Cosmos DB"}


def service_principal_object_id(store: Store, app_id: str) -> str:
    """The object id of a first-party application's service principal in the simulated tenant."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{store.get_meta('seed', 'fhirdr')}/sp/{app_id.lower()}"))


def handle(store: Store, method: str, url: str) -> Response:
    parts = urlsplit(url)
    if store.get_meta("graph_denied", "") == "1":
        # What Graph answers an identity without Application.Read.All (Directory.Read.All):
        # 403 with the OData error body (MicrosoftDocs/SupportArticles-docs support/entra/entra-id/
        # app-integration/troubleshoot-authorization-requestdenied-graph-api.md).
        return Response(
            403,
            {
                "error": {
                    "code": "Authorization_RequestDenied",
                    "message": "Insufficient privileges to complete the operation.",
                    "innerError": {"date": "2026-01-01T00:00:00", "request-id": str(uuid.uuid4())},
                }
            },
        )
    if method != "GET" or parts.path.rstrip("/") != "/v1.0/servicePrincipals":
        return Response(404, {"error": {"code": "Request_ResourceNotFound", "message": f"{parts.path} not found"}})
    query = parse_qs(parts.query).get("$filter", [""])[0]
    match = re.search(r"appId\s+eq\s+'([^']+)'", query, re.IGNORECASE)
    if not match:
        return Response(400, {"error": {"code": "Request_UnsupportedQuery", "message": "filter by appId"}})
    app_id = match.group(1).lower()
    apps = known_apps(store)
    if app_id not in apps:
        return Response(200, {"value": []})
    return Response(
        200,
        {
            "value": [
                {
                    "id": service_principal_object_id(store, app_id),
                    "appId": app_id,
                    "displayName": apps[app_id],
                    "servicePrincipalType": "Application",
                }
            ]
        },
    )
