"""Load runbooks from YAML and validate all of them before anything runs."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from fhirdr.errors import RunbookError
from fhirdr.runbook.model import OWNERS, Runbook, StepSpec
from fhirdr.steps import registry

_STEP_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*\.[a-z0-9]+(-[a-z0-9]+)*$")
_TOP_KEYS = {"runbook", "title", "description", "article", "steps"}
_STEP_KEYS = {"id", "title", "uses", "owner", "section", "with"}


def shipped_runbook(name: str) -> Path:
    """Path of a runbook shipped with fhirdr (inside the wheel, or in a source checkout)."""
    filename = f"{name}.yaml"
    packaged = resources.files("fhirdr").joinpath("runbooks", filename)
    if packaged.is_file():
        return Path(str(packaged))
    checkout = Path(__file__).resolve().parents[2] / "runbooks" / filename
    if checkout.is_file():
        return checkout
    raise RunbookError(f"runbook '{name}' is not shipped with this installation of fhirdr")


def load_runbook(path: Path) -> Runbook:
    """Read and validate a runbook; every problem names the file, the step and the field."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RunbookError(f"cannot read runbook {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise RunbookError(f"{path}: not valid YAML{where}: {problem}") from None
    return validate_runbook(data, path)


def validate_runbook(data: Any, path: Path) -> Runbook:
    if not isinstance(data, dict):
        raise RunbookError(f"{path}: a runbook must be a mapping with 'runbook', 'title' and 'steps'")
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise RunbookError(
            f"{path}: unknown field '{unknown[0]}'", hint=f"known fields: {', '.join(sorted(_TOP_KEYS))}"
        )
    for key in ("runbook", "title"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise RunbookError(f"{path}: field '{key}' is required and must be text")
    steps = data.get("steps")
    if not isinstance(steps, list) or not steps:
        raise RunbookError(f"{path}: field 'steps' must be a non-empty list")
    seen: set[str] = set()
    specs = []
    for index, raw in enumerate(steps, start=1):
        spec = _validate_step(raw, index, path)
        if spec.id in seen:
            raise RunbookError(f"{path}: step {spec.id}: field 'id' is used twice")
        seen.add(spec.id)
        specs.append(spec)
    return Runbook(
        name=data["runbook"].strip(),
        title=data["title"].strip(),
        description=str(data.get("description") or "").strip(),
        article=str(data.get("article") or "").strip(),
        steps=tuple(specs),
        source=path,
    )


def _validate_step(raw: Any, index: int, path: Path) -> StepSpec:
    where = f"{path}: step {index}"
    if not isinstance(raw, dict):
        raise RunbookError(f"{where}: must be a mapping with 'id', 'title', 'uses' and 'owner'")
    step_id = raw.get("id")
    if isinstance(step_id, str) and step_id:
        where = f"{path}: step {step_id}"
    unknown = sorted(set(raw) - _STEP_KEYS)
    if unknown:
        raise RunbookError(
            f"{where}: unknown field '{unknown[0]}'", hint=f"known fields: {', '.join(sorted(_STEP_KEYS))}"
        )
    if not isinstance(step_id, str) or not _STEP_ID.match(step_id):
        raise RunbookError(
            f"{where}: field 'id' must look like 'section.step' (lower-case words and hyphens), got {step_id!r}"
        )
    for key in ("title", "uses", "owner"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise RunbookError(f"{where}: field '{key}' is required and must be text")
    if raw["owner"] not in OWNERS:
        raise RunbookError(f"{where}: field 'owner' must be one of {', '.join(OWNERS)}, got {raw['owner']!r}")
    implementation = registry().get(raw["uses"])
    if implementation is None:
        raise RunbookError(
            f"{where}: field 'uses' names no step implementation: {raw['uses']!r}",
            hint=f"known: {', '.join(sorted(registry()))}",
        )
    args = raw.get("with") or {}
    if not isinstance(args, dict):
        raise RunbookError(f"{where}: field 'with' must be a mapping of parameters")
    for name, value in args.items():
        param = implementation.params.get(name)
        if param is None:
            known = ", ".join(sorted(implementation.params)) or "none"
            raise RunbookError(
                f"{where}: field 'with.{name}' is not a parameter of {raw['uses']}", hint=f"known: {known}"
            )
        if not isinstance(value, param.type) or (param.type is int and isinstance(value, bool)):
            raise RunbookError(f"{where}: field 'with.{name}' must be {param.type.__name__}, got {value!r}")
        if param.choices and value not in param.choices:
            raise RunbookError(
                f"{where}: field 'with.{name}' must be one of {', '.join(map(str, param.choices))}, got {value!r}"
            )
    for name, param in implementation.params.items():
        if param.required and name not in args:
            raise RunbookError(f"{where}: field 'with.{name}' is required by {raw['uses']}")
    return StepSpec(
        id=step_id,
        title=raw["title"].strip(),
        uses=raw["uses"],
        owner=raw["owner"],
        section=str(raw.get("section") or "").strip(),
        args=dict(args),
    )
