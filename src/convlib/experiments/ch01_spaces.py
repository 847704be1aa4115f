"""Chapter 01's cached computations: the two search spaces, their canonical forms, each cell's effective depth/width."""
from __future__ import annotations

import numpy as np

from convlib import dag, registry, theory


def _class_ids(keys: list[str]) -> np.ndarray:
    """Integer id of each key, numbered by first appearance (equal keys share an id)."""
    ids: dict[str, int] = {}
    return np.array([ids.setdefault(k, len(ids)) for k in keys], dtype=np.int32)


@registry.experiment("ch01.spaces", chapter="01_dag_networks")
def spaces(mlp_nodes: int, n_cells: int) -> dict:
    """Sizes and canonical-form classes of the MLP-DAG space (``mlp_nodes`` nodes after the stem) and
    of the first ``n_cells`` NAS-Bench-201 cells in ``dag.nb201_cells()`` order, with the effective
    depth ``d`` and width ``m`` of every cell (``theory.effective_depth_width``)."""
    if not 1 <= n_cells <= 15625:
        raise ValueError(f"n_cells must be in 1..15625, got {n_cells!r}")
    mlp = dag.mlp_dags(mlp_nodes)
    cells = dag.nb201_cells()[:n_cells]
    mlp_dw = np.array([theory.effective_depth_width(a) for a in mlp], dtype=np.float64)
    cell_dw = np.array([theory.effective_depth_width(a) for a in cells], dtype=np.float64)
    return {
        "mlp_size": len(mlp),
        "nb201_size": len(cells),
        "mlp_class": _class_ids([dag.canonical(a) for a in mlp]),
        "nb201_class_op": _class_ids([dag.canonical(a, by="op") for a in cells]),
        "nb201_class_kind": _class_ids([dag.canonical(a, by="kind") for a in cells]),
        "mlp_depth": mlp_dw[:, 0], "mlp_width": mlp_dw[:, 1],
        "nb201_depth": cell_dw[:, 0], "nb201_width": cell_dw[:, 1],
    }


__all__ = ["spaces"]
