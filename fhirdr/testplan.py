"""The DR test plan of the article's "how to test DR" section, written for one target."""

from __future__ import annotations

from typing import Any

from fhirdr.kinds import kind_of
from fhirdr.target import Target


def build_test_plan(target: Target) -> dict[str, Any]:
    kind = kind_of(target)
    managed = kind.support_operated
    secondary = target.secondary_region or "(the paired region; `fhirdr enable` names it)"
    steps = [
        (
            "customer",
            "Prepare a test environment",
            f"A separate deployment of the {kind.title} with a small amount of data (initial replication is faster), "
            "marked `test_environment = true` in its target file so drills may disrupt it.",
            None,
        ),
        (
            "fhirdr",
            "Check the configuration DR depends on",
            "Private Link, customer-managed key, $export and IoMT as listed below.",
            "fhirdr status",
        ),
        (
            "fhirdr" if not managed else "customer",
            "Request DR for the test environment" if managed else "Turn DR on",
            "Open the support ticket with the details below."
            if managed
            else "Add the secondary region to Cosmos DB, turn on service-managed failover, add the Traffic Manager "
            "endpoint.",
            "fhirdr enable --apply" + (" --ticket-draft ticket.md" if managed else ""),
        ),
        (
            "support" if managed else "fhirdr",
            "Wait until DR is on",
            "Secondary present and the initial replication done.",
            "fhirdr enable --apply --wait",
        ),
        (
            "support" if managed else "fhirdr",
            "Fail the data over",
            "Support performs the test failover at the agreed time."
            if managed
            else "A Cosmos DB failover-priority change to the secondary, while canaries are written.",
            None if managed else "fhirdr drill --disruption manual-failover --report-dir drill-report --yes",
        ),
        (
            "fhirdr",
            "Record data loss and latency",
            "Acknowledged canaries missing after failover (data loss, against the RPO), first failed to first "
            "successful write (RTO), request latency before, during and after.",
            "fhirdr drill --report-dir drill-report" if not managed else "fhirdr status",
        ),
        (
            "support" if managed else "fhirdr",
            "Fail back",
            "Move the data back to the primary region once replication has caught up.",
            "fhirdr failback --apply",
        ),
        (
            "customer",
            "Give feedback and clean up",
            "Tell Microsoft how the test went; turn DR off for the test environment when it is no longer needed.",
            None,
        ),
    ]
    return {
        "service": target.service,
        "kind": target.kind,
        "subscription": target.subscription,
        "primary_region": target.primary_region,
        "secondary_region": target.secondary_region,
        "test_environment": target.test_environment,
        "scope": "DR tests cover data, not compute: the data is failed over to the secondary region and back; "
        "compute fails over and back by itself.",
        "ticket": {
            "subscription": target.subscription,
            "preferred_failover_region": secondary,
            "service_name": target.service,
            "needed": managed,
        },
        "steps": [
            {"n": n, "owner": owner, "title": title, "detail": detail, "command": command}
            for n, (owner, title, detail, command) in enumerate(steps, start=1)
        ],
        "success_criteria": [
            {
                "name": "RPO",
                "target_minutes": target.objectives.rpo_minutes,
                "measure": "the time span of acknowledged writes lost at failover",
            },
            {
                "name": "RTO",
                "target_minutes": target.objectives.rto_minutes,
                "measure": "from the first failed write to the first successful write after failover",
            },
            {
                "name": "no loss at failback",
                "target_minutes": 0,
                "measure": "every write made while failed over is present after failback",
            },
        ],
        "record": [
            "data loss (lost writes and the time they span)",
            "time to recover (RTO)",
            "latency before, during and after failback",
            "tickets and who did what, with times",
        ],
        "configuration": _configuration(target),
        "cost": "While DR is on, the test environment costs about twice as much (a second region's data and "
        "RU/s); turn DR off when the test is over.",
    }


def _configuration(target: Target) -> list[dict[str, Any]]:
    sections = []
    if target.private_link is not None:
        sections.append(
            {
                "area": "Private Link",
                "command": "fhirdr configure-private-link",
                "checks": [
                    "private endpoint approved in the primary region",
                    "a VNet in the secondary region",
                    "peering both ways, Connected",
                    "DNS zone linked to both VNets",
                    "from a VM in the secondary VNet the service resolves to the private IP",
                ],
            }
        )
    if target.extras.key_vault:
        sections.append(
            {
                "area": "Customer-managed key",
                "command": "fhirdr check-cmk",
                "checks": [
                    f"key vault {target.extras.key_vault} reachable, soft delete and purge protection on",
                    "expect up to 20 minutes without access to data after failover while the key reconnects",
                ],
            }
        )
    if target.extras.export_storage_account:
        sections.append(
            {
                "area": "$export",
                "command": "fhirdr check-export",
                "checks": [
                    f"storage account {target.extras.export_storage_account}: Storage Blob Data Contributor for "
                    "the service identity, network rules",
                    "a running export resumes in the other region after about 10 minutes without a status update",
                ],
            }
        )
    if target.extras.iomt_connectors:
        sections.append(
            {
                "area": "IoMT connector",
                "command": "fhirdr check-iomt",
                "checks": [
                    "the connector has no DR: existing connections fail until the region is back",
                    "create a new connection after failover: " + ", ".join(target.extras.iomt_connectors),
                ],
            }
        )
    return sections
