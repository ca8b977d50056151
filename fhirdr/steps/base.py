"""What a step is: facts (read-only), plan (changes needed), apply (make one change)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from fhirdr.azure.session import AzureSession
from fhirdr.target import Target


def text(value: Any) -> str:
    """SDK enums (ProvisioningState.SUCCEEDED) as the wire value ('Succeeded')."""
    return "" if value is None else str(getattr(value, "value", value))


# Actions the runner treats specially. WAIT: something to wait for (support working a ticket,
# replication catching up), polled, never applied. REFUSE: a safety gate saying no; the run stops
# before acting (exit 4). OVERRIDE: a gate overridden with --force; applying it only records it.
WAIT = "wait"
REFUSE = "refuse"
OVERRIDE = "override"


@dataclass
class Change:
    """One change a step wants. `fixable=False` means fhirdr cannot make it: a person must."""

    action: str
    resource: str
    summary: str
    data: dict[str, Any] = field(default_factory=dict)
    fixable: bool = True
    # "fail" makes a check fail; "warning" is reported and never fails a run or gets applied.
    severity: str = "fail"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("data")
        return out


@dataclass(frozen=True)
class Param:
    """A parameter a step accepts under `with:` in a runbook."""

    type: type
    required: bool = False
    default: Any = None
    choices: tuple[Any, ...] | None = None


@dataclass
class Context:
    """What a step may use: the target and the Azure session (clients, clock)."""

    target: Target
    azure: AzureSession
    options: dict[str, Any] = field(default_factory=dict)


class Reader:
    """Lets code outside a runbook (status, drill, enable) use the steps' read helpers, which need `.ctx`."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx


class Step:
    """Base of every step implementation; `uses` is the name runbooks refer to it by."""

    uses: ClassVar[str] = ""
    params: ClassVar[dict[str, Param]] = {}
    instruction: ClassVar[bool] = False

    def __init__(self, ctx: Context, **params: Any) -> None:
        self.ctx = ctx
        self.args = {name: params.get(name, spec.default) for name, spec in self.params.items()}

    def facts(self) -> Any:
        raise NotImplementedError

    def observe(self, facts: Any) -> str:
        """What is there now, in one line, for the findings table."""
        raise NotImplementedError

    def plan(self, facts: Any) -> list[Change]:
        raise NotImplementedError

    def apply(self, change: Change) -> None:
        raise NotImplementedError


class InstructionStep(Step):
    """A step owned by a person: shown as instructions, never acted on by fhirdr."""

    uses = "instruction"
    instruction = True
    params = {"text": Param(str, required=True)}

    def facts(self) -> None:
        return None

    def observe(self, facts: Any) -> str:
        return str(self.args["text"]).strip()

    def plan(self, facts: Any) -> list[Change]:
        return []
