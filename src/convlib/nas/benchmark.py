"""The NAS-Bench-201 ground truth (Dong and Yang 2020; NATS-Bench topology space, Dong et al. 2021).

One row per cell in the benchmark's own index order (row i = benchmark index i): the test accuracy
(%) after the 200-epoch schedule, averaged over the benchmark's seeds, on CIFAR-10, CIFAR-100 and
ImageNet16-120, the arch string, and the benchmark's canonical class (``unique``: cells with the
same value compute the same function; 6,466 classes). Validation accuracies are not in the file,
so wherever a method would select by validation accuracy, test accuracy stands in.
"""
from __future__ import annotations

import io

import numpy as np
import pandas as pd

from convlib import data
from convlib.dag import DAGLike, parse
from convlib.fingerprint import memo

FILE = data.NB201_FILE
DATASETS = {"cifar10": "CIFAR10TestAccuracy200Epochs", "cifar100": "CIFAR100TestAccuracy200Epochs",
            "imagenet16": "ImageNetTestAccuracy200Epochs"}
N_CELLS = 15625


def load() -> pd.DataFrame:
    """The table, indexed by benchmark index: columns ``arch``, ``cifar10``, ``cifar100``,
    ``imagenet16`` (test accuracy, %) and ``unique`` (canonical class)."""
    try:
        (path,) = data.sources("nasbench201").values()
    except FileNotFoundError as err:
        raise FileNotFoundError(
            f"NAS-Bench-201 ground truth {FILE!r} not found ({err}). Put the CSV exported from the "
            "NATS-Bench topology API there (columns " + ", ".join(DATASETS.values()) +
            ", ArchitectureString, UniqueString; 15,625 rows in benchmark index order), see "
            "../shared/data/README.md.") from None
    return _read(path)


@memo
def _read(path) -> pd.DataFrame:
    try:
        raw = pd.read_csv(io.BytesIO(data.read_bytes(path)))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise ValueError(data.corrupt(path, err)) from None
    missing = [c for c in (*DATASETS.values(), "ArchitectureString", "UniqueString") if c not in raw]
    if missing or len(raw) != N_CELLS:
        raise ValueError(f"{path}: expected {N_CELLS} rows with columns {list(DATASETS.values())}, "
                         f"ArchitectureString, UniqueString; got {len(raw)} rows, missing {missing}")
    table = pd.DataFrame({"arch": raw["ArchitectureString"],
                          **{k: raw[v].astype(float) for k, v in DATASETS.items()},
                          "unique": raw["UniqueString"]})
    table.index.name = "index"
    return table


@memo
def _positions() -> dict[str, int]:
    return {a: i for i, a in enumerate(load()["arch"])}


def index_of(arch: DAGLike) -> int:
    """Benchmark index of a cell."""
    text = parse(arch).to_string()
    if text not in _positions():
        raise ValueError(f"{text!r} is not a NAS-Bench-201 cell of the benchmark table")
    return _positions()[text]


def accuracy(archs, dataset: str = "cifar10") -> np.ndarray:
    """Test accuracy (%) of each cell (arch strings, DAGs or benchmark indices) on ``dataset``."""
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {sorted(DATASETS)}")
    idx = [a if isinstance(a, (int, np.integer)) else index_of(a) for a in archs]
    return load()[dataset].to_numpy()[np.asarray(idx, dtype=int)]


__all__ = ["DATASETS", "N_CELLS", "load", "index_of", "accuracy"]
