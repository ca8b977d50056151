"""The in-process transport and credential the real Azure SDK clients use when --sim is on."""

from __future__ import annotations

import base64
import contextlib
import fnmatch
import json
import logging
import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from azure.core.credentials import AccessToken, AccessTokenInfo
from azure.core.exceptions import ServiceRequestError, ServiceResponseError
from azure.core.pipeline.transport import HttpTransport
from azure.core.rest._http_response_impl import HttpResponseImpl
from azure.core.utils import CaseInsensitiveDict

from fhirdr.sim.blob import BLOB_SUFFIX
from fhirdr.sim.exceptions import ArmError
from fhirdr.sim.fhir import FHIR_SUFFIX
from fhirdr.sim.fhir import answers as fhir_answers
from fhirdr.sim.graph import GRAPH_HOST, RUNNER_OBJECT_ID
from fhirdr.sim.providers.cdn import answers as front_door_answers
from fhirdr.sim.router import (
    ARM,
    DROP,
    DROP_AFTER,
    STUCK_ASYNC,
    Request,
    Response,
    advance_operations_of,
    error_response,
    parse_request,
)
from fhirdr.sim.store import Store

log = logging.getLogger(__name__)

_REASONS = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    412: "Precondition Failed",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class _Closed:
    def close(self) -> None:
        return None


class _Chunks:
    """What a streamed download reads (azure-storage-blob streams blob content and sets attributes on the
    stream): the body in 4 MiB chunks."""

    def __init__(self, pipeline: Any, response: Any, **kwargs: Any) -> None:
        content = response._content or b""
        self.response = response
        self.content_length = len(content)
        self._parts = iter([content[i : i + 4 * 1024 * 1024] for i in range(0, len(content), 4 * 1024 * 1024)])

    def __len__(self) -> int:
        return self.content_length

    def __iter__(self) -> _Chunks:
        return self

    def __next__(self) -> bytes:
        return next(self._parts)


class SimResponse(HttpResponseImpl):
    """A complete in-memory HTTP response, shaped as azure-core's transports return them."""

    def __init__(self, request: Any, status: int, headers: dict[str, str], content: bytes) -> None:
        super().__init__(
            request=request,
            internal_response=_Closed(),
            status_code=status,
            reason=_REASONS.get(status, "Unknown"),
            content_type=headers.get("Content-Type"),
            headers=CaseInsensitiveDict(headers),
            stream_download_generator=_Chunks,
        )
        self._content = content


