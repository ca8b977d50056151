"""The FHIR data plane's $export, $import and _history, through azure-core's pipeline like every client."""

from __future__ import annotations

import json

import pytest

from fhirdr.fhir.client import FhirClient
from fhirdr.sim import blob, fhir_jobs
from fhirdr.sim.timeline import advance
from tests.conftest import make_world

PRIMARY = "https://contosohealth-fhirdemo.fhir.azurehealthcareapis.com"
STANDBY = "https://contosohealthdr-fhirdemo.fhir.azurehealthcareapis.com"
ASYNC = {"Prefer": "respond-async"}


@pytest.fixture
def ahds(isolated, cli):
    world = make_world(isolated, kind="ahds")
    assert cli("--sim", "enable", "--apply", "--yes").exit_code == 0
    session = world.session()
    primary = FhirClient(session, "", base_url=PRIMARY)
    standby = FhirClient(session, "", base_url=STANDBY)
    with world.store.transaction():
        blob.ensure_container(world.store, "fhirdemoexports", "fhirdr")
    return world, primary, standby


def _poll(world, client, location):
    for _ in range(100):
        response = client.request("GET", location)
        if response.status != 202:
            return response
        advance(world.store, 5)
    raise AssertionError("the job never finished")


def _ndjson(world, url):
    account, container, name = blob.parse_blob_url(url)
    return [json.loads(line) for line in blob.get_blob(world.store, account, container, name).body.splitlines()]


def _export(world, primary, **params):
    started = primary.request("GET", "$export", params={"_container": "fhirdr", **params}, headers=ASYNC)
    assert started.status == 202, started.body
    return _poll(world, primary, started.headers["Content-Location"])


def _import(world, standby, manifest):
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "inputFormat", "valueString": "application/fhir+ndjson"},
            {"name": "mode", "valueString": "IncrementalLoad"},
            *(
                {
                    "name": "input",
                    "part": [{"name": "type", "valueString": o["type"]}, {"name": "url", "valueUri": o["url"]}],
                }
                for o in manifest["output"]
            ),
        ],
    }
    started = standby.request("POST", "$import", body, headers=ASYNC)
    assert started.status == 202, started.body
    return _poll(world, standby, started.headers["Content-Location"])


def test_export_with_history_and_deleted_writes_every_version_and_marks_soft_deletes(ahds):
    """export-data.md: 202 + Content-Location, 202 while running, 200 with a manifest whose output names
    {Type}-N.ndjson files in a folder of the container; AZURE-FACTS (AHDS $export): includeAssociatedData=
    _history,_deleted exports every version and the deleted-state extension on soft deletes."""
    world, primary, _ = ahds
    created = primary.create({"resourceType": "Patient", "name": [{"family": "Lee"}]}).body
    rid = created["id"]
    advance(world.store, 60)
    primary.request("PUT", f"Patient/{rid}", {**created, "name": [{"family": "Li"}]})
    advance(world.store, 60)
    primary.delete("Patient", rid)
    primary.create({"resourceType": "Observation", "status": "final"})
    advance(world.store, 1)

    started = primary.request(
        "GET", "$export", params={"_container": "fhirdr", "includeAssociatedData": "_history,_deleted"}, headers=ASYNC
    )
    assert started.status == 202 and "/_operations/export/" in started.headers["Content-Location"]
    assert primary.request("GET", started.headers["Content-Location"]).status == 202  # the job start is modelled
    done = _poll(world, primary, started.headers["Content-Location"])
    assert done.status == 200, done.body
    manifest = done.body
    assert sorted(o["type"] for o in manifest["output"]) == ["Observation", "Patient"]
    patient_file = next(o for o in manifest["output"] if o["type"] == "Patient")
    assert patient_file["url"].endswith("/Patient-1.ndjson") and patient_file["count"] == 3
    versions = _ndjson(world, patient_file["url"])
    assert [v["meta"]["versionId"] for v in versions] == ["1", "2", "3"]
    assert versions[2]["meta"]["extension"] == [{"url": fhir_jobs.DELETED_STATE, "valueString": "soft-deleted"}]
    assert versions[2]["name"] == [{"family": "Li"}]  # a soft delete is exported as the resource it was

    # _since/_till bound _lastUpdated inclusively; without _history only current versions, no deletes.
    since = versions[1]["meta"]["lastUpdated"]
    windowed = _export(world, primary, _since=since, _till=since, includeAssociatedData="_history")
    assert [o["count"] for o in windowed.body["output"]] == [1]
    plain = _export(world, primary)
    assert [o["type"] for o in plain.body["output"]] == ["Observation"]


