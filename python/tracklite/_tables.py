"""Printing result tables in the terminal (with ``rich``)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any


def render(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    max_rows: int | None = None,
    keep_whole: Sequence[str] = ("run_id",),
) -> str:
    """Rows as a boxed text table; columns named in ``keep_whole`` are never cut."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(box=box.SQUARE, header_style="bold")
    for name in columns:
        whole = name in keep_whole
        table.add_column(name, no_wrap=whole, min_width=32 if whole else None, overflow="fold")
    shown = rows if max_rows is None else rows[:max_rows]
    for row in shown:
        table.add_row(*("" if v is None else str(v) for v in row))
    if max_rows is not None and len(rows) > max_rows:
        table.caption = f"{max_rows} of {len(rows)} rows"
    out = io.StringIO()
    Console(width=160, file=out, color_system=None).print(table)
    return out.getvalue().rstrip("\n")
