"""The DR state of an AHDS FHIR service: its standby, how far the standby's configuration matches, readiness.

The document has every key of `fhirdr.status.STATUS_KEYS` (pipelines read one shape for every kind)
plus `standby` and `parity`. Replication is read from the state `fhirdr replicate` keeps in the storage
account: the last verified watermark, the lag now (now - watermark), the RPO measured over the last
cycles (p50, p99, max) against the target's `rpo_minutes`, the last cycle and who holds the lease.
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
    rpo_seconds = target.objectives.rpo_minutes * 60
    replication = read_replication(ctx, primary, rpo_seconds)
    if dr["state"] == "standby-ready" and replication["state"] in ("replicating", "lagging"):
        dr = {
            "enabled": replication["state"] == "replicating",
            "state": replication["state"],
            "detail": replication["detail"],
        }
    elif dr["state"] == "standby-ready" and replication["state"] != "not-configured":
        dr = {**dr, "detail": replication["detail"]}
    if not dr["enabled"]:
        warnings.insert(0, f"DR is not on ({dr['state']}): {dr['detail']}")
    for area, item in ready.items():
        if item["status"] in ("findings", "error"):
            warnings.append(f"{area}: {item['summary']}")
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
    active = replication.get("active") or {}
    write = primary_region
    last = None
    if active.get("side") == "standby" and standby_doc["region"]:
        # Failed over by fhirdr: the front door sends clients to the standby, which takes the writes.
        write = standby_doc["region"]
        last = {
            "direction": "failover",
            "to": write,
            "time": active.get("since"),
            "by": f"fhirdr failover ({active.get('mode')}, run {active.get('run')})",
        }
        compute = write if standby_probe and standby_probe["answers"] else None
    else:
        compute = primary_region if endpoint["answers"] else None
    # Nothing fails over by itself; with a standby, fhirdr's failover is the way out.
    by = failover_by(kind_of(target)) if standby is not None else "nobody"
    incident, next_steps = incident_and_steps(by, primary_region, write, compute, regions, endpoint, dr, last)
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
        "replication": {key: value for key, value in replication.items() if key != "detail"},
        "compute_region": compute,
        "data_region": write,
        "split": {"active": False, "added_latency_ms": 0},
        "last_failover": last,
        "throughput": {"primary_ru": None, "secondary_ru": None, "parity": None},
        "tickets": [],
        "readiness": ready,
        "healthy": not warnings,
        "warnings": warnings,
        "summary": f"degraded: {warnings[0]}" if warnings else "healthy",
        "incident": incident,
        "regions": {
            "primary": primary_region,
            "secondary": standby_doc["region"],
            "write": write,
            "compute": compute,
            "health": regions,
        },
        "endpoint": endpoint,
        "replicas": [],
        "resource_health": health,
        "next_steps": next_steps,
    }
    return {**{key: doc[key] for key in STATUS_KEYS + OUTAGE_KEYS}, "standby": standby_doc, "parity": parity}


def read_replication(ctx: Context, primary: Any, rpo_seconds: int) -> dict[str, Any]:
    """What `fhirdr replicate` recorded: three small blobs (watermark, last cycle, lease), read at once."""
    from fhirdr.replication.state import ReplicationState
    from fhirdr.replication.times import parse_instant

    target = ctx.target
    settings = target.replication
    config = primary.export_configuration
    account = settings.storage_account or (config.storage_account_name if config else None)
    empty: dict[str, Any] = {
        "state": "not-configured",
        "lag_seconds": None,
        "rpo_seconds": rpo_seconds,
        "within_rpo": None,
        "watermark": None,
        "measured_rpo": None,
        "last_cycle": None,
        "lease": None,
        "detail": "no replication yet (`fhirdr replicate`)",
    }
    if not account:
        return {**empty, "detail": "no export storage account: replication cannot run"}
    from fhirdr.replication.direction import read_active, sides

    anchor = ReplicationState(ctx.azure, account, settings.container, f"{target.workspace}-{target.service}")
    with azure_errors(f"reading the replication state in {account}/{settings.container}"):
        if not anchor.container_exists():
            return {**empty, "detail": f"no container {settings.container} in {account} (`fhirdr enable --apply`)"}
        switched, _ = read_active(ctx.azure, target, account, settings.container)
        # Replication runs from the active side: after a failover its state is under the standby's name.
        side = switched["active"]
        state = ReplicationState(
            ctx.azure, account, settings.container, sides(target, ctx.azure.cloud.fhir_suffix)[side].state_name
        )
        (mark, _), last, lease = concurrently(state.watermark, state.last, state.holder)
    empty["active"] = {
        "side": side,
        "since": switched.get("switched_at"),
        "mode": switched.get("mode"),
        "run": switched.get("run"),
    }
    empty["direction"] = f"{side} -> {'standby' if side == 'primary' else 'primary'}"
    if not mark:
        detail = "no cycle has completed yet" if last else empty["detail"]
        return {**empty, "last_cycle": _cycle(last), "lease": lease, "detail": detail}
    lag = round(ctx.azure.now() - parse_instant(mark["watermark"]), 3)
    samples = sorted(float(s) for s in mark.get("rpo_samples") or [])
    measured = (
        {
            "p50": _rank(samples, 0.50),
            "p99": _rank(samples, 0.99),
            "max": samples[-1],
            "cycles": len(samples),
            "within_rpo": samples[-1] <= rpo_seconds,
        }
        if samples
        else None
    )
    within = lag <= rpo_seconds
    detail = (
        f"watermark {mark['watermark']}, lag {lag:.0f} s"
        + (
            f", measured RPO p50 {measured['p50']:.0f} s / p99 {measured['p99']:.0f} s / max {measured['max']:.0f} s"
            if measured
            else ""
        )
        + f" against {rpo_seconds} s"
    )
    return {
        "state": "replicating" if within else "lagging",
        "active": empty["active"],
        "direction": empty["direction"],
        "lag_seconds": lag,
        "rpo_seconds": rpo_seconds,
        "within_rpo": within,
        "watermark": mark["watermark"],
        "measured_rpo": measured,
        "last_cycle": _cycle(last),
        "lease": lease,
        "detail": detail,
    }


def _rank(samples: list[float], share: float) -> float:
    """The nearest-rank percentile of sorted samples."""
    import math

    return samples[max(0, math.ceil(share * len(samples)) - 1)]


def _cycle(last: dict[str, Any] | None) -> dict[str, Any] | None:
    if not last:
        return None
    keys = ("cycle", "status", "started", "ended", "exported", "imported", "duplicates", "errors", "holder")
    return {key: last.get(key) for key in keys}
