"""NAS on NAS-Bench-201 (Dong and Yang 2020): the network, the benchmark's ground truth, training-free
scores (NASWOT, TENAS), searches, and the DAG pre-filter of Chen et al. (2022).

``dag_filter(arch)`` is True when the cell's effective depth lies in ``depth`` and its effective width
in ``width`` (closed ranges; the paper's NAS-Bench-201 ranges are the defaults)."""
from __future__ import annotations

import numpy as np

from convlib.dag import DAGLike, parse

DEPTH_RANGE = (0.99, 2.51)  # Chen et al. (2022), released WOT+DAG code, NAS-Bench-201
WIDTH_RANGE = (0.99, 3.01)
# The DARTS (NDS) space's box of the same release: nas-without-training/search.py at commit 7fceb2f,
# the line `ranges = [0.5, 1.6, 4, 12] # NDS space`, left commented out beside the NAS-Bench-201 one.
DARTS_DEPTH_RANGE = (0.5, 1.6)
DARTS_WIDTH_RANGE = (4.0, 12.0)


def in_box(dw, depth: tuple[float, float] = DEPTH_RANGE, width: tuple[float, float] = WIDTH_RANGE) -> np.ndarray:
    """The filter on rows ``(d, m)`` of ``dw`` (n, 2): True (keep) where ``depth[0] <= d <= depth[1]``
    and ``width[0] <= m <= width[1]``."""
    for name, rng in (("depth", depth), ("width", width)):
        if len(rng) != 2 or not rng[0] <= rng[1]:
            raise ValueError(f"{name} range must be (low, high) with low <= high, got {rng!r}")
    dw = np.asarray(dw, dtype=float).reshape(-1, 2)
    return (depth[0] <= dw[:, 0]) & (dw[:, 0] <= depth[1]) & (width[0] <= dw[:, 1]) & (dw[:, 1] <= width[1])


def dag_filter(arch: DAGLike, depth: tuple[float, float] = DEPTH_RANGE,
               width: tuple[float, float] = WIDTH_RANGE) -> bool:
    """``in_box`` of one cell: True (keep) when its ``convlib.theory.effective_depth_width`` lies in the box."""
    from convlib.theory import effective_depth_width

    return bool(in_box(effective_depth_width(parse(arch)), depth, width)[0])


__all__ = ["dag_filter", "in_box", "DEPTH_RANGE", "WIDTH_RANGE", "DARTS_DEPTH_RANGE", "DARTS_WIDTH_RANGE"]
