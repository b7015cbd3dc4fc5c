"""Progress bars for long exports and imports: ``rich`` bars on the command line, nothing in
Python unless asked for."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class Progress:
    """Named tasks with totals; a no-op when not ``enabled``."""

    def __init__(self, enabled: bool) -> None:
        self._bar: Any = None
        if enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TimeElapsedColumn
            from rich.progress import Progress as RichProgress

            # On stderr: stdout keeps only the summary, for scripts that read it.
            self._bar = RichProgress(
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
            )

    @contextmanager
    def running(self) -> Iterator[Progress]:
        """Show the bars (if enabled) for the duration of the block."""
        if self._bar is None:
            yield self
            return
        with self._bar:
            yield self

    def task(self, description: str, total: int | None) -> Any:
        """A new bar; pass the result to ``advance``."""
        return None if self._bar is None else self._bar.add_task(description, total=total)

    def advance(self, task: Any, amount: int = 1) -> None:
        """Move a bar on by ``amount``."""
        if self._bar is not None and task is not None:
            self._bar.update(task, advance=amount)
