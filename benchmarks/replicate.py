"""`fhirdr replicate` against the sim: the RPO it measures under load, and how a cycle's cost grows with the store.

Steady state: `fhirdr sim workload --rate 1000/min --duration 2h` on the primary while
`fhirdr replicate --follow --interval 1m` runs (as a user runs it, one process): the measured RPO's p50,
p99 and max (goal: max <= 5 min, a third of the retired Azure API for FHIR's 15 min), and where a cycle's
time goes (export and import in the service's simulated time, fhirdr's own wall and CPU time).

Scale: a primary of N resources (10k, 100k, 1M), then the first full cycle (wall time; fhirdr's own CPU
seconds, the simulated service's excluded; the peak memory fhirdr holds between requests), an idle cycle
(requests: goal constant), and a reconcile (requests: goal growing with N / page size).

    python benchmarks/replicate.py [--sizes 10000,100000,1000000] [--hours 2] [--rate 1000]
    python benchmarks/replicate.py --skip-steady --sizes 10000

The simulated throughput is fhirdr's assumption (sim/fhir_jobs.py: export 2,000 and import 1,000
resources/s, 15 s to start a job): Microsoft publishes none. Figures are for this machine and the sim.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _env(state: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "FHIRDR_STATE_DIR": str(state), "NO_COLOR": "1"}


def _fhirdr(args: list[str], state: Path, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fhirdr", *args], env=_env(state), cwd=cwd, capture_output=True, text=True, check=False
    )


def _world(tmp: Path) -> Path:
    state = tmp / "state"
    for args in (["sim", "init", "--kind", "ahds", "--force"], ["--sim", "enable", "--apply", "--yes"]):
        done = _fhirdr(args, state, tmp)
        if done.returncode != 0:
            raise SystemExit(f"fhirdr {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return state


def _rank(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def steady(hours: float, rate: int) -> None:
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        state = _world(tmp)
        duration = f"{hours * 60:g}m"
        load = _fhirdr(["--sim", "sim", "workload", "--rate", f"{rate}/min", "--duration", duration], state, tmp)
        if load.returncode != 0:
            raise SystemExit(load.stderr)
        cycles = int(hours * 60) + 1
        started = time.perf_counter()
        run = _fhirdr(
            ["--sim", "-o", "json", "replicate", "--follow", "--interval", "1m", "--cycles", str(cycles)], state, tmp
        )
        wall = time.perf_counter() - started
        docs = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    ok = [d for d in docs if d["status"] == "ok"]
    rpos = [d["rpo_seconds"] for d in ok if d["rpo_seconds"] is not None]
    exports = [d["export_seconds"] for d in ok[1:]]
    imports = [d["import_seconds"] for d in ok[1:]]
    spans = [_span(d) for d in ok[1:]]
    written = sum(sum(d["imported"].values()) for d in ok)
    print(f"steady state: {rate} writes/min for {hours:g} h simulated, replicate --follow --interval 1m")
    duplicates = sum(d["duplicates"] for d in ok)
    print(f"  cycles {len(docs)} ({len(ok)} ok), versions imported {written}, duplicates {duplicates}")
    print(
        f"  measured RPO  p50 {_rank(rpos, 0.5):.0f} s  p99 {_rank(rpos, 0.99):.0f} s  max {max(rpos):.0f} s"
        f"  (goal max <= 300 s: {'met' if max(rpos) <= 300 else 'MISSED'})"
    )
    cycle = statistics.mean(spans)
    export, imp = statistics.mean(exports), statistics.mean(imports)
    print(
        f"  a cycle takes {cycle:.1f} s of service time: export {export:.1f} s ({export / cycle:.0%}), "
        f"import {imp:.1f} s ({imp / cycle:.0%}), the rest {cycle - export - imp:.1f} s (state blobs, poll granularity)"
    )
    print(
        f"  fhirdr itself: {statistics.mean(d['wall_seconds'] for d in ok):.2f} s wall and "
        f"{statistics.mean(d['cpu_seconds'] for d in ok):.2f} s CPU per cycle (sim included, in-process); "
        f"the whole run {wall:.0f} s wall"
    )
    print("  RPO = interval (60 s) + the cycle's duration: the export and import jobs' start time dominates")


def _span(doc: dict) -> float:
    from fhirdr.replication.times import parse_instant

    return parse_instant(doc["ended"]) - parse_instant(doc["started"])


class Meter:
    """Wraps the sim transport: requests, the sim's own CPU, and the memory fhirdr holds between requests."""

    def __init__(self, transport) -> None:
        self.requests = 0
        self.sim_cpu = 0.0
        self.held_peak = 0
        original = transport._send

        def send(request):
            self.held_peak = max(self.held_peak, tracemalloc.get_traced_memory()[0])
            self.requests += 1
            cpu = time.process_time()
            try:
                return original(request)
            finally:
                self.sim_cpu += time.process_time() - cpu

        transport._send = send


