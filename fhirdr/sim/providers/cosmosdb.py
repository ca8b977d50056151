"""Microsoft.DocumentDB/databaseAccounts: regions, failover priorities, automatic failover, throughput.

Behaviour kept from Azure: a region added to an account is `Creating` until its initial
replication is done (longer with more data); failover priorities change only through
`failoverPriorityChange`; throughput is provisioned once and applies to every region.
"""

from __future__ import annotations

from typing import Any

from fhirdr.sim import timeline
from fhirdr.sim.exceptions import ArmError, InvalidRequestContent, NotFound, ResourceNotFound
from fhirdr.sim.providers.subscriptions import LOCATIONS, display_name, region_name
from fhirdr.sim.router import (
    RG,
    SUB,
    Request,
    Response,
    Router,
    check_preconditions,
    paged,
    parent_of,
    poll_operation,
    require_group,
    require_resource,
    start_async,
)
from fhirdr.sim.store import Store

ACCOUNT_TYPE = "Microsoft.DocumentDB/databaseAccounts"
THROUGHPUT_TYPE = "Microsoft.DocumentDB/databaseAccounts/sqlDatabases/throughputSettings"
DATABASE_TYPE = "Microsoft.DocumentDB/databaseAccounts/sqlDatabases"
ACCOUNT = RG + r"/providers/Microsoft\.DocumentDB/databaseAccounts/(?P<account>[^/]+)"

# Initial replication of a new region: a fixed part plus a part per GB of data.
REPLICATION_BASE_SECONDS = 10 * 60
REPLICATION_SECONDS_PER_GB = 5 * 60
DEFAULT_LAG_MS = 1500


def replication_key(account_id: str) -> str:
    return f"cosmos:{account_id.lower()}"


def replication_info(store: Store, account_id: str) -> dict[str, Any]:
    return store.get_json(replication_key(account_id), {"lag_ms": DEFAULT_LAG_MS, "data_gb": 1})


def _location_entry(account: str, region: str, priority: int, state: str, zone: bool = False) -> dict[str, Any]:
    return {
        "id": f"{account}-{region}",
        "locationName": display_name(region),
        "documentEndpoint": f"https://{account}-{region}.documents.azure.com:443/",
        "provisioningState": state,
        "failoverPriority": priority,
        "isZoneRedundant": zone,
    }


def normalise_locations(body: dict[str, Any]) -> None:
    """Derive writeLocations, readLocations and failoverPolicies from `locations`, as ARM shows them."""
    props = body["properties"]
    locations = sorted(props["locations"], key=lambda entry: entry["failoverPriority"])
    props["locations"] = locations
    props["writeLocations"] = [dict(loc) for loc in locations[:1]]
    props["readLocations"] = [dict(loc) for loc in locations]
    props["failoverPolicies"] = [
        {"id": loc["id"], "locationName": loc["locationName"], "failoverPriority": loc["failoverPriority"]}
        for loc in locations
    ]


def account_body(name: str, account_id: str, location: str, regions: list[str], automatic_failover: bool) -> dict:
    body = {
        "id": account_id,
        "name": name,
        "type": ACCOUNT_TYPE,
        "location": display_name(location),
        "kind": "GlobalDocumentDB",
        "tags": {},
        "properties": {
            "provisioningState": "Succeeded",
            "documentEndpoint": f"https://{name}.documents.azure.com:443/",
            "databaseAccountOfferType": "Standard",
            "enableAutomaticFailover": automatic_failover,
            "enableMultipleWriteLocations": False,
            "consistencyPolicy": {
                "defaultConsistencyLevel": "Session",
                "maxIntervalInSeconds": 5,
                "maxStalenessPrefix": 100,
            },
            "locations": [_location_entry(name, r, i, "Succeeded") for i, r in enumerate(regions)],
        },
    }
    normalise_locations(body)
    return body


def _account_id(request: Request) -> str:
    return f"{require_group(request)}/providers/Microsoft.DocumentDB/databaseAccounts/{request.params['account']}"


def _require_account(request: Request) -> Any:
    return require_resource(request, ACCOUNT_TYPE, "account")


def _status_url(request: Request, location: str) -> str:
    op = request.store.new_uuid()
    provider = f"/subscriptions/{request.params['sub']}/providers/Microsoft.DocumentDB"
    return f"{provider}/locations/{location}/operationsStatus/{op}"


