"""Wall time of `fhirdr --sim drill` for the two-hour scenario (a fresh simulated world each run).

Target (drill issue): <= 15 s on the 2-core machine. Prints the median of N runs and the simulated
span the drill covered, for the default self-hosted world and for an ahds target (Front Door,
replication between the canaries, an outage, fhirdr's unplanned failover, failback) with its measured
RTO, RPO and lost writes; then the RTO of a planned ahds failover (writes paused until the switch;
goal under 2 simulated minutes) with a workload of 1,000 writes per minute through the front door.

    python benchmarks/drill.py [--runs 3] [--kinds self-hosted,ahds]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path


def fhirdr() -> list[str]:
    exe = shutil.which("fhirdr")
    return [exe] if exe else [sys.executable, "-m", "fhirdr"]


def run(env: dict[str, str], cwd: str, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run(fhirdr() + ["--sim", *args], env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode not in (0, 1):
        raise SystemExit(f"fhirdr {' '.join(args)} exited {done.returncode}: {done.stderr[-2000:]}")
    return done


def ahds_world(env: dict[str, str], tmp: str) -> None:
    """An ahds target with its standby, one audience, the front door, and a first replication cycle."""
    run(env, tmp, "sim", "init", "--kind", "ahds")
    target = Path(tmp) / "fhirdr.toml"
    text = target.read_text()
    target.write_text(
        text.replace('profile = "contosohealth-fd"\n', 'profile = "contosohealth-fd"\naudience = "api://x"\n')
    )
    run(env, tmp, "enable", "--apply", "--yes")
    run(env, tmp, "configure-endpoint", "--apply", "--yes")
    run(env, tmp, "replicate")


def planned_failover(env: dict[str, str], tmp: str) -> dict[str, float]:
    """A planned failover under 1,000 writes/min through the front door: how long clients' writes were refused."""
    from fhirdr.replication.times import parse_instant
    from fhirdr.sim import blob
    from fhirdr.sim.store import Store

    ahds_world(env, tmp)
    run(env, tmp, "sim", "workload", "--rate", "1000/min", "--duration", "30m")
    for _ in range(3):
        run(env, tmp, "sim", "advance", "1m")
        run(env, tmp, "replicate")
    started = time.perf_counter()
    done = run(env, tmp, "-o", "json", "failover", "--apply", "--yes")
    wall = time.perf_counter() - started
    run_id = json.loads(done.stdout)["run_id"]
    store = Store(Path(env["FHIRDR_STATE_DIR"]) / "sim.sqlite")
    found = blob.get_blob(
        store,
        "fhirdemoexports",
        "fhirdr-replication",
        f"fhirdr-state/contosohealth-fhirdemo/switches/failover-{run_id}.json",
    )
    record = json.loads(found.body)
    paused, switched = parse_instant(record["paused_at"]), parse_instant(record["switched_at"])
    return {"rto": switched - paused, "wall": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--kinds", default="self-hosted,ahds")
    options = parser.parse_args()
    kinds = [k.strip() for k in options.kinds.split(",") if k.strip()]
    print(
        f"{'kind':>11} {'runs':>4} {'median wall s':>13} {'min s':>6} {'max s':>6} {'simulated h':>11} "
        f"{'canaries':>8} {'RTO s':>6} {'RPO s':>6} {'lost':>4} {'target s':>8}"
    )
    for kind in kinds:
        drill(kind, options.runs)
    if "ahds" in kinds:
        figures = []
        for _ in range(options.runs):
            with tempfile.TemporaryDirectory() as tmp:
                env = {**os.environ, "FHIRDR_STATE_DIR": str(Path(tmp) / "state"), "NO_COLOR": "1"}
                env.pop("FHIRDR_SIM", None)
                figures.append(planned_failover(env, tmp))
        rto = statistics.median(f["rto"] for f in figures)
        wall = statistics.median(f["wall"] for f in figures)
        print(
            f"planned ahds failover, 1,000 writes/min: writes refused for {rto:.0f} simulated s (goal < 120 s), "
            f"{wall:.2f} s wall, median of {options.runs}"
        )


def drill(kind: str, runs: int) -> None:
    walls, spans, writes, rtos, rpos, lost = [], [], [], [], [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            env = {**os.environ, "FHIRDR_STATE_DIR": str(Path(tmp) / "state"), "NO_COLOR": "1"}
            env.pop("FHIRDR_SIM", None)
            if kind == "ahds":
                ahds_world(env, tmp)
            started = time.perf_counter()
            done = subprocess.run(
                fhirdr() + ["--sim", "-o", "json", "drill"],
                env=env,
                cwd=tmp,
                capture_output=True,
                text=True,
                check=False,
            )
            walls.append(time.perf_counter() - started)
            doc = json.loads(done.stdout)
            stamps = [datetime.fromisoformat(c["at"]).timestamp() for c in doc["canaries"]]
            spans.append((max(stamps) - min(stamps)) / 3600)
            writes.append(len(stamps))
            m = doc["measurements"]
            rtos.append(m["rto_seconds"] or 0.0)
            rpos.append(m["rpo_seconds"] or 0.0)
            lost.append(m["lost_writes"])
    print(
        f"{kind:>11} {runs:4d} {statistics.median(walls):13.2f} {min(walls):6.2f} {max(walls):6.2f} "
        f"{statistics.median(spans):11.2f} {statistics.median(writes):8.0f} {statistics.median(rtos):6.0f} "
        f"{statistics.median(rpos):6.0f} {statistics.median(lost):4.0f} {15:8d}"
    )


if __name__ == "__main__":
    main()
