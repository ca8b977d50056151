"""Microsoft.Resources: resource groups."""

from __future__ import annotations

from typing import Any

from fhirdr.sim.exceptions import ResourceGroupNotFound
from fhirdr.sim.router import RG, SUB, Request, Response, Router, group_id, paged, require_subscription
from fhirdr.sim.store import Store

RESOURCE_GROUP_TYPE = "Microsoft.Resources/resourceGroups"


def create_group(store: Store, sub: str, name: str, location: str, tags: dict[str, str] | None = None) -> dict:
    gid = group_id(sub, name)
    body = {
        "id": gid,
        "name": name,
        "type": RESOURCE_GROUP_TYPE,
        "location": location,
        "tags": tags or {},
        "properties": {"provisioningState": "Succeeded"},
    }
    store.put(gid, RESOURCE_GROUP_TYPE, f"/subscriptions/{sub}", body)
    return body


def _get(request: Request) -> Response:
    sub = require_subscription(request)
    stored = request.store.get(group_id(sub, request.params["rg"]))
    if stored is None:
        raise ResourceGroupNotFound(request.params["rg"])
    return Response(200, stored.body)


def _head(request: Request) -> Response:
    sub = require_subscription(request)
    return Response(204 if request.store.get(group_id(sub, request.params["rg"])) else 404)


def _put(request: Request) -> Response:
    sub = require_subscription(request)
    body: dict[str, Any] = request.json_body()
    existing = request.store.get(group_id(sub, request.params["rg"]))
    name = existing.body["name"] if existing else request.params["rg"]
    created = create_group(request.store, sub, name, body.get("location", ""), body.get("tags"))
    return Response(200 if existing else 201, created)


def _list(request: Request) -> Response:
    sub = require_subscription(request)
    groups = request.store.children(f"/subscriptions/{sub}", RESOURCE_GROUP_TYPE)
    return paged(request, [g.body for g in groups])


def register(router: Router) -> None:
    router.add(RG, GET=_get, HEAD=_head, PUT=_put)
    router.add(SUB + r"/resourcegroups", GET=_list)
