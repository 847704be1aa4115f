"""Infinite-width kernels of DAG networks: exact NNGP (with first moments), the paper's recursion, NTK.

The network (DESIGN.md): node 0 is the stem ``ReLU(W0 x)``; node t sums its in-edge outputs; a
linear edge is ``ReLU(W h_s)`` with Kaiming fan-in weights ``W_ij ~ N(0, 2 / fan_in)`` and zero
bias; a skip edge is ``h_s``; the readout is linear on node N. With width m, every moment below is
a limit as m grows of an average over the m units of a node:

* first moment  ``M_t(x)      = lim (1/m) sum_k h_{t,k}(x)``
* second moment ``K_{r,t}(x,y) = lim (1/m) sum_k h_{r,k}(x) h_{t,k}(y)``   (every pair of nodes)
* tangent       ``T_{r,t}(x,y) = lim (1/m) sum_k <dh_{r,k}(x)/dθ, dh_{t,k}(y)/dθ>``

The NNGP of the network is ``K_{N,N}``. ReLU outputs have mean ``sqrt(q / 2 pi)`` (q the
pre-activation variance), so the outputs of two edges that meet in a sum are correlated through
their means even when their weights are independent: the exact propagation keeps M and every
``K_{r,t}``. The rules, for a node t with skip in-edges S and linear in-edges L (each linear edge
with its own independent weights, pre-activation covariance ``2 K_{s,s}``):

    M_t     = sum_{s in S} M_s + sum_{s in L} mu_s,            mu_s(x) = sqrt(K_ss(x,x) / pi)
    K_{r,t} = sum_{s in S} K_{r,s} + sum_{s in L} M_r(x) mu_s(y)                       (r < t)
    K_{t,t} = sum_{s,s' in S} K_{s,s'} + sum_{s in S, s' in L} [M_s mu_s'^T + mu_s' M_s^T]
              + sum_{s != s' in L} mu_s mu_s'^T + sum_{s in L} V(2 K_ss)

with the ReLU (arc-cosine, Cho and Saul 2009) maps of a pre-activation covariance Sigma,
``V(Sigma) = sqrt(S_xx S_yy) (sin th + (pi - th) cos th) / (2 pi)`` and
``Vdot(Sigma) = (pi - th) / (2 pi)``, ``cos th = S_xy / sqrt(S_xx S_yy)``. The stem has
pre-activation covariance ``Sigma_in = 2 x.y / d_in``.

The NTK is taken in the NTK parametrisation with the same forward distribution
(``h = ReLU(sqrt(2 / fan_in) W~ h_s)``, ``W~ ~ N(0, 1)``, readout ``f = v.h_N / sqrt(m)``,
``v ~ N(0, 1)``, every layer trained). Gradients have mean zero and distinct weight matrices are
independent, so cross terms between a linear edge and anything else vanish:

    T_{r,t} = sum_{s in S} T_{r,s},     T_{t,t} = sum_{s,s' in S} T_{s,s'} + sum_{s in L} Vdot(2 K_ss) 2 (K_ss + T_ss)
    T_{0,0} = Vdot(Sigma_in) Sigma_in,  NTK = K_{N,N} + T_{N,N}

``nngp_paper`` is the per-node recursion of Chen et al. (2022) with every cross term dropped:
``K_t = sum_{s in S} K_s + sum_{s in L} V(2 K_s)``, ``K_0 = V(Sigma_in)``.

Memory: the exact propagation holds every node pair's (n, n) moments, about
``8 n^2 (3 (N+1)^2 + 24)`` bytes a DAG (NTK ``8 n^2 (4 (N+1)^2 + 32)``, the paper's recursion
``8 n^2 (11 (N+1) + 8)``: measured peaks with a margin). A DAG whose estimate exceeds
``$CONVLIB_MAX_GB`` gigabytes (default 4) is refused with a ``ValueError`` before anything is
allocated; many DAGs are computed in chunks within a smaller budget. Inputs must keep
``2 |x|^2 / d_in`` far below 1e150 (standardised data give about 1): a kernel that overflows to
NaN/inf is a ``ValueError``.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from . import validate
from .dag import DAG, DAGLike, parse
from .device import Device, device_of


# ---------------------------------------------------------------------- ReLU kernel rules
def _angle(sigma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(th, sqrt(S_xx S_yy - S_xy^2), S_xx S_yy)``; ``th = atan2(sqrt(det), S_xy)`` is exact (0) on
    the diagonal, where ``arccos`` of a rounded cosine would be off by ~1e-8."""
    diag = torch.diagonal(sigma, dim1=-2, dim2=-1).clamp_min(0)
    prod = diag[..., :, None] * diag[..., None, :]
    root_det = torch.sqrt((prod - sigma * sigma).clamp_min(0))
    return torch.atan2(root_det, sigma), root_det, prod


