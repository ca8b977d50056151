"""`fhirdr --sim status` with every simulated ARM answer delayed: do independent reads run together?

Prints, for a managed, a self-hosted and an AHDS target, the number of dependent read rounds status needs (the
longest chain of requests that had to wait for each other, measured from the transport's request
log), the whole-process wall time at FHIRDR_SIM_LATENCY_MS=0 and =100, and the time the latency
added. Target (enable/status issue): added <= 2 x rounds x 100 ms.

    python benchmarks/status_latency.py [--runs 3] [--latency-ms 100]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def fhirdr() -> list[str]:
    exe = shutil.which("fhirdr")
    return [exe] if exe else [sys.executable, "-m", "fhirdr"]


def wall(env: dict[str, str], cwd: Path, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(
            fhirdr() + ["--sim", "status"],
            env=env,
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def rounds(cwd: Path, latency_ms: int) -> tuple[int, int]:
    """Run status in-process and return (dependent rounds, requests) from the request log."""
    os.environ["FHIRDR_SIM_LATENCY_MS"] = str(latency_ms)
    os.chdir(cwd)
    from fhirdr.azure.session import AzureSession
    from fhirdr.paths import default_sim_path
    from fhirdr.status import read_status
    from fhirdr.steps.base import Context
    from fhirdr.target import load_target

    target = load_target(Path("fhirdr.toml"))
    session = AzureSession(target.subscription, sim_path=default_sim_path())
    read_status(Context(target, session))
    log = sorted(session.transport.timings)
    chain: list[int] = []
    for index, (start, _) in enumerate(log):
        before = [chain[j] for j in range(index) if log[j][1] <= start]
        chain.append(1 + max(before, default=0))
    return max(chain, default=0), len(log)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--latency-ms", type=int, default=100)
    options = parser.parse_args()
    print(
        f"{'target kind':12} {'rounds':>6} {'requests':>8} {'wall@0 s':>9} {'wall@lat s':>10} {'added s':>8} "
        f"{'limit s':>8}  verdict"
    )
    for kind in ("managed", "self-hosted", "ahds"):
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            env = {**os.environ, "FHIRDR_STATE_DIR": str(work / "state"), "NO_COLOR": "1"}
            env.pop("FHIRDR_SIM", None)
            subprocess.run(
                fhirdr() + ["sim", "init", "--kind", kind], env=env, cwd=work, check=True, capture_output=True
            )
            base = wall({**env, "FHIRDR_SIM_LATENCY_MS": "0"}, work, options.runs)
            slow = wall({**env, "FHIRDR_SIM_LATENCY_MS": str(options.latency_ms)}, work, options.runs)
            os.environ["FHIRDR_STATE_DIR"] = env["FHIRDR_STATE_DIR"]
            count, requests = rounds(work, options.latency_ms)
            limit = 2 * count * options.latency_ms / 1000
            added = slow - base
            print(
                f"{kind:12} {count:6d} {requests:8d} {base:9.3f} {slow:10.3f} {added:8.3f} {limit:8.3f}  "
                f"{'ok' if added <= limit else 'over'}"
            )
    print(f"(median of {options.runs} whole-process runs; latency {options.latency_ms} ms per simulated ARM answer)")


if __name__ == "__main__":
    main()
