"""Chapter 03's cached computations: lambda_min, the GD bound it implies, and wide networks trained by full-batch GD."""
from __future__ import annotations

import numpy as np
import torch

from convlib import dag, data, kernels, mlp, registry, theory
from convlib.seeds import derive


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
    eta = float(theory.largest_step(ev_T).min())
    runs = [(i, s) for i in range(len(dags)) for s in range(seeds)]
    model = mlp.DAGMLP([dags[i] for i, _ in runs], X.shape[1], width, parametrization="ntk", device="cpu",
                       seeds=[derive(seed, "gd.init", s) for _, s in runs])
    with torch.no_grad():
        r0 = (model(X)[..., 0].double() - y[:, 0])                 # (B, n) initial residuals
    curve = mlp.train(model, X, y, steps=steps, lr=eta * n, loss="mse")
    loss = np.concatenate([curve["loss"], curve["final_loss"][:, None]], axis=1)  # L(0..steps), mean form
    ratio = loss / loss[:, :1]
    bound = np.stack([theory.gd_bound(eta, float(lam), steps) for lam in lam_K])
    linear = np.stack([theory.linearised_loss(Theta[i], r0[b], eta, steps) for b, (i, _) in enumerate(runs)])
    return {"eta": eta, "dag_index": np.array([i for i, _ in runs]), "ratio": ratio, "bound": bound,
            "linearised": linear, "lambda_exact": lam_K.numpy(), "lambda_ntk": ev_T[:, 0].numpy(),
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


# ------------------------------------------------------------- Theorem 3.1, Lemma 3.3 and Eq. 12 (Chen et al. 2022)
@registry.experiment("ch03.theorem31", chapter="03_spectrum_and_convergence")
def theorem31(dataset: str, n: int, seed: int, dags: list) -> dict:
    """On the inputs of ``ch03.gd``: P (number of input-to-output paths) and lambda_min of the exact NNGP and
    of the paper's recursion K^(H), the quantities of Theorem 3.1's conditions."""
    X, _ = data.load(dataset, "train", n=n, seed=seed)
    return {"n_paths": np.array([len(theory.paths(a)) for a in dags]),
            "lambda_exact": theory.lambda_min_many(dags, X, "exact", "cpu"),
            "lambda_paper": theory.lambda_min_many(dags, X, "paper", "cpu")}


@registry.experiment("ch03.eq12", chapter="03_spectrum_and_convergence")
def eq12(dataset: str, n: int, seed: int) -> dict:
    """Eq. 12 and Lemma 3.3 over every four-node MLP-DAG, on n inputs scaled to a unit-diagonal stem kernel
    (Remark 3.4): the Eq.-12 bound, lambda_min and Lemma 3.3's 2x2 bound of the paper's recursion and of
    the exact NNGP, the number of paths, the largest off-diagonal K_ij^(0) and input cosine. Every
    NAS-Bench-201 cell has the kernel of its MLP analogue: ``nb201[i]`` is the index of cell i's."""
    X = kernels.unit_diagonal(data.load(dataset, "train", n=n, seed=seed)[0])
    space = dag.mlp_dags(3)
    Kp, Ke = kernels.nngp_paper_many(space, X, "cpu"), kernels.nngp_many(space, X, "cpu")
    off = ~torch.eye(n, dtype=torch.bool)
    return {"dags": space, "n_paths": theory.depth_counts(space).sum(1).astype(int),
            "repeated": np.array([dag.repeated_skip_route(a) for a in space]),
            "eq12": theory.eq12_bound_many(space, X),
            "lambda_paper": theory.least_eigenvalues(Kp), "lambda_exact": theory.least_eigenvalues(Ke),
            "lemma33_paper": theory.lemma33_bound(Kp), "lemma33_exact": theory.lemma33_bound(Ke),
            "max_k0": float(kernels.stem_kernel(X, "cpu")[off].max()),
            "max_cosine": float((X @ X.T / X.shape[1])[off].max()),
            "nb201": np.array([dag.mlp_index(dag.parse(c).as_mlp()) for c in dag.nb201_cells()])}


# ------------------------------------------------------------- lambda_min without the kernel's scale
def kinds(dags: list[str]) -> tuple[np.ndarray, list[str]]:
    """One representative per kernel class (``canonical(dag, by="kind")``: same class, same kernel) and
    each DAG's class index: ``(keys, reps)`` with ``dags[i]``'s kernel that of ``reps[keys[i]]``."""
    first: dict[str, int] = {}
    keys = np.array([first.setdefault(dag.canonical(d, by="kind"), len(first)) for d in dags])
    reps = [dags[list(keys).index(k)] for k in range(len(first))]
    return keys, reps


def spectrum_stats(dags: list[str], X: torch.Tensor, kernel: str) -> dict:
    """Per DAG, the kernel's ``lam`` (lambda_min), ``lmax`` (lambda_max) and ``diag`` (mean diagonal) on X;
    the scale-free ``lambda_min / diag`` and ``lmax / lam`` (condition number) follow from them."""
    keys, reps = kinds(dags)
    G = theory.gram_many(reps, X, kernel)
    ev = torch.linalg.eigvalsh(G.detach())
    return {"lam": ev[:, 0].clamp_min(0).cpu().numpy()[keys], "lmax": ev[:, -1].cpu().numpy()[keys],
            "diag": G.diagonal(dim1=-2, dim2=-1).mean(-1).cpu().numpy()[keys]}


@registry.experiment("ch03.scale_free", chapter="03_spectrum_and_convergence")
def scale_free(dataset: str, n: int, seed: int) -> dict:
    """``spectrum_stats`` of every four-node MLP-DAG (exact NNGP, paper's recursion, NTK) on the inputs of
    ``ch03.gd``: lambda_min beside the kernel's scale (mean diagonal) and its lambda_max, so that
    lambda_min / mean diagonal and the condition number can be compared across DAGs. ``nb201[i]`` is the
    index of NAS-Bench-201 cell i's MLP analogue."""
    X, _ = data.load(dataset, "train", n=n, seed=seed)
    space = dag.mlp_dags(3)
    out: dict = {"dags": space, "nb201": np.array([dag.mlp_index(dag.parse(c).as_mlp()) for c in dag.nb201_cells()])}
    for kernel in ("exact", "paper", "ntk"):
        out |= {f"{kernel}_{k}": v for k, v in spectrum_stats(space, X, kernel).items()}
    return out


__all__ = ["gradient_descent", "scaling", "theorem31", "eq12", "kinds", "spectrum_stats", "scale_free"]
