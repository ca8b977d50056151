"""The target: which FHIR deployment fhirdr works on, read from a TOML file plus overrides."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fhirdr.errors import TargetError
from fhirdr.kinds import KINDS as KIND_MODULES
from fhirdr.kinds import RENAMED_KINDS, kind_of
from fhirdr.kinds.ahds import NAME as AHDS_NAME
from fhirdr.regions import validate_region

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

DEFAULT_TARGET_FILE = "fhirdr.toml"
PRIVATE_DNS_ZONE = "privatelink.azurehealthcareapis.com"
KINDS = tuple(KIND_MODULES)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._()-]{0,89}$")
# Azure's naming rules for every name that becomes a segment of an ARM path, from
# https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules
# (Microsoft.Resources, Microsoft.Network, Microsoft.KeyVault, Microsoft.Storage,
# Microsoft.DocumentDB, Microsoft.HealthcareApis). A name that breaks them could also name
# another path ("../x", "zone?api-version=1"), so they are refused before any request is made.
_NETWORK_NAME = (
    re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}[A-Za-z0-9_]$"),
    "2 to 64 letters, digits, underscores, periods and hyphens; starts with a letter or digit, "
    "ends with a letter, digit or underscore",
)
NAME_RULES: dict[str, tuple[re.Pattern[str], str]] = {
    "resource group": (
        re.compile(r"^[-\w.()]{0,89}[-\w()]$"),
        "1 to 90 letters, digits, underscores, hyphens, periods and parentheses, not ending in a period",
    ),
    "virtual network": _NETWORK_NAME,
    "private endpoint": _NETWORK_NAME,
    "key vault": (
        re.compile(r"^(?!.*--)[A-Za-z][A-Za-z0-9-]{1,22}[A-Za-z0-9]$"),
        "3 to 24 letters, digits and hyphens; starts with a letter, ends with a letter or digit, no '--'",
    ),
    "key": (re.compile(r"^[A-Za-z0-9-]{1,127}$"), "1 to 127 letters, digits and hyphens"),
    "storage account": (re.compile(r"^[a-z0-9]{3,24}$"), "3 to 24 lower-case letters and digits"),
    "Cosmos DB account": (
        re.compile(r"^[a-z0-9][a-z0-9-]{1,42}[a-z0-9]$"),
        "3 to 44 lower-case letters, digits and hyphens; starts and ends with a letter or digit",
    ),
    "Cosmos DB database": (
        re.compile(r"^[^/\\#?\s][^/\\#?]{0,254}(?<!\s)$"),
        "1 to 255 characters, none of / \\ # ?, not ending in a space",
    ),
    "Traffic Manager profile": (
        re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,61}[A-Za-z0-9])?$"),
        "1 to 63 letters, digits, periods and hyphens; starts and ends with a letter or digit",
    ),
    # Microsoft.Cdn (naming rules doc): profiles 1-260, afdEndpoints 1-46, origin groups and routes 1-90.
    "Front Door profile": (
        re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,258}[A-Za-z0-9])?$"),
        "1 to 260 letters, digits and hyphens; starts and ends with a letter or digit",
    ),
    "Front Door endpoint": (
        re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,44}[A-Za-z0-9])?$"),
        "1 to 46 letters, digits and hyphens; starts and ends with a letter or digit",
    ),
    "Front Door origin group or route": (
        re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,88}[A-Za-z0-9])?$"),
        "1 to 90 letters, digits and hyphens; starts and ends with a letter or digit",
    ),
    "IoMT connector": (
        re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{1,22}[A-Za-z0-9]$"),
        "3 to 24 letters, digits and hyphens; starts and ends with a letter or digit",
    ),
}
# A private DNS zone is a DNS name: 2 to 34 labels of 1 to 63 letters, digits, hyphens and
# underscores (not starting or ending with a hyphen), 253 characters at most.
_DNS_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")
_SUBSCRIPTION = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


@dataclass(frozen=True)
class Objectives:
    rpo_minutes: int = 15
    rto_minutes: int = 60


@dataclass(frozen=True)
class PrivateLinkSettings:
    resource_group: str
    private_endpoint: str | None = None
    primary_vnet: str | None = None
    secondary_vnet: str | None = None
    secondary_address_space: tuple[str, ...] = ()
    zone: str = PRIVATE_DNS_ZONE
    zone_resource_group: str | None = None
    secondary_link_registration: bool = False

    @property
    def dns_resource_group(self) -> str:
        return self.zone_resource_group or self.resource_group


@dataclass(frozen=True)
class SelfHostedSettings:
    """A self-hosted FHIR server (FHIR Server for Azure): its URL, compute per region, Cosmos DB, Traffic Manager.

    There is no Microsoft.HealthcareApis resource: the server is known by the URL its clients use.
    """

    cosmos_account: str
    cosmos_resource_group: str
    cosmos_database: str | None = None
    traffic_manager_profile: str | None = None
    traffic_manager_resource_group: str | None = None
    fhir_url: str | None = None
    audience: str | None = None
    # (region, host name of the FHIR server's compute there), e.g. ("westus2", "fhir-westus2.azurewebsites.net")
    compute: tuple[tuple[str, str], ...] = ()

    def compute_in(self, region: str | None) -> str | None:
        return dict(self.compute).get(region or "")

    @property
    def url(self) -> str | None:
        """What clients use: fhir_url, else the Traffic Manager profile's DNS name."""
        if self.fhir_url:
            return self.fhir_url.rstrip("/")
        if self.traffic_manager_profile:
            return f"https://{self.traffic_manager_profile}.trafficmanager.net"
        return None