def test_incremental_import_keeps_versions_and_reports_what_the_standby_already_has(ahds):
    """import-data.md: incremental mode keeps versionId and lastUpdated, ingests soft-deleted resources; the
    status is 200 with output[{type,count,inputUrl}] and error[{count,inputUrl,url}]; importing a version the
    service already has is not applied (AZURE-FACTS: re-importing an existing version only logs a duplicate)."""
    world, primary, standby = ahds
    created = primary.create({"resourceType": "Patient", "name": [{"family": "Lee"}]}).body
    advance(world.store, 30)
    primary.request("PUT", f"Patient/{created['id']}", {**created, "active": True})
    other = primary.create({"resourceType": "Patient"}).body
    primary.delete("Patient", other["id"])
    advance(world.store, 1)
    manifest = _export(world, primary, includeAssociatedData="_history,_deleted").body

    first = _import(world, standby, manifest)
    assert first.status == 200, first.body
    assert first.body["output"][0]["count"] == 4 and first.body["error"] == []
    on_primary = primary.read("Patient", created["id"]).body
    on_standby = standby.read("Patient", created["id"]).body
    assert on_standby["meta"] == on_primary["meta"] and on_standby == on_primary
    assert standby.read("Patient", other["id"]).status == 410  # arrived deleted
    history = standby.request("GET", f"Patient/{created['id']}/_history").body
    assert [e["response"]["etag"] for e in history["entry"]] == ['W/"2"', 'W/"1"']

    # The same files under another name: every version is a duplicate, counted in the error file, nothing applied.
    again = _import(world, standby, {"output": [{**o, "url": o["url"]} for o in manifest["output"]]})
    assert again.status == 200  # the same payload is the same job: same answer
    copy = {"output": []}
    for o in manifest["output"]:
        account, container, name = blob.parse_blob_url(o["url"])
        with world.store.transaction():
            blob.put_blob(
                world.store,
                account,
                container,
                name + ".again",
                blob.get_blob(world.store, account, container, name).body,
            )
        copy["output"].append({**o, "url": o["url"] + ".again"})
    repeated = _import(world, standby, copy)
    assert repeated.body["output"][0]["count"] == 0
    assert repeated.body["error"][0]["count"] == 4
    issues = _ndjson(world, repeated.body["error"][0]["url"])
    assert {i["issue"][0]["code"] for i in issues} == {"duplicate"}


def test_import_refused_when_not_enabled_and_fails_without_the_storage_role(ahds):
    """configure-import-data.md: importConfiguration.enabled must be true; import-data.md troubleshooting: a
    missing Storage Blob Data Contributor role fails the job with 403."""
    world, primary, standby = ahds
    primary.create({"resourceType": "Patient"})
    advance(world.store, 1)
    manifest = _export(world, primary).body
    standby_id = next(
        s.id for s in world.store.by_type("Microsoft.HealthcareApis/workspaces/fhirservices") if "dr/" in s.id
    )
    service = world.store.get(standby_id)
    principal = service.body["identity"]["principalId"]
    with world.store.transaction():
        for assignment in world.store.by_type("Microsoft.Authorization/roleAssignments"):
            if assignment.body["properties"]["principalId"] == principal:
                world.store.delete(assignment.id)
    failed = _import(world, standby, manifest)
    assert failed.status == 403 and "Storage Blob Data Contributor" in failed.body["issue"][0]["diagnostics"]
    service.body["properties"]["importConfiguration"]["enabled"] = False
    with world.store.transaction():
        world.store.put(service.id, service.type, standby_id.rsplit("/fhirservices/", 1)[0], service.body)
    refused = standby.request("POST", "$import", {"resourceType": "Parameters", "parameter": []}, headers=ASYNC)
    assert refused.status == 400 and "not enabled" in refused.body["issue"][0]["diagnostics"]


def test_search_pages_ids_with_a_continuation_token(ahds):
    """Paged `_elements=id` searches (fhir-features-supported.md: _count, _elements) list ids without bodies."""
    world, primary, _ = ahds
    ids = sorted(primary.create({"resourceType": "Patient"}).body["id"] for _ in range(25))
    primary.delete("Patient", ids[3])
    primary.request("DELETE", f"Patient/{ids[4]}", params={"_hardDelete": "true"})
    seen, url = [], "Patient?_elements=id&_count=10"
    while url:
        page = primary.request("GET", url).body
        seen += [e["resource"]["id"] for e in page["entry"]]
        assert all(set(e["resource"]) == {"resourceType", "id", "meta"} for e in page["entry"])
        url = next((link["url"] for link in page.get("link", []) if link["relation"] == "next"), None)
    assert seen == [i for i in ids if i not in (ids[3], ids[4])]
    assert primary.request("GET", f"Patient/{ids[4]}/_history").body["entry"] == []  # a hard delete leaves nothing
