"""The NAS-Bench-201 network in torch, built as the benchmark builds it (Dong and Yang 2020).

Macro skeleton (``Network``): a stem ``Conv3x3(3 -> C) + BN``; three stages of ``N`` cells with
``C``, ``2C``, ``4C`` channels, separated by residual reduction blocks (``ResNetBasicBlock``,
stride 2); then ``BN + ReLU``, global average pooling and a linear classifier. The benchmark uses
``C = 16``, ``N = 5``. A cell has 4 nodes; node ``t`` is the sum over ``s < t`` of ``op(node s)``.

Operations (``OPS[name](C_in, C_out, stride, affine, track_running_stats)``):
``none`` (zero), ``skip_connect`` (identity, or a factorized reduction when the shape changes),
``nor_conv_1x1`` and ``nor_conv_3x3`` (ReLU -> Conv -> BN, no conv bias when BN is affine),
``avg_pool_3x3`` (3x3 average pooling, padding excluded from the mean, preceded by a 1x1
ReLU-Conv-BN only when the channel count changes).

An edge may hold several operations (a supernet edge): its output is their mean, which is what a
DARTS edge computes when the softmax weights of the live operations are equal (TENAS prunes the
others to weight 0). With one operation per edge the cell is the benchmark's ``InferCell``.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from convlib.dag import DAG, NB201_OPS, DAGLike, parse

EDGES = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))  # (source, target), arch-string order


class ReLUConvBN(nn.Sequential):
    """``BN(Conv(ReLU(x)))``: the benchmark's ``nor_conv_kxk`` operation."""

    def __init__(self, C_in: int, C_out: int, kernel: int, stride: int, padding: int,
                 affine: bool = True, track_running_stats: bool = True):
        super().__init__(nn.ReLU(inplace=False),
                         nn.Conv2d(C_in, C_out, kernel, stride=stride, padding=padding, bias=not affine),
                         nn.BatchNorm2d(C_out, affine=affine, track_running_stats=track_running_stats))


