"""Steps on the Azure Front Door in front of an AHDS FHIR service and its standby: one endpoint for clients.

A DNS-only switch (a CNAME moved to the standby) breaks TLS: each FHIR service's certificate covers only
its own host name. Front Door terminates TLS on its own host and sends each request to an origin with the
origin host header set to that origin's own name, so the FHIR service sees its own name and its
certificate matches. The origin group holds the primary and the standby at different priorities (equal
priorities would spread writes over both); which one is active is whichever has priority 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fhirdr.azure.session import get_or_none, wait
from fhirdr.errors import TargetError
from fhirdr.steps.base import Change, Step, text

PROBE_PATH = "/metadata"
PROBE_INTERVAL_SECONDS = 30
# After a route is created Front Door needs a while to deploy it to its edge; the check retries this long.
PROPAGATION_SECONDS = 20 * 60
PROPAGATION_POLL_SECONDS = 30


def _endpoint(step: Step) -> Any:
    return step.ctx.target.require_endpoint()


def _client(step: Step) -> Any:
    return step.ctx.azure.front_door()


def origin_hosts(step: Step) -> dict[str, str]:
    """{'primary': host, 'standby': host} of the two FHIR services the front door sends requests to."""
    from fhirdr.kinds.ahds import service_url

    target = step.ctx.target
    standby = target.require_standby()
    suffix = step.ctx.azure.cloud.fhir_suffix
    return {
        "primary": service_url(target.workspace, target.service, suffix).removeprefix("https://"),
        "standby": service_url(standby.workspace, standby.service, suffix).removeprefix("https://"),
    }


def read_profile(step: Step) -> Any | None:
    ep = _endpoint(step)
    return get_or_none(_client(step).profiles.get, ep.resource_group, ep.profile)


class FrontDoorProfile(Step):
    """A Front Door Standard/Premium profile exists (a classic CDN profile cannot hold origin groups)."""

    uses = "frontdoor.profile"

    def facts(self) -> Any | None:
        return read_profile(self)

    def observe(self, facts: Any | None) -> str:
        if facts is None:
            return "missing"
        return f"{facts.name} ({text(facts.sku.name)}, {text(facts.provisioning_state)})"

    def plan(self, facts: Any | None) -> list[Change]:
        ep = _endpoint(self)
        if facts is None:
            return [Change("create", ep.profile, f"create Front Door profile {ep.profile} ({ep.sku})")]
        if facts.sku.name not in ("Standard_AzureFrontDoor", "Premium_AzureFrontDoor"):
            return [
                Change(
                    "fix-target",
                    facts.id,
                    f"{ep.profile} is a {text(facts.sku.name)} profile, not Azure Front Door Standard/Premium: "
                    "name another profile in [endpoint] profile",
                    fixable=False,
                )
            ]
        return []

    def apply(self, change: Change) -> None:
        from azure.mgmt.cdn.models import Profile, Sku

        ep = _endpoint(self)
        wait(
            _client(self).profiles.begin_create(
                ep.resource_group, ep.profile, Profile(location="Global", sku=Sku(name=ep.sku))
            )
        )


def _profile_ready(step: Step) -> bool:
    profile = read_profile(step)
    return profile is not None and profile.sku.name in ("Standard_AzureFrontDoor", "Premium_AzureFrontDoor")


class FrontDoorEndpoint(Step):
    """The profile's endpoint (its `*.azurefd.net` host name is what clients use) exists and is enabled."""

    uses = "frontdoor.endpoint"

    def facts(self) -> Any | None:
        ep = _endpoint(self)
        if not _profile_ready(self):
            return None
        return get_or_none(_client(self).afd_endpoints.get, ep.resource_group, ep.profile, ep.endpoint)

    def observe(self, facts: Any | None) -> str:
        if facts is None:
            return "missing"
        return f"https://{facts.host_name} ({text(facts.enabled_state)})"

    def plan(self, facts: Any | None) -> list[Change]:
        ep = _endpoint(self)
        if facts is None:
            return [Change("create", ep.endpoint, f"create endpoint {ep.endpoint} in {ep.profile}")]
        if text(facts.enabled_state) != "Enabled":
            return [Change("enable", facts.id, f"enable endpoint {ep.endpoint} (it is {text(facts.enabled_state)})")]
        return []

    def apply(self, change: Change) -> None:
        from azure.mgmt.cdn.models import AFDEndpoint

        ep = _endpoint(self)
        body = AFDEndpoint(location="Global", enabled_state="Enabled")
        wait(_client(self).afd_endpoints.begin_create(ep.resource_group, ep.profile, ep.endpoint, body))


