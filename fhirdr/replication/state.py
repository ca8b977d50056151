"""The replicator's state, kept as small blobs next to the exported data so no runner keeps any of its own.

Under `{container}/fhirdr-state/{workspace}-{service}/`:

- `watermark.json`: the `_till` of the last cycle whose import was verified; written with If-Match on the
  ETag read at the cycle's start, so a runner that lost its lease cannot move it back.
- `lease-queue.json`: a switch waiting for the lease; runners take none while it is there and live.
- `lease.json`: who runs cycles now and until when (holder, expiry). Taken with If-None-Match: * (no lease
  yet) or If-Match on the ETag of an expired one; renewed the same way. An etag-conditional blob rather
  than a Blob lease: a Blob lease lasts at most 60 s and does not name its holder, and the second runner
  has to say who holds it.
- `last.json` and `history/{inverted time}-{cycle}.json`: every cycle's summary; the inverted time makes
  a listing start with the newest, so `status` reads one page whatever the history's length.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fhirdr.errors import AzureError, BadInputError, SafetyGateError

log = logging.getLogger(__name__)

STATE_PREFIX = "fhirdr-state"
# Written by a switch that waits for the lease (holder, expires): runners stand aside until it has taken it.
QUEUE_BLOB = "lease-queue.json"
_INVERT = 10**11  # seconds: an inverted timestamp sorts newest first until the year 5138
STORAGE_SUFFIXES = {
    "AzureCloud": "core.windows.net",
    "AzureUSGovernment": "core.usgovcloudapi.net",
    "AzureChinaCloud": "core.chinacloudapi.cn",
}


class LeaseHeld(SafetyGateError):
    """Another runner holds the lease (exit 4)."""

    def __init__(self, holder: str, expires: float, blob: str) -> None:
        from fhirdr.replication.times import iso

        super().__init__(
            f"another runner is replicating: {holder} holds the lease until {iso(expires)} ({blob})",
            hint="wait for it (`fhirdr replicate --wait`), or let its lease expire if that runner died",
        )
        self.holder = holder
        self.expires = expires


class LeaseLost(AzureError):
    """The lease was taken by someone else while this runner worked (its cycle is abandoned)."""


@dataclass
class Lease:
    holder: str
    expires: float
    etag: str


def blob_service(session: Any, account: str) -> Any:
    """A BlobServiceClient for the account, on the session's credential and transport (the sim's, with --sim)."""
    from azure.storage.blob import BlobServiceClient

    suffix = STORAGE_SUFFIXES.get(session.cloud.name, "core.windows.net")
    return BlobServiceClient(
        f"https://{account}.blob.{suffix}", credential=session.credential, transport=session.transport
    )


class ReplicationState:
    """Reads and writes the state blobs of one target's replication."""

    def __init__(self, session: Any, account: str, container: str, name: str) -> None:
        self.session = session
        self.account = account
        self.container_name = container
        self.prefix = f"{STATE_PREFIX}/{name}"
        self.container = blob_service(session, account).get_container_client(container)

    def _blob(self, name: str) -> Any:
        return self.container.get_blob_client(f"{self.prefix}/{name}")

    def _read(self, name: str) -> tuple[dict[str, Any] | None, str | None]:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            downloaded = self._blob(name).download_blob()
        except ResourceNotFoundError:
            return None, None
        try:
            return json.loads(downloaded.readall() or b"null"), downloaded.properties.etag
        except ValueError:
            raise BadInputError(
                f"the replication state blob {self.prefix}/{name} in {self.account}/{self.container_name} is not JSON",
                hint="delete it (the next cycle rewrites it; a missing watermark means a full export)",
            ) from None

    def _write(self, name: str, document: dict[str, Any], etag: str | None, create: bool = False) -> str:
        from azure.core import MatchConditions

        data = json.dumps(document, indent=1).encode()
        client = self._blob(name)
        if create:
            result = client.upload_blob(data, overwrite=False)
        elif etag:
            result = client.upload_blob(data, overwrite=True, etag=etag, match_condition=MatchConditions.IfNotModified)
        else:
            result = client.upload_blob(data, overwrite=True)
        return str(result["etag"])

    def read_document(self, name: str) -> tuple[dict[str, Any] | None, str | None]:
        """A small JSON document of this direction's state (None when absent), with its ETag."""
        return self._read(name)

    def write_document(self, name: str, document: dict[str, Any], etag: str | None = None) -> str:
        return self._write(name, document, etag)

    # -- container ----------------------------------------------------------------------------------------

    def container_exists(self) -> bool:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            self.container.get_container_properties()
        except ResourceNotFoundError:
            return False
        return True

    # -- the lease ----------------------------------------------------------------------------------------

    def acquire(self, holder: str, seconds: float, cycle: str) -> Lease:
        """Take the lease, or raise LeaseHeld naming who has it."""
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError

        now = self.session.now()
        # A switch (failover, failback) waiting for this lease goes first: no runner starts a cycle meanwhile.
        queued, _ = self._read(QUEUE_BLOB)
        if queued and queued.get("holder") != holder and float(queued.get("expires", 0)) > now:
            raise LeaseHeld(queued["holder"], float(queued["expires"]), f"{self.prefix}/{QUEUE_BLOB}")
        current, etag = self._read("lease.json")
        if current and current.get("holder") != holder and float(current.get("expires", 0)) > now:
            raise LeaseHeld(current["holder"], float(current["expires"]), f"{self.prefix}/lease.json")
        document = {"holder": holder, "acquired": now, "expires": now + seconds, "cycle": cycle}
        try:
            new_etag = self._write("lease.json", document, etag, create=current is None)
        except (ResourceExistsError, ResourceModifiedError):
            # Another runner wrote the lease between our read and our write: it won.
            latest, _ = self._read("lease.json")
            latest = latest or {"holder": "another runner", "expires": now + seconds}
            raise LeaseHeld(latest["holder"], float(latest["expires"]), f"{self.prefix}/lease.json") from None
        return Lease(holder, document["expires"], new_etag)

    def renew(self, lease: Lease, seconds: float, cycle: str) -> Lease:
        from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError

        now = self.session.now()
        document = {"holder": lease.holder, "acquired": now, "expires": now + seconds, "cycle": cycle}
        try:
            etag = self._write("lease.json", document, lease.etag)
        except (ResourceModifiedError, ResourceNotFoundError):
            latest, _ = self._read("lease.json")
            raise LeaseLost(
                f"the replication lease was taken by {(latest or {}).get('holder', 'someone else')} while this cycle "
                "ran (it outlived its lease); the cycle is abandoned and the watermark left where it was",
                hint="a longer [replication] lease, or fewer runners",
            ) from None
        return Lease(lease.holder, document["expires"], etag)

    def queue(self, holder: str, seconds: float) -> None:
        """Ask for the lease next: runners do not start cycles until `holder` has taken and released it."""
        self._write(QUEUE_BLOB, {"holder": holder, "expires": self.session.now() + seconds}, None)

    def dequeue(self, holder: str) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        queued, _ = self._read(QUEUE_BLOB)
        if queued and queued.get("holder") == holder:
            try:
                self._blob(QUEUE_BLOB).delete_blob()
            except ResourceNotFoundError:
                return

    def release(self, lease: Lease) -> None:
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError

        try:
            self._blob("lease.json").delete_blob(etag=lease.etag, match_condition=MatchConditions.IfNotModified)
        except (ResourceModifiedError, ResourceNotFoundError):
            log.info("the lease was no longer ours to release")

    def holder(self) -> dict[str, Any] | None:
        """The lease as written, with whether it is still live."""
        current, _ = self._read("lease.json")
        if not current:
            return None
        return {**current, "live": float(current.get("expires", 0)) > self.session.now()}

    # -- watermark and history -------------------------------------------------------------------------

    def watermark(self) -> tuple[dict[str, Any] | None, str | None]:
        return self._read("watermark.json")

    def set_watermark(self, document: dict[str, Any], etag: str | None) -> str:
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError

        try:
            return self._write("watermark.json", document, etag, create=etag is None)
        except (ResourceExistsError, ResourceModifiedError):
            raise LeaseLost(
                "another runner moved the watermark while this cycle ran; this cycle's result is dropped (its window "
                "is covered again by the next cycle)"
            ) from None

    def record(self, summary: dict[str, Any]) -> None:
        started = int(summary["started_epoch"])
        self._write(f"history/{_INVERT - started:011d}-{summary['cycle']}.json", summary, None)
        self._write("last.json", summary, None)

    def last(self) -> dict[str, Any] | None:
        return self._read("last.json")[0]

    def history(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest `limit` cycle summaries, newest first (one listing page, then one read each)."""
        names = []
        for item in self.container.list_blobs(name_starts_with=f"{self.prefix}/history/", results_per_page=limit):
            names.append(item.name)
            if len(names) >= limit:
                break
        out = []
        for name in names:
            document, _ = self._read(name[len(self.prefix) + 1 :])
            if document:
                out.append(document)
        return out

    # -- exported files ------------------------------------------------------------------------------

    def lines(self, url: str) -> Iterator[bytes]:
        """The lines of an NDJSON blob, streamed in chunks (an error file can be large)."""
        from fhirdr.replication.urls import blob_path

        account, container, name = blob_path(url)
        client = blob_service(self.session, account).get_blob_client(container, name)
        rest = b""
        for chunk in client.download_blob().chunks():
            rest += chunk
            *whole, rest = rest.split(b"\n")
            yield from (line for line in whole if line.strip())
        if rest.strip():
            yield rest

    def delete_url(self, url: str) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        from fhirdr.replication.urls import blob_path

        account, container, name = blob_path(url)
        try:
            blob_service(self.session, account).get_blob_client(container, name).delete_blob()
        except ResourceNotFoundError:
            return
