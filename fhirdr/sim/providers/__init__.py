"""Resource providers of the simulated Azure, one module each, registered on one router."""

from __future__ import annotations

from fhirdr.sim.router import Router


def build_router() -> Router:
    from fhirdr.sim.providers import healthcareapis, network, privatedns, resources

    router = Router()
    for provider in (resources, network, privatedns, healthcareapis):
        provider.register(router)
    return router