def relu_second_moment(sigma: torch.Tensor) -> torch.Tensor:
    """``E[ReLU(u) ReLU(v)]`` for centred Gaussians with covariance ``sigma`` (arc-cosine, degree 1):
    ``sqrt(S_xx S_yy) (sin th + (pi - th) cos th) / (2 pi) = (sqrt(S_xx S_yy - S_xy^2) + (pi - th) S_xy) / (2 pi)``."""
    theta, root_det, _ = _angle(sigma)
    return (root_det + (math.pi - theta) * sigma) / (2 * math.pi)


def relu_derivative_moment(sigma: torch.Tensor) -> torch.Tensor:
    """``E[ReLU'(u) ReLU'(v)] = (pi - th) / (2 pi)`` (arc-cosine, degree 0); zero where a variance is zero."""
    theta, _, prod = _angle(sigma)
    return torch.where(prod > 0, (math.pi - theta) / (2 * math.pi), torch.zeros_like(theta))


def relu_mean(variance: torch.Tensor) -> torch.Tensor:
    """``E[ReLU(u)] = sqrt(q / (2 pi))`` for ``u ~ N(0, q)``."""
    return torch.sqrt(variance.clamp_min(0) / (2 * math.pi))


# ---------------------------------------------------------------------- state and propagation
@dataclass(frozen=True)
class Moments:
    """Moments of all nodes for B networks on n inputs: M (B, N+1, n), K and T (B, N+1, N+1, n, n)."""

    M: torch.Tensor
    K: torch.Tensor
    T: torch.Tensor | None


