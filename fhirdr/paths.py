"""Where fhirdr keeps its state (journals, the simulated Azure, leases), and writing files with clear errors."""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path

from fhirdr.errors import BadInputError


def state_dir() -> Path:
    """The user's state directory for fhirdr (FHIRDR_STATE_DIR wins over the platform default)."""
    explicit = os.environ.get("FHIRDR_STATE_DIR")
    if explicit is not None:
        if not explicit.strip():
            raise BadInputError("FHIRDR_STATE_DIR is set but empty", hint="set it to a folder, or unset it")
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


def why(exc: OSError, path: Path) -> str:
    """An OSError as a few words about `path`: 'it is a directory', 'folder /x does not exist'."""
    code = exc.errno
    if code == errno.ENOENT:
        return f"folder {path.parent} does not exist" if not path.parent.exists() else "it does not exist"
    if code == errno.EISDIR:
        return "it is a directory"
    if code == errno.ENOTDIR:
        blocker = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
        return f"{blocker} is a file, not a folder" if blocker else "a part of the path is not a folder"
    if code in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if code == errno.EROFS:
        return "the file system is read-only"
    if code == errno.ENOSPC:
        return "no space left on the device"
    return exc.strerror or str(exc)


def ensure_dir(path: Path, what: str, hint: str | None = None) -> Path:
    """Create folder `path` if needed; a file in the way, or no permission, is a clear BadInputError."""
    hint = hint or _STATE_HINT
    if path.exists() and not path.is_dir():
        raise BadInputError(f"{what} {path} is a file, not a folder", hint=hint)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInputError(f"{what} {path} cannot be created: {why(exc, path)}", hint=hint) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise BadInputError(f"{what} {path} is not writable", hint=hint)
    return path


_STATE_HINT = "choose a writable folder (FHIRDR_STATE_DIR sets where fhirdr keeps its state)"


def check_writable(path: Path, what: str) -> None:
    """Refuse, before any work, a file that cannot be written: a directory, a missing folder, read-only."""
    if str(path) in ("", "."):
        raise BadInputError(f"{what}: the path is empty", hint="give a file name")
    if path.is_dir():
        raise BadInputError(f"cannot write {what} {path}: it is a directory", hint="give a file name")
    parent = path.parent
    if not parent.is_dir():
        reason = f"{parent} is a file, not a folder" if parent.exists() else f"folder {parent} does not exist"
        raise BadInputError(f"cannot write {what} {path}: {reason}", hint="create the folder first, or choose another")
    if not os.access(path if path.exists() else parent, os.W_OK):
        raise BadInputError(f"cannot write {what} {path}: permission denied")


def write_text(path: Path, text: str, what: str) -> None:
    """Write a file the user named; any OS error becomes a BadInputError naming the path and the problem."""
    check_writable(path, what)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise BadInputError(f"cannot write {what} {path}: {why(exc, path)}") from None