def _region(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequestContent("Each location needs a 'locationName'.")
    region = region_name(value)
    if region not in LOCATIONS:
        raise ArmError(f"Location '{value}' is not a valid location for this account.", code="BadRequest")
    return region


def _merge_locations(store: Store, stored: Any, requested: list[dict[str, Any]]) -> list[str]:
    """Apply a new `locations` list; returns regions that were added (and now replicate)."""
    body = stored.body
    name = body["name"]
    current = {region_name(loc["locationName"]): loc for loc in body["properties"]["locations"]}
    priorities = sorted(int(loc.get("failoverPriority", -1)) for loc in requested)
    if priorities != list(range(len(requested))):
        raise ArmError(
            "Failover priorities must be unique and run from 0 to the number of regions minus one.", code="BadRequest"
        )
    wanted = {_region(loc.get("locationName")): loc for loc in requested}
    write_now = next(r for r, loc in current.items() if loc["failoverPriority"] == 0)
    write_wanted = next(r for r, loc in wanted.items() if int(loc["failoverPriority"]) == 0)
    if write_now != write_wanted:
        raise ArmError(
            "The write region cannot be changed with an update; use failoverPriorityChange.", code="BadRequest"
        )
    added = []
    entries = []
    for region, loc in wanted.items():
        if region in current:
            entry = dict(current[region])
            entry["failoverPriority"] = int(loc["failoverPriority"])
        else:
            entry = _location_entry(
                name, region, int(loc["failoverPriority"]), "Creating", bool(loc.get("isZoneRedundant", False))
            )
            added.append(region)
        entries.append(entry)
    body["properties"]["locations"] = entries
    return added


def _write(request: Request, patch: bool) -> Response:
    store = request.store
    account_id = _account_id(request)
    stored = store.get(account_id)
    if stored is None:
        if patch:
            raise ResourceNotFound(ACCOUNT_TYPE, request.params["account"], request.params["rg"])
        raise ArmError("Creating database accounts is not supported by the fhirdr simulator.", code="BadRequest")
    check_preconditions(request, stored.body)
    body = request.json_body()
    if body.get("tags") is not None:
        stored.body["tags"] = dict(body["tags"])
    props = body.get("properties") or {}
    added: list[str] = []
    if "locations" in props and props["locations"] is not None:
        added = _merge_locations(store, stored, props["locations"])
    if "enableAutomaticFailover" in props and props["enableAutomaticFailover"] is not None:
        stored.body["properties"]["enableAutomaticFailover"] = bool(props["enableAutomaticFailover"])
    normalise_locations(stored.body)
    stored.body["properties"]["provisioningState"] = "Updating"
    store.put(stored.id, ACCOUNT_TYPE, parent_of(stored.id), stored.body)
    info = replication_info(store, stored.id)
    for region in added:
        delay = REPLICATION_BASE_SECONDS + REPLICATION_SECONDS_PER_GB * float(info.get("data_gb", 1))
        store.schedule(store.now() + delay, "cosmos.region-ready", {"account": stored.id, "region": region})
        store.record_event(
            "cosmos.region-added", {"account": stored.body["name"], "region": region, "replication_seconds": delay}
        )
    location = region_name(stored.body["location"])
    headers = start_async(request, stored.id, {"provisioningState": "Succeeded"}, _status_url(request, location))
    return Response(200, stored.body, headers)


def _put(request: Request) -> Response:
    return _write(request, patch=False)


def _patch(request: Request) -> Response:
    return _write(request, patch=True)


@timeline.on("cosmos.region-ready")
def region_ready(store: Store, payload: dict[str, Any]) -> None:
    stored = store.get(payload["account"])
    if stored is None:
        return
    for loc in stored.body["properties"]["locations"]:
        if region_name(loc["locationName"]) == payload["region"] and loc["provisioningState"] == "Creating":
            loc["provisioningState"] = "Succeeded"
    normalise_locations(stored.body)
    store.put(stored.id, ACCOUNT_TYPE, parent_of(stored.id), stored.body)
    store.record_event("cosmos.region-ready", {"account": stored.body["name"], "region": payload["region"]})


def _get(request: Request) -> Response:
    return Response(200, _require_account(request).body)


def _list(request: Request) -> Response:
    gid = require_group(request)
    return paged(request, [a.body for a in request.store.children(gid, ACCOUNT_TYPE)])


def _failover_priority_change(request: Request) -> Response:
    store = request.store
    stored = _require_account(request)
    policies = request.json_body().get("failoverPolicies") or []
    current = {region_name(loc["locationName"]): loc for loc in stored.body["properties"]["locations"]}
    wanted = {_region(p.get("locationName")): int(p.get("failoverPriority", -1)) for p in policies}
    if set(wanted) != set(current) or sorted(wanted.values()) != list(range(len(current))):
        raise ArmError(
            "failoverPolicies must list every region of the account once, with priorities 0..n-1.", code="BadRequest"
        )
    new_write = next(region for region, priority in wanted.items() if priority == 0)
    if current[new_write]["provisioningState"] != "Succeeded":
        raise ArmError(f"Region '{display_name(new_write)}' is not ready to take writes.", code="BadRequest")
    from fhirdr.sim import lifecycle

    if not lifecycle.is_up(store, new_write):
        raise ArmError(f"Region '{display_name(new_write)}' is unavailable.", code="ServiceUnavailable", status=503)
    for service_id in linked_services(store, stored.id):
        lifecycle.sync_before_failback(store, service_id, new_write)
    for region, priority in wanted.items():
        current[region]["failoverPriority"] = priority
    normalise_locations(stored.body)
    store.put(stored.id, ACCOUNT_TYPE, parent_of(stored.id), stored.body)
    store.record_event(
        "cosmos.failover-priority-change",
        {"account": stored.id, "to": new_write, "caller": "failoverPriorityChange (manual)"},
    )
    location = region_name(stored.body["location"])
    headers = start_async(request, None, {}, _status_url(request, location))
    headers["Location"] = headers["Azure-AsyncOperation"]
    return Response(202, None, headers)


def linked_services(store: Store, account_id: str) -> list[str]:
    """FHIR servers (managed services or self-hosted servers) whose data lives in this account."""
    from fhirdr.sim.servers import servers_in_account

    return servers_in_account(store, account_id)


def _throughput(request: Request) -> Response:
    stored = _require_account(request)
    setting = request.store.get(f"{stored.id}/sqlDatabases/{request.params['db']}/throughputSettings/default")
    if setting is None:
        raise NotFound(f"The database '{request.params['db']}' has no dedicated throughput.")
    return Response(200, setting.body)


def put_throughput(store: Store, account_id: str, database: str, throughput: int) -> None:
    database_id = f"{account_id}/sqlDatabases/{database}"
    store.put(
        database_id,
        DATABASE_TYPE,
        account_id,
        {
            "id": database_id,
            "name": database,
            "type": DATABASE_TYPE,
            "properties": {"resource": {"id": database, "_rid": database[:4], "_etag": store.new_uuid()}},
        },
    )
    setting_id = f"{database_id}/throughputSettings/default"
    store.put(
        setting_id,
        THROUGHPUT_TYPE,
        f"{account_id}/sqlDatabases/{database}",
        {
            "id": setting_id,
            "name": "default",
            "type": THROUGHPUT_TYPE,
            "properties": {"resource": {"throughput": throughput, "minimumThroughput": "400"}},
        },
    )


def _list_databases(request: Request) -> Response:
    stored = _require_account(request)
    return Response(200, {"value": [d.body for d in request.store.children(stored.id, DATABASE_TYPE)]})


def _operation(request: Request) -> Response:
    return poll_operation(request, request.params["op"])


def register(router: Router) -> None:
    router.add(ACCOUNT, GET=_get, PUT=_put, PATCH=_patch)
    router.add(RG + r"/providers/Microsoft\.DocumentDB/databaseAccounts", GET=_list)
    router.add(ACCOUNT + r"/failoverPriorityChange", POST=_failover_priority_change)
    router.add(ACCOUNT + r"/sqlDatabases/(?P<db>[^/]+)/throughputSettings/default", GET=_throughput)
    router.add(ACCOUNT + r"/sqlDatabases", GET=_list_databases)
    router.add(
        SUB + r"/providers/Microsoft\.DocumentDB/locations/(?P<loc>[^/]+)/operationsStatus/(?P<op>[^/]+)",
        GET=_operation,
    )