@dataclass(frozen=True)
class StandbySettings:
    """The AHDS FHIR service fhirdr keeps as the standby of an `ahds` target, in the secondary region."""

    workspace: str
    service: str
    region: str | None
    resource_group: str


@dataclass(frozen=True)
class EndpointSettings:
    """The one endpoint clients of an `ahds` target use: an Azure Front Door in front of primary and standby."""

    kind: str
    profile: str
    resource_group: str
    endpoint: str
    origin_group: str
    route: str
    sku: str
    # One token audience both services accept (an app registration's application ID URI); None: unchanged.
    audience: str | None = None
    # Front Door may send traffic to the standby by itself when the primary's probe fails (writes made there
    # are not replicated back); off, the standby's origin stays disabled until `fhirdr failover`.
    automatic_failover: bool = False


ENDPOINT_KINDS = ("front-door",)
FRONT_DOOR_SKUS = ("Standard_AzureFrontDoor", "Premium_AzureFrontDoor")


@dataclass(frozen=True)
class ReplicationSettings:
    """How `fhirdr replicate` feeds the standby of an `ahds` target ([replication] in the target file).

    storage_account: where the primary exports and the standby imports from (default: the primary's
    exportConfiguration.storageAccountName, read at run time); container: the export container, which also
    holds the replicator's state; overlap: how far before the watermark each export starts, for writes still
    committing at the previous cycle's end; reconcile_every: a hard-delete reconciliation every N cycles of
    `--follow` (0: only with --reconcile); lease: how long a runner's lease lasts without renewal.
    """

    storage_account: str | None = None
    container: str = "fhirdr-replication"
    overlap_seconds: float = 60.0
    reconcile_every: int = 0
    lease_seconds: float = 300.0


@dataclass(frozen=True)
class Contact:
    """Who support contacts about a ticket fhirdr files."""

    first_name: str
    last_name: str
    email: str
    country: str
    timezone: str = "UTC"
    language: str = "en-US"
    phone: str | None = None


@dataclass(frozen=True)
class Extras:
    """What `fhirdr init` records for the CMK, $export and IoMT checks."""

    key_vault: str | None = None
    key_name: str | None = None
    export_storage_account: str | None = None
    iomt_connectors: tuple[str, ...] = ()


@dataclass(frozen=True)
class Target:
    subscription: str
    resource_group: str
    service: str
    kind: str = "managed"
    primary_region: str | None = None
    secondary_region: str | None = None
    test_environment: bool = False
    objectives: Objectives = field(default_factory=Objectives)
    private_link: PrivateLinkSettings | None = None
    self_hosted: SelfHostedSettings | None = None
    # kind "ahds": the workspace the FHIR service `service` lives in, and its standby.
    workspace: str | None = None
    standby: StandbySettings | None = None
    endpoint: EndpointSettings | None = None
    replication: ReplicationSettings = field(default_factory=ReplicationSettings)
    contact: Contact | None = None
    extras: Extras = field(default_factory=Extras)
    source: Path | None = None
    # What was accepted but should change (old names); the CLI shows each once.
    warnings: tuple[str, ...] = ()

    def require_private_link(self) -> PrivateLinkSettings:
        if self.private_link is None:
            raise TargetError(
                f"{self._where()}: no [private_link] section",
                hint="add [private_link] with primary_vnet, secondary_vnet and secondary_address_space",
            )
        return self.private_link

    def require_self_hosted(self) -> SelfHostedSettings:
        if self.self_hosted is None:
            raise TargetError(
                f"{self._where()}: kind 'self-hosted' needs a [self_hosted] section with cosmos_account",
                hint="add [self_hosted] with fhir_url, cosmos_account, cosmos_database, traffic_manager_profile "
                "and [self_hosted.compute] (region = host)",
            )
        return self.self_hosted

    def with_secondary(self, region: str) -> Target:
        """The same target with its secondary (and its standby's) region chosen."""
        import dataclasses

        standby = dataclasses.replace(self.standby, region=region) if self.standby else None
        return dataclasses.replace(self, secondary_region=region, standby=standby)

    def require_standby(self) -> StandbySettings:
        if self.standby is None or self.workspace is None:
            raise TargetError(f"{self._where()}: kind 'ahds' needs 'workspace' and a [standby] section")
        return self.standby

    def require_endpoint(self) -> EndpointSettings:
        if self.endpoint is None:
            raise TargetError(
                f"{self._where()}: no [endpoint] section",
                hint='add [endpoint] with kind = "front-door" (profile, endpoint, origin_group, route: defaults)',
            )
        return self.endpoint

    def require_regions(self) -> tuple[str, str]:
        if not self.primary_region or not self.secondary_region:
            missing = "primary_region" if not self.primary_region else "secondary_region"
            raise TargetError(f"{self._where()}: '{missing}' is not set")
        return self.primary_region, self.secondary_region

    def _where(self) -> str:
        return str(self.source) if self.source else "target"


