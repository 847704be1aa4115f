"""Chapter 04's cached computations: lambda_min against effective depth and width over whole search spaces."""
from __future__ import annotations

import numpy as np

from convlib import dag, data, registry, theory
from convlib.experiments import ch03_convergence


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


@registry.experiment("ch04.scale_free", chapter="04_effective_depth_width")
def scale_free(dataset: str, n: int, seed: int) -> dict:
    """``ch03.scale_free`` on this chapter's inputs."""
    return ch03_convergence.scale_free(dataset, n, seed)


# ------------------------------------------------------------- (d, m) as a summary of Eq. 12 (Chen et al. 2022, Sec. 4)
@registry.experiment("ch04.eq12_summary", chapter="04_effective_depth_width")
def eq12_summary(dataset: str, n: int, seed: int) -> dict:
    """``ch03.eq12`` on this chapter's inputs (every four-node MLP-DAG, NAS-Bench-201 cells through their MLP
    analogues), with each MLP-DAG's effective depth and width."""
    dw = np.array([theory.effective_depth_width(a) for a in dag.mlp_dags(3)])
    return {**ch03_convergence.eq12(dataset, n, seed), "depth": dw[:, 0], "width": dw[:, 1]}


__all__ = ["landscape", "scale_free", "eq12_summary"]
