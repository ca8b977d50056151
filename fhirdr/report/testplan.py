"""The DR test plan as Markdown."""

from __future__ import annotations

from typing import Any


def markdown(plan: dict[str, Any]) -> str:
    ticket = plan["ticket"]
    lines = [
        f"# DR test plan — {plan['service']}",
        "",
        f"Target: {plan['kind']} service `{plan['service']}`, primary {plan['primary_region']}, "
        f"secondary {plan['secondary_region'] or 'to be chosen'}."
        + ("" if plan["test_environment"] else " **This target is not marked as a test environment.**"),
        "",
        "## Scope",
        "",
        plan["scope"],
        "",
        "## Steps",
        "",
        "| # | owner | step | how |",
        "|---|---|---|---|",
    ]
    for step in plan["steps"]:
        how = step["detail"] + (f" `{step['command']}`" if step["command"] else "")
        lines.append(f"| {step['n']} | {step['owner']} | {step['title']} | {how} |")
    lines += ["", "## Support ticket", ""]
    if ticket["needed"]:
        lines += [
            f"- Subscription: {ticket['subscription']}",
            f"- Preferred failover region: {ticket['preferred_failover_region']}",
            f"- Service name: {ticket['service_name']}",
        ]
    else:
        lines.append("Not needed: fhirdr acts on the Cosmos DB account and Traffic Manager profile directly.")
    lines += ["", "## Success criteria", ""]
    for criterion in plan["success_criteria"]:
        target = f"{criterion['target_minutes']} min" if criterion["target_minutes"] else "none"
        lines.append(f"- {criterion['name']}: {target} — {criterion['measure']}")
    lines += ["", "## What to record", ""] + [f"- {item}" for item in plan["record"]]
    if plan["configuration"]:
        lines += ["", "## Configuration to check", ""]
        for section in plan["configuration"]:
            lines += [f"### {section['area']} (`{section['command']}`)", ""]
            lines += [f"- {check}" for check in section["checks"]] + [""]
    lines += [
        "## Failback",
        "",
        "Once the primary region is healthy and replication has caught up: "
        "`fhirdr failback` shows the gates and the plan; `fhirdr failback --apply` acts "
        "(one engineer at a time, journaled).",
        "",
        "## Feedback",
        "",
        "Share what you measured with Microsoft through the support ticket.",
        "",
        "## Cost",
        "",
        plan["cost"],
        "",
    ]
    return "\n".join(lines)
