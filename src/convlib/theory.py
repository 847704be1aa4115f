"""Paths, effective depth and width, the least eigenvalue of the Gram matrix, and the GD bound.

Effective depth and width (Chen et al. 2022, Definition 4.1 / Eq. 13, as their released code computes
them): over every input-to-output path that uses no zero edge, a path's depth d_p is its number of
parameterised (linear) edges;

    d = mean path depth (all-skip paths count, with depth 0),   m = #{paths with depth > 0} / d,

both 0 when d = 0 (no path, or only skip paths); ``path_depth_counts`` counts the paths by depth
without listing them.

Convergence (Chen et al. 2022, Theorem 3.1 / Eq. 3, after Du et al. 2019): for the squared loss
``L = 1/2 ||y - u||^2`` and gradient descent with a small enough step ``eta``, a wide enough network
satisfies ``L(k) <= (1 - eta lambda_min / 2)^k L(0)``, lambda_min the least eigenvalue of the NNGP
Gram matrix of the output node. The rate must lie in [0, 1): ``0 < eta lambda_min <= 2``. The theorem
asks ``eta = O(lambda_min / (N P)^2)`` (P paths, N samples; constants unstated); for the linearised
(kernel) dynamics ``r(k+1) = (I - eta H) r(k)`` the bound already holds whenever ``eta <=
largest_step(H) = 2 / (lambda_max(H) + lambda_min(H))`` and ``lambda_min(H) >= lambda_min``:
``step_size_ok`` checks that condition. Lemma 3.3 and Eq. 12 bound lambda_min from above
(``lemma33_bound``, ``eq12_bound``).
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np
import torch

from . import dag as _dag
from . import validate
from .dag import DAG, KIND, DAGLike
from .device import Device
from .kernels import gram_many, stem_kernel

MAX_PATHS = 100_000
"""``paths`` lists at most this many paths (a DAG on N nodes can have 2^(N-1)); counts need no list."""
MAX_STEPS = 10_000_000
"""``gd_bound`` and ``linearised_loss`` give at most this many steps (80 MB of float64 per curve)."""


def path_depth_counts(dag: DAGLike) -> np.ndarray:
    """``c[k]``: the number of input-output paths through non-zero edges with ``k`` linear edges,
    k = 0..N, as exact Python ints (dtype object).

    One pass in topological order, no enumeration: ``c_0 = e_0`` and
    ``c_t[k] = sum_{s -> t skip} c_s[k] + sum_{s -> t linear} c_s[k - 1]``, O(N^3) at most."""
    d = _dag.parse(dag)
    c = np.zeros((d.n_nodes + 1, d.n_nodes + 1), dtype=object)  # Python int 0s
    c[0, 0] = 1
    for s, t, op in d.edges():  # by target, then source: node s is complete before s -> t is read
        if KIND[op] == "linear":
            c[t, 1:] += c[s, :-1]
        else:
            c[t] += c[s]
    return c[-1]


def n_paths(dag: DAGLike) -> int:
    """Number of input-output paths through non-zero edges (0: the output ignores the input)."""
    return int(path_depth_counts(dag).sum())


def paths(dag: DAGLike) -> list[tuple[int, ...]]:
    """Every path ``0 -> ... -> N`` through non-zero edges, as node tuples, in lexicographic order
    (for display: at most ``MAX_PATHS``; ``path_depth_counts`` counts any number)."""
    d = _dag.parse(dag)
    if (count := n_paths(d)) > MAX_PATHS:
        raise ValueError(f"{_dag.shorten(d.to_string())} has {count:,} input-output paths; paths() lists at most "
                         f"{MAX_PATHS:,}: use theory.path_depth_counts or theory.n_paths to count them")
    g, out = d.graph, d.n_nodes
    result: list[tuple[int, ...]] = []
    stack = [(0,)]  # depth first without recursion: a path may be as long as the DAG
    while stack:
        path = stack.pop()
        if path[-1] == out:
            result.append(path)
        else:
            stack.extend(path + (nxt,) for nxt in sorted(g.successors(path[-1]), reverse=True))
    return result


def path_depths(dag: DAGLike) -> list[int]:
    """Number of parameterised (linear-kind) edges on each path of ``paths(dag)``."""
    d = _dag.parse(dag)
    return [sum(d.kind(s, t) == "linear" for s, t in zip(p, p[1:])) for p in paths(d)]


def effective_depth_width(dag: DAGLike) -> tuple[float, float]:
    """``(d, m)``: mean path depth, and the number of parameterised paths divided by d (0, 0 if d = 0),
    from ``path_depth_counts`` (exact integer sums, no path enumeration)."""
    counts = path_depth_counts(dag)
    total, depth_sum = int(counts.sum()), sum(k * int(c) for k, c in enumerate(counts))
    if depth_sum == 0:
        return 0.0, 0.0
    depth = depth_sum / total
    return depth, (total - int(counts[0])) / depth


def gram(dag: DAGLike, X: torch.Tensor, kernel: str = "exact", device: Device = "auto") -> torch.Tensor:
    """Gram matrix of the output node: ``kernel`` is a name of ``kernels.KERNELS`` ("exact" NNGP, "paper"
    recursion, "ntk", "remark33")."""
    return gram_many([dag], X, kernel, device)[0]


def lambda_min(dag: DAGLike, X: torch.Tensor, kernel: str = "exact", device: Device = "auto") -> float:
    """Least eigenvalue of the output-node Gram matrix (0 for a cell whose output no path reaches);
    one DAG has nothing to share, so no canonical form is computed."""
    return float(lambda_min_many([dag], X, kernel, device, dedupe=False)[0])


def lambda_min_many(dags: Sequence[DAGLike], X: torch.Tensor, kernel: str = "exact", device: Device = "auto",
                    dedupe: bool = True) -> np.ndarray:
    """Least eigenvalues for many DAGs, batched: (B,) float64.

    With ``dedupe`` the Gram matrix is computed once per class of ``canonical(dag, by="kind")``
    (DAGs of one class have the same kernel, a tested property) and shared by its members; the
    canonical labelling runs once per distinct MLP analogue (``as_mlp``: the same kind on every edge
    is the same kernel), 729 among the 15,625 NAS-Bench-201 cells, not once per DAG."""
    parsed = [_dag.parse(d) for d in validate.sequence(dags, "dags", (str, DAG))]
    if dedupe:
        kinds = [d.as_mlp() for d in parsed]
        classes = {k: _dag.canonical(k, by="kind") for k in dict.fromkeys(kinds)}
        keys = [classes[k] for k in kinds]
        first: dict[str, int] = {}
        for i, k in enumerate(keys):
            first.setdefault(k, i)
        reps = list(first.values())
        lam = lambda_min_many([parsed[i] for i in reps], X, kernel, device, dedupe=False)
        by_key = dict(zip(first, lam))
        return np.array([by_key[k] for k in keys])
    return least_eigenvalues(gram_many(parsed, X, kernel, device))


def least_eigenvalues(G: torch.Tensor) -> np.ndarray:
    """lambda_min of each Gram matrix in a (B, n, n) batch, rounding noise below 0 clipped to 0."""
    return torch.linalg.eigvalsh(G.detach())[:, 0].clamp_min(0).cpu().numpy()


def gd_rate(eta: float, lam: float) -> float:
    """The per-step factor ``1 - eta lambda_min / 2`` of the bound; needs ``0 < eta lambda_min <= 2``."""
    for name, value in (("step size eta", eta), ("lambda_min", lam)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise ValueError(f"{name} must be a finite real number, got {value!r}")
    if eta <= 0:
        raise ValueError(f"step size eta must be positive, got {eta}")
    if lam < 0:
        raise ValueError(f"lambda_min must be non-negative, got {lam}")
    if eta * lam > 2:
        raise ValueError(f"eta * lambda_min = {eta * lam:.4g} > 2: the bound's rate would be negative")
    return 1.0 - eta * lam / 2


def gd_bound(eta: float, lam: float, steps: int) -> np.ndarray:
    """``(1 - eta lambda_min / 2)^k`` for k = 0..steps: the bound on ``L(k) / L(0)``."""
    steps = validate.integer(steps, "steps", 0, MAX_STEPS)
    return gd_rate(eta, lam) ** np.arange(steps + 1)


def largest_step(eigenvalues: torch.Tensor) -> torch.Tensor:
    """``2 / (lambda_max + lambda_min)`` of each spectrum (ascending eigenvalues on the last axis): the
    largest step at which gradient descent on the linearised dynamics ``r <- (I - eta H) r`` contracts
    every eigendirection at least as fast as the slowest (the step ``step_size_ok`` grants); ``inf`` for
    the zero matrix (a DAG whose output no path reaches), where no step moves anything."""
    ev = validate.real_tensor(eigenvalues, "eigenvalues", layout="(ascending eigenvalues on the last axis)")
    if ev.ndim == 0:
        raise ValueError("eigenvalues must have at least one axis (the spectrum), got a scalar")
    ev = ev.to(torch.float64)
    total = ev[..., -1] + ev[..., 0]
    zero = (ev[..., -1] == 0) & (ev[..., 0] == 0)
    if not bool(((total > 0) | zero).all()):
        raise ValueError(f"largest_step needs lambda_max + lambda_min > 0 (a Gram matrix that is positive "
                         f"semi-definite and not negative), got {float(total.min()):g}")
    return 2.0 / total


def step_size_ok(eta: float, H: torch.Tensor, lam: float) -> bool:
    """Sufficient condition for the bound under the linearised dynamics with Gram ``H``:
    ``eta <= largest_step(H) = 2 / (lambda_max(H) + lambda_min(H))`` and ``lambda_min(H) >= lam``."""
    validate.real(eta, "eta", low=0, low_open=True)
    validate.real(lam, "lam")
    ev = torch.linalg.eigvalsh(_gram_matrix(H).to(torch.float64))
    return bool(eta <= float(largest_step(ev)) and float(ev[0]) >= lam * (1 - 1e-9))


def _gram_matrix(H) -> torch.Tensor:
    """H as a finite, real, square 2-D tensor (numpy accepted)."""
    H = validate.real_tensor(H, "H", ndim=2, layout="(n, n)")
    if H.shape[0] != H.shape[1]:
        raise ValueError(f"H must be a square (n, n) matrix, got shape {tuple(H.shape)}")
    return H


def linearised_loss(H: torch.Tensor, r0: torch.Tensor, eta: float, steps: int) -> np.ndarray:
    """``||(I - eta H)^k r0||^2 / ||r0||^2`` for k = 0..steps: GD on the squared loss of the kernel
    model with Gram ``H`` (the NTK-linearised network), from the eigendecomposition of H."""
    H = _gram_matrix(H)
    r0 = validate.real_tensor(r0, "r0")
    if r0.numel() != H.shape[0]:
        raise ValueError(f"r0 must hold one residual per row of H ({H.shape[0]}), got {r0.numel()}")
    if not bool(r0.any()):
        raise ValueError("r0 is all zeros: the loss ratio ||r(k)||^2 / ||r0||^2 is undefined (the loss starts at 0)")
    validate.real(eta, "eta")
    validate.integer(steps, "steps", 0, MAX_STEPS)
    ev, U = torch.linalg.eigh(H.to(torch.float64))
    c2 = (U.T @ r0.to(torch.float64).reshape(-1)) ** 2
    k = torch.arange(steps + 1, dtype=torch.float64, device=ev.device)[:, None]
    return ((1 - eta * ev[None, :]) ** (2 * k) @ c2 / c2.sum()).cpu().numpy()


# ---------------------------------------------------------------------- the paper's bounds (Chen et al. 2022, Sec. 3.3)
def correlation_map(C: np.ndarray) -> np.ndarray:
    """Lemma 3.2 on correlations (ReLU, c_sigma = 2): a linear edge maps ``C_ij = K_ij / sqrt(K_ii K_jj)`` to
    ``f(C) = (2 C arcsin C + 2 sqrt(1 - C^2) + pi C) / (2 pi)`` and keeps the diagonal; C clipped to [-1, 1]."""
    C = np.clip(validate.real_tensor(C, "C").numpy().astype(np.float64), -1.0, 1.0)
    return (2 * C * np.arcsin(C) + 2 * np.sqrt(1 - C * C) + np.pi * C) / (2 * np.pi)


def lemma33_bound(G: torch.Tensor) -> np.ndarray:
    """Lemma 3.3 (Eq. 5): ``lambda_min(G) <= min_{i != j} lambda_min([[G_ii, G_ij], [G_ij, G_jj]])``; the
    right side, ``(G_ii + G_jj) / 2 - sqrt((G_ii - G_jj)^2 / 4 + G_ij^2)`` minimised over pairs, for each
    symmetric matrix of a (..., n, n) batch with n >= 2: shape ``G.shape[:-2]``."""
    G = validate.real_tensor(G, "G")
    if G.ndim < 2 or G.shape[-1] != G.shape[-2] or G.shape[-1] < 2:
        raise ValueError(f"G must be a batch of square matrices of size n >= 2, got shape {tuple(G.shape)}")
    G = G.to(torch.float64)
    d = torch.diagonal(G, dim1=-2, dim2=-1)
    a, b = d[..., :, None], d[..., None, :]
    lam = (a + b) / 2 - torch.sqrt((a - b) ** 2 / 4 + G * G)
    off = ~torch.eye(G.shape[-1], dtype=torch.bool, device=G.device)
    return lam[..., off].min(-1).values.cpu().numpy()


def eq12_value(counts: np.ndarray, C: np.ndarray) -> np.ndarray:
    """``P - sum_p f^{d_p}(C)`` of Eq. 12 for DAGs given by their path-depth counts ``counts`` (B, D+1)
    (entry k: number of paths with k linear edges; P = the row sum), at correlations C (any shape):
    shape (B, *C.shape). ``f^0`` is the identity, ``f^k`` the k-fold ``correlation_map``."""
    counts = np.atleast_2d(np.asarray(counts, dtype=np.float64))
    powers = [np.asarray(C, dtype=np.float64)]
    for _ in range(counts.shape[1] - 1):
        powers.append(correlation_map(powers[-1]))
    F = np.stack(powers)                                             # (D+1, *C.shape)
    P = counts.sum(1).reshape((-1,) + (1,) * (F.ndim - 1))
    return P - np.tensordot(counts, F, axes=1)


def depth_counts(dags: Sequence[DAGLike]) -> np.ndarray:
    """(B, D+1) path-depth counts as floats: entry k = number of paths of the DAG with k linear edges
    (``path_depth_counts``), D the largest depth of any path of any of them (D = 0 when none has one)."""
    rows = [path_depth_counts(d) for d in dags]
    out = np.zeros((len(rows), max(len(r) for r in rows)))
    for i, r in enumerate(rows):
        out[i, :len(r)] = r.astype(np.float64)
    nonzero = np.flatnonzero(out.any(0))
    return out[:, :max(1, nonzero[-1] + 1 if nonzero.size else 1)]


def eq12_bound(dag: DAGLike, X: torch.Tensor) -> float:
    """Eq. 12 of Chen et al. (2022) for one DAG; see ``eq12_bound_many``."""
    return float(eq12_bound_many([dag], X)[0])


def eq12_bound_many(dags: Sequence[DAGLike], X: torch.Tensor) -> np.ndarray:
    """Eq. 12 of Chen et al. (2022): ``lambda_min(K^(H)) <= min_{i != j} (P - sum_{p=1..P} f^{d_p}(K_ij^(0)))``,
    the right side for each DAG, (B,) float64 (0 for a DAG without a path).

    P is the number of input-to-output paths, d_p the number of linear edges on path p, f the
    ``correlation_map`` and K^(0) the stem kernel (``kernels.stem_kernel``), which Eq. 12 assumes has unit
    diagonal (Remark 3.4; ``kernels.unit_diagonal`` scales X so). f^d is applied to every off-diagonal
    entry of K^(0); the paper's derivation is Lemma 3.3 applied to its per-node recursion, whose diagonal
    is P."""
    dags = validate.sequence(dags, "dags", (str, DAG))
    K0 = stem_kernel(X, device="cpu").numpy()
    if K0.shape[0] < 2:
        raise ValueError(f"Eq. 12 needs at least two inputs (pairs i != j), got {K0.shape[0]}")
    if not np.allclose(np.diag(K0), 1.0, rtol=0, atol=1e-9):
        raise ValueError("X: Eq. 12 assumes K_ii^(0) = 1 (rows of squared norm d_in); scale X with "
                         "kernels.unit_diagonal(X)")
    if not dags:
        raise ValueError("dags is empty")
    counts, which = np.unique(depth_counts(dags), axis=0, return_inverse=True)
    C = K0[np.triu_indices(K0.shape[0], 1)]
    return eq12_value(counts, C).min(-1)[which.reshape(-1)]


__all__ = [
    "MAX_PATHS", "path_depth_counts", "n_paths", "paths", "path_depths", "effective_depth_width", "gram", "lambda_min",
    "lambda_min_many", "least_eigenvalues", "gd_rate", "gd_bound", "largest_step", "step_size_ok", "linearised_loss",
    "correlation_map", "lemma33_bound", "eq12_value", "depth_counts", "eq12_bound_many", "gram_many",
]
