"""Render a command's result as a table, JSON, YAML, TSV or nothing, after an optional JMESPath query."""

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
    tsv = "tsv"
    none = "none"


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
    if output is OutputFormat.none:
        return
    if output is OutputFormat.tsv:
        text = tsv(result)
        if text:
            terminal.write_data(text)
    elif output is OutputFormat.json:
        terminal.write_data(json.dumps(result, indent=2, default=str))
    elif output is OutputFormat.yaml:
        import yaml

        terminal.write_data(yaml.safe_dump(result, sort_keys=False, default_flow_style=False, width=10**6).rstrip())
    elif query or table is None:
        _table(terminal, result)
    else:
        terminal.display_table(table(data))


def tsv(result: Any) -> str:
    """As `az -o tsv`: values only, tab-separated, one row per item of a list (a document is one
    row); nested objects and lists print as empty fields, so columns stay aligned."""
    rows = result if isinstance(result, list) else [] if result is None else [result]
    return "\n".join(_tsv_row(row) for row in rows)


def _tsv_row(row: Any) -> str:
    values = row.values() if isinstance(row, dict) else row if isinstance(row, list) else [row]
    return "\t".join(_tsv_value(value) for value in values)


def _tsv_value(value: Any) -> str:
    if isinstance(value, dict | list) or value is None:
        return ""
    return " ".join(_text(value).split())  # a tab or newline inside a value would break the row


def _table(terminal: Terminal, result: Any) -> None:
    """A table of what a query selected, as `az -o table`: one row per item (a document is one row,
    a mapping of documents one row per key), a column per key with plain values (nested objects are
    left out, as az does); a list of values is one column."""
    from rich.markup import escape

    from fhirdr.report.table import Column, FittedTable

    if result is None:
        return
    if not isinstance(result, dict | list):
        terminal.write_data(_text(result))
        return
    if isinstance(result, dict) and result and all(isinstance(v, dict) for v in result.values()):
        rows = [{"name": key, **value} for key, value in result.items()]
    else:
        rows = [r if isinstance(r, dict) else {"result": r} for r in (result if isinstance(result, list) else [result])]
    if not rows:
        terminal.write_data("none")
        return
    columns = [c for c in dict.fromkeys(k for row in rows for k in row) if any(_plain(row.get(c)) for row in rows)]
    if not columns:
        terminal.display_warning("the query selected only nested objects, which a table leaves out; use -o json")
        return
    cells = [[_text(row.get(c)) if _plain(row.get(c)) else "" for c in columns] for row in rows]
    # A column of single words (ids, names, times) is kept whole; one with sentences wraps.
    kinds = [Column(c, text=any(" " in row[i] for row in cells)) for i, c in enumerate(columns)]
    terminal.display_table(FittedTable(None, kinds, [[escape(v) for v in row] for row in cells], boxed=False))


def _plain(value: Any) -> bool:
    return value is not None and not isinstance(value, dict | list)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
