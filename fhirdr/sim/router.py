"""Requests in, responses out: URL patterns mapped to provider handlers, and the ARM helpers they share."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from fhirdr.sim.exceptions import (
    ArmError,
    InvalidRequestContent,
    InvalidResourceType,
    MethodNotAllowed,
    MissingApiVersion,
    NotFound,
    PreconditionFailed,
    ResourceGroupNotFound,
    SubscriptionNotFound,
)
from fhirdr.sim.store import Store, StoredResource

ARM = "https://management.azure.com"
DEFAULT_PAGE_SIZE = 100


class CaseInsensitiveDict(dict):
    def __init__(self, items: Any = ()) -> None:
        super().__init__((k.lower(), v) for k, v in dict(items).items())

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(key.lower(), default)


@dataclass
class Request:
    method: str
    url: str
    path: str
    query: dict[str, str]
    headers: CaseInsensitiveDict
    body: Any
    store: Store
    params: dict[str, str] = field(default_factory=dict)
    fail_async: dict[str, Any] | None = None

    @property
    def api_version(self) -> str:
        version = self.query.get("api-version")
        if not version:
            raise MissingApiVersion()
        return version

    def json_body(self) -> dict[str, Any]:
        if not isinstance(self.body, dict):
            raise InvalidRequestContent("The request content was invalid and could not be deserialized.")
        return self.body


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> bytes:
        return b"" if self.body is None else json.dumps(self.body).encode()


Handler = Callable[[Request], Response]


class Router:
    """Ordered (method, path pattern) → handler table; the first match wins."""

    def __init__(self) -> None:
        self._routes: list[tuple[re.Pattern[str], dict[str, Handler]]] = []

    def add(self, pattern: str, **handlers: Handler) -> None:
        self._routes.append((re.compile(pattern + "$", re.IGNORECASE), {m.upper(): h for m, h in handlers.items()}))

    def dispatch(self, request: Request) -> Response:
        for pattern, handlers in self._routes:
            match = pattern.match(request.path)
            if match:
                handler = handlers.get(request.method)
                if handler is None:
                    raise MethodNotAllowed(f"The requested resource does not support http method '{request.method}'.")
                if not request.query.get("api-version"):
                    raise MissingApiVersion()
                request.params = match.groupdict()
                return with_etag_header(request, handler(request))
        raise InvalidResourceType(f"The resource type could not be found for path '{request.path}'.")


def with_etag_header(request: Request, response: Response) -> Response:
    """A GET of a resource that has an etag answers it as the ETag header too, as ARM's contract asks.

    azure-resource-manager-rpc v1.0/resource-api-reference.md: an etag given in the body "must also be
    provided as a header per the normal ETag convention".
    """
    if request.method == "GET" and response.status == 200 and isinstance(response.body, dict):
        etag = response.body.get("etag")
        if etag and not any(key.lower() == "etag" for key in response.headers):
            etag = str(etag)
            response.headers["ETag"] = etag if etag.startswith(("W/", '"')) else f'"{etag}"'
    return response


def parse_request(method: str, url: str, headers: dict[str, str], content: Any, store: Store) -> Request:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    if isinstance(content, bytes | bytearray):
        content = content.decode()
    body: Any = None
    if content:
        try:
            body = json.loads(content)
        except ValueError:
            raise InvalidRequestContent("The request content was invalid and could not be deserialized.") from None
    return Request(method.upper(), url, parts.path.rstrip("/"), query, CaseInsensitiveDict(headers), body, store)


def error_response(error: ArmError) -> Response:
    return Response(error.status, error.body(), {"x-ms-failure-cause": "gateway" if error.status == 404 else "service"})


# -- helpers shared by the providers --------------------------------------------------------------

SUB = r"/subscriptions/(?P<sub>[^/]+)"
RG = SUB + r"/resourceGroups/(?P<rg>[^/]+)"


def group_id(sub: str, group: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{group}"


def require_subscription(request: Request) -> str:
    sub = request.params["sub"]
    if sub.lower() != (request.store.get_meta("subscription") or "").lower():
        raise SubscriptionNotFound(sub)
    return sub


def require_group(request: Request) -> str:
    """The resource group id, after checking that the subscription and group exist."""
    sub = require_subscription(request)
    gid = group_id(sub, request.params["rg"])
    if request.store.get(gid) is None:
        raise ResourceGroupNotFound(request.params["rg"])
    return gid


def require_resource(request: Request, rtype: str, name_param: str) -> StoredResource:
    """The resource `{group}/providers/{rtype}/{name}` named by the request, or ARM's ResourceNotFound."""
    from fhirdr.sim.exceptions import ResourceNotFound

    name = request.params[name_param]
    stored = request.store.get(f"{require_group(request)}/providers/{rtype}/{name}")
    if stored is None:
        raise ResourceNotFound(rtype, name, request.params["rg"])
    return stored


def new_etag(request: Request, weak: bool = False) -> str:
    tag = request.store.new_uuid()
    return f'W/"{tag}"' if weak else tag


