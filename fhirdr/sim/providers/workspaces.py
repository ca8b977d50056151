"""Azure Health Data Services: Microsoft.HealthcareApis/workspaces and their fhirservices (api 2024-03-31).

Shapes from azure-rest-api-specs healthcareapis stable/2024-03-31 examples (workspaces/Workspaces_Get.json,
fhirservices/FhirServices_Create.json, FhirServices_Get.json): a PUT answers 201 with
`provisioningState` Creating (200 for an update) and `Azure-AsyncOperation`; a PUT replaces the
properties it is sent, so one not sent goes back to its default, as ARM does. The provider's
registration (`GET /subscriptions/{id}/providers/Microsoft.HealthcareApis`) lists the regions each
resource type is offered in, which is where fhirdr learns where AHDS runs.
"""

from __future__ import annotations

import copy
from typing import Any

from fhirdr.sim.exceptions import InvalidRequestContent, ResourceNotFound
from fhirdr.sim.router import (
    RG,
    SUB,
    Request,
    Response,
    Router,
    check_preconditions,
    paged,
    parent_of,
    require_group,
    require_subscription,
    start_async,
)
from fhirdr.sim.store import Store

WORKSPACE_TYPE = "Microsoft.HealthcareApis/workspaces"
FHIR_SERVICE_TYPE = "Microsoft.HealthcareApis/workspaces/fhirservices"
WORKSPACE = RG + r"/providers/Microsoft\.HealthcareApis/workspaces/(?P<workspace>[^/]+)"
FHIR_SERVICE = WORKSPACE + r"/fhirservices/(?P<fhir>[^/]+)"
MEDTECH_TYPE = "Microsoft.HealthcareApis/workspaces/iotconnectors"
WORKSPACE_CONNECTION_TYPE = "Microsoft.HealthcareApis/workspaces/privateEndpointConnections"

# Where the simulated Azure offers AHDS (display names, as the provider registration lists them).
AHDS_LOCATIONS = (
    "East US",
    "East US 2",
    "West US 2",
    "West US 3",
    "West Central US",
    "North Central US",
    "South Central US",
    "Canada Central",
    "UK South",
    "UK West",
    "North Europe",
    "West Europe",
    "France Central",
    "Germany West Central",
    "Sweden Central",
    "Switzerland North",
    "Australia East",
    "Japan East",
    "Korea Central",
    "Southeast Asia",
    "Central India",
    "South Africa North",
)

# What a FHIR service's properties are when a PUT does not send them.
FHIR_DEFAULTS: dict[str, Any] = {
    "acrConfiguration": {"loginServers": [], "ociArtifacts": []},
    "authenticationConfiguration": {"authority": "", "audience": "", "smartProxyEnabled": False},
    "corsConfiguration": {"origins": [], "headers": [], "methods": [], "allowCredentials": False},
    "exportConfiguration": {},
    "importConfiguration": {"enabled": False, "initialImportMode": False},
    "implementationGuidesConfiguration": {"usCoreMissingData": False},
    "resourceVersionPolicyConfiguration": {"default": "versioned", "resourceTypeOverrides": {}},
    "encryption": {"customerManagedKeyEncryption": {}},
    "publicNetworkAccess": "Enabled",
    "eventState": "Disabled",
}


def _status_url(request: Request, location: str, store: Store) -> str:
    return (
        f"/subscriptions/{request.params['sub']}/providers/Microsoft.HealthcareApis/locations/"
        f"{location.replace(' ', '').lower()}/operationresults/{store.new_uuid()}"
    )


