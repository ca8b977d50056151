"""Resource providers of the simulated Azure, one module each, registered on one router."""

from __future__ import annotations

from fhirdr.sim.router import Router


def build_router() -> Router:
    from fhirdr.sim.providers import (
        cosmosdb,
        healthcareapis,
        monitor,
        network,
        privatedns,
        resources,
        subscriptions,
        support,
        trafficmanager,
    )

    router = Router()
    # monitor first: its pattern matches any resource id followed by /providers/Microsoft.Insights/metrics.
    for provider in (
        monitor,
        subscriptions,
        resources,
        network,
        privatedns,
        healthcareapis,
        cosmosdb,
        trafficmanager,
        support,
    ):
        provider.register(router)
    return router
