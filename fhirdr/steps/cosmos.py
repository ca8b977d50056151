"""Steps on the Cosmos DB account behind the FHIR service: the secondary region, failover, replication."""

from __future__ import annotations

from typing import Any

from fhirdr.azure.session import get_or_none, wait
from fhirdr.errors import TargetError
from fhirdr.regions import normalise_region
from fhirdr.steps.base import Change, Step, text


def read_account(step: Step) -> Any:
    backing = step.ctx.target.require_self_hosted()
    account = get_or_none(
        step.ctx.azure.cosmos().database_accounts.get, backing.cosmos_resource_group, backing.cosmos_account
    )
    if account is None:
        raise TargetError(
            f"Cosmos DB account '{backing.cosmos_account}' was not found in resource group "
            f"'{backing.cosmos_resource_group}'",
            hint="check [self_hosted] cosmos_account in the target",
        )
    return account


def regions_of(account: Any) -> list[tuple[str, int, str]]:
    """(region, failover priority, provisioning state), by priority."""
    return sorted(
        (
            (normalise_region(loc.location_name), loc.failover_priority, text(loc.provisioning_state))
            for loc in account.locations or []
        ),
        key=lambda r: r[1],
    )


def write_region(account: Any) -> str:
    return regions_of(account)[0][0]


def make_write_region(step: Any, region: str) -> None:
    """A graceful failover-priority change that makes `region` the write region (others keep their order)."""
    from azure.mgmt.cosmosdb.models import FailoverPolicies, FailoverPolicy

    from fhirdr.regions import display_name

    account = read_account(step)
    order = [region] + [r for r, _, _ in regions_of(account) if r != region]
    policies = FailoverPolicies(
        failover_policies=[
            FailoverPolicy(location_name=display_name(name), failover_priority=index)
            for index, name in enumerate(order)
        ]
    )
    backing = step.ctx.target.require_self_hosted()
    wait(
        step.ctx.azure.cosmos().database_accounts.begin_failover_priority_change(
            backing.cosmos_resource_group, backing.cosmos_account, policies
        )
    )


class SecondaryRegion(Step):
    """The account replicates to the secondary region, at the next failover priority."""

    uses = "cosmos.secondary-region"

    def facts(self) -> Any:
        return read_account(self)

    def observe(self, facts: Any) -> str:
        return ", ".join(f"{r} (priority {p}, {s})" for r, p, s in regions_of(facts))

    def plan(self, facts: Any) -> list[Change]:
        secondary = self.ctx.target.secondary_region
        regions = regions_of(facts)
        if secondary in [r for r, _, _ in regions]:
            return []
        return [
            Change(
                "add-region",
                facts.id,
                f"add {secondary} to Cosmos DB account {facts.name} at failover "
                f"priority {len(regions)} (throughput is the same in every region)",
            )
        ]

    def apply(self, change: Change) -> None:
        from azure.mgmt.cosmosdb.models import DatabaseAccountUpdateParameters, Location

        account = read_account(self)
        locations = [
            Location(
                location_name=loc.location_name,
                failover_priority=loc.failover_priority,
                is_zone_redundant=loc.is_zone_redundant,
            )
            for loc in account.locations
        ]
        locations.append(
            Location(
                location_name=self.ctx.target.secondary_region,
                failover_priority=len(locations),
                is_zone_redundant=False,
            )
        )
        backing = self.ctx.target.require_self_hosted()
        wait(
            self.ctx.azure.cosmos().database_accounts.begin_update(
                backing.cosmos_resource_group,
                backing.cosmos_account,
                DatabaseAccountUpdateParameters(locations=locations),
            )
        )


class AutomaticFailover(Step):
    """Service-managed failover is on, so Azure moves the write region when the primary goes down."""

    uses = "cosmos.automatic-failover"

    def facts(self) -> Any:
        return read_account(self)

    def observe(self, facts: Any) -> str:
        return "service-managed failover on" if facts.enable_automatic_failover else "service-managed failover off"

    def plan(self, facts: Any) -> list[Change]:
        if facts.enable_automatic_failover:
            return []
        return [Change("update", facts.id, f"turn on service-managed failover for {facts.name}")]

    def apply(self, change: Change) -> None:
        from azure.mgmt.cosmosdb.models import DatabaseAccountUpdateParameters

        backing = self.ctx.target.require_self_hosted()
        wait(
            self.ctx.azure.cosmos().database_accounts.begin_update(
                backing.cosmos_resource_group,
                backing.cosmos_account,
                DatabaseAccountUpdateParameters(enable_automatic_failover=True),
            )
        )


class ReplicationReady(Step):
    """Waits for the initial replication into the secondary region to finish."""

    uses = "cosmos.replication-ready"

    def facts(self) -> Any:
        return read_account(self)

    def observe(self, facts: Any) -> str:
        return ", ".join(f"{r}: {s}" for r, _, s in regions_of(facts))

    def plan(self, facts: Any) -> list[Change]:
        secondary = self.ctx.target.secondary_region
        state = {r: s for r, _, s in regions_of(facts)}.get(secondary or "")
        if state == "Succeeded":
            return []
        what = (
            "the secondary region to be added" if state is None else f"initial replication into {secondary} ({state})"
        )
        return [Change("wait", facts.id, what)]


STEPS = [SecondaryRegion, AutomaticFailover, ReplicationReady]