def _probe_ok(probe: Any) -> bool:
    return (
        probe is not None
        and (probe.probe_path or "") == PROBE_PATH
        and text(probe.probe_protocol) == "Https"
        and text(probe.probe_request_type) == "GET"
        and (probe.probe_interval_in_seconds or 0) <= PROBE_INTERVAL_SECONDS
    )


class OriginGroup(Step):
    """The origin group probes each FHIR service's `/metadata` over HTTPS (anonymous in FHIR servers)."""

    uses = "frontdoor.origin-group"

    def facts(self) -> Any | None:
        ep = _endpoint(self)
        if not _profile_ready(self):
            return None
        return get_or_none(_client(self).afd_origin_groups.get, ep.resource_group, ep.profile, ep.origin_group)

    def observe(self, facts: Any | None) -> str:
        if facts is None:
            return "missing"
        probe = facts.health_probe_settings
        if probe is None:
            return f"{facts.name}, no health probe"
        return (
            f"{facts.name}, probe {text(probe.probe_request_type)} {text(probe.probe_protocol)} "
            f"{probe.probe_path} every {probe.probe_interval_in_seconds} s"
        )

    def plan(self, facts: Any | None) -> list[Change]:
        ep = _endpoint(self)
        wanted = f"GET https://…{PROBE_PATH} every {PROBE_INTERVAL_SECONDS} s"
        if facts is None:
            return [Change("create", ep.origin_group, f"create origin group {ep.origin_group}, probe {wanted}")]
        if not _probe_ok(facts.health_probe_settings):
            return [Change("update", facts.id, f"probe {wanted} (now: {self.observe(facts)})")]
        return []

    def apply(self, change: Change) -> None:
        from azure.mgmt.cdn.models import AFDOriginGroup, HealthProbeParameters, LoadBalancingSettingsParameters

        ep = _endpoint(self)
        body = AFDOriginGroup(
            load_balancing_settings=LoadBalancingSettingsParameters(
                sample_size=4, successful_samples_required=3, additional_latency_in_milliseconds=50
            ),
            health_probe_settings=HealthProbeParameters(
                probe_path=PROBE_PATH,
                probe_request_type="GET",
                probe_protocol="Https",
                probe_interval_in_seconds=PROBE_INTERVAL_SECONDS,
            ),
            session_affinity_state="Disabled",
        )
        wait(_client(self).afd_origin_groups.begin_create(ep.resource_group, ep.profile, ep.origin_group, body))


@dataclass
class OriginFacts:
    group_exists: bool
    origins: list[Any]
    hosts: dict[str, str]
    public_access: dict[str, str]

    def origin_for(self, role: str) -> Any | None:
        host = self.hosts[role].lower()
        return next((o for o in self.origins if (o.host_name or "").lower() == host), None)

    def active(self) -> str | None:
        """Which service has the better (lower) priority: the one Front Door sends requests to."""
        primary, standby = self.origin_for("primary"), self.origin_for("standby")
        if primary is None or standby is None or primary.priority == standby.priority:
            return None
        return "primary" if (primary.priority or 1) < (standby.priority or 1) else "standby"


def read_origins(step: Step) -> OriginFacts:
    ep = _endpoint(step)
    hosts = origin_hosts(step)
    access = _public_access(step)
    if not _profile_ready(step) or (
        get_or_none(_client(step).afd_origin_groups.get, ep.resource_group, ep.profile, ep.origin_group) is None
    ):
        return OriginFacts(False, [], hosts, access)
    origins = list(_client(step).afd_origins.list_by_origin_group(ep.resource_group, ep.profile, ep.origin_group))
    return OriginFacts(True, origins, hosts, access)


def _public_access(step: Step) -> dict[str, str]:
    """Public network access of the primary's and the standby's workspace ('Enabled' when unreadable)."""
    target = step.ctx.target
    standby = target.require_standby()
    out = {}
    for role, group, workspace in (
        ("primary", target.resource_group, target.workspace),
        ("standby", standby.resource_group, standby.workspace),
    ):
        found = get_or_none(step.ctx.azure.healthcare().workspaces.get, group, workspace)
        access = text(getattr(getattr(found, "properties", None), "public_network_access", None)) if found else ""
        out[role] = access or "Enabled"
    return out


