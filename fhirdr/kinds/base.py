"""What every kind of target offers the commands: runbooks, endpoints, what applies to it."""

from __future__ import annotations

import re
from typing import Any, ClassVar

# The article's configuration areas a kind may or may not have (readiness, the check commands).
AREAS = ("private_link", "cmk", "export", "iomt")


class Kind:
    """One kind of FHIR deployment. Subclasses set the class attributes and answer the questions."""

    name: ClassVar[str] = ""
    # How the deployment is called in messages and plans.
    title: ClassVar[str] = ""
    enable_runbook: ClassVar[str] = ""
    failback_runbook: ClassVar[str] = ""
    # The runbook `fhirdr failover` runs ("": Azure or the deployment fails over by itself; see failover_note).
    failover_runbook: ClassVar[str] = ""
    failover_note: ClassVar[str] = ""
    # Microsoft runs replication and failover (fhirdr files requests); otherwise fhirdr acts itself.
    support_operated: ClassVar[bool] = False
    # A drill can disrupt it by moving the data's write region (Cosmos DB failover priorities).
    write_region_failover: ClassVar[bool] = False
    # The deployment is a Microsoft.HealthcareApis/services resource (a self-hosted server has none).
    has_service_resource: ClassVar[bool] = False
    # The ARM type of the FHIR service whose settings the CMK and $export checks read (None: no such resource).
    resource_type: ClassVar[str | None] = None
    # The target file table that describes the deployment's moving parts, when the kind needs one.
    section: ClassVar[str | None] = None
    # The runbook that checks and builds the one endpoint clients use ([endpoint]); None: the kind has its own.
    endpoint_runbook: ClassVar[str | None] = None
    # What the kind's clients use instead, when it has no [endpoint].
    endpoint_note: ClassVar[str] = ""
    # What `service` may be called, and how to say so.
    service_name: ClassVar[re.Pattern[str]] = re.compile(r"^[a-z0-9][a-z0-9-]{1,22}[a-z0-9]$")
    service_name_rule: ClassVar[str] = "3 to 24 lower-case letters, digits and hyphens"

    def discover(
        self, session: Any, subscription: str, group: str, service: str, named: dict[str, Any], flags: dict[str, Any]
    ) -> Any:
        """What `fhirdr init` writes: read the deployment from the resources the user named (`named`: from the
        options or the target file; `flags`: from the options only, to refuse those of another kind)."""
        raise NotImplementedError

    # Which status reader `fhirdr status` uses: "replica" (the data has a replica whose lag Azure reports:
    # Azure API for FHIR, self-hosted) or "standby" (fhirdr keeps a standby service: AHDS). The reader lives
    # above the kinds (fhirdr/status.py picks it), so no kind imports the status modules.
    status_reader: ClassVar[str] = "replica"

    def fhir_endpoint(self, target: Any, cloud: Any) -> tuple[str, str]:
        """(base URL clients use, token audience) of the FHIR endpoint."""
        raise NotImplementedError

    def not_applicable(self, area: str) -> str | None:
        """Why a configuration area of the article does not apply to this kind (None: it applies)."""
        return None

    def offered_regions(self, ctx: Any) -> frozenset[str] | None:
        """The regions the deployment can run in (None: any region of the subscription)."""
        return None

    def check_runbook(self, area: str) -> str:
        """The runbook that checks a configuration area of the article for this kind."""
        return area

    def not_checked(self, area: str) -> str | None:
        """Why fhirdr does not check an area that does exist on this kind, yet (None: it checks it)."""
        return None
