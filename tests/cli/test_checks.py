"""check-cmk, check-export, check-iomt: every finding from a world that has the mistake; fixes; reruns."""

from __future__ import annotations

import pytest

from tests.conftest import make_world

FINDINGS = [
    # mistake, command, check, status, words in what to do / observed
    ("no-purge-protection", "check-cmk", "cmk.vault-recovery", "fail", "turn on purge protection"),
    ("no-soft-delete", "check-cmk", "cmk.vault-recovery", "fail", "turn on soft delete and purge protection"),
    ("vault-firewall", "check-cmk", "cmk.vault-network", "fail", "let trusted Microsoft services through"),
    ("private-vault", "check-cmk", "cmk.vault-network", "fail", "only accepts private endpoints"),
    ("small-key", "check-cmk", "cmk.key", "warning", "RSA 2048 bits; 3072 or more is advised"),
    ("expired-key", "check-cmk", "cmk.key", "fail", "expired on"),
    ("disabled-key", "check-cmk", "cmk.key", "fail", "is disabled"),
    ("no-access-policy", "check-cmk", "cmk.cosmos-access", "fail", "give Azure Cosmos DB wrapKey, unwrapKey"),
    ("rbac-vault", "check-cmk", "cmk.cosmos-access", "fail", "assign Key Vault Crypto Service Encryption User"),
    ("other-subscription", "check-export", "export.account", "fail", "must exist in subscription"),
    ("no-identity", "check-export", "export.identity", "fail", "turn on the service's system-assigned"),
    ("no-role", "check-export", "export.identity", "fail", "assign Storage Blob Data Contributor"),
    ("storage-firewall", "check-export", "export.network", "fail", "let trusted Microsoft services through"),
    ("lrs", "check-export", "export.redundancy", "warning", "keeps no copy in another region"),
    ("failed-over", "check-export", "export.redundancy", "warning", "was failed over on"),
]

FIXABLE = {
    "no-purge-protection": ("check-cmk", "cmk.vault-recovery", ["--enable-purge-protection"]),
    "vault-firewall": ("check-cmk", "cmk.vault-network", []),
    "no-access-policy": ("check-cmk", "cmk.cosmos-access", []),
    "rbac-vault": ("check-cmk", "cmk.cosmos-access", []),
    "no-role": ("check-export", "export.identity", []),
    "storage-firewall": ("check-export", "export.network", []),
}


def _finding(result, check: str) -> dict:
    return next(f for f in result.json()["findings"] if f["check"] == check)


def _world(isolated, mistake: str):
    return make_world(isolated, cmk=True, export=True, mistakes=(mistake,))


@pytest.mark.parametrize(("mistake", "command", "check", "status", "words"), FINDINGS, ids=[f[0] for f in FINDINGS])
def test_every_mistake_produces_its_finding(isolated, cli, mistake, command, check, status, words):
    _world(isolated, mistake)
    result = cli("--sim", "-o", "json", command)
    assert result.exit_code == (1 if status == "fail" else 0), result.output
    finding = _finding(result, check)
    assert finding["status"] == status
    assert words in finding["action"]
    others = [f for f in result.json()["findings"] if f["check"] != check and f["status"] in ("fail", "warning")]
    assert others == []  # only the mistake that was built in


@pytest.mark.parametrize("mistake", sorted(FIXABLE))
def test_apply_fixes_what_it_claims_and_a_rerun_changes_nothing(isolated, cli, mistake):
    world = _world(isolated, mistake)
    command, check, flags = FIXABLE[mistake]
    applied = cli("--sim", command, "--apply", "--yes", *flags)
    assert applied.exit_code == 0, applied.output
    recheck = cli("--sim", "-o", "json", command)
    assert recheck.exit_code == 0, recheck.output
    assert _finding(recheck, check)["status"] == "ok"
    before = world.snapshot()
    again = cli("--sim", command, "--apply", "--yes", *flags)
    assert again.exit_code == 0, again.output
    assert world.snapshot() == before


