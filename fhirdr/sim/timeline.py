"""Simulated time: moving the clock runs, in order, whatever the world scheduled to happen by then."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fhirdr.sim.store import Store

Handler = Callable[[Store, dict[str, Any]], None]

_HANDLERS: dict[str, Handler] = {}


def on(kind: str) -> Callable[[Handler], Handler]:
    """Register what happens when a scheduled event of `kind` comes due."""

    def register(handler: Handler) -> Handler:
        _HANDLERS[kind] = handler
        return handler

    return register


def _load_handlers() -> None:
    from fhirdr.sim import lifecycle, workload  # noqa: F401 - they register handlers on import
    from fhirdr.sim.providers import cosmosdb, healthcareapis, support  # noqa: F401 - they register handlers


def advance(store: Store, seconds: float) -> float:
    """Move the clock forward by `seconds`, running each scheduled event at its own time."""
    _load_handlers()
    with store.transaction():
        target = store.now() + max(0.0, seconds)
        while True:
            event = store.next_scheduled(target)
            if event is None:
                break
            store.set_clock(max(store.now(), event["due"]))
            handler = _HANDLERS.get(event["kind"])
            if handler is not None:
                handler(store, event["payload"])
        store.set_clock(target)
    return target