class Zero(nn.Module):
    """The ``none`` operation: zeros of the output shape (times the input, so gradients flow as 0)."""

    def __init__(self, C_in: int, C_out: int, stride: int):
        super().__init__()
        self.C_out, self.stride = C_out, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1 and x.shape[1] == self.C_out:
            return x.mul(0.0)
        n, _, h, w = x.shape
        return x.new_zeros(n, self.C_out, (h + self.stride - 1) // self.stride, (w + self.stride - 1) // self.stride)


class FactorizedReduce(nn.Module):
    """``skip_connect`` across a shape change: ReLU, two stride-2 1x1 convs on offset grids, concat, BN."""

    def __init__(self, C_in: int, C_out: int, stride: int, affine: bool = True, track_running_stats: bool = True):
        super().__init__()
        self.relu = nn.ReLU(inplace=False)
        self.stride = stride
        if stride == 2:
            halves = (C_out // 2, C_out - C_out // 2)
            self.convs = nn.ModuleList(nn.Conv2d(C_in, c, 1, stride=2, bias=not affine) for c in halves)
            self.pad = nn.ConstantPad2d((0, 1, 0, 1), 0.0)
        elif stride == 1:
            self.conv = nn.Conv2d(C_in, C_out, 1, bias=not affine)
        else:
            raise ValueError(f"FactorizedReduce supports stride 1 or 2, got {stride}")
        self.bn = nn.BatchNorm2d(C_out, affine=affine, track_running_stats=track_running_stats)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        if self.stride == 2:
            y = self.pad(x)
            out = torch.cat([self.convs[0](x), self.convs[1](y[:, :, 1:, 1:])], dim=1)
        else:
            out = self.conv(x)
        return self.bn(out)


class AvgPool(nn.Module):
    """``avg_pool_3x3``: a 1x1 ReLU-Conv-BN when channels change, then 3x3 average pooling
    (padding 1, padded zeros not counted)."""

    def __init__(self, C_in: int, C_out: int, stride: int, affine: bool = True, track_running_stats: bool = True):
        super().__init__()
        self.pre = None if C_in == C_out else ReLUConvBN(C_in, C_out, 1, 1, 0, affine, track_running_stats)
        self.pool = nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(x if self.pre is None else self.pre(x))


def _skip(C_in: int, C_out: int, stride: int, affine: bool = True, track_running_stats: bool = True) -> nn.Module:
    if stride == 1 and C_in == C_out:
        return nn.Identity()
    return FactorizedReduce(C_in, C_out, stride, affine, track_running_stats)


OpFactory = Callable[..., nn.Module]
OPS: dict[str, OpFactory] = {
    "none": lambda C_in, C_out, stride, affine=True, track_running_stats=True: Zero(C_in, C_out, stride),
    "skip_connect": _skip,
    "nor_conv_1x1": lambda C_in, C_out, stride, affine=True, track_running_stats=True:
        ReLUConvBN(C_in, C_out, 1, stride, 0, affine, track_running_stats),
    "nor_conv_3x3": lambda C_in, C_out, stride, affine=True, track_running_stats=True:
        ReLUConvBN(C_in, C_out, 3, stride, 1, affine, track_running_stats),
    "avg_pool_3x3": lambda C_in, C_out, stride, affine=True, track_running_stats=True:
        AvgPool(C_in, C_out, stride, affine, track_running_stats),
}
assert tuple(OPS) == NB201_OPS


class ResNetBasicBlock(nn.Module):
    """The reduction block between stages: ``ReLUConvBN3x3(stride) -> ReLUConvBN3x3`` plus a
    shortcut ``AvgPool2x2 -> Conv1x1`` (stride 2)."""

    def __init__(self, C_in: int, C_out: int, stride: int = 2, affine: bool = True, track_running_stats: bool = True):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        self.conv_a = ReLUConvBN(C_in, C_out, 3, stride, 1, affine, track_running_stats)
        self.conv_b = ReLUConvBN(C_out, C_out, 3, 1, 1, affine, track_running_stats)
        if stride == 2:
            self.downsample = nn.Sequential(nn.AvgPool2d(2, stride=2), nn.Conv2d(C_in, C_out, 1, bias=False))
        elif C_in != C_out:
            self.downsample = ReLUConvBN(C_in, C_out, 1, 1, 0, affine, track_running_stats)
        else:
            self.downsample = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        return residual + self.conv_b(self.conv_a(x))


def edge_ops(arch: DAGLike | Sequence[Sequence[str]]) -> tuple[tuple[str, ...], ...]:
    """The operations on the six edges (``EDGES`` order): one per edge for an arch string, or a
    given sequence of six non-empty op-name lists (a supernet state)."""
    if isinstance(arch, (str,)) or hasattr(arch, "ops"):
        dag = parse(arch)
        if dag.form != "nb201":
            raise ValueError(f"{dag.to_string()!r} is not a NAS-Bench-201 arch string")
        return tuple((dag.op(s, t),) for s, t in EDGES)
    ops = tuple(tuple(e) for e in arch)
    if len(ops) != len(EDGES) or any(not e for e in ops):
        raise ValueError(f"a supernet state needs {len(EDGES)} non-empty op lists (edges {EDGES}), got {ops!r}")
    for e in ops:
        for op in e:
            if op not in OPS:
                raise ValueError(f"unknown operation {op!r}; expected one of {NB201_OPS}")
    return ops


class Cell(nn.Module):
    """A NAS-Bench-201 cell: node ``t = sum_{s<t} mean_{op on s->t} op(node s)``; returns node 3."""

    def __init__(self, arch, C: int, affine: bool = True, track_running_stats: bool = True):
        super().__init__()
        self.ops = edge_ops(arch)
        self.edges = nn.ModuleList(
            nn.ModuleList(OPS[op](C, C, 1, affine, track_running_stats) for op in e) for e in self.ops)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for t in (1, 2, 3):
            acc = 0
            for k, (s, tt) in enumerate(EDGES):
                if tt == t:
                    mods = self.edges[k]
                    out = mods[0](nodes[s])
                    for m in mods[1:]:
                        out = out + m(nodes[s])
                    acc = acc + (out if len(mods) == 1 else out / len(mods))
            nodes.append(acc)
        return nodes[3]


class Network(nn.Module):
    """The benchmark's macro skeleton around one cell (or one supernet state) repeated everywhere.

    ``C`` stem channels, ``N`` cells per stage (benchmark: 16 and 5). ``stem=False`` feeds the
    input straight into the cells (``in_channels`` must then be ``C``), as TENAS' linear-region
    proxy does; ``stages`` < 3 keeps only the first stages. ``cell``, a function of the channel count,
    builds another kind of cell (the DARTS supernet's, ``arch`` then None); ``forward(x, *cell_args)``
    passes ``cell_args`` to every cell and not to the reduction blocks."""

    def __init__(self, arch, C: int = 16, N: int = 5, num_classes: int = 10, in_channels: int = 3,
                 stem: bool = True, stages: int = 3, affine: bool = True, track_running_stats: bool = True,
                 cell: Callable[[int], nn.Module] | None = None):
        super().__init__()
        if C < 1 or N < 1 or stages not in (1, 2, 3):
            raise ValueError(f"need C >= 1, N >= 1 and stages in 1..3, got C={C}, N={N}, stages={stages}")
        if not stem and in_channels != C:
            raise ValueError(f"without a stem the input must have C={C} channels, got in_channels={in_channels}")
        self.arch = edge_ops(arch) if cell is None else None
        if cell is None:
            cell = lambda c: Cell(self.arch, c, affine, track_running_stats)  # noqa: E731
        self.stem = (nn.Sequential(nn.Conv2d(in_channels, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
                     if stem else nn.Identity())
        layers, c_prev = [], C
        for stage in range(stages):
            c = C * 2 ** stage
            if stage > 0:
                layers.append(ResNetBasicBlock(c_prev, c, 2, True, track_running_stats))
            layers.extend(cell(c) for _ in range(N))
            c_prev = c
        self.cells = nn.ModuleList(layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(c_prev), nn.ReLU(inplace=False))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)

    def forward(self, x: torch.Tensor, *cell_args) -> torch.Tensor:
        h = self.stem(x)
        for layer in self.cells:
            h = layer(h) if isinstance(layer, ResNetBasicBlock) else layer(h, *cell_args)
        return self.classifier(self.pool(self.lastact(h)).flatten(1))


def cell_string(ops: Sequence[str]) -> str:
    """The arch string of a cell given one operation per edge in ``EDGES`` order."""
    if len(ops) != len(EDGES):
        raise ValueError(f"need one operation for each of the {len(EDGES)} edges {EDGES}, got {list(ops)}")
    return DAG(tuple(tuple(ops[EDGES.index((s, t))] for s in range(t)) for t in (1, 2, 3)), "nb201").to_string()


def param_count(net: nn.Module) -> int:
    """Number of trainable parameters (conv and linear weights and biases, BN affine parameters),
    the quantity the benchmark reports in MB (= millions)."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


def without(net: Network, edge: int, op: str) -> Network:
    """A copy of a supernet with ``op`` removed from edge ``edge`` (``EDGES`` order) of every cell;
    every other weight is shared by value, so the two networks differ only by that operation."""
    import copy

    ops = net.arch[edge]
    if op not in ops or len(ops) == 1:
        raise ValueError(f"edge {EDGES[edge]} holds {ops}: cannot remove {op!r}")
    k = ops.index(op)
    pruned = copy.deepcopy(net)
    pruned.arch = net.arch[:edge] + (ops[:k] + ops[k + 1:],) + net.arch[edge + 1:]
    for cell in pruned.modules():
        if isinstance(cell, Cell):
            cell.ops = pruned.arch
            del cell.edges[edge][k]
    return pruned


__all__ = ["EDGES", "OPS", "edge_ops", "Cell", "Network", "cell_string", "param_count", "without"]
