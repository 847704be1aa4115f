"""Training-free scores of NAS-Bench-201 networks at initialisation, on real CIFAR-10 images.

* ``naswot`` (Mellor et al. 2021): hook every ReLU of the benchmark-size network (C=16, N=5), code
  each sample by its binary activation pattern ``c_i``, and score ``log det K`` with
  ``K_ij = sum over units of [c_i == c_j] = (n_units + s_i . s_j) / 2`` (``s = 2c - 1``), over a
  minibatch of 128 training images (the NASWOT release's default batch size).
* ``ntk_cond`` (Chen et al. 2021, TENAS): the empirical NTK ``Theta = J J^T`` of the summed logits,
  ``J_i = d(sum_c f_c(x_i)) / d(weights)`` (every parameter named ``weight``, BN in train mode),
  over a minibatch of 72 images (TENAS' NAS-Bench-201 launcher), on TENAS' proxy network (C=3, N=1);
  score ``lambda_max / lambda_min``. Lower is better. ``J`` comes from one forward and one pullback
  per image (``ntk_of``; train-mode BN couples the images): one after the other on the CPU, vectorised
  over the images on a GPU.
* ``linear_regions`` (TENAS): the number of distinct ReLU activation patterns of the thin proxy
  (one cell with C=1, no stem, then BN-ReLU) over 3 batches of 1,000 inputs, each a random 3x3 crop
  of one random channel of a training image (TENAS' ``Linear_Region_Collector`` settings). Higher is
  better.

Weights keep PyTorch's default initialisation (what both releases end up using) drawn from
``torch.manual_seed(seed)`` inside a forked RNG, so a score is a function of (cell, seed, images).
A cell with no input-to-output path has an output that ignores its input: the scores are undefined
there and ``ValueError`` says so; ``score_cells`` records NaN for such cells (never picked).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from convlib import data, validate
from convlib.dag import DAGLike, parse
from convlib.device import Device, clock, device_of, one_thread
from convlib.theory import n_paths

from .network import Network

NASWOT_BATCH = 128
NTK_BATCH = 72
# Cotangents per vectorised pullback on the CPU: 1, one after the other. On one thread, chunks of 8 took
# 1.37 times the CPU time (8 cells): oneDNN's 3-channel convolutions gain nothing from a bigger batch.
NTK_CHUNK = 1
LR_SAMPLES, LR_BATCHES = 1000, 3
MEASURES = ("naswot", "ntk", "regions")
NB201_NORM = (tuple(v / 255 for v in (125.3, 123.0, 113.9)), tuple(v / 255 for v in (63.0, 62.1, 66.7)))  # NB201/TENAS
NASWOT_NET = dict(C=16, N=5)  # the benchmark's network
PROXY = dict(C=3, N=1)  # TENAS' NTK network on NAS-Bench-201
MAX_ABS = 1e9  # largest |pixel| the scores take: squares summed over a batch stay far below float32's 3.4e38
THIN = dict(C=1, N=1, in_channels=1, stem=False, stages=1)  # TENAS' linear-region network


def minibatch(n: int, seed: int) -> torch.Tensor:
    """``n`` standardised CIFAR-10 training images (n, 3, 32, 32), drawn by ``seed``."""
    return data.load_images("cifar10", "train", n=n, seed=seed)[0]


def augmented_minibatch(n: int, seed: int) -> torch.Tensor:
    """``n`` CIFAR-10 training images as TENAS draws its NTK batch (its NAS-Bench-201 training
    transform): a random horizontal flip, a random 32x32 crop of the image zero-padded by 4 pixels,
    then standardised with ``NB201_NORM``; images, flips and crops drawn by ``seed``."""
    x = minibatch(n, seed)
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in data.CIFAR10_NORM)
    pixels = x * std + mean  # back to [0, 1], where torchvision flips, pads with black and crops
    g = torch.Generator().manual_seed(seed)
    flip = torch.rand(n, generator=g) < 0.5
    padded = torch.nn.functional.pad(torch.where(flip[:, None, None, None], pixels.flip(-1), pixels), (4, 4, 4, 4))
    top, left = torch.randint(0, 9, (n,), generator=g), torch.randint(0, 9, (n,), generator=g)
    rows, cols = top[:, None] + torch.arange(32), left[:, None] + torch.arange(32)
    crops = padded[torch.arange(n)[:, None, None, None], torch.arange(3)[None, :, None, None],
                   rows[:, None, :, None], cols[:, None, None, :]]
    nb_mean, nb_std = (torch.tensor(v).view(1, 3, 1, 1) for v in NB201_NORM)
    return (crops - nb_mean) / nb_std


def patches(seed: int, n: int = LR_SAMPLES * LR_BATCHES) -> torch.Tensor:
    """``n`` single-channel 3x3 inputs (n, 1, 3, 3): a random crop of a random channel of a random image."""
    x = minibatch(n, seed)
    g = np.random.default_rng(seed)
    ch, top, left = g.integers(0, 3, n), g.integers(0, 30, n), g.integers(0, 30, n)
    rows = torch.as_tensor(top)[:, None] + torch.arange(3)
    cols = torch.as_tensor(left)[:, None] + torch.arange(3)
    idx = torch.arange(n)
    return x[idx[:, None, None], torch.as_tensor(ch)[:, None, None], rows[:, :, None], cols[:, None, :]][:, None]


def _check_connected(arch) -> None:
    if isinstance(arch, str) or hasattr(arch, "ops"):
        dag = parse(arch)
        if not n_paths(dag):
            raise ValueError(f"cell {dag.to_string()!r} has no input-to-output path: its network ignores "
                             "its input, so activation-pattern and NTK scores are undefined")


def images(x, channels: int, name: str = "x") -> torch.Tensor:
    """``x`` as float32 images (n, channels, H, W), n >= 1, finite, at most ``MAX_ABS`` in magnitude (numpy,
    float64 and integer pixels accepted)."""
    x = validate.real_tensor(x, name, ndim=4, layout=f"(n, {channels}, H, W)")
    if x.shape[1] != channels:
        raise ValueError(f"{name} must have {channels} channel{'s' * (channels > 1)}: shape (n, {channels}, H, W), "
                         f"got {tuple(x.shape)}")
    if (big := float(x.abs().max())) > MAX_ABS:
        raise ValueError(f"{name} has entries up to {big:.3g} in magnitude, above {MAX_ABS:g}: the scores expect "
                         "standardised images (entries of order 1); larger ones overflow the float32 batch-norm "
                         "statistics and every unit reads as inactive")
    return x.to(torch.float32)


def init_network(arch, seed: int, device: Device = "cpu", **kw) -> Network:
    """The network of ``arch`` with weights drawn on the CPU from ``seed`` (same on every device)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return Network(arch, **kw).train().to(device_of(device))


