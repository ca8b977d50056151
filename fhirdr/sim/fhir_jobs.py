"""The FHIR service's bulk operations: $export, $import and $reindex jobs, and their status URLs.

Shapes from azure-docs articles/healthcare-apis/fhir/export-data.md, import-data.md and
configure-import-data.md, and microsoft/fhir-server docs/BulkExport.md and docs/BulkImport.md:

- `GET {base}/$export` (system level) with `Prefer: respond-async` answers 202 + Content-Location
  `{base}/_operations/export/{id}`; polling answers 202 while the job runs, then 200 with the manifest
  (`transactionTime`, `request`, `output[{type, url, count}]`, `error[]`). `_since` and `_till` are
  inclusive on `_lastUpdated`; `_till` defaults to the time the job was queued. With
  `includeAssociatedData=_history,_deleted` every version in the window is exported, and a soft-deleted
  version carries the extension `http://azurehealthcareapis.com/data-extensions/deleted-state` =
  `soft-deleted`. Output goes to `{container}/{yyyyMMddTHHmmss}-{id}/{Type}-{n}.ndjson`, a new file every
  64 MB; `_container` must exist already, without it a new container is made.
- `POST {base}/$import` with a `Parameters` body (`inputFormat`, `mode`, `input` parts with `type`, `url`,
  optional `etag`) answers 202 + Content-Location `{base}/_operations/import/{id}`; the same payload is
  the same job. In incremental mode a version keeps its `versionId` and `lastUpdated`, versions may come
  in any order, a soft-deleted version is stored as a delete, and a version the service already has is
  not applied but reported in the input's error file. Status: 202 while running, 200 with
  `output[{type, count, inputUrl}]` and `error[{type, count, inputUrl, url}]`, or a fatal error (403 when
  the service's identity cannot read the storage account, 400 for a missing file or changed etag).

Throughput is modelled in simulated time: a job takes `start` seconds to be picked up and then handles
`rate` resources per second. Microsoft publishes no throughput figure for either operation; the defaults
below are fhirdr's assumptions, kept low rather than flattering, and any world can change them
(`set_throughput`). Jobs finish at the first status poll at or after their due time.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from typing import Any

from fhirdr.sim import blob
from fhirdr.sim.router import Response
from fhirdr.sim.store import Store

DELETED_STATE = "http://azurehealthcareapis.com/data-extensions/deleted-state"
STORAGE_BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
FILE_LIMIT_BYTES = (
    64 * 1024 * 1024
)  # export-data.md: "a new file when the size of a single exported file exceeds 64 MB"
ERROR_CONTAINER = "fhirlogs"  # import-data.md's example error.url

# Assumptions (no published figure): a job waits for a worker about 15 s (the job queue is polled), an
# export reads about 2,000 resources/s, an incremental import writes about 1,000 resources/s.
DEFAULT_EXPORT_RATE = 2000.0
DEFAULT_IMPORT_RATE = 1000.0
DEFAULT_START_SECONDS = 15.0


def throughput(store: Store) -> dict[str, float]:
    return {
        "export_rate": float(store.get_meta("fhir_export_rate", str(DEFAULT_EXPORT_RATE)) or DEFAULT_EXPORT_RATE),
        "import_rate": float(store.get_meta("fhir_import_rate", str(DEFAULT_IMPORT_RATE)) or DEFAULT_IMPORT_RATE),
        "start_seconds": float(store.get_meta("fhir_job_start", str(DEFAULT_START_SECONDS)) or DEFAULT_START_SECONDS),
    }


def set_throughput(
    store: Store, export_rate: float | None = None, import_rate: float | None = None, start_seconds: float | None = None
) -> None:
    with store.transaction():
        for key, value in (
            ("fhir_export_rate", export_rate),
            ("fhir_import_rate", import_rate),
            ("fhir_job_start", start_seconds),
        ):
            if value is not None:
                store.set_meta(key, repr(float(value)))


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_instant(text: str) -> float:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.timestamp()


def outcome(status: int, code: str, text: str) -> Response:
    return Response(
        status,
        {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": code, "diagnostics": text}]},
        {"Content-Type": "application/fhir+json; charset=utf-8"},
    )


def _service_props(store: Store, service_id: str) -> dict[str, Any]:
    service = store.get(service_id)
    return (service.body.get("properties") or {}) if service else {}


def _principal(store: Store, service_id: str) -> str | None:
    service = store.get(service_id)
    return ((service.body.get("identity") or {}).get("principalId")) if service else None


def _account_id(store: Store, name: str) -> str | None:
    for account in store.by_type(blob.STORAGE_TYPE):
        if account.body["name"].lower() == name.lower():
            return account.id
    return None


def can_use_storage(store: Store, service_id: str, account: str) -> bool:
    """Whether the service's managed identity holds Storage Blob Data Contributor on the account."""
    principal = _principal(store, service_id)
    account_id = _account_id(store, account)
    if not principal or not account_id:
        return False
    for assignment in store.by_type("Microsoft.Authorization/roleAssignments"):
        props = assignment.body["properties"]
        if (
            props["scope"].lower() == account_id.lower()
            and props["principalId"] == principal
            and props["roleDefinitionId"].rstrip("/").rsplit("/", 1)[-1].lower() == STORAGE_BLOB_DATA_CONTRIBUTOR
        ):
            return True
    return False


