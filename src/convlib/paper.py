"""Numbers the book cites from the papers: one table per paper, ``data/paper/<paper>.csv``, with the columns
``key, group, what, value, unit, source`` (``value`` as the paper prints it, ``source`` where it stands there,
for example "Zhou et al. 2020, Table 1"). Chapters read them here instead of typing them.
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from convlib import ROOT

FOLDER = ROOT / "data" / "paper"
COLUMNS = ("key", "group", "what", "value", "unit", "source")


@dataclass(frozen=True)
class Cited:
    """One number from a paper: what it is, its value (and as printed, ``printed``) and where it stands there."""

    key: str
    group: str
    what: str
    value: float
    unit: str
    source: str
    printed: str


def cited(paper: str, folder: Path = FOLDER) -> dict[str, Cited]:
    """The table ``folder / f"{paper}.csv"`` by key, in file order; every row needs a new key, a finite
    number and a source."""
    path = Path(folder) / f"{paper}.csv"
    if not path.is_file():
        raise FileNotFoundError(f"no table of cited numbers {path}")
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if tuple(reader.fieldnames or ()) != COLUMNS:
            raise ValueError(f"{path}: columns must be {COLUMNS}, got {reader.fieldnames}")
        table: dict[str, Cited] = {}
        for line, row in enumerate(reader, start=2):
            try:
                value = float(row["value"])
            except (TypeError, ValueError):
                value = math.nan
            if (None in row or None in row.values() or not math.isfinite(value) or not row["key"]
                    or not row["source"].strip() or row["key"] in table):
                raise ValueError(f"{path}, line {line}: need six columns, a new key, a finite value and a "
                                 f"source, got {row}")
            table[row["key"]] = Cited(**{**row, "value": value, "printed": row["value"].strip()})
    return table


def rows(table: dict[str, Cited], *groups: str) -> list[dict]:
    """The entries of the ``groups`` (all entries when none is named), in table order, as table rows:
    what, value (as printed), unit, source."""
    return [{"what": c.what, "value": c.printed, "unit": c.unit, "source": c.source}
            for c in table.values() if not groups or c.group in groups]


def table(paper: str, group: str, value: str = "value") -> pd.DataFrame:
    """A cited table as rows x columns: the entries of ``group`` whose keys read ``group|row|column``
    (``value="std"``: those reading ``group|row|column|std``); NaN where the paper gives none."""
    if value not in ("value", "std"):
        raise ValueError(f"value must be 'value' or 'std', got {value!r}")
    entries = [c for c in cited(paper, FOLDER).values() if c.group == group]
    if not entries:
        raise ValueError(f"{paper} cites no table {group!r}")
    cells: dict[str, dict[str, float]] = {}
    for c in entries:
        parts = c.key.split("|")
        if len(parts) in (3, 4) and (len(parts) == 4) == (value == "std"):
            cells.setdefault(parts[1], {})[parts[2]] = c.value
    rows = list(dict.fromkeys(c.key.split("|")[1] for c in entries))
    return pd.DataFrame.from_dict(cells, orient="index").reindex(rows)


__all__ = ["FOLDER", "Cited", "cited", "rows", "table"]
