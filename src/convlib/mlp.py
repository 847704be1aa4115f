"""Finite-width DAG-MLPs in torch: B architectures at once (stacked weights), their empirical NTK,
and a trainer that trains all B together.

The network is the one of the book (Chen et al. 2022): node 0 is the stem ``h_0 = ReLU(W_0 x)``,
node ``t`` is the sum of its in-edge outputs, a ``linear`` edge ``s -> t`` outputs
``ReLU(W_st h_s)``, a ``skip`` edge ``h_s``, a ``zero`` edge nothing, and the readout is
``f(x) = V h_N``. Weights are Kaiming-normal fan-in: ``W ~ N(0, 2 / fan_in)``,
``V ~ N(0, readout_gain / width)`` (gain 1 by default; the released code's Kaiming readout has 2).
``bias=True`` adds a bias, zero at initialisation and trained, to every layer (stem, linear edges,
readout), as the released ``mlp_code`` networks have.

Model ``b`` of a batch keeps its weights in row ``b`` of stacked tensors: the stem ``(B, width,
d_in)``, the edges ``(B, slots, width, width)`` with one slot per node pair ``s < t`` (slot
``t (t - 1) / 2 + s``; only linear edges hold non-zero weights), the readout ``(B, d_out, width)``.
The edge tensor needs ``4 B N (N + 1) / 2 width^2`` bytes in float32, so callers with many
architectures split them into chunks of B (as ``experiments.ch05_dag.all_dags`` does with ``space_chunk``).
"""
from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from convlib import validate
from convlib.dag import DAG, DAGLike, parse
from convlib.device import device_of

PARAMETRIZATIONS = ("standard", "ntk")
LOSSES = ("mse", "ce")
OPTIMIZERS = ("sgd", "adam")


def _slot(s: int, t: int) -> int:
    return t * (t - 1) // 2 + s


@dataclass(frozen=True)
class _Layer:
    """One weight matrix's view in a forward pass: pre-activation ``z = c W a`` of all B models;
    ``a`` is the layer input, ``(n, fan_in)`` when shared by all models."""

    a: torch.Tensor
    z: torch.Tensor
    c: float


