"""The papers' own numbers, cited: one CSV per paper under ``data/paper/`` (columns ``table``, ``row``,
``column``, ``value``, ``std``, ``source``), so a chapter puts a paper's number beside ours without typing it."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from convlib.fingerprint import memo

FOLDER = Path(__file__).resolve().parents[2] / "data" / "paper"


@memo
def numbers(paper: str) -> pd.DataFrame:
    """Every cited number of ``paper`` (the stem of ``data/paper/<paper>.csv``), as the file has them."""
    path = FOLDER / f"{paper}.csv"
    if not path.is_file():
        raise FileNotFoundError(f"no table of cited numbers {path}; papers: {sorted(p.stem for p in FOLDER.glob('*.csv'))}")
    return pd.read_csv(path, dtype={"table": str, "row": str, "column": str, "source": str})


def table(paper: str, name: str, value: str = "value") -> pd.DataFrame:
    """Table ``name`` of ``paper`` as rows x columns of ``value`` (or ``std``); NaN where the paper has none."""
    t = numbers(paper)
    t = t[t["table"] == name]
    if t.empty:
        raise ValueError(f"{paper} has no table {name!r}; tables: {sorted(set(numbers(paper)['table']))}")
    return t.pivot(index="row", columns="column", values=value).reindex(pd.unique(t["row"]))


def source(paper: str, name: str) -> str:
    """The citation of table ``name`` (its first row's source)."""
    return str(numbers(paper).query("table == @name")["source"].iloc[0])