def _add_job(store: Store, job_id: str, service_id: str, kind: str, due: float, request: dict[str, Any]) -> None:
    store.ensure_tables()
    store._conn.execute(
        "INSERT INTO fhir_jobs (id, service, kind, state, queued, due, request) VALUES (?, ?, ?, 'running', ?, ?, ?)",
        (job_id, service_id.lower(), kind, store.now(), due, json.dumps(request)),
    )


def _job(store: Store, service_id: str, kind: str, job_id: str) -> dict[str, Any] | None:
    store.ensure_tables()
    row = store._conn.execute(
        "SELECT id, state, queued, due, request, result FROM fhir_jobs WHERE id = ? AND service = ? AND kind = ?",
        (job_id, service_id.lower(), kind),
    ).fetchone()
    if row is None:
        return None
    return {
        "id": row[0],
        "state": row[1],
        "queued": row[2],
        "due": row[3],
        "request": json.loads(row[4]),
        "result": json.loads(row[5]) if row[5] else None,
    }


def _finish(store: Store, job_id: str, state: str, result: dict[str, Any]) -> None:
    store._conn.execute("UPDATE fhir_jobs SET state = ?, result = ? WHERE id = ?", (state, json.dumps(result), job_id))


def _accepted(base: str, kind: str, job_id: str) -> Response:
    return Response(202, None, {"Content-Location": f"{base}/_operations/{kind}/{job_id}"})


# -- $export ---------------------------------------------------------------------------------------------------


def start_export(
    store: Store,
    service_id: str,
    base: str,
    url: str,
    query: dict[str, list[str]],
    prefer: str,
    fault: str | None = None,
) -> Response:
    if "respond-async" not in prefer:
        return outcome(400, "invalid", "$export needs the header Prefer: respond-async.")
    account = (_service_props(store, service_id).get("exportConfiguration") or {}).get("storageAccountName")
    if not account:
        return outcome(400, "processing", "$export is not configured: exportConfiguration.storageAccountName is empty.")
    first = {key: values[0] for key, values in query.items()}
    associated = [v for v in first.get("includeAssociatedData", "").split(",") if v]
    if any(v not in ("_history", "_deleted") for v in associated):
        return outcome(400, "invalid", "includeAssociatedData takes _history and _deleted.")
    if associated and "_typeFilter" in first:
        return outcome(400, "invalid", "includeAssociatedData cannot be used with _typeFilter.")
    try:
        since = parse_instant(first["_since"]) if first.get("_since") else None
        till = parse_instant(first["_till"]) if first.get("_till") else store.now()
    except ValueError:
        return outcome(400, "invalid", "_since and _till must be FHIR instants (2026-01-01T00:00:00Z).")
    types = [t for t in first.get("_type", "").split(",") if t]
    job_id = store.new_uuid().replace("-", "")
    rates = throughput(store)
    count = store.fhir_count_between(service_id, since, till)
    due = store.now() + rates["start_seconds"] + count / rates["export_rate"]
    request = {
        "url": url,
        "account": account,
        "container": first.get("_container"),
        "since": since,
        "till": till,
        "types": types,
        "history": "_history" in associated,
        "deleted": "_deleted" in associated,
        "fault": fault,
    }
    _add_job(store, job_id, service_id, "export", due, request)
    return _accepted(base, "export", job_id)


