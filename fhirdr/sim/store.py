"""The simulated world's state: one SQLite file shared by every process that opens it."""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fhirdr.errors import BadInputError, SimCorruptError, SimNotInitialisedError, SimWorldGoneError
from fhirdr.paths import ensure_dir

SCHEMA_VERSION = "1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS resources (
    key TEXT PRIMARY KEY,          -- lower-cased ARM id
    id TEXT NOT NULL,              -- ARM id as first written
    type TEXT NOT NULL,            -- lower-cased resource type, e.g. microsoft.network/virtualnetworks
    parent TEXT NOT NULL,          -- lower-cased id of the resource group or parent resource
    body TEXT NOT NULL,            -- the resource as ARM returns it (JSON)
    seq INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS resources_by_parent ON resources (parent, type, seq);
CREATE TABLE IF NOT EXISTS operations (
    id TEXT PRIMARY KEY,
    resource_key TEXT,
    polls_left INTEGER NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    on_done TEXT                   -- JSON: what to write to the resource when the operation ends
);
CREATE TABLE IF NOT EXISTS faults (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    method TEXT NOT NULL,
    pattern TEXT NOT NULL,
    kind TEXT NOT NULL,
    remaining INTEGER NOT NULL,
    retry_after INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS schedule (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    due REAL NOT NULL,             -- simulated time at which it happens
    kind TEXT NOT NULL,
    payload TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS fhir_writes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    service TEXT NOT NULL,         -- lower-cased service id
    rtype TEXT NOT NULL,
    rid TEXT NOT NULL,
    version INTEGER NOT NULL,
    body TEXT,                     -- NULL for a delete
    time REAL NOT NULL             -- simulated time of the write
);
CREATE INDEX IF NOT EXISTS fhir_by_resource ON fhir_writes (service, rtype, rid, seq);
-- Every FHIR request reads the newest write of its service (what it can see): MAX(seq) from this index.
CREATE INDEX IF NOT EXISTS fhir_by_seq ON fhir_writes (service, seq);
CREATE TABLE IF NOT EXISTS fhir_lost (
    seq INTEGER PRIMARY KEY,
    service TEXT NOT NULL,
    rtype TEXT NOT NULL,
    rid TEXT NOT NULL,
    version INTEGER NOT NULL,
    body TEXT,
    time REAL NOT NULL,
    lost_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS fhir_by_time ON fhir_writes (service, time);
CREATE TABLE IF NOT EXISTS fhir_jobs (
    id TEXT PRIMARY KEY,           -- the job id in its Content-Location
    service TEXT NOT NULL,         -- lower-cased service id
    kind TEXT NOT NULL,            -- export, import, reindex
    state TEXT NOT NULL,           -- running, completed, failed, cancelled
    queued REAL NOT NULL,          -- simulated time the job was accepted
    due REAL NOT NULL,             -- simulated time it finishes (throughput model, see sim/fhir_jobs.py)
    request TEXT NOT NULL,         -- JSON: what was asked
    result TEXT                    -- JSON: the status body once finished
);
CREATE TABLE IF NOT EXISTS blob_containers (
    account TEXT NOT NULL,
    name TEXT NOT NULL,
    etag TEXT NOT NULL,
    modified REAL NOT NULL,
    PRIMARY KEY (account, name)
);
CREATE TABLE IF NOT EXISTS blobs (
    account TEXT NOT NULL,
    container TEXT NOT NULL,
    name TEXT NOT NULL,
    body BLOB NOT NULL,
    etag TEXT NOT NULL,
    modified REAL NOT NULL,
    content_type TEXT,
    metadata TEXT NOT NULL DEFAULT '{}',
    lease_id TEXT,
    lease_expires REAL,            -- NULL with a lease id: an infinite lease
    lease_duration REAL,           -- seconds a renewal extends the lease by
    PRIMARY KEY (account, container, name)
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    time REAL NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
);
"""


@dataclass
class StoredResource:
    id: str
    type: str
    body: dict[str, Any]


class Store:
    """Resources by case-insensitive ARM id, async operations, fault rules, a clock and an event log.

    Every request runs inside `transaction()`, an immediate SQLite transaction, so two processes
    driving the same world see each other's writes in order.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()

    @property
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect(create=False)
        return conn

    def _connect(self, create: bool) -> sqlite3.Connection:
        # mode=rw: a connection never creates the file, so a world deleted while a run uses it is
        # reported as gone instead of reappearing empty ("no such table") under a new thread.
        uri = f"file:{quote(str(self.path.absolute()))}?mode={'rwc' if create else 'rw'}"
        try:
            conn = sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.Error as exc:
            raise self._unusable(exc) from None
        self._local.conn = conn
        self._local.depth = 0
        return conn

    def _unusable(self, exc: sqlite3.Error) -> BadInputError:
        """What to tell the user when the world's file cannot be used (gone, unreadable, not a database)."""
        if not self.path.exists():
            return SimWorldGoneError(
                f"the simulated world at {self.path} vanished (the file was deleted while fhirdr used it)",
                hint="rebuild it with `fhirdr sim init --force`; a run that stopped can then be resumed",
            )
        if isinstance(exc, sqlite3.OperationalError) and "readonly" in str(exc).lower():
            return BadInputError(
                f"the simulated world at {self.path} cannot be written: {exc}",
                hint=f"make {self.path.parent} writable, or point FHIRDR_SIM / FHIRDR_STATE_DIR elsewhere",
            )
        return SimCorruptError(
            f"the simulated world at {self.path} is corrupt or truncated ({exc})",
            hint="rebuild it with `fhirdr sim init --force` (this replaces the world)",
        )

    def ensure_tables(self) -> None:
        """Create the tables a newer fhirdr added (FHIR jobs, blob storage) in a world built before them."""
        if getattr(self._local, "tables_checked", False):
            return
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                self._conn.execute(statement)
        self._local.tables_checked = True

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- lifecycle -------------------------------------------------------------------------------

    def exists(self) -> bool:
        return self.problem() is None

    def problem(self) -> BadInputError | None:
        """None when the file holds a world; else the error saying what is wrong with it."""
        if not self.path.exists():
            return SimNotInitialisedError(
                f"the simulated Azure is not initialised (no world at {self.path})", hint="run `fhirdr sim init` first"
            )
        if self.path.is_dir():
            return BadInputError(
                f"the simulated world's file {self.path} is a directory",
                hint="point FHIRDR_SIM at a file, or remove the directory",
            )
        try:
            schema = self.get_meta("schema")
        except BadInputError as exc:
            return exc
        except sqlite3.DatabaseError as exc:
            self.close()
            return self._unusable(exc)
        if schema != SCHEMA_VERSION:
            self.close()
            return SimCorruptError(
                f"the simulated world at {self.path} is corrupt or from another fhirdr version (schema {schema!r})",
                hint="rebuild it with `fhirdr sim init --force` (this replaces the world)",
            )
        return None

    def create(self, meta: dict[str, str]) -> None:
        ensure_dir(self.path.parent, "the simulated world's folder")
        self._connect(create=True).executescript(_SCHEMA)
        with self.transaction():
            for key, value in {"schema": SCHEMA_VERSION, **meta}.items():
                self.set_meta(key, value)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        conn = self._conn
        if self._local.depth:
            self._local.depth += 1
            try:
                yield
            finally:
                self._local.depth -= 1
            return
        conn.execute("BEGIN IMMEDIATE")
        self._local.depth = 1
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")
        finally:
            self._local.depth = 0

    # -- meta, clock, ids ------------------------------------------------------------------------

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        self._conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def recorded_target(self) -> dict[str, Any] | None:
        """The target describing this world, recorded when it was built (None for worlds built before that)."""
        value = self.get_meta("target")
        return json.loads(value) if value else None

    def now(self) -> float:
        """Simulated time, seconds since the epoch."""
        return float(self.get_meta("clock", "0") or 0)

    def set_clock(self, when: float) -> None:
        self.set_meta("clock", repr(when))

    def next_seq(self) -> int:
        seq = int(self.get_meta("seq", "0") or 0) + 1
        self.set_meta("seq", str(seq))
        return seq

    def new_uuid(self) -> str:
        """Deterministic ids: the world's seed and a counter."""
        seed = self.get_meta("seed", "fhirdr")
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{seed}/{self.next_seq()}"))

    # -- resources -------------------------------------------------------------------------------

    def get(self, resource_id: str) -> StoredResource | None:
        row = self._conn.execute(
            "SELECT id, type, body FROM resources WHERE key = ?", (resource_id.lower(),)
        ).fetchone()
        return StoredResource(row[0], row[1], json.loads(row[2])) if row else None

    def put(self, resource_id: str, rtype: str, parent: str, body: dict[str, Any]) -> None:
        key = resource_id.lower()
        row = self._conn.execute("SELECT id, seq FROM resources WHERE key = ?", (key,)).fetchone()
        if row:
            self._conn.execute("UPDATE resources SET body = ? WHERE key = ?", (json.dumps(body, sort_keys=True), key))
        else:
            self._conn.execute(
                "INSERT INTO resources (key, id, type, parent, body, seq) VALUES (?, ?, ?, ?, ?, ?)",
                (key, resource_id, rtype.lower(), parent.lower(), json.dumps(body, sort_keys=True), self.next_seq()),
            )

    def delete(self, resource_id: str) -> bool:
        key = resource_id.lower()
        cursor = self._conn.execute("DELETE FROM resources WHERE key = ? OR key LIKE ?", (key, key + "/%"))
        return cursor.rowcount > 0

    def children(self, parent: str, rtype: str | None = None) -> list[StoredResource]:
        if rtype is None:
            rows = self._conn.execute(
                "SELECT id, type, body FROM resources WHERE parent = ? ORDER BY seq", (parent.lower(),)
            )
        else:
            rows = self._conn.execute(
                "SELECT id, type, body FROM resources WHERE parent = ? AND type = ? ORDER BY seq",
                (parent.lower(), rtype.lower()),
            )
        return [StoredResource(r[0], r[1], json.loads(r[2])) for r in rows]

    def by_type(self, rtype: str, prefix: str = "") -> list[StoredResource]:
        rows = self._conn.execute(
            "SELECT id, type, body FROM resources WHERE type = ? AND key LIKE ? ORDER BY seq",
            (rtype.lower(), prefix.lower() + "%"),
        )
        return [StoredResource(r[0], r[1], json.loads(r[2])) for r in rows]

    def all_resources(self) -> list[StoredResource]:
        rows = self._conn.execute("SELECT id, type, body FROM resources ORDER BY seq")
        return [StoredResource(r[0], r[1], json.loads(r[2])) for r in rows]

    # -- async operations ------------------------------------------------------------------------

    def add_operation(
        self, op_id: str, resource_key: str | None, polls: int, on_done: dict[str, Any], error: dict | None = None
    ) -> None:
        self._conn.execute(
            "INSERT INTO operations (id, resource_key, polls_left, status, error, on_done) VALUES (?, ?, ?, ?, ?, ?)",
            (op_id, resource_key, polls, "InProgress", json.dumps(error) if error else None, json.dumps(on_done)),
        )

    def get_operation(self, op_id: str) -> dict[str, Any] | None:
        row = self._conn.execute(
            "SELECT id, resource_key, polls_left, status, error, on_done FROM operations WHERE id = ?", (op_id,)
        ).fetchone()
        if not row:
            return None
        return {
            "id": row[0],
            "resource_key": row[1],
            "polls_left": row[2],
            "status": row[3],
            "error": json.loads(row[4]) if row[4] else None,
            "on_done": json.loads(row[5]) if row[5] else {},
        }

    def update_operation(self, op_id: str, polls_left: int, status: str) -> None:
        self._conn.execute("UPDATE operations SET polls_left = ?, status = ? WHERE id = ?", (polls_left, status, op_id))

    def pending_operations(self, resource_key: str) -> list[dict[str, Any]]:
        ids = [
            r[0]
            for r in self._conn.execute(
                "SELECT id FROM operations WHERE status = 'InProgress' AND resource_key = ?", (resource_key,)
            )
        ]
        return [op for op in (self.get_operation(i) for i in ids) if op]

    # -- faults ----------------------------------------------------------------------------------

    def add_fault(self, method: str, pattern: str, kind: str, count: int, retry_after: int) -> int:
        with self.transaction():
            cursor = self._conn.execute(
                "INSERT INTO faults (method, pattern, kind, remaining, retry_after) VALUES (?, ?, ?, ?, ?)",
                (method.upper(), pattern, kind, count, retry_after),
            )
        return int(cursor.lastrowid or 0)

    def faults(self) -> list[dict[str, Any]]:
        rows = self._conn.execute("SELECT id, method, pattern, kind, remaining, retry_after FROM faults ORDER BY id")
        keys = ("id", "method", "pattern", "kind", "remaining", "retry_after")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def use_fault(self, fault_id: int) -> None:
        self._conn.execute("UPDATE faults SET remaining = remaining - 1 WHERE id = ?", (fault_id,))
        self._conn.execute("DELETE FROM faults WHERE remaining <= 0")

    def clear_faults(self) -> int:
        with self.transaction():
            # Operations a stuck-async rule held go on: they finish at their next poll.
            self._conn.execute("UPDATE operations SET polls_left = 0 WHERE polls_left < 0 AND status = 'InProgress'")
            return self._conn.execute("DELETE FROM faults").rowcount

    # -- scheduled world events (see timeline.py) ---------------------------------------------------

    def schedule(self, due: float, kind: str, payload: dict[str, Any]) -> None:
        self._conn.execute(
            "INSERT INTO schedule (due, kind, payload) VALUES (?, ?, ?)", (due, kind, json.dumps(payload))
        )

    def next_scheduled(self, until: float) -> dict[str, Any] | None:
        row = self._conn.execute(
            "SELECT id, due, kind, payload FROM schedule WHERE due <= ? ORDER BY due, id LIMIT 1", (until,)
        ).fetchone()
        if not row:
            return None
        self._conn.execute("DELETE FROM schedule WHERE id = ?", (row[0],))
        return {"due": row[1], "kind": row[2], "payload": json.loads(row[3])}

    def get_json(self, key: str, default: Any = None) -> Any:
        value = self.get_meta(key)
        return json.loads(value) if value is not None else default

    def set_json(self, key: str, value: Any) -> None:
        self.set_meta(key, json.dumps(value, sort_keys=True))

    # -- FHIR data (see sim/fhir.py): one write log per service, read up to a region's applied seq ----

    def fhir_append(self, service: str, rtype: str, rid: str, version: int, body: dict | None) -> int:
        cursor = self._conn.execute(
            "INSERT INTO fhir_writes (service, rtype, rid, version, body, time) VALUES (?, ?, ?, ?, ?, ?)",
            (service.lower(), rtype, rid, version, json.dumps(body) if body is not None else None, self.now()),
        )
        return int(cursor.lastrowid or 0)

    def fhir_last_seq(self, service: str, before_time: float | None = None) -> int:
        if before_time is None:
            row = self._conn.execute("SELECT MAX(seq) FROM fhir_writes WHERE service = ?", (service.lower(),))
        else:
            row = self._conn.execute(
                "SELECT MAX(seq) FROM fhir_writes WHERE service = ? AND time <= ?", (service.lower(), before_time)
            )
        value = row.fetchone()[0]
        return int(value or 0)

    def fhir_first_time_after(self, service: str, seq: int) -> float | None:
        """When the oldest write after `seq` was made (what a region that has up to `seq` misses first)."""
        row = self._conn.execute(
            "SELECT MIN(time) FROM fhir_writes WHERE service = ? AND seq > ?", (service.lower(), seq)
        ).fetchone()
        return float(row[0]) if row and row[0] is not None else None

    def fhir_latest(self, service: str, rtype: str, rid: str, upto: int) -> dict[str, Any] | None:
        row = self._conn.execute(
            "SELECT version, body, time FROM fhir_writes WHERE service = ? AND rtype = ? AND rid = ? AND seq <= ? "
            "ORDER BY version DESC, seq DESC LIMIT 1",
            (service.lower(), rtype, rid, upto),
        ).fetchone()
        if not row:
            return None
        return {"version": row[0], "body": json.loads(row[1]) if row[1] else None, "time": row[2]}

    def fhir_all_latest(self, service: str, rtype: str, upto: int) -> list[dict[str, Any]]:
        # The highest version is the current one (an incremental $import may bring versions out of order);
        # SQLite takes the bare columns from the row that holds MAX(version).
        rows = self._conn.execute(
            "SELECT rid, MAX(version), body, seq FROM fhir_writes WHERE service = ? AND rtype = ? AND seq <= ? "
            "GROUP BY rid ORDER BY seq",
            (service.lower(), rtype, upto),
        )
        return [{"id": r[0], "version": r[1], "body": json.loads(r[2])} for r in rows if r[2] is not None]

    def fhir_live_ids(self, service: str, rtype: str, upto: int, after: str, limit: int) -> list[str]:
        """A page of the ids of a type whose current version is not deleted, in id order, after `after`."""
        rows = self._conn.execute(
            "SELECT rid, MAX(version), body IS NOT NULL FROM fhir_writes WHERE service = ? AND rtype = ? AND rid > ? "
            "AND seq <= ? GROUP BY rid ORDER BY rid",
            (service.lower(), rtype, after, upto),
        )
        ids: list[str] = []
        for rid, _, live in rows:
            if live:
                ids.append(rid)
                if len(ids) >= limit:
                    break
        return ids

    def fhir_has_version(self, service: str, rtype: str, rid: str, version: int) -> bool:
        row = self._conn.execute(
            "SELECT 1 FROM fhir_writes WHERE service = ? AND rtype = ? AND rid = ? AND version = ? LIMIT 1",
            (service.lower(), rtype, rid, version),
        ).fetchone()
        return row is not None

    def fhir_append_at(self, service: str, rtype: str, rid: str, version: int, body: dict | None, when: float) -> int:
        """A version written with the time it carries (an incremental $import keeps lastUpdated)."""
        cursor = self._conn.execute(
            "INSERT INTO fhir_writes (service, rtype, rid, version, body, time) VALUES (?, ?, ?, ?, ?, ?)",
            (service.lower(), rtype, rid, version, json.dumps(body) if body is not None else None, when),
        )
        return int(cursor.lastrowid or 0)

    def fhir_versions_between(
        self, service: str, since: float | None, till: float, types: list[str] | None = None
    ) -> Iterator[tuple[str, str, int, str | None, float]]:
        """(type, id, version, body JSON or None for a delete, time) of every write in [since, till], by type."""
        sql = "SELECT rtype, rid, version, body, time FROM fhir_writes WHERE service = ? AND time <= ?"
        args: list[Any] = [service.lower(), till]
        if since is not None:
            sql += " AND time >= ?"
            args.append(since)
        if types:
            sql += f" AND rtype IN ({','.join('?' * len(types))})"
            args += types
        yield from self._conn.execute(sql + " ORDER BY rtype, seq", args)

    def fhir_count_between(self, service: str, since: float | None, till: float) -> int:
        sql = "SELECT COUNT(*) FROM fhir_writes WHERE service = ? AND time <= ?"
        args: list[Any] = [service.lower(), till]
        if since is not None:
            sql += " AND time >= ?"
            args.append(since)
        return int(self._conn.execute(sql, args).fetchone()[0])

    def fhir_body_before(self, service: str, rtype: str, rid: str, version: int) -> dict | None:
        """The last body a resource had before `version` (what a soft delete exports)."""
        row = self._conn.execute(
            "SELECT body FROM fhir_writes WHERE service = ? AND rtype = ? AND rid = ? AND version < ? "
            "AND body IS NOT NULL ORDER BY version DESC LIMIT 1",
            (service.lower(), rtype, rid, version),
        ).fetchone()
        return json.loads(row[0]) if row else None

    def fhir_history(
        self,
        service: str,
        rtype: str | None,
        rid: str | None,
        since: float | None,
        upto: int,
        before: float | None = None,
    ) -> list[tuple[str, str, int, str | None, float]]:
        """Every version (type, id, version, body JSON or None, time), newest first, as `_history` lists them."""
        sql = "SELECT rtype, rid, version, body, time FROM fhir_writes WHERE service = ? AND seq <= ?"
        args: list[Any] = [service.lower(), upto]
        if rtype:
            sql += " AND rtype = ?"
            args.append(rtype)
        if rid:
            sql += " AND rid = ?"
            args.append(rid)
        if since is not None:
            sql += " AND time >= ?"
            args.append(since)
        if before is not None:
            sql += " AND time < ?"
            args.append(before)
        return list(self._conn.execute(sql + " ORDER BY time DESC, version DESC", args))

    def fhir_types(self, service: str) -> list[str]:
        rows = self._conn.execute(
            "SELECT DISTINCT rtype FROM fhir_writes WHERE service = ? ORDER BY rtype", (service.lower(),)
        )
        return [r[0] for r in rows]

    def fhir_hard_delete(self, service: str, rtype: str, rid: str) -> int:
        """Remove a resource with all its history ($purge-history / hard delete): no trace is left."""
        return self._conn.execute(
            "DELETE FROM fhir_writes WHERE service = ? AND rtype = ? AND rid = ?", (service.lower(), rtype, rid)
        ).rowcount

    def fhir_lose_after(self, service: str, seq: int) -> int:
        """Writes after `seq` never reached the region that now takes writes: they are gone."""
        self._conn.execute(
            "INSERT INTO fhir_lost SELECT seq, service, rtype, rid, version, body, time, ? FROM fhir_writes "
            "WHERE service = ? AND seq > ?",
            (self.now(), service.lower(), seq),
        )
        return self._conn.execute(
            "DELETE FROM fhir_writes WHERE service = ? AND seq > ?", (service.lower(), seq)
        ).rowcount

    def fhir_lost(self, service: str) -> list[dict[str, Any]]:
        rows = self._conn.execute(
            "SELECT seq, rtype, rid, version, time, lost_at FROM fhir_lost WHERE service = ? ORDER BY seq",
            (service.lower(),),
        )
        keys = ("seq", "type", "id", "version", "time", "lost_at")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    # -- events ----------------------------------------------------------------------------------

    def record_event(self, kind: str, detail: dict[str, Any]) -> None:
        self._conn.execute(
            "INSERT INTO events (time, kind, detail) VALUES (?, ?, ?)", (self.now(), kind, json.dumps(detail))
        )

    def events(self, limit: int = 50) -> list[dict[str, Any]]:
        rows = self._conn.execute("SELECT seq, time, kind, detail FROM events ORDER BY seq DESC LIMIT ?", (limit,))
        return [{"seq": r[0], "time": r[1], "kind": r[2], "detail": json.loads(r[3])} for r in rows][::-1]

    def events_after(self, seq: int) -> list[dict[str, Any]]:
        """Every event logged after event `seq`, oldest first."""
        rows = self._conn.execute("SELECT seq, time, kind, detail FROM events WHERE seq > ? ORDER BY seq", (seq,))
        return [{"seq": r[0], "time": r[1], "kind": r[2], "detail": json.loads(r[3])} for r in rows]

    def last_event_seq(self) -> int:
        row = self._conn.execute("SELECT MAX(seq) FROM events").fetchone()
        return int(row[0] or 0)
