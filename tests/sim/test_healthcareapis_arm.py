"""Azure API for FHIR answers like ARM: ETag headers, conditional PATCH of tags, full PUT, `Running` operations."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError
from azure.core.rest import HttpRequest
from azure.mgmt.healthcareapis.models import ServicesPatchDescription

from fhirdr.sim.providers.healthcareapis import SERVICE_TYPE

GROUP, NAME = "fhir-dr-rg", "fhirdemo"


def _service_path(world) -> str:
    return (
        f"/subscriptions/{world.spec.subscription}/resourceGroups/{GROUP}/providers/"
        f"Microsoft.HealthcareApis/services/{NAME}"
    )


def _send(world, method: str, path: str, **kwargs):
    client = world.session().healthcare()
    return client._send_request(HttpRequest(method, f"{path}?api-version=2024-03-31", **kwargs))


def _stored(world) -> dict:
    return world.store.by_type(SERVICE_TYPE)[0].body


def test_a_get_answers_the_etag_as_a_header_too(world):
    """azure-resource-manager-rpc v1.0/resource-api-reference.md: an etag in the body is also the ETag header;
    healthcareapis stable/2024-03-31/examples/legacy/ServiceGet.json has a body etag."""
    response = _send(world, "GET", _service_path(world))
    assert response.status_code == 200
    assert response.headers["ETag"].strip('"') == response.json()["etag"]


def test_a_patch_of_tags_replaces_the_tags_and_leaves_everything_else(world):
    """ServicePatch.json (stable/2024-03-31/examples/legacy): PATCH {tags} is an update of the metadata;
    resource-api-reference.md "Patch Resource": a PATCH of tags replaces all tags."""
    healthcare = world.session().healthcare()
    before = _stored(world)
    healthcare.services.begin_update(GROUP, NAME, ServicesPatchDescription(tags={"a": "1"})).result()
    healthcare.services.begin_update(GROUP, NAME, ServicesPatchDescription(tags={"b": "2"})).result()
    after = _stored(world)
    assert after["tags"] == {"b": "2"}
    assert after["etag"] != before["etag"]
    assert after["properties"] == before["properties"]
    assert {k: v for k, v in after.items() if k not in ("tags", "etag")} == {
        k: v for k, v in before.items() if k not in ("tags", "etag")
    }


def test_a_patch_with_a_stale_if_match_is_refused_with_412(world):
    """Addendum.md "ETags for Resources": PATCH with If-Match naming another etag answers 412 Precondition Failed."""
    healthcare = world.session().healthcare()
    stale = healthcare.services.get(GROUP, NAME).etag
    healthcare.services.begin_update(GROUP, NAME, ServicesPatchDescription(tags={"first": "1"})).result()
    with pytest.raises(HttpResponseError) as refused:
        healthcare.services.begin_update(
            GROUP, NAME, ServicesPatchDescription(tags={"second": "2"}), headers={"If-Match": stale}
        )
    assert refused.value.status_code == 412
    assert _stored(world)["tags"] == {"first": "1"}


def test_a_full_put_resets_what_it_does_not_send(world):
    """resource-api-reference.md "PUT Resource": the body is the resource; ServiceCreate.json is a full PUT.
    Properties left out are gone afterwards (the same holds for peerings, AZURE-FACTS)."""
    service = _stored(world)
    body = {"location": service["location"], "kind": service["kind"], "properties": {"accessPolicies": []}}
    response = _send(world, "PUT", _service_path(world), json=body)
    assert response.status_code == 200, response.text()
    after = _stored(world)
    assert "authenticationConfiguration" not in after["properties"]
    assert "cosmosDbConfiguration" not in after["properties"]
    assert after["tags"] == {}


def test_operation_results_say_running_with_a_start_time(world):
    """OperationResultsGet.json (stable/2024-03-31/examples): id, name, status, startTime, endTime, properties;
    OperationResultStatus is Canceled/Succeeded/Failed/Requested/Running (no InProgress)."""
    world.store.add_fault("PATCH", "*/services/*", "stuck-async", 1, 0)
    poller = world.session().healthcare().services.begin_update(GROUP, NAME, ServicesPatchDescription(tags={}))
    url = poller.polling_method()._operation._async_url  # the Azure-AsyncOperation the service answered
    path = url.split("management.azure.com", 1)[1].split("?")[0]
    running = _send(world, "GET", path).json()
    assert running["status"] == "Running"
    assert running["startTime"].endswith("Z")
    assert set(running) >= {"id", "name", "status", "startTime", "properties"}
    world.store.clear_faults()
    done = _send(world, "GET", path).json()
    assert done["status"] == "Succeeded"
    assert done["startTime"] == running["startTime"] and done["endTime"] >= done["startTime"]
