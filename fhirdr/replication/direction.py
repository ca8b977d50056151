"""Which way replication runs: from the FHIR service clients use now (the active one) to the other.

Before any switch the primary is active and replication runs primary -> standby. `fhirdr failover`
makes the standby active and reverses replication (the old primary becomes the target, with its own
watermark); `fhirdr failback` turns it back. The switch records the active side in
`{container}/fhirdr-state/{primary workspace}-{primary service}/active.json`, next to the forward
direction's watermark, so every runner (a laptop, a container job) reads the same answer with one blob
read per cycle and follows a switch without being told.

Each direction keeps its state under the folder of the service it exports from:
`fhirdr-state/{source workspace}-{source service}/` (watermark, lease, history).

The storage account holding this state must survive the primary region's outage (GZRS, or an account in
the standby's region): an unplanned failover reads and writes it while the primary region is down.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fhirdr.kinds.ahds import service_url

ROLES = ("primary", "standby")
ACTIVE_BLOB = "active.json"
# Who holds a direction's lease while a switch runs: `replicate --follow` waits for it instead of exiting.
SWITCH_HOLDER_PREFIX = "fhirdr-switch/"


@dataclass(frozen=True)
class Side:
    """One of the two FHIR services of an ahds target."""

    role: str  # "primary" (the target's own service) or "standby"
    resource_group: str
    workspace: str
    service: str
    url: str

    @property
    def state_name(self) -> str:
        """The state folder of the direction that exports from this side."""
        return f"{self.workspace}-{self.service}"


def sides(target: Any, fhir_suffix: str) -> dict[str, Side]:
    standby = target.require_standby()
    return {
        "primary": Side(
            "primary",
            target.resource_group,
            target.workspace or "",
            target.service,
            service_url(target.workspace or "", target.service, fhir_suffix),
        ),
        "standby": Side(
            "standby",
            standby.resource_group,
            standby.workspace,
            standby.service,
            service_url(standby.workspace, standby.service, fhir_suffix),
        ),
    }


def other(role: str) -> str:
    return "standby" if role == "primary" else "primary"


def anchor_state(session: Any, target: Any, account: str, container: str) -> Any:
    """The forward direction's state, where active.json lives."""
    from fhirdr.replication.state import ReplicationState

    forward = sides(target, session.cloud.fhir_suffix)["primary"].state_name
    return ReplicationState(session, account, container, forward)


def read_active(session: Any, target: Any, account: str, container: str) -> tuple[dict[str, Any], str | None]:
    """The active side as the last switch wrote it ({"active": "primary"} when no switch ever ran)."""
    document, etag = anchor_state(session, target, account, container).read_document(ACTIVE_BLOB)
    if not document or document.get("active") not in ROLES:
        return {"active": "primary"}, etag
    return document, etag


def write_active(session: Any, target: Any, account: str, container: str, document: dict[str, Any]) -> None:
    anchor_state(session, target, account, container).write_document(ACTIVE_BLOB, document)
