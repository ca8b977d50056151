"""The blob container replication exports into and keeps its state in (`fhirdr replicate`), made by `enable`.

$export writes into `_container` only when it exists (azure-docs articles/healthcare-apis/fhir/
export-data.md: "the container ... must be created beforehand"), so `enable --apply` creates it.
"""

from __future__ import annotations

from dataclasses import dataclass

from fhirdr.azure.session import get_or_none
from fhirdr.steps.base import Change, Step


@dataclass
class ContainerFacts:
    account: str | None
    container: str
    exists: bool
    in_subscription: bool = True


class ReplicationContainer(Step):
    """The container in the export storage account that replication exports to exists."""

    uses = "ahds.replication-container"

    def facts(self) -> ContainerFacts:
        from fhirdr.replication.state import ReplicationState

        target = self.ctx.target
        settings = target.replication
        account = settings.storage_account
        if not account:
            primary = get_or_none(
                self.ctx.azure.healthcare().fhir_services.get, target.resource_group, target.workspace, target.service
            )
            config = primary.export_configuration if primary is not None else None
            account = config.storage_account_name if config else None
        if not account:
            return ContainerFacts(None, settings.container, False)
        names = {(a.name or "").lower() for a in self.ctx.azure.storage().storage_accounts.list()}
        if account.lower() not in names:
            return ContainerFacts(account, settings.container, False, in_subscription=False)
        state = ReplicationState(self.ctx.azure, account, settings.container, "")
        return ContainerFacts(account, settings.container, state.container_exists())

    def observe(self, facts: ContainerFacts) -> str:
        if not facts.account:
            return "no export storage account yet"
        if not facts.in_subscription:
            return f"{facts.account} is not in this subscription"
        return f"{facts.account}/{facts.container} {'exists' if facts.exists else 'missing'}"

    def plan(self, facts: ContainerFacts) -> list[Change]:
        if not facts.account or facts.exists:
            return []
        if not facts.in_subscription:
            return [
                Change(
                    "fix-export",
                    facts.account,
                    f"storage account {facts.account} is not in subscription {self.ctx.target.subscription}: $export "
                    "and replication need the account in the FHIR service's subscription",
                    fixable=False,
                )
            ]
        return [
            Change(
                "create",
                f"https://{facts.account}.blob/{facts.container}",
                f"create container {facts.container} in {facts.account} (replication exports there)",
                {"account": facts.account, "container": facts.container},
            )
        ]

    def apply(self, change: Change) -> None:
        from azure.core.exceptions import ResourceExistsError

        from fhirdr.replication.state import blob_service

        try:
            blob_service(self.ctx.azure, change.data["account"]).create_container(change.data["container"])
        except ResourceExistsError:
            return  # made meanwhile: that is the state wanted


STEPS = [ReplicationContainer]