def _run_export(store: Store, service_id: str, job: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = job["request"]
    account = request["account"]
    if not can_use_storage(store, service_id, account):
        return 403, _failure(f"the service's identity has no Storage Blob Data Contributor role on {account}")
    container = request["container"] or f"fhirexport-{job['id'][:12]}"
    if request["container"] and not blob.container_exists(store, account, container):
        return 400, _failure(f"the container {container!r} does not exist in {account}")
    blob.ensure_container(store, account, container)
    folder = datetime.fromtimestamp(job["queued"], timezone.utc).strftime("%Y%m%dT%H%M%S") + f"-{job['id']}"
    rows = store.fhir_versions_between(service_id, request["since"], request["till"], request["types"] or None)
    lines = _export_lines(store, service_id, rows, request["history"], request["deleted"])
    output: list[dict[str, Any]] = []
    files: dict[str, int] = {}
    buffer: list[bytes] = []
    size = 0
    current: str | None = None

    def flush() -> None:
        nonlocal buffer, size
        if current is None or not buffer:
            return
        files[current] = files.get(current, 0) + 1
        name = f"{folder}/{current}-{files[current]}.ndjson"
        blob.put_blob(store, account, container, name, b"".join(buffer), "application/fhir+ndjson")
        output.append({"type": current, "url": blob.blob_url(account, container, name), "count": len(buffer)})
        buffer, size = [], 0

    for rtype, line in lines:
        if rtype != current or size + len(line) > FILE_LIMIT_BYTES:
            flush()
            current = rtype
        buffer.append(line)
        size += len(line)
    flush()
    manifest = {
        "transactionTime": iso(job["queued"]),
        "request": request["url"],
        "requiresAccessToken": False,
        "output": output,
        "error": [],
    }
    return 200, manifest


def _export_lines(store: Store, service_id: str, rows: Any, history: bool, deleted: bool) -> Any:
    """(type, NDJSON line) of what the export writes, grouped by type."""
    latest_only: dict[tuple[str, str], tuple[int, str | None, float]] = {}
    for rtype, rid, version, body, when in rows:
        if not history:
            key = (rtype, rid)
            if key not in latest_only or version > latest_only[key][0]:
                latest_only[key] = (version, body, when)
            continue
        line = _line(store, service_id, rtype, rid, version, body, when, deleted)
        if line is not None:
            yield rtype, line
    for (rtype, rid), (version, body, when) in sorted(latest_only.items()):
        line = _line(store, service_id, rtype, rid, version, body, when, deleted)
        if line is not None:
            yield rtype, line


def _line(
    store: Store, service_id: str, rtype: str, rid: str, version: int, body: str | None, when: float, deleted: bool
) -> bytes | None:
    if body is not None:
        return body.encode() + b"\n"
    if not deleted:
        return None
    # A soft delete is exported as the resource it was, at the delete's version and time, marked deleted.
    last = store.fhir_body_before(service_id, rtype, rid, version) or {"resourceType": rtype, "id": rid}
    meta = {
        **(last.get("meta") or {}),
        "versionId": str(version),
        "lastUpdated": iso(when),
        "extension": [{"url": DELETED_STATE, "valueString": "soft-deleted"}],
    }
    return json.dumps({**last, "meta": meta}).encode() + b"\n"


def _failure(text: str) -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "processing", "diagnostics": text}],
    }


# -- $import ---------------------------------------------------------------------------------------------------


def _parameters(body: Any) -> tuple[dict[str, str], list[dict[str, str]]] | None:
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        return None
    values: dict[str, str] = {}
    inputs: list[dict[str, str]] = []
    for parameter in body.get("parameter") or []:
        if parameter.get("name") == "input":
            part = {
                p.get("name", ""): str(p.get("valueString") or p.get("valueUri") or "")
                for p in parameter.get("part") or []
            }
            inputs.append(part)
        else:
            values[parameter.get("name", "")] = str(
                next((v for k, v in parameter.items() if k.startswith("value")), "")
            )
    return values, inputs


