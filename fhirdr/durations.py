"""Durations as people type them on the command line: 90s, 30m, 1h30m, 2d."""

from __future__ import annotations

import re

from fhirdr.errors import BadInputError

_DURATION = re.compile(r"^\s*(?:(\d+)d)?\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s)?\s*$")


def parse_duration(text: str) -> float:
    """'90s', '30m', '1h30m', '2d' -> seconds."""
    match = _DURATION.match(text or "")
    if not text or not text.strip() or not match or not any(match.groups()):
        raise BadInputError(f"'{text}' is not a duration", hint="use forms such as 90s, 30m, 1h30m or 2d")
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return float(((days * 24 + hours) * 60 + minutes) * 60 + seconds)