class DAGMLP(nn.Module):
    """B DAG-MLPs at once (stacked weights): stem ReLU(W0 x), node t = sum of in-edge outputs,
    linear edge = ReLU(W h_s), skip = identity, zero = nothing, readout Linear on node N; with
    ``bias`` every layer adds a bias (zero at initialisation, stacked like the weights).

    ``parametrization="standard"`` stores ``W ~ N(0, 2 / fan_in)`` (readout ``N(0, readout_gain / width)``);
    ``"ntk"`` stores ``W~ ~ N(0, 1)`` and computes ``sqrt(2 / fan_in) W~ a`` (readout
    ``sqrt(readout_gain / width) V~ h``): the same forward distribution, gradients in the NTK scaling.
    Model ``b`` draws its weights from ``torch.Generator().manual_seed(seeds[b])`` on the CPU in
    float64 (stem, then linear edges in ``dag.edges("linear")`` order, then readout) before the cast,
    so a model alone equals its row in any batch, bit for bit, at initialisation."""

    def __init__(self, dags: Sequence[DAGLike] | DAGLike, d_in: int, width: int, d_out: int = 1, *,
                 seeds: Sequence[int] | None = None, parametrization: str = "standard",
                 device: str | torch.device = "auto", dtype: torch.dtype = torch.float32,
                 bias: bool = False, readout_gain: float = 1.0):
        super().__init__()
        if isinstance(dags, (str, DAG)):
            dags = [dags]
        self.dags = [parse(d) for d in dags]
        if not self.dags:
            raise ValueError("dags must hold at least one architecture")
        sizes = sorted({d.n_nodes for d in self.dags})
        if len(sizes) > 1:
            raise ValueError(f"all dags of one DAGMLP must have the same number of nodes, got {sizes}")
        for name, v in (("d_in", d_in), ("width", width), ("d_out", d_out)):
            validate.integer(v, name, low=1)
        if not (isinstance(readout_gain, (int, float)) and math.isfinite(readout_gain) and readout_gain > 0):
            raise ValueError(f"readout_gain must be a positive number, got {readout_gain!r}")
        if parametrization not in PARAMETRIZATIONS:
            raise ValueError(f"parametrization must be one of {PARAMETRIZATIONS}, got {parametrization!r}")
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise ValueError(f"dtype must be a real floating-point torch dtype such as torch.float32, got {dtype}")
        B, N = len(self.dags), sizes[0]
        n_weights = B * (width * d_in + N * (N + 1) // 2 * width ** 2 + d_out * width)
        validate.fits_memory(n_weights * dtype.itemsize, f"a DAGMLP of {B} models with N={N} nodes and "
                             f"width={width:,} ({n_weights:,} weights)", "use a smaller width or fewer models")
        seeds = list(range(B)) if seeds is None else [int(s) for s in seeds]
        if len(seeds) != B:
            raise ValueError(f"seeds must give one seed per dag ({B}), got {len(seeds)}")
        self.n_models, self.n_nodes, self.d_in, self.width, self.d_out = B, N, int(d_in), int(width), int(d_out)
        self.seeds, self.parametrization = seeds, parametrization
        dev = device_of(device)
        S = N * (N + 1) // 2

        std = parametrization == "standard"
        g_stem, g_edge, g_out = math.sqrt(2 / d_in), math.sqrt(2 / width), math.sqrt(readout_gain / width)
        stem = torch.zeros(B, width, d_in, dtype=dtype)
        edge = torch.zeros(B, S, width, width, dtype=dtype)
        readout = torch.zeros(B, d_out, width, dtype=dtype)
        def draw(gen: torch.Generator, *shape: int, gain: float) -> torch.Tensor:
            return (torch.randn(*shape, generator=gen, dtype=torch.float64) * (gain if std else 1.0)).to(dtype)

        for b, (dag, seed) in enumerate(zip(self.dags, seeds)):
            gen = torch.Generator().manual_seed(seed)
            stem[b] = draw(gen, width, d_in, gain=g_stem)
            for s, t, _ in dag.edges("linear"):
                edge[b, _slot(s, t)] = draw(gen, width, width, gain=g_edge)
            readout[b] = draw(gen, d_out, width, gain=g_out)
        self.stem = nn.Parameter(stem.to(dev))
        self.edge = nn.Parameter(edge.to(dev))
        self.readout = nn.Parameter(readout.to(dev))
        self.bias = bool(bias)
        if self.bias:  # (B, width), (B, slots, width), (B, d_out); zero at initialisation
            self.stem_bias = nn.Parameter(torch.zeros(B, width, dtype=dtype, device=dev))
            self.edge_bias = nn.Parameter(torch.zeros(B, S, width, dtype=dtype, device=dev))
            self.readout_bias = nn.Parameter(torch.zeros(B, d_out, dtype=dtype, device=dev))
        # forward scale factors c of z = c W a (1 in the standard parametrisation)
        self.scales = (1.0, 1.0, 1.0) if std else (g_stem, g_edge, g_out)

        # Per slot: does any model have a linear edge there (computed for all B: the other models hold
        # zero weights, so ReLU(0 h) = 0 with zero gradient; dense batched matmuls beat gathering
        # and scattering rows), and the skip edges: False (none), None (all B) or a (B, 1, 1) 0/1 mask.
        def plan(s: int, t: int):
            kinds = [d.kind(s, t) for d in self.dags]
            n_skip = kinds.count("skip")
            skip = False if not n_skip else None if n_skip == B else torch.tensor(
                [float(k == "skip") for k in kinds], dtype=dtype, device=dev).view(B, 1, 1)
            return s, _slot(s, t), "linear" in kinds, skip
        self._plan = [[plan(s, t) for s in range(t)] for t in range(1, N + 1)]

    # ------------------------------------------------------------------ forward
    def _inputs(self, X: torch.Tensor) -> torch.Tensor:
        if not isinstance(X, torch.fx.Proxy):  # netgraph traces the network with torch.fx: no values yet
            layout = f"(n, {self.d_in}) or ({self.n_models}, n, {self.d_in})"
            X = validate.real_tensor(X, "X", ndim=(2, 3), layout=layout)
        ok = (X.ndim == 2 and X.shape[1] == self.d_in) or (
            X.ndim == 3 and X.shape[0] == self.n_models and X.shape[2] == self.d_in)
        if not ok:
            raise ValueError(f"X must be (n, {self.d_in}) or ({self.n_models}, n, {self.d_in}), got {tuple(X.shape)}")
        return X.to(self.stem.device, self.stem.dtype)

    def _run(self, X: torch.Tensor, record: bool = False) -> tuple[torch.Tensor, list[_Layer]]:
        """Node-N activations ``(B, n, width)`` and, with ``record``, every weight's ``_Layer``."""
        X = self._inputs(X)
        B, w = self.n_models, self.width
        c0, c, _ = self.scales
        if X.ndim == 2:  # one GEMM for all B stems: (n, d) @ (d, B w)
            z0 = (X @ self.stem.reshape(B * w, self.d_in).T).view(-1, B, w).transpose(0, 1)
        else:
            z0 = X @ self.stem.mT
        z0 = c0 * z0 if c0 != 1.0 else z0
        z0 = z0 + self.stem_bias[:, None] if self.bias else z0
        layers = [_Layer(X, z0, c0)] if record else []
        h = [torch.relu(z0)]
        Ws = self.edge.unbind(1)  # one gradient buffer for all slots in the backward pass
        bs = self.edge_bias.unbind(1) if self.bias else None
        for node in self._plan:
            acc = 0
            for s, k, linear, skip in node:
                if linear:
                    z = h[s] @ Ws[k].mT
                    z = c * z if c != 1.0 else z
                    z = z + bs[k][:, None] if self.bias else z
                    if record:
                        layers.append(_Layer(h[s], z, c))
                    acc = acc + torch.relu(z)
                if skip is not False:
                    acc = acc + (h[s] if skip is None else skip * h[s])
            h.append(acc if torch.is_tensor(acc) else torch.zeros_like(h[0]))
        return h[-1], layers

    def _readout(self, hN: torch.Tensor) -> torch.Tensor:
        f = hN @ self.readout.mT
        cr = self.scales[2]
        f = cr * f if cr != 1.0 else f
        return f + self.readout_bias[:, None] if self.bias else f

    def features(self, X: torch.Tensor) -> torch.Tensor:
        """Node-N activations ``h_N``, ``(B, n, width)``."""
        return self._run(X)[0]

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """Outputs ``f(x) = V h_N(x)``, ``(B, n, d_out)``."""
        return self._readout(self.features(X))


def layer_gram(a: torch.Tensor, delta: torch.Tensor, c: float = 1.0, bias: bool = False) -> torch.Tensor:
    """The term of a layer ``z = c W a (+ b)`` in a Gram (NTK) matrix of a scalar output f,
    ``sum_ij df(x)/dW_ij df(x')/dW_ij (+ sum_i df(x)/db_i df(x')/db_i) = (c^2 a(x).a(x') (+ 1)) (delta(x).delta(x'))``
    with ``delta = df/dz`` (since ``df/dW = c delta a^T``), no Jacobian formed. ``a`` is ``(..., n, fan_in)``,
    ``delta`` ``(..., n, fan_out)``; leading dimensions broadcast; returns ``(..., n, n)``."""
    return (c ** 2 * (a @ a.mT) + float(bias)) * (delta @ delta.mT)


def empirical_ntk(model: DAGMLP, X: torch.Tensor) -> torch.Tensor:
    """Empirical NTK ``Theta_b(x, x') = sum_theta df_b(x)/dtheta df_b(x')/dtheta`` over all parameters,
    ``(B, n, n)`` float64, for ``d_out == 1``.

    The sum of every layer's ``layer_gram`` (bias included when the model has biases): one backward
    pass of ``sum_b sum_x f_b(x)`` gives every ``delta = df/dz`` because samples and models do not
    interact; the readout ``f = c_r V h_N`` is such a layer with ``delta = 1``."""
    if model.d_out != 1:
        raise ValueError(f"empirical_ntk needs a scalar output (d_out == 1), got d_out = {model.d_out}")
    with torch.enable_grad():
        hN, layers = model._run(X, record=True)
        f = model._readout(hN)
        deltas = torch.autograd.grad(f.sum(), [layer.z for layer in layers])
    hN = hN.detach().double()
    K = layer_gram(hN, torch.ones_like(hN[..., :1]), model.scales[2], model.bias)
    for layer, d in zip(layers, deltas):
        K = K + layer_gram(layer.a.detach().double(), d.double(), layer.c, model.bias)
    return K


# ---------------------------------------------------------------------- training
def _targets(y: torch.Tensor, loss: str, d_out: int, like: torch.Tensor) -> torch.Tensor:
    """Training targets: class indices for ``"ce"``; for ``"mse"`` one-hot rows when ``y`` holds
    integer labels, else ``y`` as ``(n, d_out)`` values."""
    y = torch.as_tensor(y)
    if loss == "ce":
        if y.is_floating_point() or y.ndim != 1:
            raise ValueError(f"cross-entropy needs integer class labels of shape (n,), got {y.dtype} {tuple(y.shape)}")
        if y.numel() and (int(y.min()) < 0 or int(y.max()) >= d_out):
            raise ValueError(f"labels must lie in 0..{d_out - 1} for d_out = {d_out}, "
                             f"got {int(y.min())}..{int(y.max())}")
        return y.to(like.device)
    if not y.is_floating_point():
        if y.numel() and (int(y.min()) < 0 or int(y.max()) >= d_out):
            raise ValueError(f"labels must lie in 0..{d_out - 1} for one-hot MSE targets, "
                             f"got {int(y.min())}..{int(y.max())}")
        return torch.nn.functional.one_hot(y.long(), d_out).to(like.device, like.dtype)
    y = y.reshape(len(y), -1)
    if y.shape[1] != d_out:
        raise ValueError(f"MSE targets must have d_out = {d_out} columns, got {y.shape[1]}")
    return y.to(like.device, like.dtype)


def per_model_loss(out: torch.Tensor, target: torch.Tensor, loss: str) -> torch.Tensor:
    """Loss of each model, ``(B,)``: MSE ``mean_i 1/2 ||f(x_i) - y_i||^2`` or mean cross-entropy."""
    if loss == "mse":
        return 0.5 * (out - target).pow(2).sum(-1).mean(-1)
    B, n, C = out.shape
    ce = torch.nn.functional.cross_entropy(out.reshape(B * n, C), target.repeat(B), reduction="none")
    return ce.view(B, n).mean(-1)


def batches(n: int, batch_size: int | None, steps: int, seed: int) -> Iterator[torch.Tensor | None]:
    """Sample indices of each step: None (all samples) for full-batch GD, else consecutive chunks of
    one random permutation per epoch, drawn from ``torch.Generator().manual_seed(seed)``."""
    if batch_size is None or batch_size >= n:
        for _ in range(steps):
            yield None
        return
    gen, done = torch.Generator().manual_seed(seed), 0
    while done < steps:
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, batch_size):
            if done == steps:
                return
            yield perm[i:i + batch_size]
            done += 1


