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


def handle(
    store: Store, method: str, url: str, headers: dict[str, str], content: Any, fault: str | None = None
) -> Response:
    """Answer one FHIR request; `fault` (fail-async, stuck-async) is a fault rule for the job it starts."""
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
    from fhirdr.sim.fhir_jobs import complete_due

    complete_due(store, service_id)  # bulk jobs run on the server whether or not anyone polls them
    upto = lifecycle.applied_seq(store, ds, ds.write_region)
    bulk = _bulk(store, service_id, f"https://{host}", method, url, path, headers, content, upto, fault)
    if bulk is not None:
        return Response(bulk.status, bulk.body, {**headers_out, **bulk.headers})
    match = _PATH.match(path)
    if not match:
        return _outcome(404, "not-found", f"No route for {path}.")
    rtype, rid = match.group("type"), match.group("id")
    if method == "GET" and rid:
        current = store.fhir_latest(service_id, rtype, rid, upto)
        if current is None or current["body"] is None:
            return _outcome(404 if current is None else 410, "not-found", f"{rtype}/{rid} not found.")
        return Response(200, current["body"], {**headers_out, "ETag": f'W/"{current["version"]}"'})
    if method == "GET":
        query = parse_qs(parts.query)
        if "_count" in query or "_elements" in query:
            return Response(200, _search_page(store, service_id, f"https://{host}", rtype, upto, query), headers_out)
        return Response(200, _search(store, service_id, rtype, upto, query), headers_out)
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
    if method == "DELETE" and rid and parse_qs(parts.query).get("_hardDelete") == ["true"]:
        # DELETE ?_hardDelete=true removes the resource with its history: nothing is left to export.
        store.fhir_hard_delete(service_id, rtype, rid)
        return Response(204, None, headers_out)
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


_OPERATION = re.compile(r"^/_operations/(?P<kind>export|import|reindex)/(?P<id>[A-Za-z0-9\-]{1,64})$")
_HISTORY = re.compile(r"^(?:/(?P<type>[A-Z][A-Za-z]+)(?:/(?P<id>[A-Za-z0-9\-.]{1,64}))?)?/_history$")
_VREAD = re.compile(r"^/(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})/_history/(?P<vid>[0-9]{1,12})$")
PAGE_LIMIT = 1000  # the largest _count the FHIR service honours in one page


def _bulk(
    store: Store,
    service_id: str,
    base: str,
    method: str,
    url: str,
    path: str,
    headers: dict[str, str],
    content: Any,
    upto: int,
    fault: str | None,
) -> Response | None:
    """$export, $import, $reindex, their status URLs, and _history; None for any other path."""
    from fhirdr.sim import fhir_jobs

    prefer = headers.get("Prefer", headers.get("prefer", ""))
    query = parse_qs(urlsplit(url).query)
    if path == "/$export" and method == "GET":
        return fhir_jobs.start_export(store, service_id, base, url, query, prefer, fault)
    if path in ("/$import", "/$reindex") and method == "POST":
        try:
            body = json.loads(content.decode() if isinstance(content, bytes | bytearray) else content or "null")
        except ValueError:
            return _outcome(400, "structure", "The body is not JSON.")
        if path == "/$reindex":
            return fhir_jobs.start_reindex(store, service_id, base)
        return fhir_jobs.start_import(store, service_id, base, body, prefer, fault)
    operation = _OPERATION.match(path)
    if operation and method in ("GET", "DELETE"):
        return fhir_jobs.job_status(store, service_id, operation["kind"], operation["id"], method)
    vread = _VREAD.match(path)
    if vread and method == "GET":
        return _vread(store, service_id, vread["type"], vread["id"], int(vread["vid"]), upto)
    history = _HISTORY.match(path)
    if history and method == "GET":
        return Response(200, _history(store, service_id, base, history["type"], history["id"], upto, query))
    return None