class SimCredential:
    """A token credential for the sim. The token is shaped as a Microsoft Entra access token (a JWT whose `oid`
    claim is the signed-in identity's object id, learn.microsoft.com entra/identity-platform/
    access-token-claims-reference) but is unsigned and means nothing anywhere else."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        expires = int(time.time()) + 3600
        return AccessToken(_sim_jwt(expires), expires)

    def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        expires = int(time.time()) + 3600
        return AccessTokenInfo(_sim_jwt(expires), expires)


def _sim_jwt(expires: int) -> str:
    def part(claims: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()

    return f"{part({'typ': 'JWT', 'alg': 'none'})}.{part({'oid': RUNNER_OBJECT_ID, 'exp': expires})}.sim"


def open_world(path: Path) -> Store:
    """The store of an initialised world, or an error saying what to run."""
    store = Store(path)
    problem = store.problem()
    if problem is not None:
        raise problem
    return store


class SimTransport(HttpTransport):
    """Answers https://management.azure.com/ in-process from the world's store.

    Fault rules are applied here, before the providers see the request. `sleep()` advances the
    simulated clock instead of waiting, so retries and long-running operations cost no real time.
    """

    def __init__(self, store: Store) -> None:
        from fhirdr.sim.providers import build_router

        self.store = store
        self.router = build_router()
        self.latency = float(os.environ.get("FHIRDR_SIM_LATENCY_MS", "0") or 0) / 1000.0
        # (start, end) of every request, in perf_counter seconds: benchmarks read the critical path from it.
        self.timings: list[tuple[float, float]] = []

    def __enter__(self) -> SimTransport:
        return self

    def __exit__(self, *args: Any) -> None:
        return None

    def open(self) -> None:
        return None

    def close(self) -> None:
        return None

    def sleep(self, duration: float) -> None:
        from fhirdr.sim.timeline import advance

        advance(self.store, duration)

    def send(self, request: Any, **kwargs: Any) -> SimResponse:
        started = time.perf_counter()
        try:
            return self._send(request)
        finally:
            self.timings.append((started, time.perf_counter()))

    def _send(self, request: Any) -> SimResponse:
        if self.latency:
            time.sleep(self.latency)
        from fhirdr.azure.clouds import public_url

        url = public_url(str(request.url))  # sovereign clouds' hosts are answered like the public ones
        host = urlsplit(url).hostname or ""
        if host.endswith(FHIR_SUFFIX) or (not url.lower().startswith(ARM) and fhir_answers(self.store, host)):
            return self._send_fhir(request, url)
        if front_door_answers(host):
            return self._send_front_door(request, url)
        if host.endswith(BLOB_SUFFIX):
            return self._send_blob(request, url)
        if host == GRAPH_HOST:
            from fhirdr.sim import graph

            with self.store.transaction():
                answer = graph.handle(self.store, request.method, url)
            return SimResponse(request, answer.status, {"Content-Type": "application/json"}, answer.encoded())
        if not url.lower().startswith(ARM):
            raise ServiceRequestError(f"the simulated Azure does not answer {url.split('?')[0]}")
        content = getattr(request, "content", None)
        if content is None:
            content = getattr(request, "body", None)
        response = self.handle(request.method, url, dict(request.headers), content)
        headers = {"Content-Type": "application/json; charset=utf-8", **response.headers}
        headers.setdefault("x-ms-request-id", self.store.new_uuid() if response.status >= 400 else "sim")
        return SimResponse(request, response.status, headers, response.encoded())

    def _send_fhir(self, request: Any, url: str) -> SimResponse:
        from fhirdr.sim import fhir

        content = getattr(request, "content", None)
        headers = dict(request.headers)
        with self.store.transaction():
            fault = self._matching_fault(parse_request(request.method, url, headers, None, self.store))
            # fail-async and stuck-async act on the $export or $import job a request starts, as on ARM operations.
            starts_job = urlsplit(url).path.rstrip("/").endswith(("/$export", "/$import"))
            if fault is not None and (fault["kind"] not in ASYNC_FAULTS or starts_job):
                self.store.use_fault(fault["id"])
            if fault is not None and fault["kind"] not in (*ASYNC_FAULTS, DROP_AFTER):
                response = self._fault_response(fault)
            else:
                try:
                    kind = fault["kind"] if fault is not None and starts_job else None
                    response = fhir.handle(self.store, request.method, url, headers, content, kind)
                except ConnectionError as exc:
                    raise ServiceRequestError(str(exc)) from None
        _drop_if_faulted(fault, response)
        out = {"Content-Type": "application/fhir+json; charset=utf-8", **response.headers}
        return SimResponse(request, response.status, out, response.encoded())

    def _send_front_door(self, request: Any, url: str) -> SimResponse:
        """A request to a Front Door endpoint goes to the origin its route and health probes choose, with the
        origin host header as Host, so the FHIR service sees its own name (and its certificate matches)."""
        from fhirdr.sim import fhir
        from fhirdr.sim.providers.cdn import route_request

        parts = urlsplit(url)
        with self.store.transaction():
            origin = route_request(self.store, parts.hostname or "", parts.path, lambda h: fhir.probe(self.store, h))
        if origin is None:
            # Front Door's own answer when no origin is healthy or no route matches.
            body = b"<h2>Our services aren't available right now</h2>"
            return SimResponse(request, 503, {"Content-Type": "text/html", "x-azure-ref": "sim"}, body)
        forwarded = parts._replace(netloc=origin).geturl()
        response = self._send_fhir(request, forwarded)
        response.headers["x-azure-ref"] = "sim"
        return response

    def _send_blob(self, request: Any, url: str) -> SimResponse:
        """Blob storage's data plane; fault rules match its path (`/{container}/{blob}`) as for FHIR."""
        from fhirdr.sim import blob

        content = getattr(request, "content", None)
        if content is None:
            content = getattr(request, "body", None)
        if hasattr(content, "read"):
            content = content.read()
        headers = dict(request.headers)
        with self.store.transaction():
            fault = self._matching_fault(parse_request(request.method, url, headers, None, self.store))
            if fault is not None and fault["kind"] not in ASYNC_FAULTS:
                self.store.use_fault(fault["id"])
                response = self._fault_response(fault)
            else:
                try:
                    response = blob.handle(self.store, request.method, url, headers, content)
                except ConnectionError as exc:
                    raise ServiceRequestError(str(exc)) from None
        if response.status == -1:
            raise ServiceRequestError("Connection aborted (dropped by a fhirdr sim fault rule)")
        body = response.body if isinstance(response.body, bytes) else response.encoded()
        return SimResponse(request, response.status, dict(response.headers), body)

    def handle(self, method: str, url: str, headers: dict[str, str], content: Any) -> Response:
        store = self.store
        with store.transaction():
            try:
                sim_request = parse_request(method, url, headers, content, store)
                fault = self._matching_fault(sim_request)
                if fault is not None:
                    if fault["kind"] in ASYNC_FAULTS:
                        sim_request.fail_async = fault
                    else:
                        store.use_fault(fault["id"])
                        store.record_event("fault", {"kind": fault["kind"], "method": method, "path": sim_request.path})
                if fault is not None and fault["kind"] == RACE:
                    # Another run's identical write lands first (two applies at once); this one meets what it made.
                    rival = {k: v for k, v in headers.items() if k.lower() not in ("if-match", "if-none-match")}
                    with contextlib.suppress(ArmError):
                        self.router.dispatch(parse_request(method, url, rival, content, store))
                    response = self.router.dispatch(sim_request)
                elif fault is not None and fault["kind"] not in (*ASYNC_FAULTS, DROP_AFTER):
                    response = self._fault_response(fault)
                else:
                    if sim_request.method == "GET":
                        advance_operations_of(store, sim_request.path)
                    response = self.router.dispatch(sim_request)
            except ArmError as error:
                response = error_response(error)
        _drop_if_faulted(fault, response)
        log.debug("sim %s %s -> %s", method, url.split("?")[0], response.status)
        return response

    def _matching_fault(self, request: Request) -> dict[str, Any] | None:
        for fault in self.store.faults():
            if fault["method"] not in ("*", request.method):
                continue
            if fnmatch.fnmatch(request.path.lower(), fault["pattern"].lower()):
                return fault
        return None

    @staticmethod
    def _fault_response(fault: dict[str, Any]) -> Response:
        kind = fault["kind"]
        if kind == DROP:
            return Response(-1)
        if kind == "429":
            return Response(
                429,
                {"error": {"code": "TooManyRequests", "message": "The request is being throttled."}},
                {"Retry-After": str(fault["retry_after"])},
            )
        status = int(kind)
        code = "ServiceUnavailable" if status == 503 else "InternalServerError"
        return Response(status, {"error": {"code": code, "message": f"Injected {status} (fhirdr sim fault rule)."}})


def _drop_if_faulted(fault: dict[str, Any] | None, response: Response) -> None:
    """A dropped connection, after the transaction: `drop-after` has committed what the request did."""
    if response.status == -1:
        raise ServiceRequestError("Connection aborted (dropped by a fhirdr sim fault rule)")
    if fault is not None and fault["kind"] == DROP_AFTER:
        raise ServiceResponseError("Connection aborted before the answer (dropped by a fhirdr sim fault rule)")


RACE = "race"  # the same write arrives first from another client, as when two runs apply at once
FAULT_KINDS = ("429", "500", "503", DROP, DROP_AFTER, "fail-async", STUCK_ASYNC, RACE)
ASYNC_FAULTS = ("fail-async", STUCK_ASYNC)  # they act on the operation a request starts, not on the request
