"""One figure style for the whole book: a palette for operation kinds and one way to draw a DAG.

Nothing changes on import; a chapter calls :func:`use` once. Every DAG drawing and every plot that
colours by operation kind takes its colours from :data:`PALETTE` (Okabe-Ito, colour-blind safe).
"""
from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch

from convlib.dag import KIND, DAGLike, parse

PALETTE: dict[str, str] = {"linear": "#0072B2", "skip": "#E69F00", "zero": "#999999"}
"""Colour of each operation kind (``convlib.dag.KINDS``)."""

STYLE: dict[str, object] = {
    "figure.dpi": 110,
    "savefig.dpi": 110,
    "figure.figsize": (6.4, 3.6),
    "font.size": 11,
    "axes.titlesize": 11,
    "axes.labelsize": 11,
    "legend.fontsize": 10,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "image.cmap": "viridis",
}

_SHORT = {"nor_conv_1x1": "conv1x1", "nor_conv_3x3": "conv3x3", "avg_pool_3x3": "pool3x3",
          "skip_connect": "skip", "none": "none"}


def use() -> None:
    """Apply the book's matplotlib style (rcParams only; no seeds, no backend change)."""
    mpl.rcParams.update(STYLE)


def kind_legend(ax: plt.Axes, kinds: tuple[str, ...] = ("linear", "skip"), **kwargs) -> None:
    """A legend with one line per operation kind, in :data:`PALETTE` colours."""
    handles = [Line2D([], [], color=PALETTE[k], lw=2.5, ls="--" if k == "zero" else "-", label=k)
               for k in kinds]
    ax.legend(handles=handles, **kwargs)


def _rad(s: int, t: int) -> float:
    """Arc curvature of edge ``s -> t`` in the fixed layout: neighbours straight, even spans above,
    odd spans below, longer spans flatter so that nested arcs do not cross their endpoints."""
    span = t - s
    if span == 1:
        return 0.0
    return (-1 if span % 2 == 0 else 1) * 0.55 / span ** 0.35


def draw_dag(dag: DAGLike, ax: plt.Axes | None = None, title: str | None = None, *,
             show_zero: bool = False, labels: bool | None = None) -> plt.Axes:
    """Draw a DAG (MLP form or NAS-Bench-201 cell) in the book's fixed layout.

    Nodes ``0..N`` sit left to right on a line (node 0 is the stem, node N feeds the readout); an
    edge ``s -> t`` is an arc coloured by its kind (:data:`PALETTE`). Zero edges are omitted, or
    drawn dashed grey with ``show_zero=True``. ``labels`` writes each operation's name on its edge
    (default: on for NAS-Bench-201 cells, whose kinds hide which linear op is meant)."""
    dag = parse(dag)
    if ax is None:
        _, ax = plt.subplots(figsize=(1.3 * dag.n_nodes + 1.6, 2.2))
    if labels is None:
        labels = dag.form == "nb201"
    pos = {v: (float(v), 0.0) for v in range(dag.n_nodes + 1)}
    radius = 0.17
    present = set()
    for t, group in enumerate(dag.ops, start=1):
        for s, op in enumerate(group):
            kind = KIND[op]
            if kind == "zero" and not show_zero:
                continue
            present.add(kind)
            rad = _rad(s, t)
            (x1, y1), (x2, y2) = pos[s], pos[t]
            ax.add_patch(FancyArrowPatch(
                (x1, y1), (x2, y2), connectionstyle=f"arc3,rad={rad}", arrowstyle="-|>",
                mutation_scale=12, lw=1.2 if kind == "zero" else 2.0, color=PALETTE[kind],
                ls="--" if kind == "zero" else "-", shrinkA=9, shrinkB=9,
                zorder=1))
            if labels:
                # quadratic Bezier midpoint of matplotlib's arc3: chord midpoint + rad/2 * (dy, -dx)
                lx, ly = (x1 + x2) / 2 + rad / 2 * (y2 - y1), (y1 + y2) / 2 - rad / 2 * (x2 - x1)
                if rad == 0.0:
                    ly += 0.2  # above a straight edge, clear of the node circles
                ax.text(lx, ly, _SHORT.get(op, op), ha="center", va="center", fontsize=8,
                        color=PALETTE[kind], zorder=3,
                        bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.9))
    for v, (x, y) in pos.items():
        ax.add_patch(plt.Circle((x, y), radius, fc="white", ec="black", lw=1.2, zorder=2))
        ax.text(x, y, str(v), ha="center", va="center", fontsize=10, zorder=3)
    ax.set_xlim(-0.45, dag.n_nodes + 0.45)
    ax.set_ylim(-0.75, 0.75)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title if title is not None else short_name(dag), fontsize=10)
    return ax


def short_name(dag: DAGLike) -> str:
    """A compact title: the MLP string, or a NAS-Bench-201 cell's ops per node (``conv3x3 + skip,none + ...``)."""
    dag = parse(dag)
    if dag.form == "mlp":
        return dag.to_string()
    return " + ".join(",".join(_SHORT[op] for op in group) for group in dag.ops)


__all__ = ["PALETTE", "use", "kind_legend", "draw_dag"]
