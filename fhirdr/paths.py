"""Where fhirdr keeps its state: journals, the simulated Azure, leases."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def state_dir() -> Path:
    """The user's state directory for fhirdr (FHIRDR_STATE_DIR wins over the platform default)."""
    explicit = os.environ.get("FHIRDR_STATE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    else:
        base = Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state"))
    return base / "fhirdr"


def journal_dir() -> Path:
    return state_dir() / "runs"


def default_sim_path() -> Path:
    return state_dir() / "sim.sqlite"
