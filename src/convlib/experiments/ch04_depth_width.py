"""Chapter 04: lambda_min against effective depth and width over whole search spaces."""
from __future__ import annotations

import numpy as np

from convlib import dag, data, registry, theory


@registry.experiment("ch04.landscape", chapter="04_effective_depth_width")
def landscape(dataset: str, n: int, seed: int, mlp_nodes: int) -> dict:
    """Effective depth/width and lambda_min (exact NNGP, paper's recursion, NTK) of every MLP-DAG
    with ``mlp_nodes`` nodes and of all 15,625 NAS-Bench-201 cells as MLP-DAGs, on n inputs."""
    X, _ = data.load(dataset, "train", n=n, seed=seed)
    out = {}
    for name, space in (("mlp", dag.mlp_dags(mlp_nodes)), ("nb201", dag.nb201_cells())):
        dw = np.array([theory.effective_depth_width(a) for a in space])
        out[f"{name}_depth"], out[f"{name}_width"] = dw[:, 0], dw[:, 1]
        for kernel in ("exact", "paper", "ntk"):
            out[f"{name}_lambda_{kernel}"] = theory.lambda_min_many(space, X, kernel)
    return out
