"""Chapter 08: effective depth and width of whole networks (``convlib.netgraph``) beside the NAS-Bench-201 cells.

``ch08.networks`` scores a list of models named as on the command line (``torchvision.models.resnet50``,
``path/to/file.py:factory``); the paper profile names torchvision's families, which need the optional
torchvision environment (``make venv-tv``), the smoke profile the small modules below, which need nothing."""
from __future__ import annotations

import importlib.metadata
import time

import numpy as np
import pandas as pd
import torch
from torch import nn

from convlib import dag, netgraph, registry, theory
from convlib.nas import DARTS_DEPTH_RANGE, DARTS_WIDTH_RANGE, DEPTH_RANGE, WIDTH_RANGE, in_box


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


def package_version(spec: str) -> str:
    """Version of the installed distribution that provides the model ``spec`` (its top-level package)."""
    top = spec.split(":")[0].split(".")[0] if ":" not in spec else "local file"
    try:
        return importlib.metadata.version(top)
    except importlib.metadata.PackageNotFoundError:
        return "-"


@registry.experiment("ch08.networks", chapter="08_your_network")
def networks(models: list[str]) -> dict:
    """Effective depth and width, path counts (as decimal strings: they exceed 64 bits) and the wall seconds
    to build (on the meta device), trace and count each model, with the version of the package that
    defines each one."""
    rows = []
    for spec in models:
        netgraph.factory(spec)  # the package's first import is not the model's time
        start = time.perf_counter()
        c = netgraph.score(netgraph.build(spec))
        rows.append((c, time.perf_counter() - start))
    return {
        "models": list(models), "versions": [package_version(s) for s in models],
        "depth": np.array([c.effective_depth for c, _ in rows]),
        "width": np.array([c.effective_width for c, _ in rows]),
        "paths": [str(c.paths) for c, _ in rows], "layers": np.array([c.layers for c, _ in rows]),
        "shortest": np.array([c.shortest for c, _ in rows]), "longest": np.array([c.longest for c, _ in rows]),
        "seconds": np.array([s for _, s in rows]), "torch": torch.__version__,
    }


def nb201_plane() -> pd.DataFrame:
    """The distinct (d, m) of the NAS-Bench-201 cells with the number of cells at each."""
    dw = pd.DataFrame([theory.effective_depth_width(a) for a in dag.nb201_cells()], columns=["d", "m"])
    return dw.value_counts().rename("cells").reset_index()


def table(R: dict) -> pd.DataFrame:
    """One row a model: its name, d, m, paths, layers, the path-depth range, and whether it is in each box."""
    dm = np.column_stack([R["depth"], R["width"]])
    names = [s.rpartition(".")[2].rpartition(":")[2] for s in R["models"]]
    return pd.DataFrame({
        "model": names, "effective depth d": R["depth"], "effective width m": R["width"],
        "paths": [int(p) for p in R["paths"]], "layers": R["layers"],
        "path depths": [f"{a}-{b}" for a, b in zip(R["shortest"], R["longest"])],
        "NAS-Bench-201 box": np.where(in_box(dm), "in", "out"),
        "DARTS box": np.where(in_box(dm, DARTS_DEPTH_RANGE, DARTS_WIDTH_RANGE), "in", "out"),
        "seconds": R["seconds"]})


BOXES = {"NAS-Bench-201": (DEPTH_RANGE, WIDTH_RANGE), "DARTS": (DARTS_DEPTH_RANGE, DARTS_WIDTH_RANGE)}
