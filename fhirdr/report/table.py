"""Tables that keep ids and names whole at any width: side by side when they fit, one record per row when not."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich import box as boxes
from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.table import Table
from rich.text import Text

# A column of free text is never squeezed below this: narrower than that, records read better.
MIN_TEXT_WIDTH = 24


@dataclass(frozen=True)
class Column:
    header: str
    # Free text wraps at spaces; anything else (ids, names, labels, numbers) is kept whole.
    text: bool = False
    # A value that goes without saying (owner "fhirdr") is left blank, so the others stand out.
    usual: str | None = None


class FittedTable:
    """Rows of cells (Rich markup); the first column names the row. A column with the same value in
    every row is left out and its value named in the title: it carries no information per row."""

    def __init__(self, title: str | None, columns: list[Column], rows: list[list[str]], boxed: bool = True) -> None:
        rows = [
            ["" if cell == column.usual else cell for column, cell in zip(columns, row, strict=True)] for row in rows
        ]
        # An empty column says nothing; a column with one value says it once, in the title (without a
        # title to say it in, such as what a --query selected, the column stays).
        constant = [
            i
            for i in range(1, len(columns))
            if len(rows) > 1 and len({row[i] for row in rows}) == 1 and (title or not rows[0][i])
        ]
        notes = [f"{columns[i].header}: {Text.from_markup(rows[0][i]).plain}" for i in constant if rows[0][i]]
        keep = [i for i in range(len(columns)) if i not in constant]
        self.title = title and (f"{title} ({'; '.join(notes)})" if notes else title)
        self.columns = [columns[i] for i in keep]
        self.rows = [[row[i] for i in keep] for row in rows]
        self.boxed = boxed

    def _widths(self) -> list[tuple[int, int]]:
        """(least, natural) width of each column: an id is never cut, so its least is its natural;
        free text is never narrower than its longest word, nor than MIN_TEXT_WIDTH when it has more."""
        widths = []
        for index, column in enumerate(self.columns):
            cells = [Text.from_markup(row[index]).plain for row in self.rows]
            natural = max([len(column.header), *(len(line) for cell in cells for line in cell.splitlines())])
            if column.text:
                words = [len(word) for cell in [column.header, *cells] for word in cell.split()]
                widths.append((max([min(MIN_TEXT_WIDTH, natural), *words]), natural))
            else:
                widths.append((natural, natural))
        return widths

    def _gaps(self) -> int:
        return 3 * len(self.columns) + 1 if self.boxed else 2 * (len(self.columns) - 1)

    def side_by_side_width(self) -> int:
        """The narrowest width at which no id is cut and no text column is squeezed too far."""
        return sum(least for least, _ in self._widths()) + self._gaps()

    def side_by_side(self, width: int) -> Table:
        """Columns at their least width, then what is left shared by the text columns that want more."""
        widths = self._widths()
        spare = width - self.side_by_side_width()
        wanting = sum(natural - least for least, natural in widths)
        sizes = [least + (spare * (natural - least) // wanting if wanting else 0) for least, natural in widths]
        sizes = [min(size, natural) for size, (_, natural) in zip(sizes, widths, strict=True)]
        table = Table(title=self.title, title_justify="left", box=boxes.HEAVY_HEAD if self.boxed else None)
        table.pad_edge = self.boxed
        for column, size in zip(self.columns, sizes, strict=True):
            table.add_column(column.header, no_wrap=not column.text, overflow="fold", width=size)
        for row in self.rows:
            table.add_row(*row)
        return table

    def records(self, console: Console, width: int) -> Group:
        """One record per row: its name on a line of its own, then each other column as `header  value`,
        the value wrapped under itself."""
        parts: list[Any] = [Text(self.title, style="italic")] if self.title else []
        for row in self.rows:
            if parts:
                parts.append(Text(""))
            parts.append(Text.from_markup(row[0], style="bold"))
            shown = [(c.header, cell) for c, cell in zip(self.columns[1:], row[1:], strict=True) if cell.strip()]
            label_width = max((len(header) for header, _ in shown), default=0)
            for header, cell in shown:
                indent = 2 + label_width + 2
                lines = Text.from_markup(cell).wrap(console, max(width - indent, 20), overflow="fold")
                for number, line in enumerate(lines):
                    label = f"  {header:<{label_width}}  " if number == 0 else " " * indent
                    line.rstrip()
                    parts.append(Text.assemble((label, "dim"), line))
        return Group(*parts)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        yield self.side_by_side(width) if self.side_by_side_width() <= width else self.records(console, width)
