"""DARTS and PR-DARTS on the NAS-Bench-201 space (Liu et al. 2019; Zhou et al. 2020; Dong and Yang 2020).

The supernet is the benchmark's skeleton (``convlib.nas.network``: stem, three stages of ``N`` cells,
residual reduction blocks) whose cells hold all five operations on each of the six edges, mixed by one
set of architecture parameters shared by every cell:

* DARTS: ``node_t = sum_{s<t} sum_o softmax(alpha_{s->t})_o  o(node_s)``;
* PR-DARTS: ``node_t = sum_{s<t} sum_o g_{s->t,o} o(node_s)``, independent hard-concrete gates
  (Louizos et al. 2018): ``g = min(1, max(0, a + (b - a) sigmoid((ln u - ln(1-u) + beta) / tau)))``,
  ``u ~ U(0, 1)``, so that (Zhou et al. 2020, Theorem 3)

      P(g != 0) = sigmoid(beta - tau ln(-a/b)),    P(g = 1) = sigmoid(beta - tau ln((1-a)/(b-1))).

  The architecture loss adds ``lambda_1 L_skip + lambda_2 L_nonskip - lambda_3 L_path`` with
  (h = 4 nodes, zeta = 2/(h(h-1)), r = 5 operations, p = P(g != 0))

      L_skip    = zeta sum_edges p_skip,       L_nonskip = zeta/(r-1) sum_edges sum_{o != skip} p_o,
      L_path    = prod_{l=0}^{h-2} sum_{o in convs} p_{l->l+1, o}   (the full-depth chain 0-1-2-3).

Where the official code departs from the paper the paper is the default and the code's choice an option:
``tau_start`` (paper 10, code 1), ``gate_mode`` (paper ``"relaxed"``: the sampled gate values; code
``"top2"``: per edge the two largest samples switched on with value 1, straight-through, with op-dropout
0.4), ``hinge`` (paper 0; code 0.2: only a group mean above it is penalised) and ``path_reduce`` (paper
``"sum"`` over the conv ops of an edge, code ``"mean"``).

``search(..., device=...)`` runs on any device (``convlib.device``); every random draw comes from one CPU
generator, so a search's draws do not depend on the device it runs on.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .dag import NB201_OPS
from .device import Device, device_of
from .nas.network import EDGES, OPS, Network, cell_string

A, B = -0.1, 1.1  # hard-concrete stretch (Louizos et al. 2018; Zhou et al. 2020)
SKIP = NB201_OPS.index("skip_connect")
NONE = NB201_OPS.index("none")
CONVS = tuple(NB201_OPS.index(o) for o in ("nor_conv_1x1", "nor_conv_3x3"))
CHAIN = tuple(EDGES.index((l, l + 1)) for l in range(3))  # edges 0->1, 1->2, 2->3
METHODS = ("darts", "prdarts")
GATE_MODES = ("relaxed", "top2")
RULES = ("argmax", "top2")


# ---------------------------------------------------------------- hard-concrete gates (Theorem 3)
def prob_nonzero(beta: torch.Tensor, tau: float, a: float = A, b: float = B) -> torch.Tensor:
    """P(g != 0) = sigmoid(beta - tau ln(-a/b)) (Theorem 3)."""
    return torch.sigmoid(beta - tau * math.log(-a / b))


def prob_one(beta: torch.Tensor, tau: float, a: float = A, b: float = B) -> torch.Tensor:
    """P(g = 1) = sigmoid(beta - tau ln((1-a)/(b-1)))."""
    return torch.sigmoid(beta - tau * math.log((1 - a) / (b - 1)))


def hard_concrete(beta: torch.Tensor, tau: float, a: float = A, b: float = B,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """One gate sample per entry of ``beta``: clamp(a + (b-a) sigmoid((ln u - ln(1-u) + beta)/tau), 0, 1)."""
    if not (a < 0 and b > 1 and tau > 0):
        raise ValueError(f"need a < 0 < 1 < b and tau > 0, got a={a}, b={b}, tau={tau}")
    u = torch.rand(beta.shape, generator=generator, dtype=beta.dtype).to(beta.device).clamp(1e-12, 1 - 1e-12)
    gbar = torch.sigmoid((torch.log(u) - torch.log1p(-u) + beta) / tau)
    return (a + (b - a) * gbar).clamp(0.0, 1.0)


def top2_straight_through(gates: torch.Tensor, dropout: float = 0.4,
                          generator: torch.Generator | None = None) -> torch.Tensor:
    """The official code's forward gates: per edge (row) the two largest samples set to 1, the rest 0,
    with the gradient of the sampled values (hard - g.detach() + g); before ranking, each op is pushed
    out of the ranking with probability ``dropout``; ties are broken at random."""
    noise = torch.rand(gates.shape, generator=generator, dtype=gates.dtype).to(gates.device)
    drop = (torch.rand(gates.shape, generator=generator) < dropout).to(gates.device)
    score = gates.detach() + 1e-6 * noise - 2.0 * drop
    hard = torch.zeros_like(gates).scatter_(-1, score.topk(2, dim=-1).indices, 1.0)
    return hard - gates.detach() + gates


def tau_at(epoch: int, epochs: int, tau_start: float = 10.0, tau_end: float = 0.1) -> float:
    """Temperature of ``epoch`` (0-based), linear from ``tau_start`` to ``tau_end`` over ``epochs``."""
    return tau_start if epochs <= 1 else tau_start + (tau_end - tau_start) * epoch / (epochs - 1)


# ---------------------------------------------------------------- PR-DARTS regularisers (Sec. 4)
def penalties(beta: torch.Tensor, tau: float, a: float = A, b: float = B, hinge: float = 0.0,
              path_reduce: str = "sum") -> dict[str, torch.Tensor]:
    """``{"skip", "nonskip", "path"}`` of the module docstring for ``beta`` of shape (6, 5) (NB201 cell:
    h = 4 nodes, so zeta = 1/6); ``hinge`` > 0 penalises only the part of a group above it (code)."""
    if beta.shape != (len(EDGES), len(NB201_OPS)):
        raise ValueError(f"beta must be (6, 5) (edges x NB201 ops), got {tuple(beta.shape)}")
    if path_reduce not in ("sum", "mean"):
        raise ValueError(f"path_reduce must be 'sum' (paper) or 'mean' (code), got {path_reduce!r}")
    h = 4
    zeta = 2.0 / (h * (h - 1))
    p = prob_nonzero(beta, tau, a, b)
    others = [o for o in range(len(NB201_OPS)) if o != SKIP]
    skip = zeta * p[:, SKIP].sum()
    nonskip = zeta / (len(NB201_OPS) - 1) * p[:, others].sum()
    if hinge > 0:
        skip, nonskip = F.relu(skip - hinge), F.relu(nonskip - hinge)
    conv = p[list(CHAIN)][:, list(CONVS)]
    path = (conv.sum(-1) if path_reduce == "sum" else conv.mean(-1)).prod()
    return {"skip": skip, "nonskip": nonskip, "path": path}


def regulariser_terms(beta: torch.Tensor, tau: float, lambdas: Sequence[float] = (0.01, 0.005, 0.005),
                      **kwargs) -> dict[str, torch.Tensor]:
    """The regulariser's two parts: ``"l0"`` = lambda_1 L_skip + lambda_2 L_nonskip (the gates' sparsity
    terms) and ``"path"`` = -lambda_3 L_path (the path regulariser); paper's lambdas by default."""
    pen = penalties(beta, tau, **kwargs)
    return {"l0": lambdas[0] * pen["skip"] + lambdas[1] * pen["nonskip"], "path": -lambdas[2] * pen["path"]}