def test_purge_protection_needs_its_own_confirmation(isolated, cli):
    world = _world(isolated, "no-purge-protection")
    vault = world.store.by_type("Microsoft.KeyVault/vaults")[0]
    result = cli("--sim", "-o", "json", "check-cmk", "--apply", "--yes")
    assert result.exit_code == 1, result.output
    finding = _finding(result, "cmk.vault-recovery")
    assert finding["status"] == "fail" and "--enable-purge-protection" in finding["action"]
    assert world.store.get(vault.id).body == vault.body
    assert cli("--sim", "check-cmk", "--apply", "--yes", "--enable-purge-protection").exit_code == 0
    assert world.store.get(vault.id).body["properties"]["enablePurgeProtection"] is True


def test_no_cmk_and_no_export_say_so_and_pass(world, cli):
    cmk = cli("--sim", "-o", "json", "check-cmk")
    assert cmk.exit_code == 0, cmk.output
    assert _finding(cmk, "cmk.configured")["observed"] == "no customer-managed key (Microsoft-managed key)"
    export = cli("--sim", "-o", "json", "check-export")
    assert export.exit_code == 0, export.output
    assert _finding(export, "export.configured")["observed"] == "$export is not configured"


def test_regions_that_need_a_cross_tenant_application_id(isolated, cli):
    make_world(isolated, primary_region="southeastasia", secondary_region="eastasia", cmk=True)
    result = cli("--sim", "-o", "json", "check-cmk")
    assert result.exit_code == 1, result.output
    assert "southeastasia needs crossTenantCmkApplicationId" in _finding(result, "cmk.cross-tenant")["action"]


def test_iomt_lists_connections_and_the_dr_caveat(isolated, cli):
    make_world(isolated, dr_enabled=True, iomt=True)
    before = cli("--sim", "-o", "json", "check-iomt")
    assert before.exit_code == 0, before.output
    assert _finding(before, "iomt.connectors")["observed"] == "iomt-ingest: devices-eventhub"
    assert "existing connections fail until the primary region is back" in _finding(before, "iomt.dr-caveat")["action"]


def test_checks_of_azure_api_for_fhir_features_are_refused_on_a_self_hosted_target(isolated, cli):
    """A self-hosted FHIR Server for Azure has no IoMT connector, no service-level CMK or $export settings
    and no Azure API for FHIR private endpoint (DESIGN.md, three kinds): each check says so, exit 2."""
    world = make_world(isolated, kind="self-hosted", dr_enabled=True)
    before = world.snapshot()
    for command, words in (
        ("check-iomt", "IoMT connector is a feature of Azure API for FHIR"),
        ("check-cmk", "keyVaultKeyUri on the account"),
        ("check-export", "FhirServer__Operations__Export__StorageAccountUri"),
        ("configure-private-link", "privatelink.azurewebsites.net"),
    ):
        result = cli("--sim", command)
        assert result.exit_code == 2, result.output
        assert f"`fhirdr {command}` does not apply to self-hosted targets" in result.stderr
        assert words in result.stderr
    assert world.snapshot() == before


def test_status_shows_the_three_summaries(isolated, cli):
    make_world(isolated, cmk=True, export=True, iomt=True, mistakes=("no-role",))
    readiness = cli("--sim", "-o", "json", "status").json()["readiness"]
    assert readiness["cmk"] == {"status": "ok", "summary": "in place"}
    assert readiness["export"]["status"] == "findings" and "identity" in readiness["export"]["summary"]
    assert readiness["iomt"]["status"] == "ok"


def test_unknown_mistake_is_refused(isolated, cli):
    result = cli("sim", "init", "--mistake", "typo")
    assert result.exit_code == 2
    assert "--mistake 'typo' is not known" in result.stderr


def test_a_run_that_stops_at_a_step_needing_a_person_is_journaled_as_it_exited(isolated, cli):
    """`check-cmk --apply --yes` over a vault without purge protection exits 1 (the step needs
    --enable-purge-protection); `fhirdr runs` and the journal must not call that run ok."""
    from fhirdr.runbook.journal import read_journal

    _world(isolated, "no-purge-protection")
    result = cli("--sim", "check-cmk", "--apply", "--yes")
    assert result.exit_code == 1, result.output
    runs = cli("-o", "json", "runs")
    assert runs.exit_code == 0, runs.output
    listed = runs.json()
    newest = listed[0] if isinstance(listed, list) else listed["runs"][0]
    finished = [e["status"] for e in read_journal(newest["run_id"]) if e["event"] == "run.finished"]
    assert finished == ["blocked"], finished
    assert newest["status"] != "ok"
