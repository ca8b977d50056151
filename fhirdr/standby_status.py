"""The DR state of an AHDS FHIR service: its standby, how far the standby's configuration matches, readiness.

The document has every key of `fhirdr.status.STATUS_KEYS` (pipelines read one shape for every kind)
plus `standby` and `parity`. Replication lag comes with `fhirdr replicate`; until then DR is not on.
"""

from __future__ import annotations

from typing import Any

from fhirdr.azure.session import azure_errors, concurrently
from fhirdr.kinds.ahds import service_url
from fhirdr.readiness import readiness
from fhirdr.regions import normalise_region
from fhirdr.steps.base import Context, Reader, text
from fhirdr.steps.health import probe, resource_health
from fhirdr.steps.standby import compare, desired_standby, read_primary, read_standby


def read_standby_status(ctx: Context) -> dict[str, Any]:
    from fhirdr.kinds import kind_of
    from fhirdr.status import OUTAGE_KEYS, STATUS_KEYS, failover_by, incident_and_steps, probe_words

    reader = Reader(ctx)
    target = ctx.target
    standby_settings = target.require_standby()
    suffix = ctx.azure.cloud.fhir_suffix

    def primary_checked() -> tuple[Any, dict[str, Any], dict[str, Any]]:
        # The probe's token is for the audience the service names; Resource Health needs the service's id.
        found = read_primary(reader)
        audience = getattr(found.authentication_configuration, "audience", None)
        url = service_url(target.workspace or "", target.service, suffix)
        checked = concurrently(lambda: probe(ctx, url, audience), lambda: resource_health(ctx, found.id))
        return found, checked[0], checked[1]

    def standby_checked() -> tuple[Any, dict[str, Any] | None]:
        found = read_standby(reader)
        if found is None:
            return None, None
        audience = getattr(found.authentication_configuration, "audience", None)
        url = service_url(standby_settings.workspace, standby_settings.service, suffix)
        return found, probe(ctx, url, audience)

    with azure_errors(f"reading {target.workspace}/{target.service} and its standby"):
        (primary, endpoint, health), (standby, standby_probe), ready = concurrently(
            primary_checked, standby_checked, lambda: readiness(reader)
        )
    primary_region = normalise_region(primary.location)
    warnings: list[str] = []
    parity: list[dict[str, Any]] = []
    standby_doc: dict[str, Any] = {
        "workspace": standby_settings.workspace,
        "service": standby_settings.service,
        "resource_group": standby_settings.resource_group,
        "url": service_url(standby_settings.workspace, standby_settings.service, suffix),
        "exists": standby is not None,
        "region": normalise_region(standby.location) if standby is not None else standby_settings.region,
        "provisioning_state": text(standby.provisioning_state) if standby is not None else None,
    }
    if standby is None:
        dr = {"enabled": False, "state": "off", "detail": "no standby FHIR service (fhirdr enable --apply)"}
    else:
        desired, not_copied = desired_standby(target, primary, standby_doc["region"] or "", suffix)
        parity = [
            {"property": name, "primary": wanted, "standby": found}
            for name, (wanted, found) in compare(desired, standby).items()
        ]
        warnings += not_copied
        if standby_doc["provisioning_state"] != "Succeeded":
            dr = {"enabled": False, "state": "enabling", "detail": f"standby {standby_doc['provisioning_state']}"}
        elif parity:
            dr = {
                "enabled": False,
                "state": "drift",
                "detail": "the standby differs in " + ", ".join(p["property"] for p in parity) + " (fhirdr enable)",
            }
        else:
            dr = {
                "enabled": False,
                "state": "standby-ready",
                "detail": f"standby in {standby_doc['region']} matches the primary; no replication yet",
            }
    warnings.insert(0, f"DR is not on ({dr['state']}): {dr['detail']}")
    for area, item in ready.items():
        if item["status"] in ("findings", "error"):
            warnings.append(f"{area}: {item['summary']}")
    rpo_seconds = target.objectives.rpo_minutes * 60
    regions = {
        primary_region: {
            "state": "up" if endpoint["answers"] else "down",
            "evidence": [f"{endpoint['url']} {probe_words(endpoint)}"]
            + ([f"Resource Health {health['state']}: {health['summary']}"] if health["readable"] else []),
        }
    }
    if standby_doc["region"] and standby_doc["region"] != primary_region:
        regions[standby_doc["region"]] = {
            "state": "unknown" if standby_probe is None else ("up" if standby_probe["answers"] else "down"),
            "evidence": ["no standby FHIR service"]
            if standby_probe is None
            else [f"{standby_probe['url']} {probe_words(standby_probe)}"],
        }
    if health["readable"] and health["state"] not in ("Available", None):
        warnings.append(f"Resource Health: {health['state']} ({health['summary']})")
    if not endpoint["answers"]:
        warnings.insert(0, f"the FHIR endpoint {endpoint['url']} {probe_words(endpoint)}")
    compute = primary_region if endpoint["answers"] else None
    incident, next_steps = incident_and_steps(
        failover_by(kind_of(target)), primary_region, primary_region, compute, regions, endpoint, dr, None
    )
    if incident["active"]:
        warnings.insert(0, incident["summary"])
    doc: dict[str, Any] = {
        "service": target.service,
        "kind": target.kind,
        "subscription": target.subscription,
        "resource_group": target.resource_group,
        "primary_region": primary_region,
        "secondary_region": standby_doc["region"],
        "dr": dr,
        "replication": {"state": "not-configured", "lag_seconds": None, "rpo_seconds": rpo_seconds, "within_rpo": None},
        "compute_region": compute,
        "data_region": primary_region,
        "split": {"active": False, "added_latency_ms": 0},
        "last_failover": None,
        "throughput": {"primary_ru": None, "secondary_ru": None, "parity": None},
        "tickets": [],
        "readiness": ready,
        "healthy": False,
        "warnings": warnings,
        "summary": f"degraded: {warnings[0]}",
        "incident": incident,
        "regions": {
            "primary": primary_region,
            "secondary": standby_doc["region"],
            "write": primary_region,
            "compute": compute,
            "health": regions,
        },
        "endpoint": endpoint,
        "replicas": [],
        "resource_health": health,
        "next_steps": next_steps,
    }
    return {**{key: doc[key] for key in STATUS_KEYS + OUTAGE_KEYS}, "standby": standby_doc, "parity": parity}