def regulariser(beta: torch.Tensor, tau: float, lambdas: Sequence[float] = (0.01, 0.005, 0.005),
                **kwargs) -> torch.Tensor:
    """lambda_1 L_skip + lambda_2 L_nonskip - lambda_3 L_path (paper's lambdas by default)."""
    terms = regulariser_terms(beta, tau, lambdas, **kwargs)
    return terms["l0"] + terms["path"]


# ---------------------------------------------------------------- selection
def pick(scores: np.ndarray | torch.Tensor, rule: str = "argmax") -> str:
    """The NAS-Bench-201 arch string chosen from per-(edge, op) scores (6, 5).

    ``argmax``: each edge keeps its best op, ``none`` included (the benchmark's DARTS protocol).
    ``top2``: each node keeps its two best incoming (edge, op) pairs among non-zero ops, at most one op
    an edge (the DARTS/PR-DARTS rule); its other in-edges become ``none`` (node 1 has one in-edge)."""
    s = np.asarray(torch.as_tensor(scores).detach().cpu(), dtype=float)
    if s.shape != (len(EDGES), len(NB201_OPS)):
        raise ValueError(f"scores must be (6, 5) (edges x NB201 ops), got {s.shape}")
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    if rule == "argmax":
        chosen = [NB201_OPS[int(np.argmax(row))] for row in s]
    else:
        live = s.copy()
        live[:, NONE] = -np.inf
        chosen = ["none"] * len(EDGES)
        for t in (1, 2, 3):
            ins = [k for k, (_, tt) in enumerate(EDGES) if tt == t]
            for k in sorted(ins, key=lambda k: -live[k].max())[:2]:
                chosen[k] = NB201_OPS[int(np.argmax(live[k]))]
    return cell_string(chosen)


