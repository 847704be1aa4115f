"""Chapter 03: lambda_min, the GD bound it implies, and wide networks trained by full-batch GD."""
from __future__ import annotations

import numpy as np
import torch

from convlib import dag, data, kernels, mlp, registry, theory


def parity_targets(y: torch.Tensor) -> torch.Tensor:
    """Scalar regression targets: +1 for an even class label, -1 for an odd one, shape (n, 1)."""
    return (1.0 - 2.0 * (y % 2)).double()[:, None]


@registry.experiment("ch03.gd", chapter="03_spectrum_and_convergence")
def gradient_descent(dataset: str, n: int, seed: int, dags: list, width: int, steps: int, seeds: int) -> dict:
    """Full-batch GD on ``1/2 sum_i (f(x_i) - y_i)^2`` (y = +-1 by label parity) for each DAG and
    ``seeds`` initialisations, in the NTK parametrisation at the given width, all models at once.

    One step size for every DAG: ``eta = min_DAG 2 / (lambda_max(Theta) + lambda_min(Theta))``, the
    largest that ``theory.step_size_ok`` grants every analytic NTK Theta (the mean loss of ``mlp.train``
    takes ``lr = eta n``). Returns each model's loss ratio ``L(k) / L(0)``, the bound
    ``(1 - eta lambda_min(K) / 2)^k`` with K the exact NNGP, and the NTK-linearised prediction
    ``||(I - eta Theta)^k r0||^2 / ||r0||^2`` from the model's own initial residual r0."""
    X, labels = data.load(dataset, "train", n=n, seed=seed)
    X = X.double()
    y = parity_targets(labels)
    K, Theta = kernels.nngp_many(dags, X, device="cpu"), kernels.ntk_many(dags, X, device="cpu")
    lam_K = torch.linalg.eigvalsh(K)[:, 0]
    ev_T = torch.linalg.eigvalsh(Theta)
    eta = float((2.0 / (ev_T[:, -1] + ev_T[:, 0])).min())
    runs = [(i, s) for i in range(len(dags)) for s in range(seeds)]
    model = mlp.DAGMLP([dags[i] for i, _ in runs], X.shape[1], width, seeds=[1000 * seed + s for _, s in runs],
                       parametrization="ntk", device="cpu")
    with torch.no_grad():
        r0 = (model(X)[..., 0].double() - y[:, 0])                 # (B, n) initial residuals
    curve = mlp.train(model, X, y, steps=steps, lr=eta * n, loss="mse")
    loss = np.concatenate([curve["loss"], curve["final_loss"][:, None]], axis=1)  # L(0..steps), mean form
    ratio = loss / loss[:, :1]
    bound = np.stack([theory.gd_bound(eta, float(lam), steps) for lam in lam_K])
    linear = np.stack([theory.linearised_loss(Theta[i], r0[b], eta, steps) for b, (i, _) in enumerate(runs)])
    return {"eta": eta, "dag_index": np.array([i for i, _ in runs]), "ratio": ratio, "bound": bound,
            "linearised": linear, "lambda_nngp": lam_K.numpy(), "lambda_ntk": ev_T[:, 0].numpy(),
            "lambda_max_ntk": ev_T[:, -1].numpy()}


def chain(depth: int) -> str:
    """MLP form of a chain of ``depth`` linear edges: ``"2_02_002..."``."""
    return "_".join("0" * t + "2" for t in range(depth))


def parallel(paths: int) -> dag.DAG:
    """``paths`` independent linear edges from the stem into the output (nodes 1..P-1 copy the stem)."""
    edges = [(0, t, "skip") for t in range(1, paths)] + [(s, paths, "linear") for s in range(paths)]
    return dag.DAG.from_edges(paths, edges)


@registry.experiment("ch03.scaling", chapter="03_spectrum_and_convergence")
def scaling(dataset: str, n: int, seed: int, max_depth: int, max_paths: int) -> dict:
    """lambda_min (exact NNGP, paper's recursion, NTK) of chains of 1..max_depth linear edges and of
    1..max_paths parallel linear edges, with the parallel lower bound ``P lambda_min(V(2 K_0))``."""
    X, _ = data.load(dataset, "train", n=n, seed=seed)
    chains = [chain(d) for d in range(1, max_depth + 1)]
    fans = [parallel(p) for p in range(1, max_paths + 1)]
    out = {}
    for name, space in (("chain", chains), ("parallel", fans)):
        for kernel in ("exact", "paper", "ntk"):
            out[f"{name}_{kernel}"] = np.array([theory.lambda_min(a, X, kernel) for a in space])
    one = theory.lambda_min(fans[0], X)  # a single linear edge from the stem: lambda_min(V(2 K_0))
    out["parallel_bound"] = one * np.arange(1, max_paths + 1)
    return out
