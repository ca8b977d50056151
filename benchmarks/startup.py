"""Wall time of whole fhirdr processes: `--help` and the Private Link check against the sim.

Prints the median of N runs of each (default 5), next to the targets of the core issue:
`fhirdr --help` <= 0.25 s and `fhirdr --sim configure-private-link` (check only) <= 1.0 s.

    python benchmarks/startup.py [--runs 5]
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

TARGETS = {"fhirdr --help": 0.25, "fhirdr --sim configure-private-link": 1.0}


def fhirdr() -> list[str]:
    exe = shutil.which("fhirdr")
    return [exe] if exe else [sys.executable, "-m", "fhirdr"]


def timed(args: list[str], env: dict[str, str], cwd: Path, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(
            fhirdr() + args, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False
        )
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = {**os.environ, "FHIRDR_STATE_DIR": str(work / "state"), "NO_COLOR": "1"}
        env.pop("FHIRDR_SIM", None)
        subprocess.run(fhirdr() + ["sim", "init"], env=env, cwd=work, check=True, capture_output=True)
        print(f"{'command':45} {'median s':>9} {'min s':>7} {'max s':>7} {'target s':>9}")
        for label, args in (
            ("fhirdr --help", ["--help"]),
            ("fhirdr --sim configure-private-link", ["--sim", "configure-private-link"]),
        ):
            times = timed(args, env, work, options.runs)
            print(
                f"{label:45} {statistics.median(times):9.3f} {min(times):7.3f} {max(times):7.3f} {TARGETS[label]:9.2f}"
            )
        print(f"({options.runs} whole-process runs each; python {sys.version.split()[0]}, {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