# ---------------------------------------------------------------- supernet
class SearchCell(nn.Module):
    """A NAS-Bench-201 cell with every op on every edge: node_t = sum_{s<t} sum_o w[s->t, o] o(node_s).
    Ops whose weight is exactly 0 in the forward pass are not evaluated (their output would be 0)."""

    def __init__(self, C: int):
        super().__init__()
        self.edges = nn.ModuleList(
            nn.ModuleList(OPS[o](C, C, 1, affine=False, track_running_stats=False) for o in NB201_OPS)
            for _ in EDGES)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        live = (weights.detach() != 0).tolist()
        nodes = [x]
        for t in (1, 2, 3):
            acc = 0
            for k, (s, tt) in enumerate(EDGES):
                if tt == t:
                    for j, op in enumerate(self.edges[k]):
                        if live[k][j] and j != NONE:
                            acc = acc + weights[k, j] * op(nodes[s])
            nodes.append(acc if torch.is_tensor(acc) else torch.zeros_like(x))
        return nodes[3]


class SuperNet(Network):
    """The benchmark's skeleton (``C`` channels, ``N`` cells a stage; ``convlib.nas.network.Network``) with
    ``SearchCell``s sharing one architecture tensor ``arch`` (6 edges x 5 ops): DARTS's alpha or
    PR-DARTS's beta; ``forward(x, weights)`` mixes every cell's operations with ``weights``."""

    def __init__(self, C: int = 16, N: int = 5, num_classes: int = 10, arch_init: float = 0.0,
                 arch_noise: float = 1e-3, seed: int = 0):
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            super().__init__(None, C, N, num_classes, cell=SearchCell)
            self.arch = nn.Parameter(arch_init + arch_noise * torch.randn(len(EDGES), len(NB201_OPS)))

    def weight_parameters(self) -> list[nn.Parameter]:
        return [p for n, p in self.named_parameters() if n != "arch"]