def _location(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequestContent("The 'location' of the resource is required.")
    name = value.replace(" ", "").lower()
    if name not in {loc.replace(" ", "").lower() for loc in AHDS_LOCATIONS}:
        raise InvalidRequestContent(
            f"The location '{value}' is not available for resource type '{FHIR_SERVICE_TYPE}'.",
            code="LocationNotAvailableForResourceType",
        )
    return name


def _workspace_id(request: Request) -> str:
    return f"{require_group(request)}/providers/Microsoft.HealthcareApis/workspaces/{request.params['workspace']}"


def _require_workspace(request: Request) -> dict[str, Any]:
    stored = request.store.get(_workspace_id(request))
    if stored is None:
        raise ResourceNotFound(WORKSPACE_TYPE, request.params["workspace"], request.params["rg"])
    return stored.body


def put_workspace(store: Store, workspace_id: str, name: str, location: str, state: str = "Succeeded") -> dict:
    body = {
        "id": workspace_id,
        "name": name,
        "type": WORKSPACE_TYPE,
        "location": location,
        "etag": store.new_uuid(),
        "tags": {},
        "properties": {"provisioningState": state, "publicNetworkAccess": "Enabled", "privateEndpointConnections": []},
    }
    store.put(workspace_id, WORKSPACE_TYPE, parent_of(workspace_id), body)
    return body


def workspace_body(store: Store, body: dict[str, Any]) -> dict[str, Any]:
    """The workspace with its private endpoint connections embedded, as ARM returns it."""
    out = dict(body)
    connections = [c.body for c in store.children(body["id"], WORKSPACE_CONNECTION_TYPE)]
    out["properties"] = {**body["properties"], "privateEndpointConnections": connections}
    return out


def _get_workspace(request: Request) -> Response:
    return Response(200, workspace_body(request.store, _require_workspace(request)))


def private_link_fqdns(store: Store, resource_id: str) -> list[str]:
    """The host names a private endpoint to this resource serves: a workspace's covers every service in it."""
    from fhirdr.azure.clouds import get_cloud
    from fhirdr.sim.providers.healthcareapis import SERVICE_TYPE

    stored = store.get(resource_id)
    if stored is None:
        return []
    suffix = get_cloud(store.get_meta("cloud") or "AzureCloud").fhir_suffix
    if stored.type == WORKSPACE_TYPE.lower():
        workspace = stored.body["name"]
        services = store.children(stored.id, FHIR_SERVICE_TYPE)
        return [f"{workspace}-{s.body['name'].split('/')[-1]}.fhir.{suffix}" for s in services]
    if stored.type == SERVICE_TYPE.lower():
        return [f"{stored.body['name']}.{suffix}"]
    return []


def add_private_endpoint_connection(store: Store, resource_id: str, endpoint_id: str, state: dict[str, str]) -> None:
    """What a new private endpoint leaves on the workspace or service it connects to (the shape of
    healthcareapis 2024-03-31 legacy/ServiceGetPrivateEndpointConnection.json)."""
    from fhirdr.sim.providers.healthcareapis import CONNECTION_TYPE, SERVICE_TYPE

    stored = store.get(resource_id)
    types = {WORKSPACE_TYPE.lower(): WORKSPACE_CONNECTION_TYPE, SERVICE_TYPE.lower(): CONNECTION_TYPE}
    if stored is None or stored.type not in types:
        return
    ctype = types[stored.type]
    name = f"{endpoint_id.rsplit('/', 1)[-1]}.{store.new_uuid()}"
    connection_id = f"{stored.id}/privateEndpointConnections/{name}"
    store.put(
        connection_id,
        ctype,
        stored.id,
        {
            "id": connection_id,
            "name": name,
            "type": ctype,
            "etag": store.new_uuid(),
            "properties": {
                "privateEndpoint": {"id": endpoint_id},
                "privateLinkServiceConnectionState": dict(state),
                "provisioningState": "Succeeded",
            },
        },
    )


def _put_workspace(request: Request) -> Response:
    store = request.store
    workspace_id = _workspace_id(request)
    existing = store.get(workspace_id)
    check_preconditions(request, existing.body if existing else None)
    payload = request.json_body()
    location = _location(payload.get("location"))
    if existing is not None and existing.body["location"].replace(" ", "").lower() != location:
        raise InvalidRequestContent("The location of a workspace cannot be changed.")
    body = put_workspace(
        store, workspace_id, request.params["workspace"], location, "Creating" if not existing else "Updating"
    )
    body["tags"] = payload.get("tags") or {}
    access = (payload.get("properties") or {}).get("publicNetworkAccess")
    if access:
        body["properties"]["publicNetworkAccess"] = access
    store.put(workspace_id, WORKSPACE_TYPE, parent_of(workspace_id), body)
    headers = start_async(
        request, workspace_id, {"provisioningState": "Succeeded"}, _status_url(request, location, store)
    )
    return Response(200 if existing else 201, workspace_body(store, body), headers)


def _list_workspaces(request: Request) -> Response:
    gid = require_group(request)
    return paged(request, [workspace_body(request.store, w.body) for w in request.store.children(gid, WORKSPACE_TYPE)])


def _fhir_id(request: Request) -> str:
    return f"{_workspace_id(request)}/fhirservices/{request.params['fhir']}"


def _get_fhir(request: Request) -> Response:
    _require_workspace(request)
    stored = request.store.get(_fhir_id(request))
    if stored is None:
        raise ResourceNotFound(
            FHIR_SERVICE_TYPE, f"{request.params['workspace']}/{request.params['fhir']}", request.params["rg"]
        )
    return Response(200, stored.body)


def fhir_service_body(
    store: Store, service_id: str, location: str, kind: str, identity: dict[str, Any], props: dict[str, Any]
) -> dict[str, Any]:
    """A FHIR service as ARM returns it: every property present, defaults where none was given."""
    name = service_id.rsplit("/", 1)[-1]
    properties = copy.deepcopy(FHIR_DEFAULTS)
    properties.update({k: copy.deepcopy(v) for k, v in props.items() if k in FHIR_DEFAULTS and v is not None})
    properties["provisioningState"] = "Succeeded"
    return {
        "id": service_id,
        "name": name,
        "type": FHIR_SERVICE_TYPE,
        "kind": kind,
        "location": location,
        "etag": store.new_uuid(),
        "tags": {},
        "identity": identity,
        "properties": properties,
    }


def _identity(requested: dict[str, Any] | None, current: dict[str, Any] | None, store: Store) -> dict[str, Any]:
    kind = (requested or {}).get("type") or "None"
    if kind == "None":
        return {"type": "None"}
    out = {"type": kind}
    if "SystemAssigned" in kind:
        keep = current if current and "SystemAssigned" in (current.get("type") or "") else None
        out["principalId"] = keep["principalId"] if keep else store.new_uuid()
        out["tenantId"] = keep["tenantId"] if keep else store.new_uuid()
    if "UserAssigned" in kind:
        out["userAssignedIdentities"] = (requested or {}).get("userAssignedIdentities") or {}
    return out


def _put_fhir(request: Request) -> Response:
    store = request.store
    workspace = _require_workspace(request)
    service_id = _fhir_id(request)
    existing = store.get(service_id)
    check_preconditions(request, existing.body if existing else None)
    payload = request.json_body()
    location = _location(payload.get("location"))
    if location != workspace["location"].replace(" ", "").lower():
        raise InvalidRequestContent("A FHIR service must be in the location of its workspace.")
    kind = payload.get("kind") or "fhir-R4"
    if kind not in ("fhir-R4", "fhir-Stu3"):
        raise InvalidRequestContent(f"The kind '{kind}' is not a FHIR service kind.")
    if existing is not None and existing.body["kind"] != kind:
        raise InvalidRequestContent("The FHIR version (kind) of a FHIR service cannot be changed.")
    body = fhir_service_body(
        store,
        service_id,
        location,
        kind,
        _identity(payload.get("identity"), existing.body.get("identity") if existing else None, store),
        payload.get("properties") or {},
    )
    body["tags"] = payload.get("tags") or {}
    body["properties"]["provisioningState"] = "Updating" if existing else "Creating"
    store.put(service_id, FHIR_SERVICE_TYPE, workspace["id"], body)
    headers = start_async(
        request, service_id, {"provisioningState": "Succeeded"}, _status_url(request, location, store)
    )
    return Response(200 if existing else 201, body, headers)


def _list_fhir(request: Request) -> Response:
    workspace = _require_workspace(request)
    return paged(request, [s.body for s in request.store.children(workspace["id"], FHIR_SERVICE_TYPE)])


def put_medtech(store: Store, workspace_id: str, name: str, location: str, event_hub: str, namespace: str) -> dict:
    """A MedTech service as iotconnectors/iotconnector_Patch.json (api 2024-03-31) shows it."""
    medtech_id = f"{workspace_id}/iotconnectors/{name}"
    body = {
        "id": medtech_id,
        "name": name,
        "type": MEDTECH_TYPE,
        "location": location,
        "etag": store.new_uuid(),
        "tags": {},
        "identity": {"type": "SystemAssigned"},
        "properties": {
            "provisioningState": "Succeeded",
            "ingestionEndpointConfiguration": {
                "eventHubName": event_hub,
                "consumerGroup": "medtech",
                "fullyQualifiedEventHubNamespace": namespace,
            },
            "deviceMapping": {"content": {"templateType": "CollectionContent", "template": []}},
        },
    }
    store.put(medtech_id, MEDTECH_TYPE, workspace_id, body)
    return body


def _list_medtech(request: Request) -> Response:
    workspace = _require_workspace(request)
    return paged(request, [m.body for m in request.store.children(workspace["id"], MEDTECH_TYPE)])


def _provider(request: Request) -> Response:
    """The provider registration; only what fhirdr reads (resource types and their locations)."""
    sub = require_subscription(request)
    types = [
        {"resourceType": name, "locations": list(AHDS_LOCATIONS), "apiVersions": ["2024-03-31"]}
        for name in ("workspaces", "workspaces/fhirservices", "workspaces/dicomservices", "workspaces/iotconnectors")
    ]
    return Response(
        200,
        {
            "id": f"/subscriptions/{sub}/providers/Microsoft.HealthcareApis",
            "namespace": "Microsoft.HealthcareApis",
            "registrationState": "Registered",
            "resourceTypes": types,
        },
    )


def register(router: Router) -> None:
    router.add(SUB + r"/providers/Microsoft\.HealthcareApis", GET=_provider)
    router.add(WORKSPACE, GET=_get_workspace, PUT=_put_workspace)
    router.add(RG + r"/providers/Microsoft\.HealthcareApis/workspaces", GET=_list_workspaces)
    router.add(FHIR_SERVICE, GET=_get_fhir, PUT=_put_fhir)
    router.add(WORKSPACE + r"/fhirservices", GET=_list_fhir)
    router.add(WORKSPACE + r"/iotconnectors", GET=_list_medtech)
