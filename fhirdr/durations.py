"""Durations as people type them on the command line (90s, 30m, 1h30m, 2d), bounded, for every option."""

from __future__ import annotations

import math
import re
from typing import Any

from fhirdr.errors import BadInputError

# A year is far longer than any wait, drill or simulated step; it also keeps a simulated clock
# well inside what datetime can show (an unbounded `sim advance` once moved it past year 9999).
MAX_SECONDS = 366 * 86400.0

_UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)(ms|d|h|m|s))+$")
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|d|h|m|s)")
_NUMBER = re.compile(r"^\d+(?:\.\d+)?$")
HINT = "use forms such as 90s, 30m, 1h30m or 2d"


def describe(seconds: float) -> str:
    """Seconds as the shortest duration text: 5400 -> '1h30m'."""
    if seconds < 1 and seconds:
        return f"{seconds * 1000:g}ms"
    parts, rest = [], seconds
    for unit in ("d", "h", "m"):
        whole = int(rest // _UNITS[unit])
        if whole:
            parts.append(f"{whole}{unit}")
            rest -= whole * _UNITS[unit]
    if rest or not parts:
        parts.append(f"{rest:g}s")
    return "".join(parts)


def parse_duration(
    text: str | float,
    name: str = "duration",
    *,
    allow_zero: bool = False,
    minimum: float = 0.0,
    maximum: float = MAX_SECONDS,
) -> float:
    """'90s', '30m', '1h30m', '2d', '500ms' -> seconds, between `minimum` and `maximum`.

    A number is a value an option parser already converted, and is only checked against the bounds.
    """
    if isinstance(text, int | float) and not isinstance(text, bool):
        seconds = float(text)
    else:
        compact = re.sub(r"\s+", "", str(text or "")).lower()
        if not compact or not _DURATION.match(compact):
            raise BadInputError(f"{name}: {str(text)!r} is not a duration", hint=HINT)
        seconds = sum(float(number) * _UNITS[unit] for number, unit in _PART.findall(compact))
    return _bounded(seconds, str(text), name, allow_zero, minimum, maximum)


def _bounded(seconds: float, text: str, name: str, allow_zero: bool, minimum: float, maximum: float) -> float:
    if not math.isfinite(seconds) or seconds > maximum:
        raise BadInputError(
            f"{name}: {text!r} is longer than {describe(maximum)}", hint=f"use at most {describe(maximum)}"
        )
    if seconds == 0 and not allow_zero:
        raise BadInputError(f"{name}: {text!r} is zero; it must be positive", hint=HINT)
    if seconds < minimum and (seconds or not allow_zero):
        raise BadInputError(
            f"{name}: {text!r} is shorter than {describe(minimum)}", hint=f"use at least {describe(minimum)}"
        )
    return seconds


class Duration:
    """An option parser: `--rate 30s` -> 30.0 seconds, bounded; what a typer `parser=` calls.

    `legacy_unit` (seconds per unit) accepts the bare numbers an option took before it took
    durations, for one release, with a deprecation warning on stderr.
    """

    def __init__(
        self,
        name: str = "DURATION",
        *,
        allow_zero: bool = False,
        minimum: float = 0.0,
        maximum: float = MAX_SECONDS,
        legacy_unit: float | None = None,
    ) -> None:
        self.name = name
        self.allow_zero = allow_zero
        self.minimum = minimum
        self.maximum = maximum
        self.legacy_unit = legacy_unit
        self.__name__ = "duration"  # click shows a parser's name in some messages

    def __call__(self, value: Any) -> float:
        text: Any = value
        if isinstance(value, str) and self.legacy_unit is not None and _NUMBER.match(value.strip()):
            text = float(value) * self.legacy_unit
            if text <= self.maximum:  # a too-large number gets the bound's message instead
                import typer

                typer.echo(
                    f"warning: {self.name} {value.strip()} (a bare number) is deprecated and stops working in "
                    f"the next release; write {describe(text)}",
                    err=True,
                )
        try:
            return parse_duration(
                text, self.name, allow_zero=self.allow_zero, minimum=self.minimum, maximum=self.maximum
            )
        except BadInputError as exc:
            # A ValueError becomes typer's usage error, which names the option and exits 2.
            reason = exc.message.split(": ", 1)[-1].replace(repr(str(text)), repr(str(value)))
            raise ValueError(f"{reason} ({exc.hint})") from None


def duration_option(
    default: str,
    *param_decls: str,
    help: str,
    allow_zero: bool = False,
    minimum: float = 0.0,
    maximum: float = MAX_SECONDS,
    legacy_unit: float | None = None,
) -> Any:
    """A typer option that takes a DURATION and gives the command seconds (a float)."""
    import typer

    parser = Duration(param_decls[0], allow_zero=allow_zero, minimum=minimum, maximum=maximum, legacy_unit=legacy_unit)
    return typer.Option(default, *param_decls, parser=parser, metavar="DURATION", help=help)
