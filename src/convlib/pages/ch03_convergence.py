"""Chapter 03's page: Theorem 3.1, Lemma 3.1, Lemma 3.3 and Eq. 12 checked on the cached results."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from convlib import theory
from convlib.dag import FIGURE3


def theorem31_scales(n: int, n_paths: np.ndarray, lam: np.ndarray, eta: float, width: int) -> dict:
    """Theorem 3.1's conditions with every unstated constant (and 2^{O(H)}) set to 1: the step scale
    ``lambda / (n P)^2``, the leading width term ``(n P)^4 / lambda^4`` (the max in the condition is at
    least it), and the ratios ``eta / step scale`` (> 1: step too large) and ``width / width term``
    (< 1: too narrow)."""
    nP = n * np.asarray(n_paths, dtype=np.float64)
    lam = np.asarray(lam, dtype=np.float64)
    step, wide = lam / nP ** 2, nP ** 4 / lam ** 4
    return {"step scale": step, "eta / step scale": eta / step, "width term": wide, "width / width term": width / wide}


def bound_check(bound: np.ndarray, lam: np.ndarray, repeated: np.ndarray, tol: float = 1e-9) -> dict:
    """Is ``bound`` an upper bound on ``lam`` (entries > 0), how tight (``lam / bound``), and how well does it
    rank them (Kendall tau-b)? Violations: ``lam > bound (1 + tol)``, also counted among the ``repeated``."""
    bad = lam > bound * (1 + tol)
    ratio = lam / bound
    return {"DAGs": len(lam), "violations": int(bad.sum()), "of them repeated-route": int((bad & repeated).sum()),
            "largest lambda / bound": float(ratio.max()),
            "median lambda / bound": float(np.median(ratio)), "smallest lambda / bound": float(ratio.min()),
            "Kendall tau": float(stats.kendalltau(bound, lam).statistic)}


def eq12_checks(R: dict) -> list[dict]:
    """``bound_check`` of Eq. 12 and of Lemma 3.3 against lambda_min of the paper's recursion and of the exact
    NNGP, over the MLP-DAGs and over the NAS-Bench-201 cells (each through its MLP analogue), counting only
    DAGs with at least one path."""
    rows = []
    for space, idx in (("MLP-DAGs", np.arange(len(R["dags"]))), ("NAS-Bench-201", R["nb201"])):
        idx = idx[R["n_paths"][idx] > 0]
        for kernel in ("paper", "exact"):
            for name, bound in (("Eq. 12", R["eq12"]), ("Lemma 3.3", R[f"lemma33_{kernel}"])):
                rows.append({"space": space, "kernel": kernel, "bound": name,
                             **bound_check(bound[idx], R[f"lambda_{kernel}"][idx], R["repeated"][idx])})
    return rows


def figure3_in_order(R: dict, key: str) -> bool:
    """True when ``R[key]`` orders the Figure-3 DAGs of ``R["dags"]`` as DAG#1 < DAG#2 < DAG#3."""
    values = np.array([R[key][R["dags"].index(a)] for a in FIGURE3.values()])
    return bool(np.all(np.diff(values) > 0))


def figure3_order_share(C: np.ndarray) -> float:
    """Share of the correlations C at which Eq. 12 orders the Figure-3 DAGs DAG#1 < DAG#2 < DAG#3."""
    b = theory.eq12_value(theory.depth_counts(list(FIGURE3.values())), C)
    return float(((b[0] < b[1]) & (b[1] < b[2])).mean())


def lemma31_check(R: dict) -> dict:
    """Lemma 3.1's hypothesis on the inputs (no two parallel: largest cosine < 1) and its conclusion
    (lambda_min > 0 for every DAG with a path) for the paper's recursion and the exact NNGP."""
    live = R["n_paths"] > 0
    low = {k: float(R[f"lambda_{k}"][live].min()) for k in ("paper", "exact")}
    return {"max cosine": R["max_cosine"], "smallest lambda paper": low["paper"], "smallest lambda exact": low["exact"],
            "holds": bool(R["max_cosine"] < 1 and min(low.values()) > 0)}


def paper_bound_is_implied(T: dict, tol: float = 1e-12) -> bool:
    """True when lambda_min of the paper's recursion is at most the exact NNGP's for every DAG: then Eq. 3 with
    the paper's K^(H) is the weaker bound, and holds wherever the bound with the exact NNGP does."""
    return bool(np.all(T["lambda_paper"] <= T["lambda_exact"] * (1 + tol)))


def figure3_values(S: dict, values: np.ndarray) -> np.ndarray:
    """``values`` (one per DAG of ``S["dags"]``) at the Figure-3 DAGs, in the order DAG#1, #2, #3."""
    return np.array([values[list(S["dags"]).index(a)] for a in FIGURE3.values()])


def scale_free_table(S: dict) -> pd.DataFrame:
    """The Figure-3 DAGs in ``ch03.scale_free``: per kernel (exact NNGP, NTK), lambda_min, the mean diagonal,
    their ratio (lambda_min with the kernel's scale removed) and the condition number lambda_max / lambda_min."""
    rows = []
    for kernel, label in (("exact", "NNGP (exact)"), ("ntk", "NTK")):
        lam, diag, lmax = (figure3_values(S, S[f"{kernel}_{k}"]) for k in ("lam", "diag", "lmax"))
        for name, a, b, c in zip(FIGURE3, lam, diag, lmax):
            rows.append({"kernel": label, "DAG": f"{name} {FIGURE3[name]}", "lambda_min": a, "mean diagonal": b,
                         "lambda_min / mean diagonal": a / b, "condition number": c / a})
    return pd.DataFrame(rows)


__all__ = [
    "theorem31_scales", "bound_check", "eq12_checks", "figure3_in_order", "figure3_order_share", "lemma31_check",
    "paper_bound_is_implied", "figure3_values", "scale_free_table"
]
