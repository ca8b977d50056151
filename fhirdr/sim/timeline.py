"""Simulated time: moving the clock runs, in order, whatever the world scheduled to happen by then."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fhirdr.errors import BadInputError
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
    from fhirdr.sim import lifecycle  # noqa: F401 - registers handlers on import
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


_DURATION = re.compile(r"^\s*(?:(\d+)d)?\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s)?\s*$")


def parse_duration(text: str) -> float:
    """'90s', '30m', '1h30m', '2d' -> seconds."""
    match = _DURATION.match(text or "")
    if not text or not text.strip() or not match or not any(match.groups()):
        raise BadInputError(f"'{text}' is not a duration", hint="use forms such as 90s, 30m, 1h30m or 2d")
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return float(((days * 24 + hours) * 60 + minutes) * 60 + seconds)
