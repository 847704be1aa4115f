"""Chapter 08's cached computation: effective depth and width of whole networks (``convlib.netgraph``).

``ch08.networks`` scores a list of models named as on the command line (``torchvision.models.resnet50``,
``path/to/file.py:factory``); the paper profile names torchvision's families, which need the optional
torchvision environment (``make venv-tv``), the smoke profile the small modules below, which need nothing."""
from __future__ import annotations

import importlib.metadata
import time

import numpy as np
import torch
from torch import nn

from convlib import dag, netgraph, registry
from convlib.nas.network import Network


class TinyResNet(nn.Module):
    """``blocks`` residual blocks ``relu(x + conv(relu(conv(x))))`` on ``channels`` channels; with ``head``
    a stem conv before and global pooling and a linear classifier after (2 more layers on every path)."""

    def __init__(self, blocks: int = 4, channels: int = 4, head: bool = True, num_classes: int = 10):
        super().__init__()
        self.stem = nn.Conv2d(3, channels, 3, padding=1) if head else nn.Identity()
        self.convs = nn.ModuleList(nn.ModuleList(nn.Conv2d(channels, channels, 3, padding=1) for _ in range(2))
                                   for _ in range(blocks))
        self.fc = nn.Linear(channels, num_classes) if head else None
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        for a, b in self.convs:
            h = self.relu(h + b(self.relu(a(h))))
        return h if self.fc is None else self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(h, 1), 1))


class TinyDenseNet(nn.Module):
    """One dense block of ``layers`` convs, each on the concatenation of the block's input and every
    earlier output, the block's output their concatenation; ``head`` as in ``TinyResNet``."""

    def __init__(self, layers: int = 4, channels: int = 4, growth: int = 2, head: bool = True, num_classes: int = 10):
        super().__init__()
        self.stem = nn.Conv2d(3, channels, 3, padding=1) if head else nn.Identity()
        self.convs = nn.ModuleList(nn.Conv2d(channels + i * growth, growth, 3, padding=1) for i in range(layers))
        self.fc = nn.Linear(channels + layers * growth, num_classes) if head else None
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [self.stem(x)]
        for conv in self.convs:
            features.append(conv(self.relu(torch.cat(features, 1))))
        h = torch.cat(features, 1)
        return h if self.fc is None else self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(h, 1), 1))


class NB201Network(nn.Module):
    """The benchmark-size NAS-Bench-201 network (``convlib.nas.network.Network``, C=16, N=5) of one cell,
    called with the image alone (fx cannot trace the network's ``*cell_args``)."""

    def __init__(self, arch: str):
        super().__init__()
        self.net = Network(arch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


NB201_INPUT = (1, 3, 32, 32)  # a CIFAR-10 image: the network's reductions need no more to settle its shapes


def package_version(spec: str) -> str:
    """Version of the installed distribution that provides the model ``spec`` (its top-level package;
    "-" for a file or a package that is not installed as a distribution)."""
    if spec.startswith("nb201:"):
        return importlib.metadata.version("convlib")
    if ":" in spec:
        return "-"
    try:
        return importlib.metadata.version(spec.partition(".")[0])
    except importlib.metadata.PackageNotFoundError:
        return "-"


@registry.experiment("ch08.networks", chapter="08_your_network", volatile=("seconds",))
def networks(models: list[str], nb201_archs: list[str]) -> dict:
    """Effective depth and width, path counts (as decimal strings: they exceed 64 bits) and the wall seconds
    to build (on the meta device), trace and count each model, with the version of the package that
    defines each one; then the NAS-Bench-201 network of each cell of ``nb201_archs`` (``"nb201:<arch>"``)."""
    rows = []
    for spec in models:
        netgraph.factory(spec)  # the package's first import is not the model's time
        start = time.perf_counter()
        c = netgraph.score(netgraph.build(spec))
        rows.append((c, time.perf_counter() - start))
    for arch in nb201_archs:
        start = time.perf_counter()
        with torch.device("meta"):
            net = NB201Network(arch)
        rows.append((netgraph.score(net, NB201_INPUT), time.perf_counter() - start))
    specs = list(models) + [f"nb201:{dag.parse(a).to_string()}" for a in nb201_archs]
    return {
        "models": specs, "versions": [package_version(s) for s in specs],
        "depth": np.array([c.effective_depth for c, _ in rows]),
        "width": np.array([c.effective_width for c, _ in rows]),
        "paths": [str(c.paths) for c, _ in rows], "layers": np.array([c.layers for c, _ in rows]),
        "shortest": np.array([c.shortest for c, _ in rows]), "longest": np.array([c.longest for c, _ in rows]),
        "seconds": np.array([s for _, s in rows]), "torch": torch.__version__,
    }


__all__ = ["TinyResNet", "TinyDenseNet", "networks"]