def _relu_codes(net: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """Sign codes ``s = 2 [a > 0] - 1`` of every ReLU's input, one (n, units) tensor per ReLU."""
    codes: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda m, i, o: codes.append((i[0] > 0).flatten(1).float() * 2 - 1))
             for m in net.modules() if isinstance(m, nn.ReLU)]
    try:
        with torch.no_grad():
            net(x)
    finally:
        for h in hooks:
            h.remove()
    return codes


def naswot(arch: DAGLike, x: torch.Tensor, seed: int = 0, device: Device = "auto") -> float:
    """NASWOT score ``log det K`` (float64) of the benchmark-size network on images ``x``."""
    _check_connected(arch)
    x = images(x, 3)
    return naswot_of(init_network(arch, seed, device, **NASWOT_NET), x)


def naswot_of(net: nn.Module, x: torch.Tensor) -> float:
    """``naswot`` of a built network: ``log det K`` over the sign codes of every ``nn.ReLU``'s input."""
    x = x.to(next(net.parameters()).device)
    codes = _relu_codes(net, x)
    if not codes:
        raise ValueError(f"{type(net).__name__} has no nn.ReLU module: NASWOT codes ReLU activation patterns")
    K = torch.zeros(len(x), len(x), dtype=torch.float64, device=x.device)
    for s in codes:
        K += ((s @ s.T).double() + s.shape[1]) / 2
    sign, logdet = torch.linalg.slogdet(K)
    return float(logdet) if sign > 0 else float("-inf")


def ntk_cond(arch, x: torch.Tensor, seed: int = 0, device: Device = "auto") -> float:
    """Condition number ``lambda_max / lambda_min`` of the empirical NTK (float64 eigenvalues) of the
    TENAS proxy network; ``arch`` is a cell or a supernet state (six lists of live ops)."""
    _check_connected(arch)
    x = images(x, 3)
    with one_thread():
        return ntk_cond_of(init_network(arch, seed, device, **PROXY), x)


def ntk_cond_of(net: nn.Module, x: torch.Tensor) -> float:
    """``ntk_cond`` of a built network: ``lambda_max / lambda_min`` of ``ntk_of(net, x)``."""
    eig = torch.linalg.eigvalsh(ntk_of(net, x))
    return float(eig[-1] / eig[0]) if eig[0] > 0 else float("inf")


