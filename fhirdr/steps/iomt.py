"""IoMT connectors: no DR of their own. List them and say what to recreate after a failover."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fhirdr.steps.base import Change, Step
from fhirdr.steps.ids import service_id

IOMT_API_VERSION = "2020-05-01-preview"


def list_children(step: Step, parent_id: str, child: str) -> list[dict[str, Any]]:
    """The preview IoMT API is in no typed SDK: read it through the generic resources client's pipeline."""
    from azure.core.rest import HttpRequest

    from fhirdr.errors import AzureError

    client = step.ctx.azure.resources()
    url = f"{step.ctx.azure.cloud.resource_manager}{parent_id}/{child}"
    response = client.send_request(HttpRequest("GET", url, params={"api-version": IOMT_API_VERSION}))
    if response.status_code == 404:
        return []
    if response.status_code != 200:
        raise AzureError(f"reading {child} of {parent_id} answered HTTP {response.status_code}")
    return response.json().get("value", [])


@dataclass
class IomtFacts:
    connectors: list[dict[str, Any]] = field(default_factory=list)
    connections: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    failed_over_at: str | None = None


class Connectors(Step):
    """Each connector's connections, with the DR caveat; after a failover, the ones to recreate."""

    uses = "iomt.connectors"

    def facts(self) -> IomtFacts:
        from fhirdr.kinds import kind_of

        parent = service_id(self.ctx.target)
        connectors = list_children(self, parent, "iomtconnectors")
        connections = {c["name"]: list_children(self, c["id"], "connections") for c in connectors}
        failed_over_at = None
        # Only a kind whose write region fhirdr can see has a failover time to compare connections with.
        if connectors and kind_of(self.ctx.target).write_region_failover:
            from fhirdr.steps.health import last_failover

            # A failback is a priority change too: only a failover that still holds makes connections stale.
            event = last_failover(self.ctx)
            failed_over_at = event["time"] if event and event["direction"] == "failover" else None
        return IomtFacts(connectors, connections, failed_over_at)

    def observe(self, facts: IomtFacts) -> str:
        if not facts.connectors:
            return "no IoMT connectors"
        parts = [
            f"{name}: {', '.join(c['name'] for c in items) or 'no connections'}"
            for name, items in facts.connections.items()
        ]
        return "; ".join(parts)

    def plan(self, facts: IomtFacts) -> list[Change]:
        changes = []
        for connector, items in facts.connections.items():
            for connection in items:
                created = (connection.get("systemData") or {}).get("createdAt")
                if facts.failed_over_at and (not created or _ts(created) < _ts(facts.failed_over_at)):
                    changes.append(
                        Change(
                            "recreate",
                            connection["id"],
                            f"recreate connection {connection['name']} of "
                            f"{connector}: it was made before the failover of {facts.failed_over_at} "
                            "and fails until the region is back",
                            fixable=False,
                            severity="warning",
                        )
                    )
        return changes


def _ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


STEPS = [Connectors]
