"""One replication cycle: lease, $export what changed, $import it into the standby, verify, move the watermark.

The watermark moves only after the standby's import is verified (its error files hold nothing but
duplicates of versions the standby already had), so a cycle that fails anywhere leaves it where it was
and the next cycle exports the same window again. That is safe because an incremental import keeps
`versionId`/`lastUpdated` and only reports the versions it already has (AZURE-FACTS, AHDS `$import`).
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from typing import Any

from fhirdr.errors import AzureError, CheckFailedError
from fhirdr.fhir.client import FhirClient, FhirResponse
from fhirdr.replication.preflight import Route
from fhirdr.replication.state import Lease, ReplicationState
from fhirdr.replication.times import iso, parse_instant
from fhirdr.steps.base import Context

log = logging.getLogger(__name__)

ASYNC = {"Prefer": "respond-async"}
MAX_IMPORT_FILES = 10_000  # import-data.md: "The maximum number of files allowed per import operation is 10,000"
REAL_POLL_SECONDS = 10.0
SIM_POLL_SECONDS = 5.0
RPO_SAMPLES = 100  # the watermark keeps the last cycles' measured RPOs, so status reads one blob

Progress = Callable[[str], None]


class CycleFailed(CheckFailedError):
    """The cycle did not verify its import; the watermark was not moved (exit 1)."""


class PrimaryUnreachable(AzureError):
    """The primary FHIR service does not answer (exit 3)."""


def default_holder() -> str:
    """Who a lease names: this host and process, and a random part so two runners in one process differ."""
    return f"{socket.gethostname()}/pid-{os.getpid()}/{uuid.uuid4().hex[:6]}"


class Replicator:
    """Runs cycles for one target; keeps nothing between them that is not also in the storage account."""

    def __init__(
        self,
        ctx: Context,
        route: Route,
        holder: str | None = None,
        progress: Progress | None = None,
        release: bool = True,
        lease_seconds: float | None = None,
    ) -> None:
        self.ctx = ctx
        self.route = route
        self.session = ctx.azure
        self.settings = ctx.target.replication
        self.holder = holder or default_holder()
        # A switch runs its final cycle under its own lease and keeps it afterwards (release=False).
        self.release = release
        self.sink = "primary" if route.reversed else "standby"  # the side imported into, in messages
        self.lease_seconds = lease_seconds or self.settings.lease_seconds
        self.progress = progress or (lambda text: None)
        self.state = ReplicationState(self.session, route.account, route.container, route.name)
        self.primary = FhirClient(self.session, "", base_url=route.primary_url)
        self.standby = FhirClient(self.session, "", base_url=route.standby_url)
        self.poll_seconds = SIM_POLL_SECONDS if self.session.simulated else REAL_POLL_SECONDS
        self._lease: Lease | None = None
        self._cycle_id = ""
        self.types_seen: set[str] = set()  # every resource type replication carried (what reconcile compares)

    # -- one cycle --------------------------------------------------------------------------------------

    def cycle(self, reconcile: bool = False, dry_run_reconcile: bool = False) -> dict[str, Any]:
        """Run one cycle; returns its summary (status ok, failed or unreachable). Raises LeaseHeld (exit 4)."""
        from fhirdr.azure.session import azure_errors

        self._cycle_id = uuid.uuid4().hex[:12]
        started = self.session.now()
        wall, cpu = time.perf_counter(), time.process_time()
        with azure_errors(f"taking the replication lease in {self.route.account}/{self.route.container}"):
            self._lease = self.state.acquire(self.holder, self.lease_seconds, self._cycle_id)
        summary: dict[str, Any] = {
            "cycle": self._cycle_id,
            "holder": self.holder,
            "status": "running",
            "started": iso(started),
            "started_epoch": started,
            "watermark_before": None,
            "since": None,
            "till": iso(started),
            "watermark": None,
            "exported": {},
            "imported": {},
            "duplicates": 0,
            "bytes": 0,
            "errors": [],
            "export_seconds": 0.0,
            "import_seconds": 0.0,
            "reindex": None,
            "reconcile": None,
            "rpo_seconds": None,
        }
        try:
            with azure_errors("replicating"):
                self._run(summary, started, reconcile, dry_run_reconcile)
            summary["status"] = "ok"
        except PrimaryUnreachable:
            summary.update(status="unreachable", unreachable_since=self._unreachable_since(started))
            summary["errors"] = [self._unreachable_text(summary)]
        except (CycleFailed, AzureError) as exc:
            summary.update(status="failed", errors=summary["errors"] or [exc.message])
        except BaseException:
            summary.update(status="stopped", errors=["stopped before the import was verified; the watermark stays"])
            raise
        finally:
            ended = self.session.now()
            summary.update(
                ended=iso(ended),
                ended_epoch=ended,
                wall_seconds=round(time.perf_counter() - wall, 3),
                cpu_seconds=round(time.process_time() - cpu, 3),
            )
            self._finish(summary, ended)
        return summary

    def _run(self, summary: dict[str, Any], started: float, reconcile: bool, dry_run_reconcile: bool) -> None:
        if self.direction_changed():
            # A switch happened since this runner read the direction: going on would carry the old side's writes
            # over the service clients use now.
            raise CycleFailed(
                f"the active service changed since this runner started (it replicates from the {self.route.source_role}"
                "); nothing was exported, the next cycle replicates the other way"
            )
        mark, etag = self.state.watermark()
        before = parse_instant(mark["watermark"]) if mark else None
        since = before - self.settings.overlap_seconds if before is not None else None
        summary.update(watermark_before=mark["watermark"] if mark else None, since=iso(since) if since else None)
        manifest = self._export(since, started, summary)
        self._import(manifest, summary)
        if summary["imported"].get("SearchParameter"):
            summary["reindex"] = self._reindex()
        self.types_seen |= set((mark or {}).get("types") or [])
        if reconcile and self.route.reversed:
            # Reversed, the target is the old primary: what it has and the standby lacks may be the lost window of
            # an unplanned failover, which failback writes for review. Reconcile never deletes there.
            summary["reconcile"] = {
                "dry_run": dry_run_reconcile,
                "types": {},
                "requests": 0,
                "summary": "skipped while replication runs to the old primary (it never deletes there)",
            }
        elif reconcile:
            from fhirdr.replication.reconcile import reconcile as run_reconcile

            summary["reconcile"] = run_reconcile(self, dry_run=dry_run_reconcile)
        committed = self.session.now()
        # The measured RPO of the cycle: losing the primary just before this write would have lost everything
        # written after the previous watermark.
        if before is not None:
            summary["rpo_seconds"] = round(committed - before, 3)
        samples = [*((mark or {}).get("rpo_samples") or []), summary["rpo_seconds"]]
        document = {
            "watermark": iso(started),
            "cycle": self._cycle_id,
            "holder": self.holder,
            "written": iso(committed),
            "types": sorted(self.types_seen),
            "rpo_samples": [sample for sample in samples if sample is not None][-RPO_SAMPLES:],
        }
        self.state.set_watermark(document, etag)
        summary["watermark"] = iso(started)
        self._clean_up(manifest, summary)

    def _finish(self, summary: dict[str, Any], ended: float) -> None:
        from fhirdr.azure.session import azure_errors

        mark = summary["watermark"] or summary["watermark_before"]
        summary["lag_seconds"] = round(ended - parse_instant(mark), 3) if mark else None
        summary.pop("_error_files", None)
        with azure_errors("recording the cycle in the replication state"):
            try:
                self.state.record(summary)
            finally:
                if self._lease is not None and self.release:
                    self.state.release(self._lease)
                self._lease = None

    def direction_changed(self) -> bool:
        """A switch made the other side active since this replicator was built (one blob read)."""
        from fhirdr.replication.direction import read_active

        active = read_active(self.session, self.ctx.target, self.route.account, self.route.container)[0]["active"]
        return active != self.route.source_role

    # -- the lease while jobs run --------------------------------------------------------------------------

    def keep_lease(self) -> None:
        """Renew the lease once a third of it is used (a long export outlives one lease)."""
        if self._lease is None:
            return
        if self.session.now() >= self._lease.expires - self.lease_seconds * 2 / 3:
            self._lease = self.state.renew(self._lease, self.lease_seconds, self._cycle_id)

    def _poll(self, client: FhirClient, started: FhirResponse, what: str, on_primary: bool) -> FhirResponse:
        location = started.headers.get("Content-Location") or started.headers.get("content-location")
        if not location:
            raise CycleFailed(f"{what} was accepted without a Content-Location to poll")
        while True:
            self.keep_lease()
            response = client.request("GET", location)
            if on_primary:
                self._reachable(response, what)
            if response.status != 202:
                return response
            self.session.sleep(self.poll_seconds)

    def _reachable(self, response: FhirResponse, what: str) -> None:
        if response.status == 0 or response.status in (502, 503, 504):
            raise PrimaryUnreachable(f"the primary did not answer {what} (HTTP {response.status or 'no response'})")

    # -- export ---------------------------------------------------------------------------------------------

    def _export(self, since: float | None, till: float, summary: dict[str, Any]) -> dict[str, Any]:
        params = {
            "_till": iso(till),
            "includeAssociatedData": "_history,_deleted",
            "_container": self.route.container,
        }
        if since is not None:
            params["_since"] = iso(since)
        window = f"since {iso(since)}" if since is not None else "everything (no watermark yet: a full export)"
        self.progress(f"export: {window} until {iso(till)}")
        began = self.session.now()
        started = self.primary.request("GET", "$export", params=params, headers=ASYNC)
        self._reachable(started, "$export")
        if started.status != 202:
            raise CycleFailed(f"the primary refused $export (HTTP {started.status}): {_diagnostics(started.body)}")
        done = self._poll(self.primary, started, "the $export status", on_primary=True)
        summary["export_seconds"] = round(self.session.now() - began, 3)
        if done.status != 200:
            raise CycleFailed(f"the export failed (HTTP {done.status}): {_diagnostics(done.body)}")
        manifest = done.body or {}
        exported: dict[str, int] = {}
        for item in manifest.get("output") or []:
            exported[item["type"]] = exported.get(item["type"], 0) + int(item.get("count") or 0)
        summary["exported"] = exported
        self.types_seen |= set(exported)
        summary["bytes"] = self._bytes(manifest)
        total = sum(exported.values())
        self.progress(
            f"exported {total} versions"
            + (": " + ", ".join(f"{k} {v}" for k, v in sorted(exported.items())) if exported else "")
            + f" ({summary['bytes']} bytes)"
        )
        return manifest

    def _bytes(self, manifest: dict[str, Any]) -> int:
        """The size of the export's files: one listing of its folder."""
        from fhirdr.replication.urls import blob_path

        outputs = manifest.get("output") or []
        if not outputs:
            return 0
        _, _, name = blob_path(outputs[0]["url"])
        folder = name.rsplit("/", 1)[0] + "/"
        return sum(b.size or 0 for b in self.state.container.list_blobs(name_starts_with=folder))

    # -- import -------------------------------------------------------------------------------------------------

    def _import(self, manifest: dict[str, Any], summary: dict[str, Any]) -> None:
        outputs = manifest.get("output") or []
        if not outputs:
            self.progress("nothing changed: no import")
            return
        began = self.session.now()
        for offset in range(0, len(outputs), MAX_IMPORT_FILES):
            self._import_batch(outputs[offset : offset + MAX_IMPORT_FILES], summary)
        summary["import_seconds"] = round(self.session.now() - began, 3)
        total = sum(summary["imported"].values())
        self.progress(f"imported {total} versions, {summary['duplicates']} already on the {self.sink}")

    def _import_batch(self, outputs: list[dict[str, Any]], summary: dict[str, Any]) -> None:
        body = {
            "resourceType": "Parameters",
            "parameter": [
                {"name": "inputFormat", "valueString": "application/fhir+ndjson"},
                {"name": "mode", "valueString": "IncrementalLoad"},
                *(
                    {
                        "name": "input",
                        "part": [{"name": "type", "valueString": o["type"]}, {"name": "url", "valueUri": o["url"]}],
                    }
                    for o in outputs
                ),
            ],
        }
        self.progress(f"import: {len(outputs)} files into the {self.sink}")
        started = self.standby.request("POST", "$import", body, headers=ASYNC)
        if started.status != 202:
            raise CycleFailed(f"the {self.sink} refused $import (HTTP {started.status}): {_diagnostics(started.body)}")
        done = self._poll(self.standby, started, "the $import status", on_primary=False)
        if done.status != 200:
            raise CycleFailed(
                f"the {self.sink}'s import failed (HTTP {done.status}): {_diagnostics(done.body)}; the watermark "
                "stays, the next cycle repeats this window"
            )
        result = done.body or {}
        for item in result.get("output") or []:
            summary["imported"][item["type"]] = summary["imported"].get(item["type"], 0) + int(item.get("count") or 0)
        problems: list[str] = []
        for error in result.get("error") or []:
            for line in self.state.lines(error["url"]):
                issue = _first_issue(line)
                if issue.get("code") == "duplicate":
                    summary["duplicates"] += 1
                elif len(problems) < 5:
                    problems.append(f"{error.get('inputUrl')}: {issue.get('diagnostics') or issue.get('code')}")
                else:
                    problems.append("...")
                    break
        summary.setdefault("_error_files", []).extend(e["url"] for e in result.get("error") or [])
        if problems:
            summary["errors"] = problems
            raise CycleFailed(
                f"the {self.sink}'s import reported {len(problems)} error(s) other than duplicates: {problems[0]}; "
                "the watermark stays"
            )

    def _reindex(self) -> str | None:
        """SearchParameter resources changed: the standby must reindex to use them (how-to-run-a-reindex.md)."""
        self.progress("search parameters changed: asking the standby to $reindex")
        body = {"resourceType": "Parameters", "parameter": []}
        response = self.standby.request("POST", "$reindex", body)
        if response.status not in (200, 201):
            raise CycleFailed(
                f"the {self.sink} refused $reindex (HTTP {response.status}): {_diagnostics(response.body)}"
            )
        return response.headers.get("Content-Location") or response.headers.get("content-location") or "started"

    def _clean_up(self, manifest: dict[str, Any], summary: dict[str, Any]) -> None:
        """A verified cycle's files hold patient data that is now in the standby: remove them."""
        for url in [o["url"] for o in manifest.get("output") or []] + summary.pop("_error_files", []):
            self.state.delete_url(url)

    # -- unreachable ---------------------------------------------------------------------------------------

    def _unreachable_since(self, now: float) -> str:
        last = self.state.last()
        if last and last.get("status") == "unreachable" and last.get("unreachable_since"):
            return str(last["unreachable_since"])
        return iso(now)

    def _unreachable_text(self, summary: dict[str, Any]) -> str:
        mark = summary["watermark_before"]
        rpo = (
            f"{(self.session.now() - parse_instant(mark)) / 60:.0f} min" if mark else "unknown (nothing replicated yet)"
        )
        return f"primary unreachable since {summary['unreachable_since']}; RPO now {rpo} and growing"


def _first_issue(line: bytes) -> dict[str, Any]:
    import json

    try:
        outcome = json.loads(line)
        return (outcome.get("issue") or [{}])[0]
    except (ValueError, AttributeError):
        return {"code": "unreadable", "diagnostics": line[:200].decode(errors="replace")}


def _diagnostics(body: Any) -> str:
    if isinstance(body, dict):
        issues = body.get("issue") or []
        if issues:
            return str(issues[0].get("diagnostics") or issues[0].get("code"))
        if body.get("error"):
            return str(body["error"])
    return str(body)[:200] if body else "no details"
