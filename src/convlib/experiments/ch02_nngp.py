"""Chapter 02: the exact NNGP against finite networks, and where the paper's recursion departs from it."""
from __future__ import annotations

import numpy as np
import torch

from convlib import dag, data, kernels, mlp, registry, theory


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
                model = mlp.DAGMLP([text], X.shape[1], width, seeds=[seed * 100_003 + 1000 * j + k], device="cpu")
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