_TOP_KEYS = {
    "kind",
    "subscription",
    "resource_group",
    "service",
    "primary_region",
    "secondary_region",
    "test_environment",
    "objectives",
    "private_link",
    "self_hosted",
    "backing",
    "workspace",
    "standby",
    "endpoint",
    "replication",
    "contact",
    "cmk",
    "export",
    "iomt",
}
_CMK_KEYS = {"key_vault", "key_name"}
_EXPORT_KEYS = {"storage_account"}
_IOMT_KEYS = {"connectors"}
_SELF_HOSTED_KEYS = {
    "fhir_url",
    "audience",
    "compute",
    "cosmos_account",
    "cosmos_resource_group",
    "cosmos_database",
    "traffic_manager_profile",
    "traffic_manager_resource_group",
    "secondary_compute",
}
_CONTACT_KEYS = {"first_name", "last_name", "email", "country", "timezone", "language", "phone"}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_OBJECTIVE_KEYS = {"rpo_minutes", "rto_minutes"}
_PRIVATE_LINK_KEYS = {
    "resource_group",
    "private_endpoint",
    "primary_vnet",
    "secondary_vnet",
    "secondary_address_space",
    "zone",
    "zone_resource_group",
    "secondary_link_registration",
}


def read_target_file(path: Path) -> dict[str, Any]:
    """Parse a target file; a syntax error names the file and the line, an unreadable file says why."""
    if str(path) in ("", "."):
        raise TargetError("--target is empty", hint="name a TOML file, e.g. --target fhirdr.toml")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise TargetError(f"target file {path} does not exist", hint="run `fhirdr sim init` or `fhirdr init`") from None
    except IsADirectoryError:
        raise TargetError(
            f"target file {path} is a directory", hint="name a TOML file, e.g. --target fhirdr.toml"
        ) from None
    except OSError as exc:
        from fhirdr.paths import why

        raise TargetError(f"cannot read target file {path}: {why(exc, path)}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TargetError(f"{path}: not UTF-8 text (byte {exc.start}); a target file is TOML in UTF-8") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TargetError(f"{path}: not valid TOML: {exc}") from None


def load_target(path: Path | None, overrides: dict[str, Any] | None = None, cloud: str = "AzureCloud") -> Target:
    """Build the target from the file (when given), then AZURE_* variables, then flags."""
    raw: dict[str, Any] = read_target_file(path) if path else {}
    where = str(path) if path else "target"
    merged = dict(raw)
    env_subscription = os.environ.get("AZURE_SUBSCRIPTION_ID")
    if env_subscription:
        merged["subscription"] = env_subscription
    for key, value in (overrides or {}).items():
        if value is not None:
            merged[key] = value
    return parse_target(merged, where, path, cloud)


def _str(data: dict[str, Any], key: str, where: str, required: bool = False) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            raise TargetError(f"{where}: '{key}' is required", hint=_REQUIRED_HINTS.get(key))
        return None
    if not isinstance(value, str) or not value.strip():
        raise TargetError(f"{where}: '{key}' must be a non-empty string, got {value!r}")
    return value.strip()


_REQUIRED_HINTS = {
    "subscription": "set it in the target file, with --subscription or with AZURE_SUBSCRIPTION_ID",
    "resource_group": "set it in the target file or with -g/--resource-group",
    "service": "set it in the target file or with -n/--service",
}


def _check_unknown(data: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise TargetError(f"{where}: unknown key '{unknown[0]}'", hint=f"known keys: {', '.join(sorted(allowed))}")


def _name(value: str | None, field_name: str, where: str, what: str | None = None) -> str | None:
    """Check a name against Azure's rules for `what` (or a conservative default)."""
    if value is None:
        return None
    if what is None:
        if not _NAME.match(value):
            raise TargetError(f"{where}: '{field_name}' = {value!r} is not a valid Azure resource name")
        return value
    pattern, rule = NAME_RULES[what]
    if not pattern.match(value):
        raise TargetError(f"{where}: '{field_name}' = {value!r} is not a valid {what} name", hint=f"{rule}")
    return value


def _dns_name(value: str, field_name: str, where: str) -> str:
    labels = value.rstrip(".").split(".")
    if len(value) > 253 or not 2 <= len(labels) <= 34 or not all(_DNS_LABEL.match(label) for label in labels):
        raise TargetError(
            f"{where}: '{field_name}' = {value!r} is not a private DNS zone name",
            hint="a DNS name of 2 to 34 labels (letters, digits, hyphens), such as " + PRIVATE_DNS_ZONE,
        )
    return value.rstrip(".")


def parse_target(
    data: dict[str, Any], where: str = "target", source: Path | None = None, cloud: str = "AzureCloud"
) -> Target:
    """Validate a target mapping; every problem names the key it is about."""
    _check_unknown(data, _TOP_KEYS, where)
    subscription = _str(data, "subscription", where, required=True)
    assert subscription is not None
    if not _SUBSCRIPTION.match(subscription):
        raise TargetError(f"{where}: 'subscription' = {subscription!r} is not a subscription id (a GUID)")
    resource_group = _name(
        _str(data, "resource_group", where, required=True), "resource_group", where, "resource group"
    )
    service = _str(data, "service", where, required=True)
    assert resource_group is not None and service is not None
    warnings: list[str] = []
    kind = _str(data, "kind", where) or "managed"
    if kind in RENAMED_KINDS:
        warnings.append(f"{where}: kind '{kind}' is now called '{RENAMED_KINDS[kind]}'; the old name goes next release")
        kind = RENAMED_KINDS[kind]
    if kind not in KINDS:
        raise TargetError(f"{where}: 'kind' must be one of {', '.join(KINDS)}, got {kind!r}")
    module = kind_of(kind)
    if not module.service_name.match(service):
        raise TargetError(
            f"{where}: 'service' = {service!r} is not a valid name for the {module.title}",
            hint=module.service_name_rule,
        )
    primary = _str(data, "primary_region", where)
    secondary = _str(data, "secondary_region", where)
    primary = validate_region(primary, f"{where}: 'primary_region'", cloud) if primary else None
    secondary = validate_region(secondary, f"{where}: 'secondary_region'", cloud) if secondary else None
    if primary and secondary and primary == secondary:
        raise TargetError(f"{where}: 'secondary_region' must differ from 'primary_region' ({primary})")
    test_environment = data.get("test_environment", False)
    if not isinstance(test_environment, bool):
        raise TargetError(f"{where}: 'test_environment' must be true or false")
    standby = _parse_standby(data, kind, resource_group, primary, secondary, where)
    if standby is not None and standby.region:
        secondary = standby.region
    return Target(
        subscription=subscription,
        resource_group=resource_group,
        service=service,
        kind=kind,
        primary_region=primary,
        secondary_region=secondary,
        test_environment=test_environment,
        objectives=_parse_objectives(data.get("objectives", {}), f"{where}: [objectives]"),
        private_link=_parse_private_link(data.get("private_link"), resource_group, f"{where}: [private_link]"),
        self_hosted=_parse_self_hosted(data, kind, resource_group, secondary, where, warnings),
        workspace=_parse_workspace(data, kind, where),
        standby=standby,
        endpoint=_parse_endpoint(data, kind, resource_group, where),
        replication=_parse_replication(data, kind, where),
        contact=_parse_contact(data.get("contact"), f"{where}: [contact]"),
        extras=_parse_extras(data, where),
        source=source,
        warnings=tuple(warnings),
    )


def _parse_workspace(data: dict[str, Any], kind: str, where: str) -> str | None:
    workspace = _str(data, "workspace", where, required=kind_of(kind).section == "standby")
    if workspace is None:
        return None
    if kind_of(kind).section != "standby":
        raise TargetError(f"{where}: 'workspace' is for kind 'ahds' (an AHDS FHIR service lives in a workspace)")
    if not AHDS_NAME.match(workspace):
        raise TargetError(f"{where}: 'workspace' = {workspace!r} is not a workspace name", hint=_AHDS_RULE)
    return workspace


_STANDBY_KEYS = {"workspace", "service", "region", "resource_group"}
_AHDS_RULE = "3 to 24 lower-case letters and digits"


def _parse_standby(
    data: dict[str, Any], kind: str, default_group: str, primary: str | None, secondary: str | None, where: str
) -> StandbySettings | None:
    table = data.get("standby")
    if kind_of(kind).section != "standby":
        if table is not None:
            raise TargetError(f"{where}: [standby] is for kind 'ahds'")
        return None
    table = {} if table is None else table
    where = f"{where}: [standby]"
    if not isinstance(table, dict):
        raise TargetError(f"{where} must be a table")
    _check_unknown(table, _STANDBY_KEYS, where)
    workspace = _str(data, "workspace", where) or ""
    # By default the standby is a workspace named after the primary's, with a service of the same name.
    standby_workspace = _str(table, "workspace", where) or f"{workspace[:22]}dr"
    service = _str(table, "service", where) or str(data.get("service"))
    for key, value in (("workspace", standby_workspace), ("service", service)):
        if not AHDS_NAME.match(value):
            raise TargetError(f"{where}: '{key}' = {value!r} is not an AHDS name", hint=_AHDS_RULE)
    region = _str(table, "region", where)
    region = validate_region(region, f"{where}: 'region'") if region else secondary
    if secondary and region != secondary:
        raise TargetError(f"{where}: 'region' ({region}) differs from 'secondary_region' ({secondary}): set one")
    if region and primary and region == primary:
        raise TargetError(
            f"{where}: 'region' must differ from 'primary_region' ({primary}): a standby in the same "
            "region goes down with the primary"
        )
    group = _name(_str(table, "resource_group", where), "resource_group", where) or default_group
    if standby_workspace == workspace and group == default_group:
        raise TargetError(f"{where}: 'workspace' must differ from the primary's workspace ({workspace})")
    return StandbySettings(standby_workspace, service, region, group)


_ENDPOINT_KEYS = {
    "kind",
    "profile",
    "resource_group",
    "endpoint",
    "origin_group",
    "route",
    "sku",
    "audience",
    "automatic_failover",
}
_AUDIENCE = re.compile(r"^(https://[A-Za-z0-9.-]+(/[\w.~-]*)*|api://[\w.~/-]+)$")


def _parse_endpoint(data: dict[str, Any], kind: str, default_group: str, where: str) -> EndpointSettings | None:
    table = data.get("endpoint")
    if table is None:
        return None
    if kind_of(kind).endpoint_runbook is None:
        raise TargetError(
            f"{where}: [endpoint] is for kind 'ahds'",
            hint=f"a {kind_of(kind).title} has its own endpoint: {kind_of(kind).endpoint_note}",
        )
    where = f"{where}: [endpoint]"
    if not isinstance(table, dict):
        raise TargetError(f"{where} must be a table")
    _check_unknown(table, _ENDPOINT_KEYS, where)
    endpoint_kind = _str(table, "kind", where) or "front-door"
    if endpoint_kind not in ENDPOINT_KINDS:
        raise TargetError(f"{where}: 'kind' must be one of {', '.join(ENDPOINT_KINDS)}, got {endpoint_kind!r}")
    sku = _str(table, "sku", where) or FRONT_DOOR_SKUS[0]
    if sku not in FRONT_DOOR_SKUS:
        raise TargetError(f"{where}: 'sku' must be one of {', '.join(FRONT_DOOR_SKUS)}, got {sku!r}")
    workspace = str(data.get("workspace") or "fhir")
    service = str(data.get("service") or "fhir")
    profile = _name(_str(table, "profile", where) or f"{workspace}-fd", "profile", where, "Front Door profile")
    endpoint = _name(
        _str(table, "endpoint", where) or f"{workspace}-{service}"[:46].rstrip("-"),
        "endpoint",
        where,
        "Front Door endpoint",
    )
    group = _name(_str(table, "resource_group", where), "resource_group", where, "resource group") or default_group
    names = {}
    for key in ("origin_group", "route"):
        names[key] = _name(_str(table, key, where) or "fhir", key, where, "Front Door origin group or route")
    audience = _str(table, "audience", where)
    if audience is not None and not _AUDIENCE.match(audience):
        raise TargetError(
            f"{where}: 'audience' = {audience!r} is not a token audience",
            hint="an application ID URI such as api://contoso-fhir or https://fhir.contoso.com",
        )
    automatic = table.get("automatic_failover", False)
    if not isinstance(automatic, bool):
        raise TargetError(f"{where}: 'automatic_failover' must be true or false")
    assert profile is not None and endpoint is not None
    return EndpointSettings(
        endpoint_kind,
        profile,
        group,
        endpoint,
        names["origin_group"],
        names["route"],
        sku,
        audience.rstrip("/") if audience else None,
        automatic,
    )


_REPLICATION_KEYS = {"storage_account", "container", "overlap", "reconcile_every", "lease"}
# Blob container names: 3-63 lower-case letters, digits and single hyphens, starting and ending alphanumeric.
_CONTAINER = re.compile(r"^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$")


def _parse_replication(data: dict[str, Any], kind: str, where: str) -> ReplicationSettings:
    from fhirdr.durations import parse_duration
    from fhirdr.errors import BadInputError

    table = data.get("replication")
    if table is None:
        return ReplicationSettings()
    where = f"{where}: [replication]"
    if kind_of(kind).section != "standby":
        raise TargetError(f"{where} is for kind 'ahds' (replication feeds an AHDS standby)")
    if not isinstance(table, dict):
        raise TargetError(f"{where} must be a table")
    _check_unknown(table, _REPLICATION_KEYS, where)
    account = _name(_str(table, "storage_account", where), "storage_account", where, "storage account")
    container = _str(table, "container", where) or ReplicationSettings.container
    if not _CONTAINER.match(container):
        raise TargetError(
            f"{where}: 'container' = {container!r} is not a blob container name",
            hint="3 to 63 lower-case letters, digits and single hyphens, starting and ending with a letter or digit",
        )
    every = table.get("reconcile_every", 0)
    if not isinstance(every, int) or isinstance(every, bool) or every < 0:
        raise TargetError(f"{where}: 'reconcile_every' must be a whole number of cycles (0: never), got {every!r}")
    try:
        overlap = parse_duration(table.get("overlap", "1m"), f"{where}: 'overlap'", allow_zero=True, maximum=86400)
        lease = parse_duration(table.get("lease", "5m"), f"{where}: 'lease'", minimum=15, maximum=86400)
    except BadInputError as exc:
        raise TargetError(exc.message, hint=exc.hint) from None
    return ReplicationSettings(account, container, overlap, every, lease)


def _parse_extras(data: dict[str, Any], where: str) -> Extras:
    tables = {}
    for name, keys in (("cmk", _CMK_KEYS), ("export", _EXPORT_KEYS), ("iomt", _IOMT_KEYS)):
        table = data.get(name, {})
        if not isinstance(table, dict):
            raise TargetError(f"{where}: [{name}] must be a table")
        _check_unknown(table, keys, f"{where}: [{name}]")
        tables[name] = table
    connectors = tables["iomt"].get("connectors", [])
    if not isinstance(connectors, list) or not all(isinstance(c, str) for c in connectors):
        raise TargetError(f"{where}: [iomt] 'connectors' must be a list of names")
    for connector in connectors:
        _name(connector, "connectors", f"{where}: [iomt]", "IoMT connector")
    cmk, export = f"{where}: [cmk]", f"{where}: [export]"
    return Extras(
        key_vault=_name(_str(tables["cmk"], "key_vault", cmk), "key_vault", cmk, "key vault"),
        key_name=_name(_str(tables["cmk"], "key_name", cmk), "key_name", cmk, "key"),
        export_storage_account=_name(
            _str(tables["export"], "storage_account", export), "storage_account", export, "storage account"
        ),
        iomt_connectors=tuple(connectors),
    )


def _parse_self_hosted(
    data: dict[str, Any], kind: str, default_group: str, secondary: str | None, where: str, warnings: list[str]
) -> SelfHostedSettings | None:
    table, name = data.get("self_hosted"), "self_hosted"
    if table is None and data.get("backing") is not None:
        table, name = data["backing"], "backing"
        warnings.append(f"{where}: [backing] is now called [self_hosted]; the old name goes next release")
    where = f"{where}: [{name}]"
    if table is None:
        if kind_of(kind).section == "self_hosted":
            raise TargetError(
                f"{where} is required when kind is 'self-hosted'",
                hint="name the FHIR server's URL (fhir_url), its Cosmos DB account (cosmos_account), its Traffic "
                "Manager profile and its compute per region ([self_hosted.compute])",
            )
        return None
    if not isinstance(table, dict):
        raise TargetError(f"{where} must be a table")
    _check_unknown(table, _SELF_HOSTED_KEYS, where)
    account = _name(_str(table, "cosmos_account", where, required=True), "cosmos_account", where, "Cosmos DB account")
    assert account is not None

    def group(key: str) -> str:
        return _name(_str(table, key, where), key, where, "resource group") or default_group

    compute = table.get("compute", {})
    if not isinstance(compute, dict) or not all(isinstance(v, str) and v.strip() for v in compute.values()):
        raise TargetError(f"{where}: 'compute' must be a table of region = host name")
    hosts = {validate_region(name, f"{where}: compute region"): _host(host, where) for name, host in compute.items()}
    legacy = _str(table, "secondary_compute", where)
    if legacy:
        warnings.append(f"{where}: 'secondary_compute' is now [self_hosted.compute] {secondary or 'REGION'} = HOST")
        if secondary:
            hosts.setdefault(secondary, _host(legacy, where))
    url = _str(table, "fhir_url", where)
    if url and not re.match(r"^https://[A-Za-z0-9.-]+(:[0-9]+)?(/[^\s]*)?$", url):
        raise TargetError(f"{where}: 'fhir_url' = {url!r} must be an https:// URL")
    if not url and not table.get("traffic_manager_profile"):
        raise TargetError(
            f"{where}: 'fhir_url' is required without a traffic_manager_profile: the URL the FHIR server's clients use"
        )
    return SelfHostedSettings(
        cosmos_account=account,
        cosmos_resource_group=group("cosmos_resource_group"),
        cosmos_database=_name(_str(table, "cosmos_database", where), "cosmos_database", where, "Cosmos DB database"),
        traffic_manager_profile=_name(
            _str(table, "traffic_manager_profile", where), "traffic_manager_profile", where, "Traffic Manager profile"
        ),
        traffic_manager_resource_group=group("traffic_manager_resource_group"),
        fhir_url=url,
        audience=_str(table, "audience", where),
        compute=tuple(sorted(hosts.items())),
    )


_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*$")


def _host(value: str, where: str) -> str:
    host = value.strip()
    if not _HOST.match(host):
        raise TargetError(f"{where}: {value!r} is not a host name (no scheme, no path)")
    return host.lower()


def parse_contact(data: Any, where: str) -> Contact:
    """Contact details for a support ticket; every field is checked before anything is sent."""
    if not isinstance(data, dict):
        raise TargetError(f"{where} must be a table")
    _check_unknown(data, _CONTACT_KEYS, where)
    values = {
        key: _str(data, key, where, required=key in ("first_name", "last_name", "email", "country"))
        for key in _CONTACT_KEYS
    }
    if not _EMAIL.match(values["email"] or ""):
        raise TargetError(f"{where}: 'email' = {values['email']!r} is not an email address")
    if not re.match(r"^[A-Za-z]{3}$", values["country"] or ""):
        raise TargetError(
            f"{where}: 'country' must be an ISO 3166 alpha-3 code such as 'USA', got {values['country']!r}"
        )
    if values["language"] and not re.match(r"^[a-z]{2}-[A-Z]{2}$", values["language"]):
        raise TargetError(f"{where}: 'language' must look like 'en-US', got {values['language']!r}")
    return Contact(
        first_name=values["first_name"] or "",
        last_name=values["last_name"] or "",
        email=values["email"] or "",
        country=(values["country"] or "").upper(),
        timezone=values["timezone"] or "UTC",
        language=values["language"] or "en-US",
        phone=values["phone"],
    )


def _parse_contact(data: Any, where: str) -> Contact | None:
    return None if data is None else parse_contact(data, where)


def _parse_objectives(data: Any, where: str) -> Objectives:
    if not isinstance(data, dict):
        raise TargetError(f"{where} must be a table")
    _check_unknown(data, _OBJECTIVE_KEYS, where)
    values = {}
    for key in _OBJECTIVE_KEYS:
        if key in data:
            value = data[key]
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise TargetError(f"{where}: '{key}' must be a positive whole number of minutes, got {value!r}")
            values[key] = value
    return Objectives(**values)


def _parse_private_link(data: Any, default_group: str, where: str) -> PrivateLinkSettings | None:
    if data is None:
        return None
    if not isinstance(data, dict):
        raise TargetError(f"{where} must be a table")
    _check_unknown(data, _PRIVATE_LINK_KEYS, where)
    spaces = _address_spaces(data.get("secondary_address_space", []), where)
    registration = data.get("secondary_link_registration", False)
    if not isinstance(registration, bool):
        raise TargetError(f"{where}: 'secondary_link_registration' must be true or false")
    zone = _dns_name(_str(data, "zone", where) or PRIVATE_DNS_ZONE, "zone", where)
    return PrivateLinkSettings(
        resource_group=_name(_str(data, "resource_group", where), "resource_group", where, "resource group")
        or default_group,
        private_endpoint=_name(_str(data, "private_endpoint", where), "private_endpoint", where, "private endpoint"),
        primary_vnet=_name(_str(data, "primary_vnet", where), "primary_vnet", where, "virtual network"),
        secondary_vnet=_name(_str(data, "secondary_vnet", where), "secondary_vnet", where, "virtual network"),
        secondary_address_space=spaces,
        zone=zone,
        zone_resource_group=_name(
            _str(data, "zone_resource_group", where), "zone_resource_group", where, "resource group"
        ),
        secondary_link_registration=registration,
    )


def _address_spaces(value: Any, where: str) -> tuple[str, ...]:
    """The secondary VNet's IPv4 ranges: CIDR strings that do not overlap one another (Azure refuses that)."""
    key = f"{where}: 'secondary_address_space'"
    spaces = [value] if isinstance(value, str) else value
    if not isinstance(spaces, list):
        raise TargetError(f'{key} must be a list of CIDR ranges such as ["10.20.0.0/16"], got {value!r}')
    networks: list[ipaddress.IPv4Network] = []
    for space in spaces:
        # ip_network() would take 167772160 (an int) or True as an address: only strings are ranges.
        if not isinstance(space, str):
            raise TargetError(f'{key} entry {space!r} is not a CIDR range: write it as a string, e.g. "10.20.0.0/16"')
        try:
            network = ipaddress.ip_network(space.strip(), strict=True)
        except ValueError as exc:
            raise TargetError(f"{key} entry {space!r} is not a CIDR range: {exc}") from None
        if not isinstance(network, ipaddress.IPv4Network):
            raise TargetError(
                f"{key} entry {space!r} is IPv6; the secondary VNet needs IPv4 ranges",
                hint="the private endpoint takes an IPv4 address from the VNet: use a range such as 10.20.0.0/16",
            )
        for earlier in networks:
            if network.overlaps(earlier):
                raise TargetError(
                    f"{key}: {space!r} overlaps {str(earlier)!r}; Azure refuses a VNet whose ranges overlap",
                    hint="list each range once, without one inside another",
                )
        networks.append(network)
    return tuple(str(n) for n in networks)


def dump_toml(data: dict[str, Any], header: str = "") -> str:
    """Write the subset of TOML a target file uses: scalars, lists of scalars, one level of tables."""
    lines = [f"# {line}" for line in header.splitlines()] if header else []
    scalars = {k: v for k, v in data.items() if not isinstance(v, dict)}
    tables = {k: v for k, v in data.items() if isinstance(v, dict)}
    lines += [f"{key} = {_toml_value(value)}" for key, value in scalars.items() if value is not None]
    for name, table in tables.items():
        lines += ["", f"[{name}]"]
        lines += [f"{key} = {_toml_value(value)}" for key, value in table.items() if value is not None]
    return "\n".join(lines) + "\n"


def _toml_key(key: str) -> str:
    """A bare TOML key when it may be one, a quoted key otherwise."""
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key, ensure_ascii=False)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        # JSON's string escapes (\\n, \\t, \\", \\\\, \\uXXXX) are all TOML basic-string escapes.
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_key(str(k))} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def merge_toml_text(text: str, updates: dict[str, Any], defaults: dict[str, Any]) -> tuple[str, list[str]]:
    """Bring a target file's text up to date, keeping everything else in it (comments included).

    `updates` are facts read from Azure: written whether or not the key is there. `defaults` are
    written only where the file has no value, so what a person chose stays. Both are nested one
    level (top-level keys and [tables]). Returns the new text and the keys it wrote.
    """
    lines = text.splitlines()
    written: list[str] = []
    existing = tomllib.loads(text) if text.strip() else {}

    def section_bounds(table: str | None) -> tuple[int, int] | None:
        start = 0 if table is None else None
        for index, line in enumerate(lines):
            header = re.match(r"^\s*\[([A-Za-z0-9_.-]+)\]\s*(#.*)?$", line)
            if header:
                if start is not None:
                    return start, index
                if header.group(1) == table:
                    start = index + 1
        return (start, len(lines)) if start is not None else None

    def set_value(table: str | None, key: str, value: Any, overwrite: bool) -> None:
        current = existing.get(table, {}) if table else existing
        if key in current and (not overwrite or current[key] == value):
            return
        rendered = f"{key} = {_toml_value(value)}"
        bounds = section_bounds(table)
        if bounds is None:
            if lines and lines[-1].strip():
                lines.append("")
            lines.extend([f"[{table}]", rendered])
        else:
            start, end = bounds
            pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
            for index in range(start, end):
                if pattern.match(lines[index]):
                    comment = re.search(r"\s+#[^\"']*$", lines[index])
                    lines[index] = rendered + (comment.group(0) if comment else "")
                    break
            else:
                insert_at = end
                while insert_at > start and not lines[insert_at - 1].strip():
                    insert_at -= 1
                lines.insert(insert_at, rendered)
        written.append(f"{table}.{key}" if table else key)

    for source, overwrite in ((updates, True), (defaults, False)):
        for key, value in source.items():
            if isinstance(value, dict):
                for sub_key, sub_value in value.items():
                    if sub_value is not None:
                        set_value(key, sub_key, sub_value, overwrite)
            elif value is not None:
                set_value(None, key, value, overwrite)
    return "\n".join(lines) + "\n", written
