"""Blob storage's data plane through the real azure-storage-blob client: containers, blobs, leases, etags."""

from __future__ import annotations

import pytest
from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.storage.blob import BlobServiceClient

from fhirdr.sim.timeline import advance
from tests.conftest import make_world

ACCOUNT = "https://fhirdemoexports.blob.core.windows.net"


@pytest.fixture
def blobs(isolated):
    world = make_world(isolated, kind="ahds")
    session = world.session()
    return world, BlobServiceClient(ACCOUNT, credential=session.credential, transport=session.transport)


def test_container_blob_round_trip_with_ranges_and_listing(blobs):
    """Create Container (201, then 409 ContainerAlreadyExists), Put Blob, Get Blob with x-ms-range (206 with
    Content-Range: the SDK requires it), List Blobs with prefix and marker (learn.microsoft.com rest/api/
    storageservices/list-blobs)."""
    _, service = blobs
    container = service.create_container("fhirdr")
    with pytest.raises(ResourceExistsError):
        service.create_container("fhirdr")
    payload = b"x" * 70_000
    container.upload_blob("data/big.ndjson", payload)
    for n in range(7):
        container.upload_blob(f"data/part-{n}.ndjson", f"{n}\n".encode())
    container.upload_blob("other/x", b"")
    assert container.download_blob("data/big.ndjson").readall() == payload
    assert container.download_blob("other/x").readall() == b""  # an empty blob: 416 on a range, then a plain get
    names = [b.name for b in container.list_blobs(name_starts_with="data/", results_per_page=3)]
    assert names == ["data/big.ndjson"] + [f"data/part-{n}.ndjson" for n in range(7)]
    with pytest.raises(ResourceNotFoundError):
        container.download_blob("missing").readall()
    with pytest.raises(ResourceNotFoundError):
        service.get_container_client("nope").get_container_properties()


def test_conditional_writes_refuse_a_stale_etag_and_an_existing_blob(blobs):
    """If-Match with an old ETag answers 412 ConditionNotMet; If-None-Match: * on an existing blob 409
    BlobAlreadyExists (rest/api/storageservices/specifying-conditional-headers-for-blob-service-operations)."""
    _, service = blobs
    container = service.create_container("state")
    first = container.get_blob_client("watermark.json").upload_blob(b"1")
    second = container.get_blob_client("watermark.json").upload_blob(
        b"2", overwrite=True, etag=first["etag"], match_condition=MatchConditions.IfNotModified
    )
    assert second["etag"] != first["etag"]
    with pytest.raises(ResourceModifiedError):
        container.get_blob_client("watermark.json").upload_blob(
            b"3", overwrite=True, etag=first["etag"], match_condition=MatchConditions.IfNotModified
        )
    with pytest.raises(ResourceExistsError):
        container.upload_blob("watermark.json", b"4")  # overwrite=False sends If-None-Match: *
    assert container.download_blob("watermark.json").readall() == b"2"


def test_a_lease_blocks_other_writers_and_expires_in_simulated_time(blobs):
    """Lease Blob: acquire (15-60 s), a second acquire 409 LeaseAlreadyPresent, a write without the lease id 412
    LeaseIdMissing, renew, release; an expired lease can be taken by another (rest/api/storageservices/lease-blob)."""
    world, service = blobs
    container = service.create_container("state")
    blob = container.upload_blob("lease", b"")
    lease = blob.acquire_lease(lease_duration=15)
    with pytest.raises(HttpResponseError) as taken:
        blob.acquire_lease(lease_duration=15)
    assert taken.value.error_code == "LeaseAlreadyPresent"
    with pytest.raises(HttpResponseError) as blocked:
        blob.upload_blob(b"x", overwrite=True)
    assert blocked.value.status_code == 412
    blob.upload_blob(b"mine", overwrite=True, lease=lease)
    assert blob.get_blob_properties().lease.state == "leased"
    advance(world.store, 10)
    lease.renew()
    advance(world.store, 10)
    assert blob.get_blob_properties().lease.state == "leased"  # renewed: 15 s from the renewal
    advance(world.store, 10)
    assert blob.get_blob_properties().lease.state == "expired"
    other = blob.acquire_lease(lease_duration=-1)
    assert other.id != lease.id
    other.release()
    assert blob.get_blob_properties().lease.state == "available"
    assert blob.download_blob().readall() == b"mine"
