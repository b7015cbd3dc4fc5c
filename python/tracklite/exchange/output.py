"""The folder an export writes: checked before anything is written, kept inside, marked while
incomplete.

An export refuses a folder that holds anything unless told to ``force`` (then it replaces
the folder's contents), writes every file through ``ExportDir.path`` (which refuses paths that
would leave the folder), and keeps a marker file in it until it has finished: a folder with
the marker is an interrupted export, and running the export again with ``force`` redoes it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tracklite.errors import InvalidParameterValue

#: Present while an export is being written; removed as its last step.
INCOMPLETE_MARKER = ".tracklite-export-incomplete"


class ExportDir:
    """An export's output folder (see the module docstring)."""

    def __init__(self, out: str | os.PathLike[str], *, force: bool = False) -> None:
        self.root = Path(out).resolve()
        if self.root.exists() and not self.root.is_dir():
            raise InvalidParameterValue(f"Export target '{self.root}' is a file; give a folder path.")
        if self.root.exists() and any(self.root.iterdir()):
            if not force:
                interrupted = (self.root / INCOMPLETE_MARKER).exists()
                why = "holds an interrupted export" if interrupted else "is not empty"
                raise InvalidParameterValue(
                    f"Export target '{self.root}' {why}; pass force=True (--force) to replace its contents, "
                    "or choose an empty folder."
                )
            for child in self.root.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / INCOMPLETE_MARKER).write_text("an export is being written here; rerun it with --force\n")
        # Folders already resolved inside the root and made: an export writes thousands of
        # files into a few hundred folders, and resolving every path cost a third of its time.
        self._folders: dict[tuple[str, ...], Path] = {(): self.root}

    def path(self, *parts: str) -> Path:
        """``root/parts...``, with parent folders made.

        Raises:
            InvalidParameterValue: if the path would leave the export folder (``..``, absolute
                parts, a symbolic link).
        """
        if not parts:
            return self.root
        *folder_parts, name = parts
        folder = self._folders.get(tuple(folder_parts))
        if folder is None:
            folder = self._inside(self.root.joinpath(*folder_parts), parts)
            folder.mkdir(parents=True, exist_ok=True)
            self._folders[tuple(folder_parts)] = folder
        if name in ("", ".", "..") or "/" in name or os.sep in name:
            return self._inside(folder / name, parts)
        target = folder / name
        if target.is_symlink():
            self._inside(target, parts)
        return target

    def _inside(self, path: Path, parts: tuple[str, ...]) -> Path:
        resolved = path.resolve()
        if resolved != self.root and self.root not in resolved.parents:
            raise InvalidParameterValue(
                f"Refusing to write '{'/'.join(parts)}': it would land outside the export folder {self.root}."
            )
        return resolved

    def finish(self) -> None:
        """Mark the export complete."""
        (self.root / INCOMPLETE_MARKER).unlink(missing_ok=True)


def is_incomplete(out: str | os.PathLike[str]) -> bool:
    """Whether ``out`` holds an export that did not finish."""
    return (Path(out) / INCOMPLETE_MARKER).exists()