class Origins(Step):
    """The primary and the standby are origins at different priorities, addressed by their own host names.

    With `automatic_failover = false` (the default) the standby's origin is disabled until `fhirdr failover`
    switches: replication runs one way, so writes Front Door sent to the standby during a blip of the
    primary's probe would be missing from the primary when traffic flows back.
    """

    uses = "frontdoor.origins"

    def facts(self) -> OriginFacts:
        return read_origins(self)

    def observe(self, facts: OriginFacts) -> str:
        if not facts.origins:
            return "no origins"
        parts = [
            f"{o.name} -> {o.host_name} (priority {o.priority}, {text(o.enabled_state)})"
            for o in sorted(facts.origins, key=lambda o: o.priority or 1)
        ]
        active = facts.active()
        return "; ".join(parts) + (f"; active: {active}" if active else "")

    def _wanted(self, facts: OriginFacts) -> dict[str, dict[str, Any]]:
        active = facts.active() or "primary"
        standby_state = "Enabled" if self.ctx.target.require_endpoint().automatic_failover else "Disabled"
        return {
            role: {
                "priority": 1 if role == active else 2,
                "enabled_state": "Enabled" if role == active else standby_state,
            }
            for role in ("primary", "standby")
        }

    def plan(self, facts: OriginFacts) -> list[Change]:
        ep = _endpoint(self)
        changes = []
        for role, access in facts.public_access.items():
            if access == "Disabled" and ep.sku != "Premium_AzureFrontDoor":
                changes.append(
                    Change(
                        "fix-target",
                        f"{role} workspace",
                        f"the {role}'s workspace allows no public network access: Front Door reaches it only "
                        'through Private Link origins, which need sku = "Premium_AzureFrontDoor" in [endpoint] '
                        "and the workspace's approval of Front Door's private endpoint connection",
                        fixable=False,
                    )
                )
        known = {h.lower() for h in facts.hosts.values()}
        for other in facts.origins:
            if (other.host_name or "").lower() not in known:
                # At priority 1 it shares the traffic now; behind both services it gets it when both fail.
                sharing = (other.priority or 1) <= 1 and text(other.enabled_state) == "Enabled"
                changes.append(
                    Change(
                        "review",
                        other.id,
                        f"origin {other.name} -> {other.host_name} is neither the primary nor the standby: Front "
                        f"Door {'sends' if sharing else 'may send'} FHIR requests there; remove it from the group",
                        fixable=False,
                        severity="fail" if sharing else "warning",
                    )
                )
        for role, wanted in self._wanted(facts).items():
            found = facts.origin_for(role)
            host = facts.hosts[role]
            if found is None:
                changes.append(
                    Change(
                        "create",
                        f"{ep.origin_group}/{role}",
                        f"add origin {role} -> {host} (host header {host}, priority {wanted['priority']}, "
                        f"{wanted['enabled_state'].lower()})",
                        {"role": role, "name": role, **wanted},
                    )
                )
                continue
            off = []
            if found.priority != wanted["priority"]:
                off.append(f"priority {found.priority} -> {wanted['priority']}")
            if text(found.enabled_state) != wanted["enabled_state"]:
                off.append(f"{text(found.enabled_state).lower()} -> {wanted['enabled_state'].lower()}")
            if (found.origin_host_header or found.host_name or "").lower() != host.lower():
                off.append(f"host header {found.origin_host_header} -> {host} (the certificate covers only {host})")
            if found.enforce_certificate_name_check is False:
                off.append("certificate name check on")
            if off:
                changes.append(
                    Change(
                        "update",
                        found.id,
                        f"origin {found.name}: " + ", ".join(off),
                        {"role": role, "name": found.name, **wanted},
                    )
                )
        return changes

    def apply(self, change: Change) -> None:
        from azure.mgmt.cdn.models import AFDOrigin

        ep = _endpoint(self)
        host = origin_hosts(self)[change.data["role"]]
        body = AFDOrigin(
            host_name=host,
            origin_host_header=host,
            http_port=80,
            https_port=443,
            priority=change.data["priority"],
            weight=1000,
            enabled_state=change.data["enabled_state"],
            enforce_certificate_name_check=True,
        )
        wait(
            _client(self).afd_origins.begin_create(
                ep.resource_group, ep.profile, ep.origin_group, change.data["name"], body
            )
        )