def start_import(
    store: Store, service_id: str, base: str, body: Any, prefer: str, fault: str | None = None
) -> Response:
    if "respond-async" not in prefer:
        return outcome(400, "invalid", "$import needs the header Prefer: respond-async.")
    config = _service_props(store, service_id).get("importConfiguration") or {}
    if not config.get("enabled"):
        return outcome(400, "processing", "$import is not enabled on this FHIR service (importConfiguration.enabled).")
    parsed = _parameters(body)
    if parsed is None:
        return outcome(400, "invalid", "The body of $import must be a Parameters resource.")
    values, inputs = parsed
    if values.get("inputFormat") != "application/fhir+ndjson":
        return outcome(400, "invalid", "inputFormat must be application/fhir+ndjson.")
    mode = values.get("mode") or "IncrementalLoad"
    initial = bool(config.get("initialImportMode"))
    if mode not in ("IncrementalLoad", "InitialLoad") or (mode == "InitialLoad") != initial:
        return outcome(
            400,
            "invalid",
            f"mode {mode} does not match the service's importConfiguration.initialImportMode ({str(initial).lower()}).",
        )
    if not inputs or len(inputs) > 10_000:
        return outcome(400, "invalid", "$import takes 1 to 10,000 input files.")
    store_account = (config.get("integrationDataStore") or "").lower()
    for part in inputs:
        where = blob.parse_blob_url(part.get("url", ""))
        if not part.get("type") or where is None:
            return outcome(400, "invalid", f"input {part.get('url')!r} needs a type and a blob URL.")
        if where[0] != store_account:
            return outcome(400, "invalid", f"input {part['url']} is not in the integration data store {store_account}.")
    # import-data.md: "The same registration payload yields the same registration."
    job_id = hashlib.sha256((service_id.lower() + json.dumps(body, sort_keys=True)).encode()).hexdigest()[:32]
    if _job(store, service_id, "import", job_id) is not None:
        return _accepted(base, "import", job_id)
    lines = 0
    for part in inputs:
        where = blob.parse_blob_url(part["url"])
        found = blob.get_blob(store, *where) if where else None
        lines += found.body.count(b"\n") if found else 0
    rates = throughput(store)
    due = store.now() + rates["start_seconds"] + lines / rates["import_rate"]
    _add_job(
        store,
        job_id,
        service_id,
        "import",
        due,
        {"url": f"{base}/$import", "mode": mode, "input": inputs, "fault": fault},
    )
    return _accepted(base, "import", job_id)


