"""Microsoft Graph, as much as fhirdr reads: service principals by application id (their object ids)."""

from __future__ import annotations

import re
import uuid
from urllib.parse import parse_qs, urlsplit

from fhirdr.sim.router import Response
from fhirdr.sim.store import Store

GRAPH_HOST = "graph.microsoft.com"
KNOWN_APPS = {"a232010e-820c-4083-83bb-3ace5fc29d0b": "Azure Cosmos DB"}


def service_principal_object_id(store: Store, app_id: str) -> str:
    """The object id of a first-party application's service principal in the simulated tenant."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{store.get_meta('seed', 'fhirdr')}/sp/{app_id.lower()}"))


def handle(store: Store, method: str, url: str) -> Response:
    parts = urlsplit(url)
    if method != "GET" or parts.path.rstrip("/") != "/v1.0/servicePrincipals":
        return Response(404, {"error": {"code": "Request_ResourceNotFound", "message": f"{parts.path} not found"}})
    query = parse_qs(parts.query).get("$filter", [""])[0]
    match = re.search(r"appId\s+eq\s+'([^']+)'", query, re.IGNORECASE)
    if not match:
        return Response(400, {"error": {"code": "Request_UnsupportedQuery", "message": "filter by appId"}})
    app_id = match.group(1).lower()
    if app_id not in KNOWN_APPS:
        return Response(200, {"value": []})
    return Response(
        200,
        {
            "value": [
                {
                    "id": service_principal_object_id(store, app_id),
                    "appId": app_id,
                    "displayName": KNOWN_APPS[app_id],
                    "servicePrincipalType": "Application",
                }
            ]
        },
    )
