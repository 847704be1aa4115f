"""The analysed model of PR-DARTS (Zhou et al. 2020, Eqs. 3-6) on a dense toy cell: lambda_PR, the Gram
matrix by weight block and gradient descent, for the checks of Theorems 1 and 4.

A *toy cell* has nodes ``X^(0..h-1)``; a stem node is ``conv(W; x)`` of the input, every other node is

    X^(l) = sum_{s<l, s->l an edge} alpha^(l)_{s,skip} X^(s) + alpha^(l)_{s,conv} conv(W^(l)_s; X^(s))

(the zero operation contributes nothing), with ``conv(W; z) = sigma(W z) / sqrt(m)`` the paper's conv at
kernel size 1 and one spatial position (a dense layer, NTK scaling tau = 1/sqrt(m)), weights i.i.d.
N(0, 1) (Assumption 2) and ``sigma = softplus`` (analytic, not a polynomial: Assumption 1; ReLU is outside
it). The output is ``u = sum_s <w_s, X^(s)>`` over all nodes (``readout="all"``, the paper's model) or the
last node only (``readout="last"``, Chen et al.'s model); the loss ``F = 1/(2n) sum_i (u_i - y_i)^2`` is
minimised by full-batch gradient descent on every weight (Eq. 6).

Theorem 1's architecture factor (the paper's lambda up to the constant 3 c_sigma lambda_min(K) / 4):

    lambda_PR = sum_{sinks l} sum_{s<l} (alpha^(l)_{s,conv})^2 prod_{t -> s} (alpha^(s)_{t,skip})^2 ,

where the product runs over the in-edges of node s as printed (``reading="in_edges"``) or over the chain
0 -> 1 -> ... -> s of the path the authors describe (``reading="chain"``); it is 1 for a stem node.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from scipy.special import softmax

from convlib import dag as _dag
from convlib.dag import DAGLike
from convlib.mlp import layer_gram
from convlib.seeds import derive

ZERO, SKIP, CONV = range(3)
ACTIVATIONS = {"softplus": F.softplus, "relu": F.relu}
READINGS = ("in_edges", "chain")


@dataclass(frozen=True)
class ToyCell:
    """``alpha[l, s]`` = (zero, skip, conv) weights of edge ``s -> l``; ``edges[l, s]`` says the edge exists.
    Nodes without in-edges are stems (fed by a conv of the input)."""

    alpha: np.ndarray
    edges: np.ndarray

    def __post_init__(self):
        h = self.alpha.shape[0]
        if self.alpha.shape != (h, h, 3) or self.edges.shape != (h, h):
            raise ValueError(f"alpha must be (h, h, 3) and edges (h, h), got {self.alpha.shape} and {self.edges.shape}")
        if np.any(np.triu(self.edges)):
            raise ValueError("edges must go from an earlier node to a later one (edges[l, s] with s < l)")

    @property
    def h(self) -> int:
        return self.alpha.shape[0]

    def stems(self) -> list[int]:
        return [l for l in range(self.h) if not self.edges[l].any()]

    def sinks(self) -> list[int]:
        return [s for s in range(self.h) if not self.edges[:, s].any()]

    def in_edges(self, l: int) -> list[int]:
        return [s for s in range(l) if self.edges[l, s]]


def dense_cell(alpha_edges: np.ndarray) -> ToyCell:
    """The dense cell of h nodes (every s < l an edge) from per-edge weights ``(h(h-1)/2, 3)``, edges in
    the order (s -> l) for l = 1..h-1, s = 0..l-1 (the MLP string order)."""
    alpha_edges = np.asarray(alpha_edges, dtype=float)
    e = alpha_edges.shape[0]
    h = int(round((1 + np.sqrt(1 + 8 * e)) / 2))
    if alpha_edges.shape != (h * (h - 1) // 2, 3):
        raise ValueError(f"alpha_edges must be (h(h-1)/2, 3) for some h, got {alpha_edges.shape}")
    alpha = np.zeros((h, h, 3))
    rows, cols = np.tril_indices(h, -1)  # row-major: l = 1..h-1, s = 0..l-1
    alpha[rows, cols] = alpha_edges
    return ToyCell(alpha, np.tril(np.ones((h, h), bool), -1))


def cell_from_dag(dag: DAGLike) -> ToyCell:
    """Binary weights from a DAG of either string form, by operation kind (zero / skip / linear ->
    zero / skip / conv; on NAS-Bench-201 ``avg_pool_3x3`` is skip-kind, as in ``convlib.dag.KIND``)."""
    d = _dag.parse(dag)
    onehot = np.eye(3)[[_dag.KINDS.index(d.kind(s, t)) for t in range(1, d.n_nodes + 1) for s in range(t)]]
    return dense_cell(onehot)


def two_branch(cell: ToyCell) -> ToyCell:
    """Theorem 4's shallow cell B: the nodes of ``cell`` split into two halves, each a dense branch that
    starts from the input; the edges inside each half keep their weights, the cross edges are removed."""
    h = cell.h
    if h % 2:
        raise ValueError(f"two_branch needs an even number of nodes, got h={h}")
    half = np.arange(h) < h // 2
    keep = cell.edges & (half[:, None] == half[None, :])
    return ToyCell(np.where(keep[..., None], cell.alpha, 0.0), keep)


def random_alphas(h: int, n: int, scale: float = 2.0, seed: int = 0) -> np.ndarray:
    """``n`` draws of per-edge weights ``(n, h(h-1)/2, 3)``: softmax of N(0, scale^2) logits (DARTS's alpha)."""
    return softmax(np.random.default_rng(seed).normal(0.0, scale, (n, h * (h - 1) // 2, 3)), axis=-1)


def lambda_pr(cell: ToyCell, reading: str = "in_edges") -> float:
    """Theorem 1's architecture factor (module docstring); ``reading`` picks how the skip product runs."""
    if reading not in READINGS:
        raise ValueError(f"reading must be one of {READINGS}, got {reading!r}")
    a = cell.alpha
    total = 0.0
    for l in cell.sinks():
        for s in cell.in_edges(l):
            if reading == "in_edges":
                prod = np.prod([a[s, t, SKIP] ** 2 for t in cell.in_edges(s)])
            else:
                prod, node = 1.0, s
                while node > 0 and cell.edges[node, node - 1]:
                    prod *= a[node, node - 1, SKIP] ** 2
                    node -= 1
            total += a[l, s, CONV] ** 2 * prod
    return float(total)


class ToyNet(nn.Module):
    """B independent finite-width networks of the analysed model (module docstring), one per ``ToyCell``,
    evaluated together (float64); the cells must share their edges. Net b's weights are drawn from
    ``derive(seed, "toy.net", b) = seed + b``, so it equals ``ToyNet([cells[b]], seed=seed + b)``."""

    def __init__(self, cells: ToyCell | Sequence[ToyCell], d_in: int, width: int, activation: str = "softplus",
                 readout: str = "all", seed: int = 0):
        super().__init__()
        cells = [cells] if isinstance(cells, ToyCell) else list(cells)
        if not cells or any(not np.array_equal(c.edges, cells[0].edges) for c in cells):
            raise ValueError("ToyNet needs one or more cells with the same edges")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {tuple(ACTIVATIONS)}, got {activation!r}")
        if readout not in ("all", "last"):
            raise ValueError(f"readout must be 'all' or 'last', got {readout!r}")
        self.cell, self.width, self.sigma = cells[0], width, ACTIVATIONS[activation]
        self.alpha = torch.tensor(np.stack([c.alpha for c in cells]), dtype=torch.float64)  # (B, h, h, 3)
        cell = self.cell
        self.readout_nodes = list(range(cell.h)) if readout == "all" else [cell.h - 1]
        shapes = ({f"stem{l}": (width, d_in) for l in cell.stems()}
                  | {f"{s}_{l}": (width, width) for l in range(cell.h) for s in cell.in_edges(l)}
                  | {f"out{s}": (width,) for s in self.readout_nodes})
        draws = []
        for b in range(len(cells)):
            g = torch.Generator().manual_seed(derive(seed, "toy.net", b))
            draws.append({k: torch.randn(*shape, generator=g, dtype=torch.float64) for k, shape in shapes.items()})
        self.w = nn.ParameterDict({k: nn.Parameter(torch.stack([d[k] for d in draws])) for k in shapes})

    def nodes(self, x: torch.Tensor, record: list | None = None) -> list[torch.Tensor]:
        """Node features ``X^(0..h-1)``, each (B, n, m); ``record`` collects (name, input Z, pre-activation
        P) of every weighted layer."""
        cell, scale = self.cell, self.width ** -0.5
        stems = set(cell.stems())
        a = self.alpha[..., None, None]  # (B, h, h, 3, 1, 1)
        nodes: list[torch.Tensor] = []

        def conv(name: str, z: torch.Tensor) -> torch.Tensor:
            p = torch.matmul(z, self.w[name].mT)
            if record is not None:
                record.append((name, z, p))
            return self.sigma(p) * scale

        for l in range(cell.h):
            if l in stems:
                nodes.append(conv(f"stem{l}", x))
                continue
            nodes.append(sum(a[:, l, s, SKIP] * nodes[s] + a[:, l, s, CONV] * conv(f"{s}_{l}", nodes[s])
                             for s in cell.in_edges(l)))
        return nodes

    def readout(self, nodes: list[torch.Tensor]) -> torch.Tensor:
        """``u = sum_s <w_s, X^(s)>`` over the read-out nodes, shape (B, n)."""
        return sum(torch.einsum("bnm,bm->bn", nodes[s], self.w[f"out{s}"]) for s in self.readout_nodes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.readout(self.nodes(x))


def gram_blocks(net: ToyNet, X: torch.Tensor) -> dict[str, torch.Tensor]:
    """The Gram matrix G = J J^T of every net, split by weight matrix: ``{name: (B, n, n)}``.

    A layer P = Z W^T feeding ``u`` gives ``layer_gram(Z, Delta)`` = (Z Z^T) * (Delta Delta^T), Delta the
    rows d u_i / d P_i; samples and nets do not interact, so one backward pass of sum(u) gives every
    delta_i. A readout vector w_s is such a layer with delta = 1: X^(s) X^(s)^T."""
    record: list = []
    nodes = net.nodes(X.to(torch.float64), record)
    deltas = torch.autograd.grad(net.readout(nodes).sum(), [p for _, _, p in record])
    blocks = {name: layer_gram(z.detach(), d) for (name, z, _), d in zip(record, deltas)}
    blocks.update({f"out{s}": layer_gram(nodes[s].detach(), torch.ones_like(nodes[s][..., :1]))
                   for s in net.readout_nodes})
    return blocks


def last_block_names(cell: ToyCell) -> list[str]:
    """Names of the conv weights on edges into a sink node: the Gram blocks Theorem 1's proof keeps."""
    return [f"{s}_{l}" for l in cell.sinks() for s in cell.in_edges(l)]


def gram_eigs(net: ToyNet, X: torch.Tensor) -> np.ndarray:
    """(B, 2): ``lambda_min(G_last)``, the kept blocks' sum, and ``lambda_min(G)``, the full Gram matrix."""
    blocks = gram_blocks(net, X)
    full = sum(blocks.values())
    names = last_block_names(net.cell)
    last = sum(blocks[k] for k in names) if names else torch.zeros_like(full)
    return torch.stack([torch.linalg.eigvalsh(last)[..., 0], torch.linalg.eigvalsh(full)[..., 0]], -1).numpy()


def gram_eigs_many(cells: Sequence[ToyCell], X: torch.Tensor, width: int, seed: int = 0,
                   budget_bytes: float = 2e8, **kwargs) -> np.ndarray:
    """``gram_eigs`` of ``ToyNet(cells, ...)`` computed in chunks of nets that fit ``budget_bytes`` of weights."""
    per_net = 8 * (width * X.shape[1] + len(cells[0].alpha.reshape(-1)) // 3 * width * width)
    size = max(1, int(budget_bytes // per_net))
    nets = (ToyNet(cells[i:i + size], X.shape[1], width, seed=derive(seed, "toy.net", i), **kwargs)
            for i in range(0, len(cells), size))
    return np.concatenate([gram_eigs(net, X) for net in nets])


def gd_losses(net: ToyNet, X: torch.Tensor, y: torch.Tensor, eta: float, steps: int) -> np.ndarray:
    """Full-batch gradient descent of every net on F = 1/(2n) sum (u - y)^2; (B, steps + 1) losses, before
    each step and after the last (the nets are independent, so one step on the sum steps each)."""
    X, y = X.to(torch.float64), y.to(torch.float64)
    params = list(net.parameters())
    losses = np.empty((len(net.alpha), steps + 1))
    for k in range(steps + 1):
        loss = 0.5 * ((net(X) - y) ** 2).mean(-1)
        losses[:, k] = loss.detach().numpy()
        if k == steps:
            break
        grads = torch.autograd.grad(loss.sum(), params)
        with torch.no_grad():
            for p, g in zip(params, grads):
                p -= eta * g
    return losses


def decay_rate(losses: np.ndarray) -> np.ndarray:
    """Per-step decay rate of the late phase, -(log F_K - log F_{K/2}) / (K/2), along the last axis."""
    k = losses.shape[-1] - 1
    return -(np.log(losses[..., -1]) - np.log(losses[..., k // 2])) / (k - k // 2)


def unit_rows(X: torch.Tensor) -> torch.Tensor:
    """Rows scaled to unit norm (Assumption 3: ||X_i|| = 1), float64."""
    X = X.to(torch.float64)
    return X / X.norm(dim=1, keepdim=True)


__all__ = [
    "CONV", "READINGS", "ToyCell", "dense_cell", "cell_from_dag", "two_branch", "random_alphas", "lambda_pr", "ToyNet",
    "gram_blocks", "gram_eigs", "gram_eigs_many", "gd_losses", "decay_rate", "unit_rows",
]