def ntk_of(net: nn.Module, x: torch.Tensor, chunk: int | None = None) -> torch.Tensor:
    """The empirical NTK ``Theta = J J^T`` (float64, (n, n), on the network's device) with
    ``J_i = d(sum_c f_c(x_i)) / d(weights)`` over every parameter named ``weight``.

    Train-mode BN couples the samples (``f(x_i)`` depends on every ``x_j`` through the batch
    statistics), so ``J`` needs one backward pass per output: one forward (``torch.func.vjp``), then
    the pullback of the ``n`` unit cotangents, vectorised (``torch.func.vmap``) ``chunk`` at a time
    (default: all at once on a GPU; ``NTK_CHUNK`` on the CPU, where 1 means one pullback after the
    other). BN running statistics are not updated (no output of a train-mode network reads them)."""
    weights = {name: p.detach() for name, p in net.named_parameters() if "weight" in name}
    first = next(iter(weights.values()))
    x = x.to(first.device)
    chunk = chunk or (len(x) if first.is_cuda else NTK_CHUNK)
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d) and m.track_running_stats]
    net.train()
    try:
        for m in bns:
            m.track_running_stats = False
        out, pullback = torch.func.vjp(lambda w: torch.func.functional_call(net, w, (x,), strict=False).sum(1),
                                       weights)
        eye = torch.eye(len(x), dtype=out.dtype, device=out.device)
        if chunk == 1:
            rows = [pullback(e)[0] for e in eye]
            rows = {k: torch.stack([r[k] for r in rows]) for k in weights}
        else:
            rows = torch.func.vmap(pullback, chunk_size=chunk)(eye)[0]
    finally:
        for m in bns:
            m.track_running_stats = True
    J = torch.cat([g.detach().flatten(1) for g in rows.values()], 1).double()
    return J @ J.T


def linear_regions(arch, inputs: torch.Tensor, seed: int = 0, device: Device = "auto") -> int:
    """Number of distinct ReLU activation patterns of the thin proxy (one cell, C=1, no stem) over
    ``inputs`` (n, 1, 3, 3); ``arch`` is a cell or a supernet state."""
    _check_connected(arch)
    inputs = images(inputs, 1, "inputs")
    with one_thread():
        return linear_regions_of(init_network(arch, seed, device, **THIN), inputs)


def linear_regions_of(net: nn.Module, inputs: torch.Tensor, batch: int | None = None) -> int:
    """``linear_regions`` of a built network: distinct rows of the concatenated ReLU sign codes,
    forwarding ``batch`` (default ``LR_SAMPLES``) inputs at a time (train-mode BN statistics per
    batch, as TENAS does)."""
    net.train()
    inputs = inputs.to(next(net.parameters()).device)
    codes = torch.cat([torch.cat([s > 0 for s in _relu_codes(net, chunk)], 1)
                       for chunk in inputs.split(batch or LR_SAMPLES)])
    return int(torch.unique(codes, dim=0).shape[0])


def score_cells(archs: Sequence[DAGLike], seed: int, measures: Sequence[str] = MEASURES,
                device: Device = "auto") -> dict[str, np.ndarray]:
    """Every measure for every cell on the minibatches of ``seed``, on one intra-op thread, plus the
    seconds each took (``<measure>_s``, ``device.clock``: on the CPU the thread's CPU seconds, the
    compute a cell costs whatever else shares the machine; on a GPU synchronised wall seconds). A cell
    with no input-to-output path gets NaN (and 0 s); any other error is raised."""
    unknown = set(measures) - set(MEASURES)
    if unknown:
        raise ValueError(f"unknown measures {sorted(unknown)}; expected some of {MEASURES}")
    inputs = {"naswot": lambda: minibatch(NASWOT_BATCH, seed), "ntk": lambda: minibatch(NTK_BATCH, seed),
              "regions": lambda: patches(seed, LR_SAMPLES * LR_BATCHES)}
    fns = {"naswot": naswot, "ntk": ntk_cond, "regions": linear_regions}
    connected = np.array([n_paths(a) > 0 for a in archs], dtype=bool)
    device = device_of(device)
    out: dict[str, np.ndarray] = {}
    with one_thread():
        for m in measures:
            x = inputs[m]()
            vals, secs = np.full(len(archs), np.nan), np.zeros(len(archs))
            for i in np.flatnonzero(connected):
                start = clock(device)
                vals[i] = fns[m](archs[i], x, seed, device)
                secs[i] = clock(device) - start
            out[m], out[m + "_s"] = vals, secs
    return out


__all__ = [
    "NASWOT_BATCH", "NTK_BATCH", "LR_SAMPLES", "LR_BATCHES", "NB201_NORM", "NASWOT_NET", "PROXY", "THIN", "minibatch",
    "augmented_minibatch", "patches", "init_network", "naswot", "naswot_of", "ntk_cond", "ntk_cond_of", "ntk_of",
    "linear_regions", "linear_regions_of", "score_cells", "images",
]