def check_preconditions(request: Request, existing: dict[str, Any] | None) -> None:
    """If-Match / If-None-Match as ARM applies them: 412 on mismatch."""
    if_match = request.headers.get("If-Match")
    if if_match:
        if existing is None:
            raise PreconditionFailed("The resource does not exist, but an If-Match condition was given.")
        if if_match != "*" and _bare_etag(if_match) != _bare_etag(str(existing.get("etag", ""))):
            raise PreconditionFailed(
                f"The etag '{if_match}' does not match the resource's current etag '{existing.get('etag')}'."
            )
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match == "*" and existing is not None:
        raise PreconditionFailed("The resource already exists, but an If-None-Match: * condition was given.")


def _bare_etag(etag: str) -> str:
    """Etags compare without the quotes clients add around them (and without a weak W/ prefix)."""
    etag = etag.strip()
    if etag.startswith("W/"):
        etag = etag[2:]
    return etag.strip('"')


def page_size(store: Store) -> int:
    return int(store.get_meta("page_size", str(DEFAULT_PAGE_SIZE)) or DEFAULT_PAGE_SIZE)


def paged(request: Request, items: list[dict[str, Any]]) -> Response:
    """One page of a list, with `nextLink` when more remain ($skiptoken is the offset)."""
    size = page_size(request.store)
    try:
        start = int(request.query.get("$skiptoken", "0"))
    except ValueError:
        raise InvalidRequestContent("The $skiptoken is not valid.") from None
    body: dict[str, Any] = {"value": items[start : start + size]}
    if start + size < len(items):
        query = {k: v for k, v in request.query.items() if k != "$skiptoken"}
        query["$skiptoken"] = str(start + size)
        body["nextLink"] = f"{ARM}{request.path}?{urlencode(query)}"
    return Response(200, body)


STUCK_ASYNC = "stuck-async"
# Dropped connections: `drop` before the request reaches the provider (nothing happens), `drop-after` once the
# provider has carried it out, before its answer reaches the client (the change is made; the client cannot know).
DROP = "drop"
DROP_AFTER = "drop-after"
STUCK = -1  # polls_left of an operation held by a stuck-async fault rule


def start_async(
    request: Request,
    resource_id: str | None,
    on_done: dict[str, Any],
    status_url: str,
    polls: int = 1,
) -> dict[str, str]:
    """Register an async operation; returns the Azure-AsyncOperation header for it.

    `on_done` is a patch of the resource's `properties` applied when the operation finishes.
    A matching `fail-async` fault rule makes the operation end in Failed instead.
    """
    op_id = status_url.rsplit("/", 1)[-1]
    error = None
    if request.fail_async and request.fail_async["kind"] == STUCK_ASYNC:
        # An operation that runs longer than anyone waits: InProgress until `sim fault clear`.
        request.store.use_fault(request.fail_async["id"])
        polls = STUCK
    elif request.fail_async:
        request.store.use_fault(request.fail_async["id"])
        error = {
            "code": "InternalServerError",
            "message": "The operation failed (injected by a fhirdr sim fault rule).",
        }
    request.store.add_operation(op_id, resource_id.lower() if resource_id else None, polls, on_done, error)
    return {"Azure-AsyncOperation": f"{ARM}{status_url}?api-version={request.api_version}"}


def poll_operation(request: Request, op_id: str) -> Response:
    """Answer an async-operation status poll; the operation finishes after its polls run out."""
    store = request.store
    op = store.get_operation(op_id)
    if op is None:
        raise NotFound(f"Operation '{op_id}' was not found.")
    if op["status"] == "InProgress" and op["polls_left"] != STUCK:
        if op["polls_left"] > 0:
            store.update_operation(op_id, op["polls_left"] - 1, "InProgress")
        else:
            finish_operation(store, op)
            op = store.get_operation(op_id) or op
    body: dict[str, Any] = {"id": request.path, "name": op_id, "status": op["status"]}
    if op["status"] == "Failed" and op["error"]:
        body["error"] = op["error"]
    return Response(200, body)


def advance_operations_of(store: Store, resource_path: str) -> None:
    """A read of a resource counts as a poll of its pending operations: work goes on whoever watches."""
    for op in store.pending_operations(resource_path.lower()):
        if op["polls_left"] == STUCK:
            continue
        if op["polls_left"] > 0:
            store.update_operation(op["id"], op["polls_left"] - 1, "InProgress")
        else:
            finish_operation(store, op)


def finish_operation(store: Store, op: dict[str, Any]) -> None:
    status = "Failed" if op["error"] else "Succeeded"
    store.update_operation(op["id"], 0, status)
    if not op["resource_key"]:
        return
    resource = store.get(op["resource_key"])
    if resource is None:
        return
    body = resource.body
    if status == "Failed":
        body.setdefault("properties", {})["provisioningState"] = "Failed"
    else:
        delete = op["on_done"].pop("__delete__", False)
        if delete:
            store.delete(resource.id)
            return
        body.setdefault("properties", {}).update(op["on_done"])
    store.put(resource.id, resource.type, parent_of(resource.id), body)


def parent_of(resource_id: str) -> str:
    """The id a resource is listed under: its resource group, or its parent resource for children."""
    parts = resource_id.strip("/").split("/")
    if len(parts) <= 4:
        return "/" + "/".join(parts[:2])
    if len(parts) <= 8:
        return "/" + "/".join(parts[:4])
    return "/" + "/".join(parts[:-2])
