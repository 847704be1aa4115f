"""Figure 2 of Zhou et al. (2020), analogue: the same cell network with a fraction of its operations turned
from convolutions into skips, and its training-loss curve.

The paper trains 8 cells whose 8 operations are all 3x3 convs, after turning 0 %, 37.5 % or 62.5 % of them
into skips at random. Here a cell has the PR-DARTS normal cell's wiring (two inputs, four nodes of two
operations each), each operation the NAS-Bench-201 ReLU-Conv3x3-BN (``convlib.nas.network.OPS``) or an
identity, and the network is trained by SGD with the paper's search optimiser's settings.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from convlib.darts import SearchConfig
from convlib.nas.network import OPS

GENOTYPE_INPUTS = ((0, 1), (2, 0), (3, 1), (4, 1))  # inputs of nodes 2..5 in PR-DARTS's normal cell


class SkipCell(nn.Module):
    """A DARTS-style cell: inputs c_{k-2}, c_{k-1} (nodes 0, 1); node j = op(node a) + op(node b) for
    (a, b) = ``GENOTYPE_INPUTS[j-2]`` (the PR-DARTS normal cell's wiring); output = mean of nodes 2..5.
    Each of the 8 ops is the benchmark's ReLU-Conv3x3-BN, or identity where ``skips`` says so."""

    def __init__(self, C: int, skips: Sequence[bool]):
        super().__init__()
        if len(skips) != 2 * len(GENOTYPE_INPUTS):
            raise ValueError(f"skips must list {2 * len(GENOTYPE_INPUTS)} booleans, got {len(skips)}")
        self.ops = nn.ModuleList(nn.Identity() if sk else OPS["nor_conv_3x3"](C, C, 1) for sk in skips)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        nodes = [s0, s1]
        for j, (a, b) in enumerate(GENOTYPE_INPUTS):
            nodes.append(self.ops[2 * j](nodes[a]) + self.ops[2 * j + 1](nodes[b]))
        return torch.stack(nodes[2:]).mean(0)


class SkipNet(nn.Module):
    """Stem Conv3x3-BN, ``n_cells`` ``SkipCell``s of ``C`` channels, global pooling, linear classifier;
    in every cell ``round(8 * skip_fraction)`` ops chosen at random (``seed``) are skips."""

    def __init__(self, n_cells: int, C: int, skip_fraction: float, num_classes: int = 10, seed: int = 0):
        super().__init__()
        if not 0 <= skip_fraction <= 1:
            raise ValueError(f"skip_fraction must lie in [0, 1], got {skip_fraction}")
        rng = np.random.default_rng(seed)
        k = int(round(8 * skip_fraction))
        self.skips = [np.isin(np.arange(8), rng.choice(8, k, replace=False)) for _ in range(n_cells)]
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.stem = nn.Sequential(nn.Conv2d(3, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
            self.cells = nn.ModuleList(SkipCell(C, sk.tolist()) for sk in self.skips)
            self.classifier = nn.Linear(C, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        return self.classifier(s1.mean((2, 3)))


def train_curve(net: nn.Module, X: torch.Tensor, y: torch.Tensor, epochs: int, batch_size: int = 64,
                lr: float = SearchConfig.w_lr, seed: int = 0) -> np.ndarray:
    """Training loss of every minibatch step of SGD with the paper's search optimiser's momentum and
    weight decay (``convlib.darts.SearchConfig``: 0.9, 3e-4), constant learning rate ``lr``."""
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=SearchConfig.w_momentum, weight_decay=SearchConfig.w_wd)
    gen = torch.Generator().manual_seed(seed)
    losses = []
    net.train()
    for _ in range(epochs):
        order = torch.randperm(len(X), generator=gen)
        for i in range(len(X) // batch_size):
            b = order[i * batch_size:(i + 1) * batch_size]
            loss = F.cross_entropy(net(X[b]), y[b])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
    return np.asarray(losses)


__all__ = ["SkipCell", "SkipNet", "train_curve"]
