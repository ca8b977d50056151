"""A workload on a simulated FHIR service: creates, updates and deletes at a chosen rate over simulated time.

`fhirdr sim workload --rate 1000/min --duration 2h` schedules it on the world's timeline; the writes
happen as simulated time passes (whoever moves the clock: `sim advance`, or a replicator's polls and
sleeps), so replication can be watched while the primary keeps changing. Ids and choices come from
the world's seed, so the same world and workload write the same data.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Any

from fhirdr.sim import timeline
from fhirdr.sim.store import Store

TICK_SECONDS = 1.0
TYPES = ("Patient", "Observation", "Encounter")
KIND = "workload.tick"


def start(
    store: Store,
    service_id: str,
    per_second: float,
    seconds: float,
    updates: float,
    deletes: float,
    hard: float,
    front_door: str | None = None,
) -> dict[str, Any]:
    """Schedule a workload from now for `seconds`; returns what was scheduled. With `front_door` (a Front Door
    endpoint's host name) the clients write through it: to whichever service it routes to at that moment,
    and not at all while it has no healthy enabled origin (those writes are refused, as a client sees)."""
    with store.transaction():
        number = int(store.get_meta("workloads", "0") or 0) + 1
        store.set_meta("workloads", str(number))
        payload = {
            "workload": number,
            "service": service_id,
            "per_second": per_second,
            "until": store.now() + seconds,
            "updates": updates,
            "deletes": deletes,
            "hard_deletes": hard,
            "carry": 0.0,
            "written": 0,
            "refused": 0,
            "front_door": front_door,
        }
        store.schedule(store.now() + TICK_SECONDS, KIND, payload)
    return {"workload": number, "service": service_id, "writes": round(per_second * seconds), "until": payload["until"]}


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _pick(seed: str, n: int, salt: str) -> float:
    digest = hashlib.blake2b(f"{seed}/{n}/{salt}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


@timeline.on(KIND)
def tick(store: Store, payload: dict[str, Any]) -> None:
    due = payload["per_second"] * TICK_SECONDS + payload["carry"]
    count = int(due)
    payload["carry"] = due - count
    seed = f"{store.get_meta('seed', 'fhirdr')}/workload-{payload['workload']}"
    service = _writes_to(store, payload)
    if service is None:
        payload["refused"] = payload.get("refused", 0) + count
        count = 0
    for _ in range(count):
        n = payload["written"]
        payload["written"] += 1
        rtype = TYPES[n % len(TYPES)]
        roll = _pick(seed, n, "action")
        target = (
            _existing(store, service, rtype, _pick(seed, n, "which"))
            if roll < payload["updates"] + payload["deletes"] + payload["hard_deletes"]
            else None
        )
        if target is None:
            rid = hashlib.blake2b(f"{seed}/{n}".encode(), digest_size=16).hexdigest()
            _write(store, service, rtype, rid, 1, {"resourceType": rtype, "id": rid, "status": "active", "n": n})
            continue
        rid, version, body = target
        if roll < payload["updates"]:
            _write(store, service, rtype, rid, version + 1, {**body, "n": n})
        elif roll < payload["updates"] + payload["deletes"]:
            store.fhir_append(service, rtype, rid, version + 1, None)
        else:
            store.fhir_hard_delete(service, rtype, rid)
    if store.now() + TICK_SECONDS <= payload["until"]:
        store.schedule(store.now() + TICK_SECONDS, KIND, payload)
    else:
        store.record_event(
            "workload.done",
            {"workload": payload["workload"], "writes": payload["written"], "refused": payload.get("refused", 0)},
        )


def _writes_to(store: Store, payload: dict[str, Any]) -> str | None:
    """The service this tick's writes land in (None: the clients' writes are refused now)."""
    from fhirdr.sim import fhir
    from fhirdr.sim.servers import server_for_host

    host = payload.get("front_door")
    if host:
        from fhirdr.sim.providers.cdn import route_request

        origin = route_request(store, host, "/", lambda h: fhir.probe(store, h))
        found = server_for_host(store, origin, fhir.FHIR_SUFFIX) if origin else None
        return found[0] if found else None
    service = payload["service"]
    return service if fhir._serving(store, (service, None))[3] is None else None


def _write(store: Store, service: str, rtype: str, rid: str, version: int, body: dict[str, Any]) -> None:
    meta = {**(body.get("meta") or {}), "versionId": str(version), "lastUpdated": _iso(store.now())}
    store.fhir_append(service, rtype, rid, version, {**body, "meta": meta})


def _existing(store: Store, service: str, rtype: str, share: float) -> tuple[str, int, dict[str, Any]] | None:
    """A live resource among the last thousand written of the type (recent data is what changes)."""
    # A range of the write log's newest rows (the unary + keeps SQLite on the rowid range, not the type index,
    # which would sort every write of the type on each call).
    newest = store._conn.execute("SELECT MAX(seq) FROM fhir_writes").fetchone()[0] or 0
    row = store._conn.execute(
        "SELECT rid FROM fhir_writes WHERE seq > ? AND +service = ? AND +rtype = ? ORDER BY seq DESC LIMIT 1 OFFSET ?",
        (newest - 10_000, service.lower(), rtype, int(share * 1000)),
    ).fetchone()
    if row is None:
        return None
    current = store.fhir_latest(service, rtype, row[0], store.fhir_last_seq(service))
    if current is None or current["body"] is None:
        return None
    return row[0], current["version"], current["body"]
