"""Render a command's result as a table, JSON or YAML, after an optional JMESPath query."""

from __future__ import annotations

import json
from collections.abc import Callable
from enum import Enum
from typing import Any

from fhirdr.cli.terminal import Terminal
from fhirdr.errors import BadInputError


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    yaml = "yaml"


def apply_query(data: Any, query: str | None) -> Any:
    if not query:
        return data
    import jmespath
    from jmespath.exceptions import JMESPathError

    try:
        return jmespath.search(query, data)
    except JMESPathError as exc:
        raise BadInputError(f"--query {query!r} is not a valid JMESPath expression: {exc}") from None


def render(
    terminal: Terminal, data: Any, output: OutputFormat, query: str | None, table: Callable[[Any], Any] | None = None
) -> None:
    """Write `data` to stdout. `table` builds a Rich table from the unqueried document."""
    result = apply_query(data, query)
    if output is OutputFormat.json:
        terminal.write_data(json.dumps(result, indent=2, default=str))
    elif output is OutputFormat.yaml:
        import yaml

        terminal.write_data(yaml.safe_dump(result, sort_keys=False, default_flow_style=False, width=10**6).rstrip())
    elif query or table is None:
        _plain(terminal, result)
    else:
        terminal.display_table(table(data))


def _plain(terminal: Terminal, result: Any) -> None:
    from rich.table import Table

    if isinstance(result, list) and result and all(isinstance(r, dict) for r in result):
        columns = list(dict.fromkeys(k for row in result for k in row))
        grid = Table(*columns, box=None, pad_edge=False)
        for row in result:
            grid.add_row(*(_cell(row.get(c)) for c in columns))
        terminal.out.print(grid)
    elif isinstance(result, dict | list):
        terminal.write_data(json.dumps(result, indent=2, default=str))
    elif result is not None:
        terminal.write_data(str(result))


def _cell(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return "" if value is None else str(value)
