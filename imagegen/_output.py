"""Rows for people and for pipes: a table on a terminal, tab-separated lines anywhere else.

Nothing is ever cut: on a terminal a cell too wide for its column folds onto the next line (a path
or a ``name:model`` spec stays whole); piped or redirected, every row is one line of TSV with a
header, at full width, for ``cut``, ``awk`` or a spreadsheet. ``--json`` stays the machine interface.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

__all__ = ["tsv_cell", "write_rows"]

#: Cells up to this long are never folded on a terminal.
SHORT = 12


def write_rows(console: Console, header: Sequence[str], rows: Iterable[Sequence[object]], *,
               caption: str | None = None, same_in_caption: Collection[str] = ()) -> None:
    """Print ``rows`` under ``header`` on ``console``: a folding table on a terminal, else TSV.

    ``caption`` (a line under the table) is for people only; TSV gets nothing but the rows. A column named
    in ``same_in_caption`` whose value is the same on every row is left out of the table (the caption
    says it), so the columns that differ get the width."""
    cells = [[("" if value is None else str(value)) for value in row] for row in rows]
    if not console.is_terminal:
        lines = ["\t".join(tsv_cell(h) for h in header), *("\t".join(tsv_cell(c) for c in row) for row in cells)]
        console.file.write("\n".join(lines) + "\n")
        console.file.flush()
        return
    keep = [i for i, name in enumerate(header)
            if not (cells and name in same_in_caption and len({row[i] for row in cells}) == 1)]
    header, cells = [header[i] for i in keep], [[row[i] for i in keep] for row in cells]
    table = Table(*header, box=box.SIMPLE_HEAD, caption=escape(caption) if caption else None,
                  caption_justify="left")
    for index, column in enumerate(table.columns):
        column.overflow = "fold"
        longest = max([len(str(column.header)), *(len(row[index]) for row in cells)])
        if longest <= SHORT:  # seeds, sizes, money, times keep their width: the long cells fold instead
            column.min_width = longest
    for row in cells:
        table.add_row(*(escape(c) for c in row))
    console.print(table)


def tsv_cell(value: str) -> str:
    """One TSV field: tabs and line breaks become spaces, so every row stays one line."""
    return " ".join(value.replace("\t", " ").splitlines())