# ---------------------------------------------------------------- search
@dataclass(frozen=True)
class SearchConfig:
    """One search's settings; defaults are the paper's (PR-DARTS supplement A.3) except the sizes."""

    method: str = "prdarts"
    epochs: int = 10
    batch_size: int = 64
    C: int = 8
    N: int = 1
    w_lr: float = 0.025
    w_momentum: float = 0.9
    w_wd: float = 3e-4
    grad_clip: float = 5.0
    arch_lr: float = 3e-4
    arch_wd: float = 1e-3
    lambdas: tuple[float, float, float] = (0.01, 0.005, 0.005)
    tau_start: float = 10.0
    tau_end: float = 0.1
    beta_init: float = 0.5
    gate_mode: str = "relaxed"
    hinge: float = 0.0
    path_reduce: str = "sum"
    seed: int = 0

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.gate_mode not in GATE_MODES:
            raise ValueError(f"gate_mode must be one of {GATE_MODES}, got {self.gate_mode!r}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"need epochs >= 1 and batch_size >= 1, got {self.epochs}, {self.batch_size}")


def arch_weights(net: SuperNet, cfg: SearchConfig, tau: float, generator: torch.Generator) -> torch.Tensor:
    """Forward weights (6, 5): softmax(alpha) for DARTS; sampled gates for PR-DARTS."""
    if cfg.method == "darts":
        return F.softmax(net.arch, dim=-1)
    g = hard_concrete(net.arch, tau, generator=generator)
    return top2_straight_through(g, generator=generator) if cfg.gate_mode == "top2" else g


def scores(net: SuperNet, cfg: SearchConfig, tau: float) -> np.ndarray:
    """The selection scores (6, 5): softmax(alpha) (DARTS) or activation probabilities P(g != 0) (PR-DARTS),
    in float64 so that probabilities within 1e-8 of 1 (high temperature) still rank by beta."""
    with torch.no_grad():
        arch = net.arch.double()
        s = F.softmax(arch, -1) if cfg.method == "darts" else prob_nonzero(arch, tau)
    return s.cpu().numpy().astype(float)


def arch_loss_terms(net: SuperNet, cfg: SearchConfig, tau: float) -> dict[str, torch.Tensor]:
    """The regulariser added to the validation loss, by part (``regulariser_terms``; both 0 for DARTS)."""
    if cfg.method == "darts":
        zero = net.arch.sum() * 0.0
        return {"l0": zero, "path": zero}
    return regulariser_terms(net.arch, tau, cfg.lambdas, hinge=cfg.hinge, path_reduce=cfg.path_reduce)


def gradient_shares(total: torch.Tensor, l0: torch.Tensor, path: torch.Tensor) -> tuple[float, float]:
    """The regulariser's and its path term's shares of the architecture gradient ``total``, each part by
    its norm: (||g_L0|| + ||g_path||) / D and ||g_path|| / D, D = ||g_CE|| + ||g_L0|| + ||g_path||,
    g_CE = total - g_L0 - g_path; both in [0, 1] (0 when D = 0)."""
    n_ce, n_l0, n_path = (float(torch.linalg.norm(g)) for g in (total - l0 - path, l0, path))
    denom = n_ce + n_l0 + n_path
    return ((n_l0 + n_path) / denom, n_path / denom) if denom > 0 else (0.0, 0.0)


def make_optimisers(net: SuperNet, cfg: SearchConfig, steps: int):
    w_opt = torch.optim.SGD(net.weight_parameters(), lr=cfg.w_lr, momentum=cfg.w_momentum, weight_decay=cfg.w_wd)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(w_opt, T_max=max(steps, 1))
    a_opt = torch.optim.Adam([net.arch], lr=cfg.arch_lr, betas=(0.5, 0.999), weight_decay=cfg.arch_wd)
    return w_opt, sched, a_opt


def weight_step(net: SuperNet, cfg: SearchConfig, opt: torch.optim.Optimizer, x: torch.Tensor,
                y: torch.Tensor, tau: float, generator: torch.Generator) -> torch.Tensor:
    """One SGD step on the network weights with the training batch; returns the batch loss before it
    (0-d, on the network's device: the host reads it once per epoch, not once per step)."""
    opt.zero_grad(set_to_none=True)
    loss = F.cross_entropy(net(x, arch_weights(net, cfg, tau, generator).detach()), y)
    loss.backward()
    nn.utils.clip_grad_norm_(net.weight_parameters(), cfg.grad_clip)
    opt.step()
    return loss.detach()


def arch_step(net: SuperNet, cfg: SearchConfig, opt: torch.optim.Optimizer, x: torch.Tensor,
              y: torch.Tensor, tau: float, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
    """One first-order step on the architecture parameters with the validation batch (+ regulariser R);
    returns the batch loss, the whole gradient and R's two parts of it (``gradient_shares``' arguments),
    on the network's device."""
    opt.zero_grad(set_to_none=True)
    loss = F.cross_entropy(net(x, arch_weights(net, cfg, tau, generator)), y)
    terms = arch_loss_terms(net, cfg, tau)
    g_l0, g_path = (torch.autograd.grad(t, net.arch, retain_graph=True)[0] for t in (terms["l0"], terms["path"]))
    (loss + terms["l0"] + terms["path"]).backward()
    total = net.arch.grad.clone()
    opt.step()
    return loss.detach(), total, g_l0, g_path


def search(X: torch.Tensor, y: torch.Tensor, cfg: SearchConfig, device: Device = "auto") -> dict:
    """First-order bilevel search on images ``X`` (n, 3, H, W) with labels ``y``: the first half trains
    the weights, the second half the architecture (the paper splits CIFAR-10's train set the same way).

    Returns per-epoch ``tau``, ``train_loss``, ``val_loss``, ``scores`` (epochs, 6, 5), the mean over the
    epoch's architecture steps of the regulariser's and of its path term's share of the architecture
    gradient (``reg_share``, ``path_share``, ``gradient_shares``) and the picks of both rules after every
    epoch (``picks_argmax``, ``picks_top2``). The network and the images live on ``device``."""
    if X.ndim != 4 or X.shape[1] != 3 or len(X) != len(y) or len(X) < 2 * cfg.batch_size:
        raise ValueError(f"X must be (n, 3, H, W) with n >= 2 batch_size = {2 * cfg.batch_size} and y (n,), "
                         f"got {tuple(X.shape)} and {tuple(y.shape)}")
    init = cfg.beta_init if cfg.method == "prdarts" else 0.0
    dev = device_of(device)
    net = SuperNet(cfg.C, cfg.N, int(y.max()) + 1, arch_init=init, seed=cfg.seed).to(dev)
    half = len(X) // 2
    X, y = X.to(dev), y.to(dev)
    Xt, yt, Xv, yv = X[:half], y[:half], X[half:2 * half], y[half:2 * half]
    per_epoch = half // cfg.batch_size
    w_opt, sched, a_opt = make_optimisers(net, cfg, cfg.epochs * per_epoch)
    gen = torch.Generator().manual_seed(cfg.seed)
    hist: dict[str, list] = {k: [] for k in ("tau", "train_loss", "val_loss", "reg_share", "path_share", "scores",
                                             "picks_argmax", "picks_top2")}
    net.train()
    for epoch in range(cfg.epochs):
        tau = tau_at(epoch, cfg.epochs, cfg.tau_start, cfg.tau_end)
        order_t = torch.randperm(half, generator=gen).to(dev)
        order_v = torch.randperm(half, generator=gen).to(dev)
        tl, arch = [], []
        for i in range(per_epoch):
            bt = order_t[i * cfg.batch_size:(i + 1) * cfg.batch_size]
            bv = order_v[i * cfg.batch_size:(i + 1) * cfg.batch_size]
            tl.append(weight_step(net, cfg, w_opt, Xt[bt], yt[bt], tau, gen))
            sched.step()
            arch.append(arch_step(net, cfg, a_opt, Xv[bv], yv[bv], tau, gen))
        s = scores(net, cfg, tau)
        hist["tau"].append(tau)
        hist["train_loss"].append(float(np.mean(torch.stack(tl).tolist())))
        per_step = [(float(loss), *gradient_shares(*grads)) for loss, *grads in arch]
        for k, v in zip(("val_loss", "reg_share", "path_share"), np.mean(per_step, axis=0)):
            hist[k].append(float(v))
        hist["scores"].append(s)
        hist["picks_argmax"].append(pick(s, "argmax"))
        hist["picks_top2"].append(pick(s, "top2"))
    hist["scores"] = np.stack(hist["scores"])
    hist["config"] = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(cfg).items()}
    return hist


__all__ = [
    "A", "B", "SKIP", "CONVS", "CHAIN", "METHODS", "RULES", "prob_nonzero", "prob_one", "hard_concrete",
    "top2_straight_through", "tau_at", "penalties", "regulariser", "pick", "SuperNet", "SearchConfig", "arch_weights",
    "weight_step", "search", "NB201_OPS",
    "gradient_shares", "regulariser_terms",
]
