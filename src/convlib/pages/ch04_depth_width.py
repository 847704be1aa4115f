"""Chapter 04's page: how much of lambda_min and Eq. 12 effective depth and width explain."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from convlib.nas import DEPTH_RANGE, WIDTH_RANGE, in_box


def r_squared(y: np.ndarray, d: np.ndarray, m: np.ndarray) -> dict:
    """Share of the variance of y explained by (d, m): ``linear``, the least-squares fit ``y ~ a + b d + c m``;
    ``any function``, the mean of y within each (d, m) pair (the most any function of d and m can explain)."""
    A = np.column_stack([np.ones_like(d), d, m])
    fit = A @ np.linalg.lstsq(A, y, rcond=None)[0]
    _, group = np.unique(np.column_stack([d, m]), axis=0, return_inverse=True)
    group = group.reshape(-1)
    means = np.bincount(group, weights=y) / np.bincount(group)
    total = ((y - y.mean()) ** 2).sum()
    return {"linear": float(1 - ((y - fit) ** 2).sum() / total),
            "any function": float(1 - ((y - means[group]) ** 2).sum() / total)}


def summary_fits(R: dict) -> list[dict]:
    """``r_squared`` of log10 of Eq. 12's bound and of the exact lambda_min on (d, m), over the MLP-DAGs and the
    NAS-Bench-201 cells (through their MLP analogues) with at least one parameterised path (d > 0)."""
    rows = []
    for space, idx in (("MLP-DAGs", np.arange(len(R["dags"]))), ("NAS-Bench-201", R["nb201"])):
        idx = idx[R["depth"][idx] > 0]
        for target, y in (("Eq. 12 bound", R["eq12"]), ("exact lambda_min", R["lambda_exact"])):
            rows.append({"space": space, "target": f"log10 {target}", "DAGs": len(idx),
                         **r_squared(np.log10(y[idx]), R["depth"][idx], R["width"][idx])})
    return rows


def share_word(r2: float) -> str:
    """``"most"`` for a share of variance above one half, else ``"less than half"``."""
    return "most" if r2 > 0.5 else "less than half"


def principle_taus(R: dict) -> pd.DataFrame:
    """Kendall's tau and Spearman's rho of effective depth and of width with lambda_min (each kernel of
    ``ch04.landscape``) over the DAGs with a parameterised path (d > 0), in both spaces."""
    rows = []
    for space in ("mlp", "nb201"):
        keep = R[f"{space}_depth"] > 0
        for kernel in ("exact", "paper", "ntk"):
            lam = R[f"{space}_lambda_{kernel}"][keep]
            for principle in ("depth", "width"):
                x = R[f"{space}_{principle}"][keep]
                rows.append({"space": space, "kernel": kernel, "principle": principle, "cells": int(keep.sum()),
                             "Kendall tau": stats.kendalltau(x, lam).statistic,
                             "Spearman rho": stats.spearmanr(x, lam).statistic})
    return pd.DataFrame(rows)


def filter_regions(R: dict) -> pd.DataFrame:
    """The NAS-Bench-201 cells the released filter keeps (``nas.in_box``) and the regions it rejects (too
    shallow, too deep, too narrow, too wide), with their share and median lambda_min (exact, paper)."""
    d, m = R["nb201_depth"], R["nb201_width"]
    (d_lo, d_hi), (m_lo, m_hi) = DEPTH_RANGE, WIDTH_RANGE
    regions = {"kept by the filter": in_box(np.column_stack([d, m])), f"too shallow (d < {d_lo})": d < d_lo,
               f"too deep (d > {d_hi})": d > d_hi, f"too narrow (m < {m_lo}, d >= {d_lo})": (m < m_lo) & (d >= d_lo),
               f"too wide (m > {m_hi})": m > m_hi}
    median = lambda v, mask: float(np.median(v[mask])) if mask.any() else np.nan  # noqa: E731
    return pd.DataFrame([{"region": name, "cells": int(mask.sum()), "share": float(mask.mean()),
                          "median lambda_min exact": median(R["nb201_lambda_exact"], mask),
                          "median lambda_min paper": median(R["nb201_lambda_paper"], mask)}
                         for name, mask in regions.items()]).set_index("region")


__all__ = ["r_squared", "summary_fits", "share_word", "principle_taus", "filter_regions"]
