"""Hard deletes: what the standby has that the primary no longer has at all, found by comparing id sets per type.

A hard delete (`DELETE ...?_hardDelete=true`, `$purge-history`, `$bulk-delete`) leaves no version for
`$export` to carry (AZURE-FACTS, AHDS), so the standby keeps the resource until this removes it. It
streams: the standby's ids of a type come a page at a time (`_elements=id`), each page is asked of the
primary in chunks (`_id=a,b,c`), and only ids the primary did not return are read one by one, so a
resource soft-deleted on the primary (410, its delete is replicated by the next cycle) is told from one
that is gone (404). Search order is not relied on, memory is one page, and requests grow with the
standby's resources divided by the page size. It never deletes on the primary.
"""

from __future__ import annotations

from typing import Any

from fhirdr.fhir.client import FhirClient

PAGE = 1000  # ids per search page (the service's largest _count)
CHUNK = 100  # ids per `_id=` search on the primary, kept well within URL length limits


def reconcile(replicator: Any, dry_run: bool = False) -> dict[str, Any]:
    """Compare the id sets of every type replication has carried; delete on the standby what the primary lost."""
    from fhirdr.replication.cycle import CycleFailed

    mark, _ = replicator.state.watermark()
    types = sorted(set((mark or {}).get("types") or []) | set(replicator.types_seen))
    counts: dict[str, dict[str, int]] = {}
    requests = 0
    for rtype in types:
        found = {"standby": 0, "gone_on_primary": 0, "deleted": 0}
        for page in _pages(replicator.standby, rtype):
            requests += 1
            found["standby"] += len(page)
            for offset in range(0, len(page), CHUNK):
                chunk = page[offset : offset + CHUNK]
                present, asked = _present(replicator.primary, rtype, chunk)
                requests += asked
                for rid in chunk:
                    if rid in present:
                        continue
                    requests += 1
                    status = replicator.primary.read(rtype, rid).status
                    if status != 404:
                        continue  # 410: soft-deleted, the next cycle carries the delete; anything else: leave it
                    found["gone_on_primary"] += 1
                    if not dry_run:
                        requests += 1
                        response = replicator.standby.request(
                            "DELETE", f"{rtype}/{rid}", params={"_hardDelete": "true"}
                        )
                        if response.status not in (200, 204):
                            raise CycleFailed(f"the standby refused to delete {rtype}/{rid} (HTTP {response.status})")
                        found["deleted"] += 1
            replicator.keep_lease()
        counts[rtype] = found
    gone = sum(c["gone_on_primary"] for c in counts.values())
    deleted = sum(c["deleted"] for c in counts.values())
    done = f"would delete {gone} (dry run)" if dry_run else f"deleted {deleted}"
    summary = f"{gone} resource(s) on the standby no longer on the primary; {done}"
    replicator.progress(f"reconcile: {summary}")
    return {"dry_run": dry_run, "types": counts, "requests": requests, "summary": summary}


def _pages(client: FhirClient, rtype: str) -> Any:
    url: str | None = f"{rtype}?_elements=id&_count={PAGE}"
    while url:
        response = client.request("GET", url)
        if response.status != 200:
            from fhirdr.replication.cycle import CycleFailed

            raise CycleFailed(f"listing {rtype} ids on {client.base_url} failed (HTTP {response.status})")
        body = response.body or {}
        yield [entry["resource"]["id"] for entry in body.get("entry") or [] if entry.get("resource")]
        url = next((link["url"] for link in body.get("link") or [] if link.get("relation") == "next"), None)


def _present(client: FhirClient, rtype: str, ids: list[str]) -> tuple[set[str], int]:
    present: set[str] = set()
    asked = 0
    url: str | None = f"{rtype}?_id={','.join(ids)}&_elements=id&_count={CHUNK}"
    while url:
        asked += 1
        response = client.request("GET", url)
        if response.status != 200:
            from fhirdr.replication.cycle import CycleFailed

            raise CycleFailed(f"searching {rtype} ids on {client.base_url} failed (HTTP {response.status})")
        body = response.body or {}
        present |= {entry["resource"]["id"] for entry in body.get("entry") or [] if entry.get("resource")}
        url = next((link["url"] for link in body.get("link") or [] if link.get("relation") == "next"), None)
    return present, asked
