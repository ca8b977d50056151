"""Blob storage's data plane, https://{account}.blob.core.windows.net, for the azure-storage-blob client.

Containers, block blobs (one Put Blob each), listing with prefix and marker, leases (acquire, renew,
change, release, break; 15-60 s or infinite, timed in simulated time), ETags and conditional writes
(If-Match / If-None-Match). Wire shapes follow the Blob service REST reference (learn.microsoft.com
rest/api/storageservices: Put Blob, Get Blob, Lease Blob, List Blobs, Create Container) as the SDK
parses them: XML listings and errors, `x-ms-error-code`, ranged reads answered 206 with Content-Range.
The FHIR service's $export writes here and its $import reads from here (see sim/fhir_jobs.py).
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

from fhirdr.sim.router import Response
from fhirdr.sim.store import Store

BLOB_SUFFIX = ".blob.core.windows.net"
STORAGE_TYPE = "Microsoft.Storage/storageAccounts"
API_VERSION = "2025-01-05"
_CONTAINER_NAME = re.compile(r"^(\$root|[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9])$")
_RANGE = re.compile(r"bytes=(\d+)-(\d*)")


class BlobError(Exception):
    """A Blob service error: status, the `x-ms-error-code`, and its message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class Blob:
    account: str
    container: str
    name: str
    body: bytes
    etag: str
    modified: float
    content_type: str | None
    metadata: dict[str, str]
    lease_id: str | None
    lease_expires: float | None

    def lease_state(self, now: float) -> str:
        if self.lease_id is None:
            return "available"
        if self.lease_expires is not None and self.lease_expires <= now:
            return "expired"
        return "leased"


def answers(store: Store, host: str) -> bool:
    return host.lower().endswith(BLOB_SUFFIX)


def account_exists(store: Store, account: str) -> bool:
    return any(a.body["name"].lower() == account.lower() for a in store.by_type(STORAGE_TYPE))


def _http_date(seconds: float) -> str:
    return formatdate(seconds, usegmt=True)


def _etag(store: Store) -> str:
    return '"0x' + uuid.UUID(store.new_uuid()).hex[:15].upper() + '"'


# -- the backend: what $export, $import and the handlers below use -------------------------------------------


def ensure_container(store: Store, account: str, container: str) -> bool:
    """Create a container if it is not there; whether it was created."""
    store.ensure_tables()
    if container_exists(store, account, container):
        return False
    store._conn.execute(
        "INSERT INTO blob_containers (account, name, etag, modified) VALUES (?, ?, ?, ?)",
        (account.lower(), container, _etag(store), store.now()),
    )
    return True


def container_exists(store: Store, account: str, container: str) -> bool:
    store.ensure_tables()
    row = store._conn.execute(
        "SELECT 1 FROM blob_containers WHERE account = ? AND name = ?", (account.lower(), container)
    ).fetchone()
    return row is not None


def get_blob(store: Store, account: str, container: str, name: str) -> Blob | None:
    store.ensure_tables()
    row = store._conn.execute(
        "SELECT body, etag, modified, content_type, metadata, lease_id, lease_expires FROM blobs "
        "WHERE account = ? AND container = ? AND name = ?",
        (account.lower(), container, name),
    ).fetchone()
    if row is None:
        return None
    return Blob(
        account.lower(), container, name, bytes(row[0]), row[1], row[2], row[3], json.loads(row[4]), row[5], row[6]
    )


def put_blob(
    store: Store,
    account: str,
    container: str,
    name: str,
    body: bytes,
    content_type: str | None = None,
    metadata: dict[str, str] | None = None,
) -> str:
    """Write a whole block blob (a lease on it is kept); returns the new ETag."""
    store.ensure_tables()
    etag = _etag(store)
    store._conn.execute(
        "INSERT INTO blobs (account, container, name, body, etag, modified, content_type, metadata) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (account, container, name) DO UPDATE SET body = excluded.body, "
        "etag = excluded.etag, modified = excluded.modified, content_type = excluded.content_type, "
        "metadata = excluded.metadata",
        (account.lower(), container, name, body, etag, store.now(), content_type, json.dumps(metadata or {})),
    )
    return etag


def blob_url(account: str, container: str, name: str) -> str:
    return f"https://{account.lower()}{BLOB_SUFFIX}/{container}/{name}"