def _route_problems(route: Any, group_id: str) -> list[str]:
    problems = []
    if ((route.origin_group.id if route.origin_group else "") or "").lower() != group_id.lower():
        problems.append(f"sends to {route.origin_group.id if route.origin_group else 'no origin group'}")
    if "/*" not in (route.patterns_to_match or []):
        problems.append(f"matches only {', '.join(route.patterns_to_match or [])}")
    protocols = [text(p) for p in route.supported_protocols or []]
    if "Https" not in protocols or ("Http" in protocols and text(route.https_redirect) != "Enabled"):
        problems.append(f"serves {', '.join(protocols) or 'nothing'} without redirecting HTTP to HTTPS")
    if text(route.forwarding_protocol) != "HttpsOnly":
        problems.append(f"forwards with {text(route.forwarding_protocol)}, not HttpsOnly")
    if route.cache_configuration is not None:
        problems.append("caches responses at the edge (FHIR responses are patient data and change)")
    if text(route.link_to_default_domain) != "Enabled":
        problems.append("is not linked to the endpoint's azurefd.net host")
    if text(route.enabled_state) != "Enabled":
        problems.append("is disabled")
    return problems


class FrontDoorRoute(Step):
    """The endpoint's route sends every path over HTTPS to the origin group, with caching off."""

    uses = "frontdoor.route"

    def facts(self) -> Any | None:
        ep = _endpoint(self)
        if not _profile_ready(self):
            return None
        if get_or_none(_client(self).afd_endpoints.get, ep.resource_group, ep.profile, ep.endpoint) is None:
            return None
        return get_or_none(_client(self).routes.get, ep.resource_group, ep.profile, ep.endpoint, ep.route)

    def _group_id(self) -> str:
        ep = _endpoint(self)
        target = self.ctx.target
        return (
            f"/subscriptions/{target.subscription}/resourceGroups/{ep.resource_group}/providers/Microsoft.Cdn/"
            f"profiles/{ep.profile}/originGroups/{ep.origin_group}"
        )

    def observe(self, facts: Any | None) -> str:
        if facts is None:
            return "missing"
        problems = _route_problems(facts, self._group_id())
        return f"{facts.name}: " + ("; ".join(problems) if problems else "all paths, HTTPS, no caching")

    def plan(self, facts: Any | None) -> list[Change]:
        ep = _endpoint(self)
        if facts is None:
            return [
                Change("create", ep.route, f"create route {ep.route}: /* over HTTPS to {ep.origin_group}, no caching")
            ]
        problems = _route_problems(facts, self._group_id())
        return [Change("update", facts.id, f"route {ep.route} {'; '.join(problems)}")] if problems else []

    def apply(self, change: Change) -> None:
        from azure.mgmt.cdn.models import ResourceReference, Route

        ep = _endpoint(self)
        body = Route(
            origin_group=ResourceReference(id=self._group_id()),
            patterns_to_match=["/*"],
            supported_protocols=["Https"],
            forwarding_protocol="HttpsOnly",
            link_to_default_domain="Enabled",
            https_redirect="Disabled",
            enabled_state="Enabled",
        )
        wait(_client(self).routes.begin_create(ep.resource_group, ep.profile, ep.endpoint, ep.route, body))


@dataclass
class AudienceFacts:
    primary: str | None
    standby: str | None
    wanted: str | None


def _audience(service: Any) -> str | None:
    auth = getattr(service, "authentication_configuration", None)
    return (getattr(auth, "audience", None) or "").rstrip("/") or None


