"""A csv whose first row names the columns (3D-ETF exports, Live Link Face takes)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.data.datasets.imported_clip import DatasetError


@dataclass(frozen=True)
class CsvTable:
    names: list[str]  # header cells, stripped
    cells: list[list[str]]  # data rows, as text

    def numbers(self) -> np.ndarray:
        """(rows, columns) float32; cells that are not numbers (timecodes, labels, blanks) are NaN."""
        values = np.full((len(self.cells), len(self.names)), np.nan, dtype=np.float32)
        for r, row in enumerate(self.cells):
            for c, cell in enumerate(row[: len(self.names)]):
                try:
                    values[r, c] = float(cell)
                except ValueError:
                    pass  # non-numeric: only an error if the column is one the caller needs (checked there)
        return values

    def column_text(self, name: str) -> list[str] | None:
        """The cells of the column called `name` (case-insensitive), or None if there is none."""
        index = next((i for i, n in enumerate(self.names) if n.lower() == name.lower()), None)
        return None if index is None else [row[index] for row in self.cells]


def read_csv_table(path: Path) -> CsvTable:
    """Read a header-plus-rows csv; DatasetError when it is unreadable, has no data rows or ragged rows."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = [row for row in csv.reader(handle) if row and any(cell.strip() for cell in row)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"'{path}' could not be read as csv ({exc}).") from None
    if len(rows) < 2:
        raise DatasetError(f"'{path}' needs a header row of channel names and at least one frame row.")
    names = [cell.strip() for cell in rows[0]]
    for r, row in enumerate(rows[1:]):
        if len(row) < len(names):
            raise DatasetError(f"'{path}' row {r + 2} has {len(row)} cells but the header has {len(names)}.")
    return CsvTable(names=names, cells=rows[1:])