def _masks(dags: Sequence[DAG], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``lin[b, s, t]`` and ``skip[b, s, t]``: 1.0 where DAG b has that kind of edge ``s -> t``."""
    n = dags[0].n_nodes + 1
    lin = torch.zeros(len(dags), n, n, dtype=torch.float64)
    skip = torch.zeros_like(lin)
    for b, dag in enumerate(dags):
        for s, t, _ in dag.edges():
            (lin if dag.kind(s, t) == "linear" else skip)[b, s, t] = 1.0
    return lin.to(device), skip.to(device)


def _check_inputs(X: torch.Tensor) -> torch.Tensor:
    """X as a real tensor (a numpy array is converted): 2-D, not empty, finite."""
    return validate.real_tensor(X, "X", ndim=2, layout="(n inputs, d_in features)")


def _input_covariance(X: torch.Tensor, device: torch.device) -> torch.Tensor:
    X = _check_inputs(X).to(device=device, dtype=torch.float64)
    return 2.0 * X @ X.T / X.shape[1]


def propagate(dags: Sequence[DAG], X: torch.Tensor, *, tangent: bool = False, device: Device = "auto") -> Moments:
    """Exact moments of every node, node by node in topological order, batched over the DAGs."""
    dev = device_of(device)
    sigma_in = _input_covariance(X, dev)
    lin, skip = _masks(dags, dev)
    B, N1, n = len(dags), dags[0].n_nodes + 1, sigma_in.shape[0]
    M = torch.zeros(B, N1, n, dtype=torch.float64, device=dev)
    K = torch.zeros(B, N1, N1, n, n, dtype=torch.float64, device=dev)
    T = torch.zeros_like(K) if tangent else None
    M[:, 0] = relu_mean(torch.diagonal(sigma_in))
    K[:, 0, 0] = relu_second_moment(sigma_in)
    if tangent:
        T[:, 0, 0] = relu_derivative_moment(sigma_in) * sigma_in
    # what a linear edge out of node s needs, computed once when node s is complete
    mu = torch.zeros(B, N1, n, dtype=torch.float64, device=dev)      # mean of ReLU(W h_s)
    V = torch.zeros(B, N1, n, n, dtype=torch.float64, device=dev)    # its second moment
    G = torch.zeros_like(V) if tangent else None                     # its tangent kernel
    for t in range(N1):
        if t > 0:
            L, S = lin[:, :t, t], skip[:, :t, t]                     # (B, t) edge masks into t
            skips = bool(S.any())  # without skip edges into t the O(t^2 n^2) sums below are exactly zero: skip them
            lin_mean = torch.einsum("bs,bsi->bi", L, mu[:, :t])
            skip_mean = torch.einsum("bs,bsi->bi", S, M[:, :t])
            M[:, t] = skip_mean + lin_mean
            # cross moments with earlier nodes r: skip edges carry K_{r,s}; linear edges are independent of h_r
            cross = M[:, :t, :, None] * lin_mean[:, None, None, :]
            cross = torch.einsum("bs,brsij->brij", S, K[:, :t, :t]) + cross if skips else cross
            K[:, :t, t] = cross
            K[:, t, :t] = cross.transpose(-1, -2)
            skip_lin = skip_mean[:, :, None] * lin_mean[:, None, :]
            lin_pairs = (lin_mean[:, :, None] * lin_mean[:, None, :]
                         - torch.einsum("bs,bsi,bsj->bij", L, mu[:, :t], mu[:, :t]))
            pairs = torch.einsum("bs,bsrij,br->bij", S, K[:, :t, :t], S) + skip_lin if skips else skip_lin
            K[:, t, t] = pairs + skip_lin.transpose(-1, -2) + lin_pairs + torch.einsum("bs,bsij->bij", L, V[:, :t])
            if tangent:
                T[:, t, t] = torch.einsum("bs,bsij->bij", L, G[:, :t])
                if skips:
                    tcross = torch.einsum("bs,brsij->brij", S, T[:, :t, :t])
                    T[:, :t, t] = tcross
                    T[:, t, :t] = tcross.transpose(-1, -2)
                    T[:, t, t] = torch.einsum("bs,bsrij,br->bij", S, T[:, :t, :t], S) + T[:, t, t]
        sigma = 2 * K[:, t, t]                                        # pre-activation covariance of an edge out of t
        mu[:, t] = relu_mean(torch.diagonal(sigma, dim1=-2, dim2=-1))
        V[:, t] = relu_second_moment(sigma)
        if tangent:
            G[:, t] = relu_derivative_moment(sigma) * (sigma + 2 * T[:, t, t])
    return Moments(M, K, T)


def propagate_paper(dags: Sequence[DAG], X: torch.Tensor, device: Device = "auto") -> torch.Tensor:
    """Per-node kernels of the paper's recursion (cross terms dropped): (B, N+1, n, n)."""
    dev = device_of(device)
    sigma_in = _input_covariance(X, dev)
    lin, skip = _masks(dags, dev)
    B, N1, n = len(dags), dags[0].n_nodes + 1, sigma_in.shape[0]
    K = torch.zeros(B, N1, n, n, dtype=torch.float64, device=dev)
    K[:, 0] = relu_second_moment(sigma_in)
    for t in range(1, N1):
        K[:, t] = (torch.einsum("bs,bsij->bij", skip[:, :t, t], K[:, :t])
                   + torch.einsum("bs,bsij->bij", lin[:, :t, t], relu_second_moment(2 * K[:, :t])))
    return K


# ---------------------------------------------------------------------- memory and range
def propagation_bytes(n_nodes: int, n: int, which: str) -> int:
    """Estimated peak bytes of one DAG's propagation of kernel ``which`` (a name of ``KERNELS``) on n
    inputs: ``8 n^2`` times the kernel's ``units(N+1)`` (measured peaks with a margin)."""
    n_nodes, n = validate.integer(n_nodes, "n_nodes", low=1), validate.integer(n, "n", low=1)
    if which not in KERNELS:
        raise ValueError(f"which must be one of {sorted(KERNELS)}, got {which!r}")
    return 8 * n * n * KERNELS[which].units(n_nodes + 1)


def check_memory(n_nodes: int, n: int, which: str) -> None:
    """A ``ValueError`` naming the size when one DAG's propagation would need more than ``validate.max_bytes()``."""
    validate.fits_memory(propagation_bytes(n_nodes, n, which), f"the {KERNELS[which].label} of a DAG with N={n_nodes} "
                         f"nodes after the stem on n={n} inputs", "use fewer inputs")


# ---------------------------------------------------------------------- public API
def _batches(dags: Sequence[DAGLike], n: int, which: str, budget_bytes: float = 4e8):
    """Parse and group DAGs by node count, in chunks whose estimated propagation fits ``budget_bytes``;
    a node count whose single DAG exceeds ``validate.max_bytes()`` is a ``ValueError``."""
    parsed = [parse(d) for d in validate.sequence(dags, "dags", (str, DAG))]
    if not parsed:
        raise ValueError("dags is empty")
    groups: dict[int, list[int]] = {}
    for i, d in enumerate(parsed):
        groups.setdefault(d.n_nodes, []).append(i)
    for n_nodes in groups:
        check_memory(n_nodes, n, which)
    for n_nodes, idx in groups.items():
        step = max(1, int(budget_bytes // propagation_bytes(n_nodes, n, which)))
        for start in range(0, len(idx), step):
            chunk = idx[start:start + step]
            yield chunk, [parsed[i] for i in chunk]


def gram_many(dags: Sequence[DAGLike], X: torch.Tensor, kernel: str = "exact", device: Device = "auto") -> torch.Tensor:
    """Output-node Gram matrices of kernel ``kernel`` (a name of ``KERNELS``) of many DAGs, (B, n, n)
    float64, in chunks that fit the memory budget."""
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {sorted(KERNELS)}, got {kernel!r}")
    X = _check_inputs(X)
    out = None
    for idx, chunk in _batches(dags, X.shape[0], kernel):
        G = KERNELS[kernel].output(chunk, X, device)
        if not torch.isfinite(G).all():
            scale = float((2 * X.double().pow(2).sum(1) / X.shape[1]).max())
            raise ValueError(f"the {KERNELS[kernel].label} overflowed to NaN/inf: the inputs are too large (largest "
                             f"2 |x|^2 / d_in = {scale:.3g}) for this DAG, which scales them by up to its number of "
                             "paths squared; the kernels expect standardised inputs, 2 |x|^2 / d_in of order 1 "
                             "(overflow starts near 1e150 over the number of paths squared)")
        if out is None:
            out = torch.empty(len(dags), *G.shape[1:], dtype=G.dtype, device=G.device)
        out[idx] = G
    return out


def nngp(dag: DAGLike, X: torch.Tensor, device: Device = "auto") -> torch.Tensor:
    """Exact NNGP Gram matrix ``K_{N,N}`` of the output node, (n, n) float64."""
    return nngp_many([dag], X, device)[0]


def nngp_many(dags: Sequence[DAGLike], X: torch.Tensor, device: Device = "auto") -> torch.Tensor:
    """Exact NNGP Gram matrices of many DAGs at once, (B, n, n) float64."""
    return gram_many(dags, X, "exact", device)


def nngp_paper(dag: DAGLike, X: torch.Tensor, device: Device = "auto") -> torch.Tensor:
    """The paper's per-node recursion at the output node (cross terms dropped), (n, n) float64."""
    return nngp_paper_many([dag], X, device)[0]


def nngp_paper_many(dags: Sequence[DAGLike], X: torch.Tensor, device: Device = "auto") -> torch.Tensor:
    return gram_many(dags, X, "paper", device)


def ntk(dag: DAGLike, X: torch.Tensor, device: Device = "auto") -> torch.Tensor:
    """NTK (NTK parametrisation, every layer and the readout trained), (n, n) float64."""
    return ntk_many([dag], X, device)[0]


def ntk_many(dags: Sequence[DAGLike], X: torch.Tensor, device: Device = "auto") -> torch.Tensor:
    return gram_many(dags, X, "ntk", device)


# ---------------------------------------------------------------------- the paper's K^(0) and Remark 3.3
def unit_diagonal(X: torch.Tensor) -> torch.Tensor:
    """Rows of X rescaled to squared norm ``d_in``, so the stem kernel has unit diagonal,
    ``K_{0,0}(x, x) = |x|^2 / d_in = 1`` (Chen et al. 2022, Remark 3.4: ``K_ii^(0) = 1``); float64."""
    X = _check_inputs(X).to(torch.float64)
    norms = torch.linalg.vector_norm(X, dim=1, keepdim=True)
    if (norms == 0).any():
        raise ValueError(f"X has {int((norms == 0).sum())} all-zero rows: they cannot be scaled to unit diagonal")
    return X * math.sqrt(X.shape[1]) / norms


def stem_kernel(X: torch.Tensor, device: Device = "auto") -> torch.Tensor:
    """Kernel of the stem, ``K_{0,0} = V(Sigma_in)``, ``Sigma_in = 2 x.y / d_in``: the paper's K^(0), the
    kernel every recursion starts from, (n, n) float64."""
    return relu_second_moment(_input_covariance(X, device_of(device)))


def skip_routes(dags: Sequence[DAG], device: Device = "auto") -> torch.Tensor:
    """``C[b, u, t]``: number of routes from node u to node t along skip edges only (``C[b, t, t] = 1``),
    ``C = I + A + A^2 + ...`` for the skip adjacency A (nilpotent), (B, N+1, N+1) float64."""
    _, skip = _masks(dags, device_of(device))
    C = power = torch.eye(skip.shape[-1], dtype=torch.float64, device=skip.device).expand_as(skip)
    for _ in range(skip.shape[-1] - 1):
        power = power @ skip
        C = C + power
    return C


def propagate_remark33(dags: Sequence[DAG], X: torch.Tensor, device: Device = "auto") -> torch.Tensor:
    """Per-node kernels of the exact rules with every first moment dropped (Chen et al. 2022, Remark 3.3),
    (B, N+1, n, n).

    Without means, the outputs of distinct linear edges and of the stem are uncorrelated, so with
    ``Z_0 = K_{0,0}`` and ``Z_u = sum_{s in L(u)} V(2 K_s)`` (what u's linear in-edges add) a node is
    ``sum_u C_{u,t} Z_u`` in signal and ``K_t = sum_u C_{u,t}^2 Z_u`` in kernel, C = ``skip_routes``.
    The paper's recursion is the same sum with ``C_{u,t}`` in place of ``C_{u,t}^2``."""
    dev = device_of(device)
    lin, _ = _masks(dags, dev)
    C2 = skip_routes(dags, dev) ** 2
    B, N1 = len(dags), dags[0].n_nodes + 1
    Z = torch.zeros(B, N1, X.shape[0], X.shape[0], dtype=torch.float64, device=dev)
    K = torch.zeros_like(Z)
    Z[:, 0] = stem_kernel(X, dev)
    for t in range(N1):
        if t > 0:
            Z[:, t] = torch.einsum("bs,bsij->bij", lin[:, :t, t], relu_second_moment(2 * K[:, :t]))
        K[:, t] = torch.einsum("bu,buij->bij", C2[:, :t + 1, t], Z[:, :t + 1])
    return K


def nngp_remark33(dag: DAGLike, X: torch.Tensor, device: Device = "auto") -> torch.Tensor:
    """The exact NNGP with every first moment dropped (Remark 3.3) at the output node, (n, n) float64."""
    return nngp_remark33_many([dag], X, device)[0]


def nngp_remark33_many(dags: Sequence[DAGLike], X: torch.Tensor, device: Device = "auto") -> torch.Tensor:
    """``nngp_remark33`` of many DAGs at once, (B, n, n) float64."""
    return gram_many(dags, X, "remark33", device)


# ---------------------------------------------------------------------- the kernels, by name
@dataclass(frozen=True)
class Kernel:
    """One kernel of the output node: its name, a label for text, the peak memory of one DAG's
    propagation in units of ``8 n^2`` bytes as a function of N+1 (measured, with a margin), and the rule
    that computes it for a batch of DAGs of one node count, (B, n, n)."""

    name: str
    label: str
    units: Callable[[int], int]
    output: Callable[[Sequence[DAG], torch.Tensor, Any], torch.Tensor]


def _exact_output(dags: Sequence[DAG], X: torch.Tensor, device: Device) -> torch.Tensor:
    return propagate(dags, X, device=device).K[:, -1, -1]


def _ntk_output(dags: Sequence[DAG], X: torch.Tensor, device: Device) -> torch.Tensor:
    m = propagate(dags, X, tangent=True, device=device)
    return m.K[:, -1, -1] + m.T[:, -1, -1]


KERNELS: dict[str, Kernel] = {k.name: k for k in (
    Kernel("exact", "exact NNGP", lambda N1: 3 * N1 ** 2 + 24, _exact_output),
    Kernel("paper", "paper's NNGP recursion", lambda N1: 11 * N1 + 8,
           lambda dags, X, device: propagate_paper(dags, X, device)[:, -1]),
    Kernel("ntk", "NTK", lambda N1: 4 * N1 ** 2 + 32, _ntk_output),
    Kernel("remark33", "exact NNGP without first moments (Remark 3.3)", lambda N1: 11 * N1 + 8,
           lambda dags, X, device: propagate_remark33(dags, X, device)[:, -1]),
)}
"""Every kernel of the package by name: ``theory.gram``, ``theory.lambda_min`` and ``score`` accept these names."""


__all__ = [
    "relu_second_moment", "relu_mean", "propagate", "propagation_bytes", "check_memory", "gram_many", "nngp",
    "nngp_many", "nngp_paper", "nngp_paper_many", "ntk", "ntk_many", "unit_diagonal", "stem_kernel", "skip_routes",
    "nngp_remark33", "nngp_remark33_many", "KERNELS",
]