def _check_diverged(result: dict, lr: float) -> None:
    """A ``ValueError`` naming the first step and model whose loss is NaN or infinite (training diverged)."""
    curve = result["loss"]
    bad = ~np.isfinite(curve)
    if bad.any():
        b, step = np.argwhere(bad)[0]
        raise ValueError(f"training diverged: the loss of model {b} is {curve[b, step]} at step {step} with lr={lr:g}; "
                         "use a smaller learning rate (or standardised inputs)")
    if "final_loss" in result and not np.isfinite(result["final_loss"]).all():
        raise ValueError(f"training diverged: the final loss is {result['final_loss']} with lr={lr:g}; "
                         "use a smaller learning rate")


def train(model: DAGMLP, X: torch.Tensor, y: torch.Tensor, *, steps: int, lr: float, loss: str = "mse",
          batch_size: int | None = None, optimizer: str = "sgd", momentum: float = 0.0,
          weight_decay: float = 0.0, seed: int = 0, evaluate: bool = True) -> dict:
    """Train the B models of ``model`` together, in place, for ``steps`` updates.

    The objective is ``sum_b L_b`` so model ``b``'s gradient is that of its own loss ``L_b`` and the
    element-wise optimisers (SGD with momentum and weight decay, Adam) update each row as if it were
    trained alone. ``batch_size=None`` is full-batch gradient descent; otherwise every model sees
    the same minibatches (``batches(n, batch_size, steps, seed)``). Returns ``loss`` ``(B, steps)``
    (the loss on each step's batch before its update), ``final_loss`` ``(B,)`` (on all of X, unless
    ``evaluate`` is False) and, for
    ``"ce"``, ``correct`` ``(B, steps)``: how many of each step's batch the model classified right
    before its update (what the released code averages into its training accuracy)."""
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    if not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if batch_size is not None:
        validate.integer(batch_size, "batch_size (None for full-batch GD)", low=1)
    top = torch.finfo(model.stem.dtype).max  # the optimiser casts these to the weights' dtype
    validate.real(lr, "lr", low=0, high=top, low_open=True)
    validate.real(momentum, "momentum", low=0, high=top)
    validate.real(weight_decay, "weight_decay", low=0, high=top)
    X = model._inputs(X)
    if X.ndim != 2:
        raise ValueError("train needs X of shape (n, d_in) shared by all models")
    target = _targets(y, loss, model.d_out, X)
    if len(target) != len(X):
        raise ValueError(f"X has {len(X)} samples but y has {len(target)}")
    if optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    curve = torch.empty(steps, model.n_models, dtype=X.dtype, device=X.device)
    correct = torch.zeros(steps, model.n_models, dtype=torch.int64, device=X.device)
    for step, idx in enumerate(batches(len(X), batch_size, steps, seed)):
        xb, yb = (X, target) if idx is None else (X[idx.to(X.device)], target[idx.to(X.device)])
        out = model(xb)
        losses = per_model_loss(out, yb, loss)
        opt.zero_grad(set_to_none=True)
        losses.sum().backward()
        opt.step()
        curve[step] = losses.detach()
        if loss == "ce":
            correct[step] = (out.detach().argmax(-1) == yb).sum(-1)
    result = {"loss": curve.T.double().cpu().numpy()}
    if evaluate:
        with torch.no_grad():
            result["final_loss"] = per_model_loss(model(X), target, loss).double().cpu().numpy()
    _check_diverged(result, lr)
    if loss == "ce":
        result["correct"] = correct.T.cpu().numpy()
    return result


__all__ = ["DAGMLP", "layer_gram", "empirical_ntk", "batches", "train"]
