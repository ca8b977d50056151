"""The drill's disruption in the simulated Azure: a real regional outage, then the region's return."""

from __future__ import annotations

from fhirdr.sim import lifecycle
from fhirdr.sim.store import Store


class SimulatedOutage:
    """Takes the primary region down and brings it back, as `fhirdr sim outage|recover` do."""

    name = "regional outage (simulated)"

    def __init__(self, store: Store, region: str) -> None:
        self.store = store
        self.region = region

    def start(self) -> list[str]:
        return lifecycle.outage(self.store, self.region)

    def end(self) -> list[str]:
        return lifecycle.recover(self.store, self.region)