class SharedAudience(Step):
    """Both services accept tokens for one audience, so clients keep their tokens across a switch.

    Each AHDS FHIR service accepts tokens whose `aud` is its `authenticationConfiguration.audience`, by default
    its own URL. Behind one endpoint both must accept the same one: set `[endpoint] audience` (an application
    ID URI of an app registration clients request tokens for) and fhirdr sets it on both services.
    """

    uses = "frontdoor.audience"

    def facts(self) -> AudienceFacts:
        from fhirdr.steps.standby import read_primary, read_standby

        standby = read_standby(self)
        return AudienceFacts(
            _audience(read_primary(self)), _audience(standby) if standby else None, _endpoint(self).audience
        )

    def observe(self, facts: AudienceFacts) -> str:
        if facts.primary == facts.standby:
            return f"both accept {facts.primary}"
        return f"primary accepts {facts.primary}, standby {facts.standby or '(no standby yet)'}"

    def plan(self, facts: AudienceFacts) -> list[Change]:
        if facts.standby is None and self.ctx.target.standby is not None:
            return [
                Change(
                    "fix-target",
                    "standby",
                    "the standby FHIR service does not exist yet: run `fhirdr enable --apply`",
                    fixable=False,
                )
            ]
        if facts.wanted:
            return [
                Change(
                    "update",
                    role,
                    f"set the {role}'s audience to {facts.wanted} (now {found}); clients then request tokens for "
                    f"{facts.wanted}",
                    {"role": role},
                )
                for role, found in (("primary", facts.primary), ("standby", facts.standby))
                if found != facts.wanted
            ]
        if facts.primary != facts.standby:
            return [
                Change(
                    "decide",
                    "audience",
                    f"the primary accepts tokens for {facts.primary} and the standby for {facts.standby}: after a "
                    "switch clients' tokens are refused (401). Register an application, set its application ID URI "
                    'as [endpoint] audience = "api://…" and run again (fhirdr sets it on both; clients then request '
                    "tokens for it), or have clients request a token for the standby's audience after a switch",
                    fixable=False,
                )
            ]
        return []

    def apply(self, change: Change) -> None:
        from fhirdr.steps.standby import read_primary, read_standby

        target = self.ctx.target
        standby = target.require_standby()
        role = change.data["role"]
        service = read_primary(self) if role == "primary" else read_standby(self)
        if service is None:
            raise TargetError(f"the {role} FHIR service is gone")
        group, workspace = (
            (target.resource_group, target.workspace)
            if role == "primary"
            else (standby.resource_group, standby.workspace)
        )
        service.authentication_configuration.audience = _endpoint(self).audience
        wait(self.ctx.azure.healthcare().fhir_services.begin_create_or_update(group, workspace, service.name, service))


@dataclass
class ReachFacts:
    host: str | None
    status: int | None
    answered_by: str | None
    detail: str


def probe_endpoint(step: Step) -> ReachFacts:
    """GET /metadata through the front door; which service answered, from CapabilityStatement.implementation.url."""
    from fhirdr.fhir.client import FhirClient

    ep = _endpoint(step)
    if not _profile_ready(step):
        return ReachFacts(None, None, None, "no Front Door profile yet")
    found = get_or_none(_client(step).afd_endpoints.get, ep.resource_group, ep.profile, ep.endpoint)
    if found is None or not found.host_name:
        return ReachFacts(None, None, None, "no endpoint yet")
    primary = get_or_none(
        step.ctx.azure.healthcare().fhir_services.get,
        step.ctx.target.resource_group,
        step.ctx.target.workspace,
        step.ctx.target.service,
    )
    audience = _audience(primary) if primary else None
    client = FhirClient(
        step.ctx.azure, step.ctx.target.service, retry=False, base_url=f"https://{found.host_name}", audience=audience
    )
    response = client.request("GET", "metadata")
    if not response.ok:
        return ReachFacts(found.host_name, response.status, None, f"HTTP {response.status}")
    url = ((response.body or {}).get("implementation") or {}).get("url") if isinstance(response.body, dict) else None
    host = (url or "").removeprefix("https://").rstrip("/").lower()
    roles = {h.lower(): role for role, h in origin_hosts(step).items()}
    return ReachFacts(found.host_name, response.status, roles.get(host), f"answered by {url or 'an unnamed server'}")


class Reach(Step):
    """A request through the front door reaches the active service (the primary unless switched)."""

    uses = "frontdoor.reach"

    def facts(self) -> tuple[ReachFacts, str]:
        return probe_endpoint(self), read_origins(self).active() or "primary"

    def observe(self, facts: tuple[ReachFacts, str]) -> str:
        reach, _active = facts
        return f"https://{reach.host}/metadata: {reach.detail}" if reach.host else reach.detail

    def plan(self, facts: tuple[ReachFacts, str]) -> list[Change]:
        reach, active = facts
        if reach.answered_by == active:
            return []
        summary = f"a request through the front door reaches the {active} (now: {self.observe(facts)})"
        return [Change("verify", "endpoint", summary, {"active": active})]

    def apply(self, change: Change) -> None:
        # Nothing to make: wait for Front Door to deploy the route to its edge, then the check passes.
        waited = 0.0
        while waited < PROPAGATION_SECONDS:
            reach, active = self.facts()
            if reach.answered_by == active:
                return
            self.ctx.azure.sleep(PROPAGATION_POLL_SECONDS)
            waited += PROPAGATION_POLL_SECONDS


STEPS = [FrontDoorProfile, FrontDoorEndpoint, OriginGroup, Origins, FrontDoorRoute, SharedAudience, Reach]
