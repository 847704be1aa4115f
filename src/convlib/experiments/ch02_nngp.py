"""Chapter 02's cached computations: the exact NNGP against finite networks, and the paper's recursion against it."""
from __future__ import annotations

import numpy as np
import torch

from convlib import dag, data, kernels, mlp, registry, theory
from convlib.dag import FIGURE3
from convlib.seeds import derive


def _rel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Relative Frobenius distance ``||a - b||_F / ||b||_F`` over the last two axes."""
    return torch.linalg.matrix_norm(a - b) / torch.linalg.matrix_norm(b)


@registry.experiment("ch02.monte_carlo", chapter="02_nngp_propagation")
def monte_carlo(dataset: str, n: int, seed: int, dags: list, widths: list, draws: int) -> dict:
    """For each DAG and width, ``draws`` finite networks (``mlp.DAGMLP``, Kaiming fan-in): the
    relative Frobenius error of one network's ``(1/m) h_N h_N^T`` against the exact NNGP and against
    the paper's recursion, and the same for the mean over the draws. Inputs: n samples of dataset."""
    X, _ = data.load(dataset, "train", n=n, seed=seed)
    X = X.double()
    shape = (len(dags), len(widths), draws)
    err_exact, err_paper = np.zeros(shape), np.zeros(shape)
    mean_exact, mean_paper = np.zeros(shape[:2]), np.zeros(shape[:2])
    for i, text in enumerate(dags):
        K, Kp = kernels.nngp(text, X, device="cpu"), kernels.nngp_paper(text, X, device="cpu")
        for j, width in enumerate(widths):
            est = []
            for k in range(draws):  # one network at a time keeps memory at (slots, width, width)
                model = mlp.DAGMLP([text], X.shape[1], width, seeds=[derive(seed, "nngp.draw", j, k)], device="cpu")
                with torch.no_grad():
                    h = model.features(X)[0].double()
                est.append(h @ h.T / width)
            est = torch.stack(est)
            err_exact[i, j], err_paper[i, j] = _rel(est, K).numpy(), _rel(est, Kp).numpy()
            mean_exact[i, j], mean_paper[i, j] = _rel(est.mean(0), K).item(), _rel(est.mean(0), Kp).item()
    return {"err_exact": err_exact, "err_paper": err_paper, "mean_exact": mean_exact, "mean_paper": mean_paper}


@registry.experiment("ch02.paper_gap", chapter="02_nngp_propagation")
def paper_gap(dataset: str, n: int, seed: int, mlp_nodes: int) -> dict:
    """Over every MLP-DAG with ``mlp_nodes`` nodes: relative Frobenius gap between the paper's
    recursion and the exact NNGP, and lambda_min of each, on n samples of dataset."""
    X, _ = data.load(dataset, "train", n=n, seed=seed)
    space = dag.mlp_dags(mlp_nodes)
    K, Kp = kernels.nngp_many(space, X), kernels.nngp_paper_many(space, X)
    live = torch.linalg.matrix_norm(K) > 0
    gap = torch.where(live, _rel(Kp, K), torch.zeros(len(space), dtype=K.dtype, device=K.device))
    return {"dags": space, "gap": gap.cpu().numpy(),
            "lambda_exact": theory.least_eigenvalues(K), "lambda_paper": theory.least_eigenvalues(Kp)}


# ------------------------------------------------------------- the paper's propagation (Chen et al. 2022, Sec. 3.3)
def lemma32(K: np.ndarray) -> np.ndarray:
    """Lemma 3.2 (Eq. 4) on a kernel matrix: diagonal kept, ``K_ij -> f(C_ij) sqrt(K_ii K_jj)``."""
    scale = np.sqrt(np.outer(np.diag(K), np.diag(K)))
    return theory.correlation_map(K / scale) * scale


def figure3_closed_forms(K0: np.ndarray) -> dict[str, np.ndarray]:
    """K^(3) of the Figure-3 DAGs from K^(0) as Eqs. 6, 8, 10 write it, f = ``lemma32``:
    DAG#1 ``f(f(f(K0)))``; DAG#2 ``3 f(K0)``; DAG#3 ``f(K2) + K1 + K0`` with ``K1 = f(K0)``, ``K2 = K1 + f(K0)``."""
    K1 = lemma32(K0)
    return {FIGURE3["DAG#1"]: lemma32(lemma32(K1)), FIGURE3["DAG#2"]: 3 * K1,
            FIGURE3["DAG#3"]: lemma32(K1 + K1) + K1 + K0}


@registry.experiment("ch02.closed_forms", chapter="02_nngp_propagation")
def closed_forms(dataset: str, n: int, seed: int) -> dict:
    """On n unit-diagonal inputs (Remark 3.4): the largest entrywise difference between the paper's recursion
    (``kernels.nngp_paper``) and Eqs. 6, 8, 10 for each Figure-3 DAG, and for Eq. 10's ``f(2 f(K))`` read as the
    scalar map ``h(2 h(C))``, the share of input pairs where ``2 h(C) > 1`` leaves arcsin's domain."""
    X = kernels.unit_diagonal(data.load(dataset, "train", n=n, seed=seed)[0])
    K0 = kernels.stem_kernel(X, device="cpu").numpy()
    forms = figure3_closed_forms(K0)
    diff = [float(np.abs(kernels.nngp_paper(a, X, device="cpu").numpy() - K).max()) for a, K in forms.items()]
    C = K0[np.triu_indices(n, 1)]
    return {"dags": list(forms), "max_abs_diff": np.array(diff), "k0_diag_error": float(np.abs(np.diag(K0) - 1).max()),
            "k0_offdiag_range": [float(C.min()), float(C.max())],
            "scalar_out_of_domain": float((2 * theory.correlation_map(C) > 1).mean())}


@registry.experiment("ch02.remark33", chapter="02_nngp_propagation")
def remark33(dataset: str, n: int, seed: int, mlp_nodes: int) -> dict:
    """Over every MLP-DAG with ``mlp_nodes`` nodes, on n unit-diagonal inputs: the exact NNGP, the exact rules
    with the means dropped (Remark 3.3, ``kernels.nngp_remark33``) and the paper's recursion; relative
    Frobenius gaps exact -> Remark 3.3 -> recursion, lambda_min of each, whether some skip route repeats
    (``*`` in the canonical form), and the largest relative spread of a node's first moment across inputs."""
    X = kernels.unit_diagonal(data.load(dataset, "train", n=n, seed=seed)[0])
    space = dag.mlp_dags(mlp_nodes)
    moments = kernels.propagate([dag.parse(a) for a in space], X, device="cpu")
    K = moments.K[:, -1, -1]
    Kr, Kp = kernels.nngp_remark33_many(space, X, "cpu"), kernels.nngp_paper_many(space, X, "cpu")
    M = moments.M
    spread = (M.amax(-1) - M.amin(-1)) / M.amax(-1).clamp_min(1e-300)
    return {"dags": space, "repeated": np.array([dag.repeated_skip_route(a) for a in space]),
            "gap_means": torch.nan_to_num(_rel(Kr, K)).numpy(), "gap_routes": torch.nan_to_num(_rel(Kp, Kr)).numpy(),
            "lambda_exact": theory.least_eigenvalues(K), "lambda_remark33": theory.least_eigenvalues(Kr),
            "lambda_paper": theory.least_eigenvalues(Kp), "mean_spread": float(spread.max())}


__all__ = ["monte_carlo", "paper_gap", "lemma32", "figure3_closed_forms", "closed_forms", "remark33"]
