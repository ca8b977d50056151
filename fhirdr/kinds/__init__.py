"""The kinds of FHIR deployment fhirdr serves, each one module behind one interface, looked up by name.

Commands and steps ask the target's kind (`kind_of(target)`) instead of comparing its name.
"""

from __future__ import annotations

from typing import Any

from fhirdr.kinds.ahds import AhdsKind
from fhirdr.kinds.base import Kind
from fhirdr.kinds.managed import ManagedKind
from fhirdr.kinds.self_hosted import SelfHostedKind

KINDS: dict[str, Kind] = {kind.name: kind for kind in (ManagedKind(), SelfHostedKind(), AhdsKind())}
# Old names still accepted for one release, with a warning.
RENAMED_KINDS = {"backing": "self-hosted"}


def kind_of(target: object) -> Kind:
    """The kind module of a target (anything with a `kind` attribute naming one, or the name itself)."""
    return KINDS[target if isinstance(target, str) else getattr(target, "kind", "managed")]


def refuse_options(kind: Kind, flags: dict[str, Any], allowed: set[str]) -> None:
    """Options that describe another kind of deployment are a mistake, not something to ignore."""
    other = sorted(name for name, value in flags.items() if value and name not in allowed)
    if other:
        from fhirdr.errors import TargetError

        words = ", ".join("--" + name.replace("_", "-") for name in other)
        raise TargetError(
            f"{words} do not describe a target of kind {kind.name} ({kind.title})",
            hint="--cosmos-account and --traffic-manager are for --kind self-hosted, --workspace for --kind ahds",
        )


def require_applicable(target: object, area: str, command: str) -> None:
    """Refuse (exit 2) a command for a configuration area that does not exist on this kind of target."""
    from fhirdr.errors import BadInputError

    kind = kind_of(target)
    reason = kind.not_applicable(area)
    if reason:
        raise BadInputError(f"`fhirdr {command}` does not apply to {kind.name} targets ({kind.title}): {reason}")
    later = kind.not_checked(area)
    if later:
        raise BadInputError(f"`fhirdr {command}` does not check {kind.name} targets yet: {later}")


__all__ = ["KINDS", "RENAMED_KINDS", "Kind", "kind_of", "require_applicable"]
