"""Wall time of `fhirdr --sim drill` for the two-hour scenario (a fresh simulated world each run).

Target (drill issue): <= 15 s on the 2-core machine. Prints the median of N runs and the simulated
span the drill covered.

    python benchmarks/drill.py [--runs 3]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    walls, spans, writes = [], [], []
    for _ in range(options.runs):
        with tempfile.TemporaryDirectory() as tmp:
            env = {**os.environ, "FHIRDR_STATE_DIR": str(Path(tmp) / "state"), "NO_COLOR": "1"}
            env.pop("FHIRDR_SIM", None)
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
    print(
        f"{'runs':>4} {'median wall s':>13} {'min s':>6} {'max s':>6} {'simulated h':>11} {'canaries':>8} "
        f"{'target s':>8}"
    )
    print(
        f"{options.runs:4d} {statistics.median(walls):13.2f} {min(walls):6.2f} {max(walls):6.2f} "
        f"{statistics.median(spans):11.2f} {statistics.median(writes):8.0f} {15:8d}"
    )


if __name__ == "__main__":
    main()
