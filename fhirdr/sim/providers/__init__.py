"""Resource providers of the simulated Azure, one module each, registered on one router."""

from __future__ import annotations

from fhirdr.sim.router import Router


def build_router() -> Router:
    from fhirdr.sim.providers import (
        authorization,
        cdn,
        cosmosdb,
        healthcareapis,
        keyvault,
        monitor,
        network,
        privatedns,
        resourcehealth,
        resources,
        storage,
        subscriptions,
        support,
        trafficmanager,
        workspaces,
    )

    router = Router()
    # monitor and authorization first: their patterns take any resource id as a prefix.
    for provider in (
        resourcehealth,
        monitor,
        authorization,
        subscriptions,
        resources,
        network,
        privatedns,
        healthcareapis,
        cosmosdb,
        trafficmanager,
        support,
        keyvault,
        storage,
        workspaces,
        cdn,
    ):
        provider.register(router)
    return router
