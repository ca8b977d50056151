"""Support tickets as real Azure files them: plans, severity, consent, drafts, and DR on by what support said."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import make_world

TICKETS = "Microsoft.Support/supportTickets"


def _tickets(world) -> list[dict]:
    return [t.body["properties"] for t in world.store.by_type(TICKETS)]


def test_without_an_api_support_plan_enable_writes_the_ticket_with_every_field_to_paste(isolated, cli):
    """learn.microsoft.com/rest/api/support "Prerequisites": creating a ticket through the API needs a
    Professional Direct, Premier or Unified plan; a Basic subscription is refused. fhirdr says so and writes
    the ticket text instead (the portal's fields, azure-docs articles/azure-portal/supportability/
    how-to-create-azure-support-request.md)."""
    world = make_world(isolated, support_plan="basic")
    result = cli("--sim", "enable", "--apply", "--yes")
    assert result.exit_code == 0, result.output
    assert "no Professional Direct, Premier or Unified support plan" in result.output
    assert "fhirdr-enable-ticket.md to be filed" in result.stderr
    assert _tickets(world) == []
    draft = Path("fhirdr-enable-ticket.md").read_text()
    for line in (
        "- Issue type: Technical",
        f"- Subscription: {world.spec.subscription}",
        "- Service: Azure API for FHIR",
        "- Problem type / subtype (Category / Subcategory): Disaster recovery / Enable disaster recovery",
        "- Severity: moderate",
        "- Advanced diagnostic information: No",
        "- Email: dana.operator@example.com",
        "Preferred secondary region: westcentralus",
    ):
        assert line in draft, draft

    again = cli("--sim", "enable", "--apply", "--yes")
    assert again.exit_code == 0, again.output
    assert _tickets(world) == []


def test_a_plan_read_from_the_subscriptions_tickets_is_told_before_anything_is_sent(isolated, cli):
    """Each ticket carries supportPlanType (support stable/2024-04-01/examples/
    GetSubscriptionSupportTicketDetails.json): a Developer plan seen there means the API will refuse, so the
    plan says so up front."""
    make_world(isolated, support_plan="developer", support_history=("other-service",))
    result = cli("--sim", "enable")
    assert result.exit_code == 1, result.output
    assert "the subscription's support plan is Developer" in result.stdout
    assert "write the ticket text for the portal" in result.stdout


def test_severity_and_consent_are_chosen_and_sent(world, cli):
    """CreateTechnicalSupportTicketForSubscription.json: severity and advancedDiagnosticConsent are fields of
    the ticket; consent is never assumed for a service holding patient data."""
    result = cli("--sim", "enable", "--apply", "--yes", "--severity", "critical", "--diagnostic-consent", "yes")
    assert result.exit_code == 0, result.output
    (ticket,) = _tickets(world)
    assert (ticket["severity"], ticket["advancedDiagnosticConsent"]) == ("critical", "Yes")


def test_without_a_consent_answer_the_ticket_says_no_and_the_severity_is_moderate(world, cli):
    result = cli("--sim", "enable", "--apply", "--yes")
    assert result.exit_code == 0, result.output
    assert "advanced diagnostic consent not given" in result.stderr
    (ticket,) = _tickets(world)
    assert (ticket["severity"], ticket["advancedDiagnosticConsent"]) == ("moderate", "No")


def test_a_severity_the_plan_does_not_offer_is_refused_by_azure_with_its_reason(isolated, cli):
    """support.json SeverityLevel: 'highestcriticalimpact' is reserved for Premier customers."""
    world = make_world(isolated, support_plan="professional-direct")
    result = cli("--sim", "enable", "--apply", "--yes", "--severity", "highestcriticalimpact")
    assert result.exit_code == 3, result.output
    assert "reserved for Premier and Unified" in result.stderr
    assert _tickets(world) == []


def test_bad_severity_and_consent_values_are_bad_input(world, cli):
    for flags, words in (
        (["--severity", "urgent"], "--severity 'urgent' is not a severity"),
        (["--diagnostic-consent", "maybe"], "--diagnostic-consent 'maybe' is not yes or no"),
    ):
        result = cli("--sim", "enable", "--apply", "--yes", *flags)
        assert result.exit_code == 2, result.output
        assert words in result.stderr
    assert _tickets(world) == []


def test_failback_without_an_api_plan_drafts_the_failback_ticket(isolated, cli):
    make_world(isolated, dr_enabled=True, support_plan="none")
    result = cli("--sim", "failback", "--apply", "--yes", "--ticket-draft", "failback.md")
    assert result.exit_code == 0, result.output
    draft = Path("failback.md").read_text()
    assert "Disaster recovery / Data failback" in draft
    assert "waiting for the ticket drafted in failback.md to be filed" in result.stderr


def test_a_closed_dr_request_that_support_never_confirmed_is_not_dr_on(isolated, cli):
    """A Closed ticket does not prove the request was fulfilled (support ListCommunicationsForSubscriptionSupportTicket
    .json: what support said is in the communications); status says unverified and exits 1."""
    make_world(isolated, support_history=("closed-unfulfilled",))
    status = cli("--sim", "-o", "json", "status")
    assert status.exit_code == 1, status.output
    dr = status.json()["dr"]
    assert (dr["enabled"], dr["state"]) == (False, "unverified")
    assert "Closed is not fulfilled" in dr["detail"]

    enable = cli("--sim", "-o", "json", "enable")
    assert enable.exit_code == 1, enable.output
    steps = {s["id"]: s for s in enable.json()["steps"]}
    assert steps["enable.support-done"]["status"] == "blocked"


def test_a_confirmed_dr_request_of_another_service_does_not_turn_this_one_on(isolated, cli):
    """Tickets are filtered by technicalTicketDetails.resourceId (CreateTechnicalSupportTicketForSubscription.json)."""
    make_world(isolated, support_history=("other-service",))
    dr = cli("--sim", "-o", "json", "status").json()["dr"]
    assert dr["state"] == "off"
    assert "kept 18 months" in dr["detail"]


def test_dr_on_names_what_support_confirmed(isolated, cli):
    make_world(isolated, dr_enabled=True)
    dr = cli("--sim", "-o", "json", "status").json()["dr"]
    assert (dr["enabled"], dr["state"]) == (True, "on")
    assert "support wrote 'Disaster recovery is enabled'" in dr["detail"]


def test_sim_init_refuses_an_unknown_support_plan(isolated, cli):
    result = cli("sim", "init", "--support-plan", "gold")
    assert result.exit_code == 2, result.output
    assert "--support-plan 'gold' is not known" in result.stderr


def test_without_the_support_request_contributor_role_the_ticket_is_drafted_and_the_role_named(isolated, cli):
    """learn.microsoft.com/rest/api/support "Prerequisites": Support Request Contributor at the subscription;
    ARM refuses a caller without the action with 403 AuthorizationFailed."""
    world = make_world(isolated, support_role=False)
    result = cli("--sim", "enable", "--apply", "--yes")
    assert result.exit_code == 0, result.output
    assert "lacks the Support Request Contributor role" in result.stderr
    assert Path("fhirdr-enable-ticket.md").exists()
    assert _tickets(world) == []


def test_when_no_problem_classification_fits_fhirdr_says_so_and_drafts(isolated, cli):
    """Problem classifications are listed per service as "Category / Subcategory" (support stable/2024-04-01/
    examples/ListProblemClassifications.json); none about DR means no ticket can be filed by the API."""
    world = make_world(isolated, dr_classification=False)
    result = cli("--sim", "enable", "--apply", "--yes")
    assert result.exit_code == 0, result.output
    assert "no problem classification of Azure API for FHIR is 'Disaster recovery / ...'" in result.stderr
    assert "Configuration and setup / Private Link" in result.stderr
    draft = Path("fhirdr-enable-ticket.md").read_text()
    assert "none fits" in draft
    assert _tickets(world) == []


def test_a_severity_the_known_plan_does_not_offer_is_refused_before_anything_is_sent(isolated, cli):
    """support.json SeverityLevel: 'highestcriticalimpact' is for Premier customers; the plan is read from the
    subscription's tickets (supportPlanType), so the ticket is not even attempted."""
    world = make_world(isolated, support_plan="professional-direct", support_history=("other-service",))
    before = len(_tickets(world))
    result = cli("--sim", "enable", "--apply", "--yes", "--severity", "highestcriticalimpact")
    assert result.exit_code == 1, result.output
    assert "severity highestcriticalimpact is not offered on the ProfessionalDirect support plan" in result.output
    assert len(_tickets(world)) == before