def seed(store, service_id: str, count: int) -> None:
    """N resources on the primary, written an hour ago (direct inserts: the HTTP path would take hours)."""
    from fhirdr.replication.times import iso

    when = store.now() - 3600
    types = ("Patient", "Observation", "Encounter")
    with store.transaction():
        batch = []
        for n in range(count):
            rtype = types[n % 3]
            rid = f"r{n:08d}"
            body = {
                "resourceType": rtype,
                "id": rid,
                "meta": {"versionId": "1", "lastUpdated": iso(when)},
                "status": "final",
                "text": {"status": "generated", "div": "<div>" + "x" * 200 + "</div>"},
            }
            batch.append((service_id.lower(), rtype, rid, 1, json.dumps(body), when))
            if len(batch) >= 10_000:
                store._conn.executemany(
                    "INSERT INTO fhir_writes (service, rtype, rid, version, body, time) VALUES (?, ?, ?, ?, ?, ?)",
                    batch,
                )
                batch = []
        if batch:
            store._conn.executemany(
                "INSERT INTO fhir_writes (service, rtype, rid, version, body, time) VALUES (?, ?, ?, ?, ?, ?)", batch
            )


def scale(size: int) -> dict[str, float]:
    from fhirdr.azure.session import AzureSession
    from fhirdr.replication import preflight
    from fhirdr.replication.cycle import Replicator
    from fhirdr.sim.world import ahds_service_id
    from fhirdr.steps.base import Context
    from fhirdr.target import load_target

    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        state = _world(tmp)
        os.environ["FHIRDR_STATE_DIR"] = str(state)
        target = load_target(tmp / "fhirdr.toml")
        session = AzureSession(target.subscription, sim_path=state / "sim.sqlite")
        from fhirdr.sim.world import WorldSpec

        seed(session.sim_store, ahds_service_id(WorldSpec(kind="ahds")), size)
        meter = Meter(session.transport)
        context = Context(target, session)
        route = preflight.check(context)
        replicator = Replicator(context, route)
        tracemalloc.start()
        started, cpu, before = time.perf_counter(), time.process_time(), meter.sim_cpu
        first = replicator.cycle()
        full_wall = time.perf_counter() - started
        full_cpu = (time.process_time() - cpu) - (meter.sim_cpu - before)
        held = meter.held_peak
        tracemalloc.stop()
        assert first["status"] == "ok", first
        session.sleep(600)
        count = meter.requests
        idle = replicator.cycle()
        idle_requests = meter.requests - count
        assert idle["status"] == "ok" and not sum(idle["imported"].values()), idle
        session.sleep(60)
        count = meter.requests
        reconciled = replicator.cycle(reconcile=True, dry_run_reconcile=True)
        reconcile_requests = meter.requests - count
        size_mb = os.path.getsize(state / "sim.sqlite") / 2**20
    return {
        "size": size,
        "full_wall": full_wall,
        "full_cpu": full_cpu,
        "held_mib": held / 2**20,
        "idle_requests": idle_requests,
        "reconcile_requests": reconcile_requests,
        "reconcile_inner": reconciled["reconcile"]["requests"],
        "sim_mb": size_mb,
        "service_seconds": first["export_seconds"] + first["import_seconds"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated primary sizes (1000000 for 1M)")
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--rate", type=int, default=1000, help="writes per minute")
    parser.add_argument("--skip-steady", action="store_true")
    parser.add_argument("--skip-scale", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    if not args.skip_steady:
        steady(args.hours, args.rate)
    if args.skip_scale:
        return
    print("scale: the first full cycle, an idle cycle and a reconcile over a primary of N resources")
    print(
        f"  {'resources':>10} {'full wall s':>12} {'fhirdr CPU s':>13} {'held MiB':>9} {'idle requests':>14} "
        f"{'reconcile requests':>19} {'service s':>10}"
    )
    for size in (int(s) for s in args.sizes.split(",")):
        row = scale(size)
        print(
            f"  {row['size']:>10} {row['full_wall']:>12.1f} {row['full_cpu']:>13.2f} {row['held_mib']:>9.1f} "
            f"{row['idle_requests']:>14} {row['reconcile_requests']:>19} {row['service_seconds']:>10.0f}",
            flush=True,
        )
    print("  full wall includes the in-process sim doing the export and import; fhirdr CPU excludes the sim's;")
    print("  held MiB is the largest allocation fhirdr held between requests (tracemalloc), the sim's excluded")


if __name__ == "__main__":
    main()
