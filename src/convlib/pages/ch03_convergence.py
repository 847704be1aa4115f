"""Chapter 03's page: Theorem 3.1, Lemma 3.1, Lemma 3.3 and Eq. 12 checked on the cached results."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from convlib import theory
from convlib.dag import FIGURE3


def gd_bound_runs(R: dict, dags: list[str], tol: float = 1e-9) -> dict:
    """The GD runs of ``ch03.gd`` against the bound of Theorem 3.1, ``L(k)/L(0) <= (1 - eta lambda_min/2)^k``:
    how many runs exceed it at some step (by more than ``tol``, relative) and of which DAGs, the largest
    excess (loss / bound) with its DAG and step, the steps the worst run spends above, the least bound / loss
    over steps k >= 1 and its range over runs at the last step, and ``eta lambda_max(Theta)`` per DAG (2 at the
    edge of the linearised model's stability; the common step puts the DAG with the largest one nearest that
    edge)."""
    idx = np.asarray(R["dag_index"])
    excess, slack = R["ratio"] / R["bound"][idx], R["bound"][idx] / R["ratio"]
    over = (excess > 1 + tol).any(1)
    worst = int(np.argmax(excess.max(1)))
    above = np.flatnonzero(excess[worst] > 1 + tol)
    edge = R["eta"] * np.asarray(R["lambda_max_ntk"])
    return {"runs": len(excess), "runs_over": int(over.sum()),
            "dags_over": sorted({dags[i] for i in idx[over]}), "worst": float(excess.max()),
            "worst_dag": dags[idx[worst]], "worst_step": int(np.argmax(excess[worst])),
            "worst_steps": (int(above[0]), int(above[-1])) if len(above) else None,
            "least_slack": float(slack[:, 1:].min()), "last_slack": float(slack[:, -1].min()),
            "last_slack_max": float(slack[:, -1].max()),
            "edge_dag": dags[int(np.argmax(edge))], "edge": float(edge.max())}


def gd_bound_text(runs: dict) -> dict[str, str]:
    """The page's sentences on :func:`gd_bound_runs` (``bound_verdict``, ``bound_detail``, ``bound_regime``),
    true whichever way the runs come out."""
    if not runs["runs_over"]:
        return {"bound_verdict": "holds at every step of every run",
                "bound_detail": f"the largest ratio of loss to bound over all steps and runs is {runs['worst']:.4f}, "
                                "reached at k = 0 where both are 1",
                "bound_regime": "the trained networks stay below it too, well beyond the regime the proof covers"}
    first, last = runs["worst_steps"]
    edge_only = runs["dags_over"] == [runs["edge_dag"]]
    nearest = "the DAG whose step is nearest the edge of its stable range"
    who = (f"all of {runs['edge_dag']}, {nearest}" if edge_only and runs["runs_over"] > 1 else
           f"of {runs['edge_dag']}, {nearest}" if edge_only else f"of {', '.join(runs['dags_over'])}")
    worst = "it" if runs["runs_over"] == 1 else "the worst" if edge_only else f"the worst ({runs['worst_dag']})"
    return {"bound_verdict": f"is exceeded in {runs['runs_over']} of {runs['runs']} runs",
            "bound_detail": f"{who}: {worst} rises above the bound from step {first} to step {last}, by up to a "
                            f"factor {runs['worst']:.3f} at step {runs['worst_step']}, then falls far below it",
            "bound_regime": "the trained networks, whose NTK at finite width is not the limit's, stay below it "
                            + ("except at that edge, where a top NTK eigenvalue "
                               f"{2 / runs['edge'] - 1:.1%} above the limit's would be enough to make the top mode grow"
                               if edge_only else "in most runs, not all")}


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
    """The Figure-3 DAGs in ``ch03.scale_free``: per kernel (exact NNGP, the paper's recursion where ``S`` has
    it, NTK), lambda_min, the mean diagonal, their ratio (lambda_min with the kernel's scale removed) and the
    condition number lambda_max / lambda_min."""
    rows = []
    kernels = (("exact", "NNGP (exact)"), ("paper", "paper's recursion"), ("ntk", "NTK"))
    for kernel, label in ((k, name) for k, name in kernels if f"{k}_lam" in S):
        lam, diag, lmax = (figure3_values(S, S[f"{kernel}_{k}"]) for k in ("lam", "diag", "lmax"))
        for name, a, b, c in zip(FIGURE3, lam, diag, lmax):
            rows.append({"kernel": label, "DAG": f"{name} {FIGURE3[name]}", "lambda_min": a, "mean diagonal": b,
                         "lambda_min / mean diagonal": a / b, "condition number": c / a})
    return pd.DataFrame(rows)


__all__ = [
    "gd_bound_runs", "gd_bound_text", "theorem31_scales", "bound_check", "eq12_checks", "figure3_in_order",
    "figure3_order_share", "lemma31_check", "paper_bound_is_implied", "figure3_values", "scale_free_table",
]