def parse_blob_url(url: str) -> tuple[str, str, str] | None:
    """(account, container, blob name) of a blob URL on this world's blob endpoint, or None."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not host.endswith(BLOB_SUFFIX):
        return None
    container, _, name = unquote(parts.path.lstrip("/")).partition("/")
    if not container or not name:
        return None
    return host[: -len(BLOB_SUFFIX)], container, name


# -- the wire ------------------------------------------------------------------------------------------------


def handle(store: Store, method: str, url: str, headers: dict[str, str], content: Any) -> Response:
    store.ensure_tables()
    lower = {k.lower(): v for k, v in headers.items()}
    parts = urlsplit(url)
    account = (parts.hostname or "")[: -len(BLOB_SUFFIX)].lower()
    if not account_exists(store, account):
        raise ConnectionError(f"no such host: {parts.hostname}")
    if not lower.get("authorization", "").startswith("Bearer "):
        return _error(BlobError(401, "NoAuthenticationInformation", "Server failed to authenticate the request."))
    query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    container, _, name = unquote(parts.path.lstrip("/")).partition("/")
    body = content if isinstance(content, bytes | bytearray) else (content or "").encode() if content else b""
    try:
        if not container:
            raise BlobError(400, "InvalidUri", "Account-level operations are not simulated.")
        if not name:
            return _container_op(store, method, account, container, query, lower)
        return _blob_op(store, method, account, container, name, query, lower, bytes(body))
    except BlobError as error:
        return _error(error)


def _common(store: Store) -> dict[str, str]:
    return {
        "x-ms-request-id": store.new_uuid(),
        "x-ms-version": API_VERSION,
        "Date": _http_date(store.now()),
    }


def _error(error: BlobError) -> Response:
    xml = (
        '<?xml version="1.0" encoding="utf-8"?><Error>'
        f"<Code>{error.code}</Code><Message>{escape(error.message)}</Message></Error>"
    )
    return Response(
        error.status,
        xml.encode(),
        {"Content-Type": "application/xml", "x-ms-error-code": error.code, "x-ms-version": API_VERSION},
    )


def _container_op(
    store: Store, method: str, account: str, container: str, query: dict[str, str], headers: dict[str, str]
) -> Response:
    if query.get("restype") != "container":
        raise BlobError(400, "InvalidQueryParameterValue", "restype=container is required on a container URL.")
    exists = container_exists(store, account, container)
    comp = query.get("comp")
    if method == "PUT" and comp is None:
        if not _CONTAINER_NAME.match(container):
            raise BlobError(400, "InvalidResourceName", "The specifed resource name contains invalid characters.")
        if exists:
            raise BlobError(409, "ContainerAlreadyExists", "The specified container already exists.")
        ensure_container(store, account, container)
        return Response(201, b"", {**_common(store), **_container_headers(store, account, container)})
    if not exists:
        raise BlobError(404, "ContainerNotFound", "The specified container does not exist.")
    if method in ("GET", "HEAD") and comp is None:
        return Response(200, b"", {**_common(store), **_container_headers(store, account, container)})
    if method == "DELETE" and comp is None:
        store._conn.execute("DELETE FROM blobs WHERE account = ? AND container = ?", (account, container))
        store._conn.execute("DELETE FROM blob_containers WHERE account = ? AND name = ?", (account, container))
        return Response(202, b"", _common(store))
    if method == "GET" and comp == "list":
        return _list(store, account, container, query)
    raise BlobError(400, "UnsupportedHttpVerb", f"{method} comp={comp} on a container is not simulated.")


def _container_headers(store: Store, account: str, container: str) -> dict[str, str]:
    etag, modified = store._conn.execute(
        "SELECT etag, modified FROM blob_containers WHERE account = ? AND name = ?", (account, container)
    ).fetchone()
    return {"ETag": etag, "Last-Modified": _http_date(modified)}


def _list(store: Store, account: str, container: str, query: dict[str, str]) -> Response:
    prefix = query.get("prefix", "")
    marker = query.get("marker", "")
    limit = max(1, min(5000, int(query.get("maxresults") or 5000)))
    rows = store._conn.execute(
        "SELECT name, length(body), etag, modified, content_type, lease_id, lease_expires FROM blobs "
        "WHERE account = ? AND container = ? AND name >= ? AND substr(name, 1, ?) = ? ORDER BY name LIMIT ?",
        (account, container, marker, len(prefix), prefix, limit + 1),
    ).fetchall()
    now = store.now()
    items = []
    for name, size, etag, modified, content_type, lease_id, lease_expires in rows[:limit]:
        leased = lease_id is not None and (lease_expires is None or lease_expires > now)
        items.append(
            f"<Blob><Name>{escape(name)}</Name><Properties>"
            f"<Last-Modified>{_http_date(modified)}</Last-Modified><Etag>{escape(etag)}</Etag>"
            f"<Content-Length>{size}</Content-Length>"
            f"<Content-Type>{escape(content_type or 'application/octet-stream')}</Content-Type>"
            f"<BlobType>BlockBlob</BlobType><LeaseStatus>{'locked' if leased else 'unlocked'}</LeaseStatus>"
            f"<LeaseState>{'leased' if leased else 'available'}</LeaseState></Properties></Blob>"
        )
    next_marker = rows[limit][0] if len(rows) > limit else ""
    xml = (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<EnumerationResults ServiceEndpoint="https://{account}{BLOB_SUFFIX}/" ContainerName="{escape(container)}">'
        f"<Prefix>{escape(prefix)}</Prefix><Marker>{escape(marker)}</Marker><MaxResults>{limit}</MaxResults>"
        f"<Blobs>{''.join(items)}</Blobs><NextMarker>{escape(next_marker)}</NextMarker></EnumerationResults>"
    )
    return Response(200, xml.encode(), {**_common(store), "Content-Type": "application/xml"})


def _check_conditions(blob: Blob | None, headers: dict[str, str], write: bool) -> None:
    if_match = headers.get("if-match")
    if if_match is not None and (blob is None or (if_match != "*" and if_match != blob.etag)):
        if blob is None and not write:
            raise BlobError(404, "BlobNotFound", "The specified blob does not exist.")
        raise BlobError(412, "ConditionNotMet", "The condition specified using HTTP conditional header(s) is not met.")
    if_none = headers.get("if-none-match")
    if if_none is not None and blob is not None and (if_none == "*" or if_none == blob.etag):
        if write:
            code = "BlobAlreadyExists" if if_none == "*" else "ConditionNotMet"
            raise BlobError(409 if if_none == "*" else 412, code, "The specified blob already exists.")
        raise BlobError(304, "ConditionNotMet", "Not modified.")


def _check_lease(store: Store, blob: Blob | None, headers: dict[str, str]) -> None:
    """A write or delete on a leased blob needs its lease id; a lease id on an unleased blob is refused."""
    given = headers.get("x-ms-lease-id")
    state = blob.lease_state(store.now()) if blob else "available"
    if state == "leased":
        if given is None:
            raise BlobError(
                412, "LeaseIdMissing", "There is currently a lease on the blob and no lease ID was specified."
            )
        if blob is not None and given != blob.lease_id:
            raise BlobError(412, "LeaseIdMismatchWithBlobOperation", "The lease ID specified did not match.")
    elif given is not None:
        raise BlobError(412, "LeaseNotPresentWithBlobOperation", "There is currently no lease on the blob.")


def _blob_op(
    store: Store,
    method: str,
    account: str,
    container: str,
    name: str,
    query: dict[str, str],
    headers: dict[str, str],
    body: bytes,
) -> Response:
    if not container_exists(store, account, container):
        raise BlobError(404, "ContainerNotFound", "The specified container does not exist.")
    blob = get_blob(store, account, container, name)
    comp = query.get("comp")
    if comp == "lease" and method == "PUT":
        return _lease(store, blob, headers)
    if method == "PUT" and comp is None:
        if headers.get("x-ms-blob-type", "BlockBlob") != "BlockBlob":
            raise BlobError(400, "InvalidBlobType", "Only block blobs are simulated.")
        _check_conditions(blob, headers, write=True)
        _check_lease(store, blob, headers)
        metadata = {k[len("x-ms-meta-") :]: v for k, v in headers.items() if k.startswith("x-ms-meta-")}
        etag = put_blob(store, account, container, name, body, headers.get("x-ms-blob-content-type") or None, metadata)
        return Response(201, b"", {**_common(store), "ETag": etag, "Last-Modified": _http_date(store.now())})
    if method == "PUT" and comp == "metadata":
        if blob is None:
            raise BlobError(404, "BlobNotFound", "The specified blob does not exist.")
        _check_conditions(blob, headers, write=True)
        _check_lease(store, blob, headers)
        metadata = {k[len("x-ms-meta-") :]: v for k, v in headers.items() if k.startswith("x-ms-meta-")}
        etag = _etag(store)
        store._conn.execute(
            "UPDATE blobs SET metadata = ?, etag = ?, modified = ? WHERE account = ? AND container = ? AND name = ?",
            (json.dumps(metadata), etag, store.now(), account, container, name),
        )
        return Response(200, b"", {**_common(store), "ETag": etag, "Last-Modified": _http_date(store.now())})
    if blob is None:
        raise BlobError(404, "BlobNotFound", "The specified blob does not exist.")
    if method in ("GET", "HEAD") and comp is None:
        _check_conditions(blob, headers, write=False)
        return _read(store, blob, headers, method == "HEAD")
    if method == "DELETE" and comp is None:
        _check_conditions(blob, headers, write=True)
        _check_lease(store, blob, headers)
        store._conn.execute(
            "DELETE FROM blobs WHERE account = ? AND container = ? AND name = ?", (account, container, name)
        )
        return Response(202, b"", {**_common(store), "x-ms-delete-type-permanent": "true"})
    raise BlobError(400, "UnsupportedHttpVerb", f"{method} comp={comp} on a blob is not simulated.")


def _blob_headers(store: Store, blob: Blob) -> dict[str, str]:
    state = blob.lease_state(store.now())
    out = {
        "ETag": blob.etag,
        "Last-Modified": _http_date(blob.modified),
        "x-ms-blob-type": "BlockBlob",
        "x-ms-creation-time": _http_date(blob.modified),
        "x-ms-lease-state": state,
        "x-ms-lease-status": "locked" if state == "leased" else "unlocked",
        "Accept-Ranges": "bytes",
        "Content-Type": blob.content_type or "application/octet-stream",
    }
    if state == "leased":
        out["x-ms-lease-duration"] = "infinite" if blob.lease_expires is None else "fixed"
    out.update({f"x-ms-meta-{k}": v for k, v in blob.metadata.items()})
    return out


def _read(store: Store, blob: Blob, headers: dict[str, str], head: bool) -> Response:
    out = {**_common(store), **_blob_headers(store, blob)}
    size = len(blob.body)
    wanted = headers.get("x-ms-range") or headers.get("range")
    if head or not wanted:
        out["Content-Length"] = str(size)
        return Response(200, b"" if head else blob.body, out)
    match = _RANGE.match(wanted)
    if not match:
        raise BlobError(400, "InvalidRange", f"The range {wanted!r} is not valid.")
    start = int(match.group(1))
    if start >= size:
        raise BlobError(416, "InvalidRange", "The range specified is invalid for the current size of the resource.")
    end = min(size - 1, int(match.group(2)) if match.group(2) else size - 1)
    chunk = blob.body[start : end + 1]
    out.update({"Content-Range": f"bytes {start}-{end}/{size}", "Content-Length": str(len(chunk))})
    return Response(206, chunk, out)


def _lease(store: Store, blob: Blob | None, headers: dict[str, str]) -> Response:
    if blob is None:
        raise BlobError(404, "BlobNotFound", "The specified blob does not exist.")
    action = headers.get("x-ms-lease-action", "")
    now = store.now()
    state = blob.lease_state(now)
    given = headers.get("x-ms-lease-id")
    out = _common(store)

    def save(lease_id: str | None, expires: float | None, duration: float | None = None) -> None:
        store._conn.execute(
            "UPDATE blobs SET lease_id = ?, lease_expires = ?, lease_duration = ? "
            "WHERE account = ? AND container = ? AND name = ?",
            (lease_id, expires, duration, blob.account, blob.container, blob.name),
        )

    def duration() -> float | None:
        seconds = int(headers.get("x-ms-lease-duration", "-1"))
        if seconds != -1 and not 15 <= seconds <= 60:
            raise BlobError(400, "InvalidHeaderValue", "x-ms-lease-duration must be -1 or 15 to 60 seconds.")
        return None if seconds == -1 else float(seconds)

    if action == "acquire":
        proposed = headers.get("x-ms-proposed-lease-id") or str(uuid.UUID(store.new_uuid()))
        if state == "leased" and blob.lease_id != proposed:
            raise BlobError(409, "LeaseAlreadyPresent", "There is already a lease present.")
        seconds = duration()
        save(proposed, None if seconds is None else now + seconds, seconds)
        return Response(201, b"", {**out, "ETag": blob.etag, "x-ms-lease-id": proposed})
    # An expired lease can still be renewed or released with its id, as long as nobody took another.
    if state != "leased" and not (state == "expired" and action in ("renew", "release") and given == blob.lease_id):
        raise BlobError(409, "LeaseNotPresentWithLeaseOperation", "There is currently no lease on the blob.")
    if action == "break":
        period = int(headers.get("x-ms-lease-break-period", "0"))
        save(blob.lease_id, now + period, 0)
        return Response(202, b"", {**out, "ETag": blob.etag, "x-ms-lease-time": str(period)})
    if given != blob.lease_id:
        raise BlobError(409, "LeaseIdMismatchWithLeaseOperation", "The lease ID specified did not match.")
    if action == "renew":
        seconds = _lease_duration(store, blob)
        save(blob.lease_id, None if seconds is None else now + seconds, seconds)
        return Response(200, b"", {**out, "ETag": blob.etag, "x-ms-lease-id": blob.lease_id or ""})
    if action == "release":
        save(None, None)
        return Response(200, b"", {**out, "ETag": blob.etag})
    if action == "change":
        proposed = headers.get("x-ms-proposed-lease-id") or ""
        save(proposed, blob.lease_expires, _lease_duration(store, blob))
        return Response(200, b"", {**out, "ETag": blob.etag, "x-ms-lease-id": proposed})
    raise BlobError(400, "InvalidHeaderValue", f"x-ms-lease-action {action!r} is not valid.")


def _lease_duration(store: Store, blob: Blob) -> float | None:
    row = store._conn.execute(
        "SELECT lease_duration FROM blobs WHERE account = ? AND container = ? AND name = ?",
        (blob.account, blob.container, blob.name),
    ).fetchone()
    return row[0] if row else None