def _vread(store: Store, service_id: str, rtype: str, rid: str, version: int, upto: int) -> Response:
    """FHIR R4 http.html#vread: `GET [type]/[id]/_history/[vid]` gives that version; 410 for a delete, 404 when
    the service never had it."""
    for _, _, found, body, when in store.fhir_history(service_id, rtype, rid, None, upto):
        if found != version:
            continue
        if body is None:
            return _outcome(410, "deleted", f"{rtype}/{rid} version {version} is a delete.")
        resource = json.loads(body)
        meta = {"versionId": str(version), "lastUpdated": _iso(when), **(resource.get("meta") or {})}
        return Response(200, {**resource, "meta": meta}, {"ETag": f'W/"{version}"'})
    return _outcome(404, "not-found", f"{rtype}/{rid} has no version {version}.")


def _history(
    store: Store, service_id: str, base: str, rtype: str | None, rid: str | None, upto: int, query: dict[str, list[str]]
) -> dict[str, Any]:
    """A history Bundle, newest first, paged by `_count` (a delete is an entry without a resource)."""
    from fhirdr.sim.fhir_jobs import parse_instant

    since = parse_instant(query["_since"][0]) if query.get("_since") else None
    # fhir-server's history takes _since and _before (KnownQueryParameterNames: "_before"), not _till.
    before = parse_instant(query["_before"][0]) if query.get("_before") else None
    count = min(PAGE_LIMIT, int((query.get("_count") or ["100"])[0]))
    offset = int((query.get("ct") or ["0"])[0])
    rows = store.fhir_history(service_id, rtype, rid, since, upto, before)
    entries = []
    for row_type, row_id, version, body, when in rows[offset : offset + count]:
        entry: dict[str, Any] = {"fullUrl": f"{base}/{row_type}/{row_id}"}
        if body is not None:
            entry["resource"] = json.loads(body)
            entry["request"] = {"method": "PUT" if version > 1 else "POST", "url": f"{row_type}/{row_id}"}
        else:
            entry["request"] = {"method": "DELETE", "url": f"{row_type}/{row_id}"}
        entry["response"] = {"status": "200" if body else "204", "etag": f'W/"{version}"', "lastModified": _iso(when)}
        entries.append(entry)
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "history", "entry": entries}
    if offset + count < len(rows):
        path = "/".join(part for part in (rtype, rid) if part)
        params = "&".join(f"{k}={v[0]}" for k, v in query.items() if k != "ct")
        bundle["link"] = [
            {"relation": "next", "url": f"{base}/{path + '/' if path else ''}_history?{params}&ct={offset + count}"}
        ]
    return bundle


def _search_page(
    store: Store, service_id: str, base: str, rtype: str, upto: int, query: dict[str, list[str]]
) -> dict[str, Any]:
    """A search page in id order with a continuation token; `_elements=id` returns only the ids."""
    count = max(1, min(PAGE_LIMIT, int((query.get("_count") or ["10"])[0])))
    after = (query.get("ct") or [""])[0]
    if query.get("_id"):
        wanted = sorted({i for value in query["_id"] for i in value.split(",") if i and i > after})
        ids = [i for i in wanted if (store.fhir_latest(service_id, rtype, i, upto) or {}).get("body") is not None]
        ids = ids[: count + 1]
    else:
        ids = store.fhir_live_ids(service_id, rtype, upto, after, count + 1)
    page, more = ids[:count], len(ids) > count
    only_ids = (query.get("_elements") or [""])[0] == "id"
    entries = []
    for rid in page:
        if only_ids:
            resource: dict[str, Any] = {"resourceType": rtype, "id": rid, "meta": {"tag": [_SUBSETTED]}}
        else:
            resource = (store.fhir_latest(service_id, rtype, rid, upto) or {}).get("body") or {}
        entries.append({"fullUrl": f"{base}/{rtype}/{rid}", "resource": resource, "search": {"mode": "match"}})
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "entry": entries}
    if more:
        params = "&".join(f"{k}={v[0]}" for k, v in query.items() if k != "ct")
        bundle["link"] = [{"relation": "next", "url": f"{base}/{rtype}?{params}&ct={page[-1]}"}]
    return bundle


_SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}
