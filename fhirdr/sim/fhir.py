"""The FHIR endpoint https://{service}.azurehealthcareapis.com, answered from the service's replicated data.

Reads and writes go to the write region through the compute that serves the endpoint; while either
is down the endpoint answers 503. What a region can see is exactly what was replicated to it, so
writes lost at a failover are really gone.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fhirdr.sim import lifecycle
from fhirdr.sim.router import Response
from fhirdr.sim.servers import server_for_host
from fhirdr.sim.store import Store

FHIR_SUFFIX = ".azurehealthcareapis.com"
BASE_SERVICE_MS = 12
_PATH = re.compile(r"^/(?P<type>[A-Z][A-Za-z]+)(?:/(?P<id>[A-Za-z0-9\-.]{1,64}))?$")


def _outcome(status: int, code: str, text: str) -> Response:
    return Response(
        status,
        {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": code, "diagnostics": text}]},
        {"Content-Type": "application/fhir+json; charset=utf-8"},
    )


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def answers(store: Store, host: str) -> bool:
    """Whether `host` is a FHIR endpoint of this world (a managed service, or a self-hosted server's host)."""
    return host.endswith(FHIR_SUFFIX) or server_for_host(store, host, FHIR_SUFFIX) is not None


def _serving(store: Store, found: tuple[str, str | None]) -> tuple[str, str | None, Any, str | None]:
    """(server, compute region, data store, why it cannot answer or None) of a FHIR host's server."""
    # A self-hosted server's regional host reaches that region's compute directly, not through Traffic Manager.
    service_id, pinned = found
    compute = pinned or lifecycle.compute_region(store, service_id)
    ds = lifecycle.data_store(store, service_id)
    if compute is None or ds is None or not lifecycle.is_up(store, compute):
        return service_id, compute, ds, "The service is unavailable."
    if not lifecycle.is_up(store, ds.write_region):
        return service_id, compute, ds, "The data store is unavailable."
    return service_id, compute, ds, None


def probe(store: Store, host: str) -> bool:
    """Whether a health probe of `GET https://{host}/metadata` passes (Front Door's view of an origin)."""
    found = server_for_host(store, host, FHIR_SUFFIX)
    return found is not None and _serving(store, found)[3] is None


def handle(store: Store, method: str, url: str, headers: dict[str, str], content: Any) -> Response:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not headers.get("Authorization", headers.get("authorization", "")).startswith("Bearer "):
        return _outcome(401, "login", "Authentication failed: no bearer token.")
    found = server_for_host(store, host, FHIR_SUFFIX)
    if found is None:
        raise ConnectionError(f"no such host: {host}")
    service_id, compute, ds, down = _serving(store, found)
    if down:
        return _outcome(503, "transient", down)
    assert compute is not None and ds is not None
    # Server-Timing (a standard header) carries the simulated service time: a request whose compute and
    # data are in different regions pays the round trip between them, as the article warns.
    from fhirdr.regions import round_trip_ms

    cross = round_trip_ms(compute, ds.write_region) if compute != ds.write_region else 0
    service_ms = BASE_SERVICE_MS + (cross if cross is not None else 40)
    headers_out = {
        "x-ms-region": compute,
        "x-ms-data-region": ds.write_region,
        "Server-Timing": f"app;dur={service_ms}",
    }
    path = parts.path.rstrip("/")
    if path == "/metadata" and method == "GET":
        return Response(
            200,
            {
                "resourceType": "CapabilityStatement",
                "status": "active",
                "kind": "instance",
                "fhirVersion": "4.0.1",
                "format": ["json"],
                "software": {"name": "Azure API for FHIR (fhirdr simulator)"},
                # The base URL of the server that answered (CapabilityStatement.implementation.url, FHIR R4).
                "implementation": {"description": "fhirdr simulator", "url": f"https://{host}"},
            },
            headers_out,
        )
    match = _PATH.match(path)
    if not match:
        return _outcome(404, "not-found", f"No route for {path}.")
    rtype, rid = match.group("type"), match.group("id")
    upto = lifecycle.applied_seq(store, ds, ds.write_region)
    if method == "GET" and rid:
        current = store.fhir_latest(service_id, rtype, rid, upto)
        if current is None or current["body"] is None:
            return _outcome(404 if current is None else 410, "not-found", f"{rtype}/{rid} not found.")
        return Response(200, current["body"], {**headers_out, "ETag": f'W/"{current["version"]}"'})
    if method == "GET":
        return Response(200, _search(store, service_id, rtype, upto, parse_qs(parts.query)), headers_out)
    if method in ("POST", "PUT"):
        try:
            body = json.loads(content.decode() if isinstance(content, bytes | bytearray) else content or "")
        except ValueError:
            return _outcome(400, "structure", "The body is not JSON.")
        if not isinstance(body, dict) or body.get("resourceType") != rtype:
            return _outcome(400, "structure", f"The body must be a {rtype} resource.")
        rid = rid if method == "PUT" else str(uuid.UUID(store.new_uuid()))
        current = store.fhir_latest(service_id, rtype, rid, upto)
        version = (current["version"] + 1) if current else 1
        body = {
            **body,
            "id": rid,
            "meta": {**(body.get("meta") or {}), "versionId": str(version), "lastUpdated": _iso(store.now())},
        }
        store.fhir_append(service_id, rtype, rid, version, body)
        status = 201 if current is None or current["body"] is None else 200
        return Response(
            status,
            body,
            {**headers_out, "ETag": f'W/"{version}"', "Location": f"https://{host}/{rtype}/{rid}/_history/{version}"},
        )
    if method == "DELETE" and rid:
        current = store.fhir_latest(service_id, rtype, rid, upto)
        if current is not None and current["body"] is not None:
            store.fhir_append(service_id, rtype, rid, current["version"] + 1, None)
        return Response(204, None, headers_out)
    return _outcome(405, "not-supported", f"{method} is not supported here.")


def _search(store: Store, service_id: str, rtype: str, upto: int, query: dict[str, list[str]]) -> dict[str, Any]:
    resources = [r["body"] for r in store.fhir_all_latest(service_id, rtype, upto)]
    for tag in query.get("_tag", []):
        system, _, code = tag.rpartition("|")
        resources = [
            r
            for r in resources
            if any(
                # FHIR token search: `system|` matches any code of that system.
                (t.get("code") == code or (system and not code)) and (not system or t.get("system") == system)
                for t in (r.get("meta") or {}).get("tag", [])
            )
        ]
    total = len(resources)
    if "_summary" in query and query["_summary"][0] == "count":
        return {"resourceType": "Bundle", "type": "searchset", "total": total}
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": total,
        "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources],
    }