def _run_import(store: Store, service_id: str, job: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    config = _service_props(store, service_id).get("importConfiguration") or {}
    account = config.get("integrationDataStore") or ""
    if not can_use_storage(store, service_id, account):
        return 403, _failure(
            "import operation failed for reason: Server failed to authenticate the request (the service's identity "
            f"has no Storage Blob Data Contributor role on {account})"
        )
    sources = []
    for part in job["request"]["input"]:
        where = blob.parse_blob_url(part["url"])
        found = blob.get_blob(store, *where) if where else None
        if found is None:
            return 400, _failure(f"import operation failed for reason: the blob {part['url']} was not found")
        if part.get("etag") and part["etag"].strip('"') != found.etag.strip('"'):
            return 400, _failure(f"import operation failed for reason: the etag of {part['url']} changed")
        sources.append((part, found))
    blob.ensure_container(store, account, ERROR_CONTAINER)
    output, errors = [], []
    for part, found in sources:
        imported, problems = _import_file(store, service_id, part["type"], found.body)
        output.append({"type": part["type"], "count": imported, "inputUrl": part["url"]})
        if problems:
            name = f"{part['type']}{job['id'][:16]}{len(errors)}.ndjson"
            blob.put_blob(
                store, account, ERROR_CONTAINER, name, b"".join(json.dumps(p).encode() + b"\n" for p in problems)
            )
            errors.append(
                {
                    "type": "OperationOutcome",
                    "count": len(problems),
                    "inputUrl": part["url"],
                    "url": blob.blob_url(account, ERROR_CONTAINER, name),
                }
            )
    return 200, {
        "transactionTime": iso(job["queued"]),
        "request": job["request"]["url"],
        "output": output,
        "error": errors,
    }


def _import_file(store: Store, service_id: str, rtype: str, content: bytes) -> tuple[int, list[dict[str, Any]]]:
    """Apply one NDJSON file incrementally: versions kept, existing versions reported as duplicates."""
    problems: list[dict[str, Any]] = []
    versions: list[tuple[str, int, float, dict[str, Any] | None, int]] = []
    for number, raw in enumerate(content.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            resource = json.loads(raw)
            if resource.get("resourceType") != rtype:
                raise ValueError(f"the resource is a {resource.get('resourceType')}, the file is for {rtype}")
            meta = resource.get("meta") or {}
            version = int(meta["versionId"])
            when = parse_instant(meta["lastUpdated"])
            rid = str(resource["id"])
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            problems.append(_issue("invalid", f"Failed to process resource at line: {number}: {exc}"))
            continue
        deleted = any(e.get("url") == DELETED_STATE for e in meta.get("extension") or [])
        versions.append((rid, version, when, None if deleted else resource, number))
    imported = 0
    seen: set[tuple[str, int]] = set()
    for rid, version, when, resource, number in sorted(versions, key=lambda v: (v[0], v[1])):
        if (rid, version) in seen or store.fhir_has_version(service_id, rtype, rid, version):
            problems.append(
                _issue(
                    "duplicate",
                    f"Failed to process resource at line: {number}: {rtype}/{rid} version {version} already exists",
                )
            )
            continue
        seen.add((rid, version))
        store.fhir_append_at(service_id, rtype, rid, version, resource, when)
        imported += 1
    return imported, problems


def _issue(code: str, text: str) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": code, "diagnostics": text}]}


# -- $reindex --------------------------------------------------------------------------------------------------


def start_reindex(store: Store, service_id: str, base: str) -> Response:
    """how-to-run-a-reindex.md: POST {base}/$reindex answers 201 with a Parameters resource and Content-Location."""
    job_id = store.new_uuid().replace("-", "")
    rates = throughput(store)
    count = store.fhir_count_between(service_id, None, store.now())
    _add_job(
        store, job_id, service_id, "reindex", store.now() + rates["start_seconds"] + count / rates["import_rate"], {}
    )
    body = {"resourceType": "Parameters", "id": job_id, "parameter": [{"name": "status", "valueString": "Queued"}]}
    return Response(201, body, {"Content-Location": f"{base}/_operations/reindex/{job_id}"})


# -- status ----------------------------------------------------------------------------------------------------


def complete_due(store: Store, service_id: str) -> None:
    """Finish every job of the service whose time has come: jobs run on the server whether or not anyone polls."""
    store.ensure_tables()
    rows = store._conn.execute(
        "SELECT id, kind FROM fhir_jobs WHERE service = ? AND state = 'running' AND due <= ? ORDER BY due",
        (service_id.lower(), store.now()),
    ).fetchall()
    for job_id, kind in rows:
        job = _job(store, service_id, kind, job_id)
        if job is not None:
            _complete(store, service_id, kind, job)


def _complete(store: Store, service_id: str, kind: str, job: dict[str, Any]) -> None:
    fault = job["request"].get("fault")
    if fault == "stuck-async":
        return
    if fault == "fail-async":
        status, result = 500, _failure(f"the {kind} job failed (a fhirdr sim fault rule)")
    elif kind == "export":
        status, result = _run_export(store, service_id, job)
    elif kind == "import":
        status, result = _run_import(store, service_id, job)
    else:
        status, result = 200, {}
    _finish(store, job["id"], "completed" if status == 200 else f"failed:{status}", result)


def job_status(store: Store, service_id: str, kind: str, job_id: str, method: str) -> Response:
    job = _job(store, service_id, kind, job_id)
    if job is None:
        return outcome(404, "not-found", f"No {kind} job {job_id}.")
    if method == "DELETE":
        if job["state"] == "running":
            _finish(store, job_id, "cancelled", _failure("the job was cancelled"))
        return Response(202, None)
    if job["state"] == "running" and store.now() >= job["due"]:
        _complete(store, service_id, kind, job)
        job = _job(store, service_id, kind, job_id)
        assert job is not None
    state = job["state"]
    if state == "running":
        return Response(202, None, {"x-progress": "running", "Retry-After": "5"})
    if kind == "reindex":
        return Response(
            200,
            {"resourceType": "Parameters", "id": job_id, "parameter": [{"name": "status", "valueString": "Completed"}]},
        )
    if state == "cancelled":
        return Response(404, job["result"])
    if state.startswith("failed:"):
        return Response(int(state.split(":", 1)[1]), job["result"])
    return Response(200, job["result"])
