"""Chapter 02's page: the verdicts, glued numbers, tables and figures of the NNGP checks."""
from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from convlib import dag, plotting, present
from convlib.dag import FIGURE3, FIGURE3_NAME


def remark33_steps(R: dict, tol: float = 1e-12) -> list[dict]:
    """The two steps from the exact NNGP to the paper's recursion, one row each, over the DAGs whose output a
    path reaches: how many a step changes (relative Frobenius gap > tol), the median and largest gap among
    those, on how many of them lambda_min does not rise, and the median and largest relative change of
    lambda_min, ``(before - after) / before``."""
    live = R["lambda_exact"] > 0
    rows = []
    steps = (("drop the means (Remark 3.3)", R["gap_means"], R["lambda_exact"], R["lambda_remark33"]),
             ("count each skip route once", R["gap_routes"], R["lambda_remark33"], R["lambda_paper"]))
    for step, gap, before, after in steps:
        hit = live & (gap > tol)
        change = (before[hit] - after[hit]) / before[hit]
        rows.append({"step": step, "DAGs changed": int(hit.sum()), "of": int(live.sum()),
                     "median gap": float(np.median(gap[hit])) if hit.any() else 0.0,
                     "largest gap": float(gap[hit].max()) if hit.any() else 0.0,
                     "lambda_min not raised": int((change >= -tol).sum()),
                     "median lambda change": float(np.median(change)) if hit.any() else 0.0,
                     "largest lambda change": float(np.abs(change).max()) if hit.any() else 0.0})
    return rows


def routes_step_is_exactly_the_repeated_dags(R: dict, tol: float = 1e-12) -> bool:
    """True when the recursion differs from the means-dropped rules on exactly the DAGs with a repeated skip route."""
    return bool(np.array_equal(R["gap_routes"] > tol, R["repeated"]))


def closed_forms_agree(C: dict, tol: float = 1e-12) -> bool:
    """True when ``kernels.nngp_paper`` equals Eqs. 6, 8, 10 entrywise to ``tol`` (float64 rounding)."""
    return bool(np.max(C["max_abs_diff"]) < tol)


def means_are_constant(R: dict, tol: float = 1e-12) -> bool:
    """Remark 3.3's premise: every node's first moment is the same for every input (relative spread < tol)."""
    return bool(R["mean_spread"] < tol)


# ------------------------------------------------------ the numbers the page glues, its tables and figures
FORMATS: dict[str, str] = {
    "cf_max": "{:.1e}", "cf_out_of_domain": "{:.1%}", "cf_k0_low": "{:.3f}", "cf_k0_high": "{:.3f}",
    "mc_slope": "{:.3f}", "mc_slope_min": "{:.3f}", "mc_slope_max": "{:.3f}", "mc_err_widest": "{:.4f}",
    "paper_err_widest": "{:.3f}", "gap_median": "{:.3f}", "gap_max": "{:.3f}", "lam_rel_median": "{:.1e}",
    "lam_rel_max": "{:.3f}", "r33_spread": "{:.1e}", "r33_means_gap": "{:.3f}", "r33_means_lam_median": "{:.1e}",
    "r33_means_lam_max": "{:.4f}", "r33_routes_lam_median": "{:.3f}", "r33_routes_lam_max": "{:.3f}"}
"""The precision the chapter prints each glued float at (``present.glue`` stores it so)."""

SLOPE_RANGE = (-0.65, -0.35)
"""Fitted error slopes counted as consistent with the ``m^{-1/2}`` Monte Carlo rate."""


def closed_forms_numbers(C: dict, n: int) -> dict:
    """The numbers the closed-form check quotes: inputs, largest difference, verdict, K0's range, and
    the share of pairs outside arcsin's domain under the scalar reading of Eq. 10."""
    low, high = C["k0_offdiag_range"]
    return {"cf_n": n, "cf_max": float(np.max(C["max_abs_diff"])),
            "cf_verdict": "equals" if closed_forms_agree(C) else "does NOT equal",
            "cf_k0_low": low, "cf_k0_high": high, "cf_out_of_domain": C["scalar_out_of_domain"]}


def closed_forms_table(C: dict) -> present.Table:
    """Per Figure-3 DAG: the paper's equation and the largest entrywise difference from ``nngp_paper``."""
    rows = pd.DataFrame({"DAG": [f"{name} ({arch})" for name, arch in FIGURE3.items()],
                         "paper's equation": ["Eq. 6", "Eq. 8", "Eq. 10"],
                         "largest |difference|": C["max_abs_diff"]})
    return present.table(rows, {"largest |difference|": "{:.1e}"})


def error_slopes(err: np.ndarray, widths: list) -> np.ndarray:
    """Per DAG, the least-squares slope of log(mean error over draws) against log(width);
    ``err`` is (DAGs, widths, draws). Monte Carlo error falls like ``m^{-1/2}``: slope -1/2."""
    x = np.log(np.asarray(widths, dtype=float))
    y = np.log(err.mean(-1))
    xc = x - x.mean()
    return (y - y.mean(-1, keepdims=True)) @ xc / (xc @ xc)


def monte_carlo_numbers(R: dict, widths: list) -> dict:
    """Slopes (mean, range, verdict against :data:`SLOPE_RANGE`) and the errors at the widest width."""
    slopes = error_slopes(R["err_exact"], widths)
    lo, hi = SLOPE_RANGE
    return {"mc_slope": float(slopes.mean()), "mc_slope_min": float(slopes.min()), "mc_slope_max": float(slopes.max()),
            "mc_verdict": "consistent with" if bool(np.all((slopes > lo) & (slopes < hi))) else "NOT consistent with",
            "mc_err_widest": float(R["err_exact"][:, -1].mean()),
            "paper_err_widest": float(R["err_paper"][:, -1].mean(-1).max())}


def monte_carlo_table(R: dict, dags: list, widths: list) -> present.Table:
    """Per DAG (its Figure-3 name too): fitted slope and the error at the widest width against each kernel."""
    names = [f"{FIGURE3_NAME[a]} ({a})" if a in FIGURE3_NAME else a for a in dags]
    rows = pd.DataFrame({"DAG": names, "fitted slope": error_slopes(R["err_exact"], widths),
                         "error, exact NNGP": R["err_exact"][:, -1].mean(-1),
                         "error, paper's recursion": R["err_paper"][:, -1].mean(-1)})
    return present.table(rows, {"fitted slope": "{:.2f}", "error, exact NNGP": "{:.4f}",
                                "error, paper's recursion": "{:.4f}"},
                         caption=f"Relative error at width m = {widths[-1]:,}, mean over the draws")


def monte_carlo_figure(R: dict, dags: list, widths: list) -> Figure:
    """One panel per DAG (two columns, titled by its Figure-3 name and code): error of a finite network's
    kernel against the exact NNGP and the paper's recursion (mean over draws, min-max band) with an
    ``m^{-1/2}`` guide; one legend."""
    rows = (len(dags) + 1) // 2
    fig = Figure(figsize=(6.5, 2.6 * rows + 0.7), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, 2, sharex=True, sharey=True)).ravel()
    slopes = error_slopes(R["err_exact"], widths)
    w = np.asarray(widths, dtype=float)
    for i, (ax, arch) in enumerate(zip(axes, dags)):
        for err, label, color in ((R["err_exact"], "exact NNGP", plotting.PALETTE["linear"]),
                                  (R["err_paper"], "paper's recursion", plotting.PALETTE["skip"])):
            ax.fill_between(w, err[i].min(-1), err[i].max(-1), color=color, alpha=0.2, lw=0)
            ax.plot(w, err[i].mean(-1), "o-", ms=4, color=color, label=label)
        ax.plot(w, R["err_exact"][i, 0].mean() * (w / w[0]) ** -0.5, "k:", lw=1.2, label=r"slope $-1/2$")
        name = FIGURE3_NAME.get(arch, "DAG")
        ax.set(xscale="log", yscale="log")
        ax.set_title(f"{name} {arch}\nfitted slope {slopes[i]:.2f}", fontsize="medium")
    for ax in axes[len(dags):]:
        ax.set_visible(False)
    for ax in axes[-2:]:
        ax.set_xlabel("width m")
    for ax in axes[::2]:
        ax.set_ylabel("relative error")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside upper center", ncol=3)
    return fig


def paper_gap_numbers(G: dict, mlp_nodes: int) -> dict:
    """How far the paper's recursion is from the exact NNGP over a whole MLP-DAG space, in the kernel and
    in lambda_min (relative difference ``(exact - paper) / exact`` on DAGs whose output a path reaches)."""
    gap, lam_e, lam_p = G["gap"], G["lambda_exact"], G["lambda_paper"]
    live = lam_e > 0
    rel = relative_lambda_change(lam_e, lam_p)
    repeated = np.array([dag.repeated_skip_route(a) for a in G["dags"]])
    big = lambda_far_off(G)
    return {"gap_nodes": mlp_nodes, "gap_total": len(gap), "gap_zero": int((gap < 1e-12).sum()),
            "gap_median": float(np.median(gap[gap > 1e-12])), "gap_max": float(gap.max()),
            "lam_rel_max": float(np.abs(rel).max()), "lam_rel_median": float(np.median(np.abs(rel[live]))),
            "lam_live": int(live.sum()), "lam_small": int((live & (np.abs(rel) < 0.01)).sum()),
            "lam_big": int(big.sum()), "lam_big_repeated": int((big & repeated).sum()),
            "lam_big_repeated_of": (present.of_them(int((big & repeated).sum()), int(big.sum())) if big.any()
                                    else "none"),
            "lam_exact_ge": int((lam_e >= lam_p * (1 - 1e-12)).sum())}


def lambda_far_off(G: dict, rel: float = 0.1) -> np.ndarray:
    """The DAGs (``ch02.paper_gap``) whose output a path reaches and whose lambda_min under the paper's recursion
    is more than ``rel`` below the exact NNGP's."""
    return (G["lambda_exact"] > 0) & (relative_lambda_change(G["lambda_exact"], G["lambda_paper"]) > rel)


def relative_lambda_change(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """``(before - after) / before`` where ``before > 0``, else 0."""
    live = before > 0
    return np.where(live, (before - after) / np.where(live, before, 1.0), 0.0)


def paper_gap_table(G: dict, top: int = 8) -> present.Table:
    """The ``top`` DAGs where the recursion is furthest from the exact kernel."""
    order = np.argsort(-G["gap"], kind="stable")[:top]
    rel = relative_lambda_change(G["lambda_exact"], G["lambda_paper"])
    rows = pd.DataFrame({"DAG": [G["dags"][i] for i in order], "kernel gap": G["gap"][order],
                         "λmin exact": G["lambda_exact"][order], "λmin paper": G["lambda_paper"][order],
                         "relative λmin difference": rel[order]})
    return present.table(rows, {c: "{:.3f}" for c in rows.columns[1:]},
                         caption=f"The {top} DAGs where the paper's recursion departs most")


def paper_gap_figure(G: dict) -> Figure:
    """Left: histogram of the kernel gap over the DAGs where it is non-zero. Right: lambda_min of the
    two kernels, one point per DAG whose output a path reaches, against the diagonal."""
    fig = Figure(figsize=(6.5, 3.0), layout="constrained")
    left, right = fig.subplots(1, 2)
    gap, lam_e, lam_p = G["gap"], G["lambda_exact"], G["lambda_paper"]
    left.hist(gap[gap > 1e-12], bins=30, color=plotting.PALETTE["linear"])
    left.set(xlabel="kernel gap (relative)", ylabel="DAGs", title="(a) kernel")
    live = lam_e > 0
    right.scatter(lam_e[live], lam_p[live], s=8, color=plotting.PALETTE["linear"])
    lim = [0, float(lam_e.max()) * 1.05]
    right.plot(lim, lim, "k:", lw=1)
    right.set(xlabel=r"$\lambda_{\min}$ exact", ylabel=r"$\lambda_{\min}$ paper", title=r"(b) $\lambda_{\min}$")
    return fig


def remark33_numbers(Q: dict) -> dict:
    """The numbers Check 3 quotes: Remark 3.3's premise, and what each of its two steps changes."""
    means, routes = remark33_steps(Q)
    return {"r33_spread": Q["mean_spread"], "r33_premise": "holds" if means_are_constant(Q) else "FAILS",
            "r33_live": means["of"], "r33_means_changed": means["DAGs changed"],
            "r33_means_gap": means["median gap"], "r33_means_not_raised": means["lambda_min not raised"],
            "r33_means_lam_median": means["median lambda change"], "r33_means_lam_max": means["largest lambda change"],
            "r33_repeated": int(Q["repeated"].sum()), "r33_routes_changed": routes["DAGs changed"],
            "r33_routes_verdict": "exactly" if routes_step_is_exactly_the_repeated_dags(Q) else "NOT exactly",
            "r33_routes_lam_median": routes["median lambda change"],
            "r33_routes_lam_max": routes["largest lambda change"]}


def remark33_table(Q: dict) -> present.Table:
    """:func:`remark33_steps` as a table."""
    rows = pd.DataFrame(remark33_steps(Q)).rename(columns={
        "of": "of the DAGs with a path", "median gap": "median kernel gap",
        "largest gap": "largest kernel gap", "lambda_min not raised": "λmin not raised",
        "median lambda change": "median λmin change", "largest lambda change": "largest λmin change"})
    return present.table(rows, {"median kernel gap": "{:.3f}", "largest kernel gap": "{:.3f}",
                                "median λmin change": "{:.1e}", "largest λmin change": "{:.3f}"})


def remark33_figure(Q: dict) -> Figure:
    """lambda_min before and after each step (means dropped; each skip route counted once), one point per
    DAG whose output a path reaches, coloured by whether a skip route repeats."""
    fig = Figure(figsize=(6.5, 3.4), layout="constrained")
    axes = fig.subplots(1, 2)
    live = Q["lambda_exact"] > 0
    panels = ((Q["lambda_exact"], Q["lambda_remark33"], "exact", "means dropped", "(a) drop the means"),
              (Q["lambda_remark33"], Q["lambda_paper"], "means dropped", "paper's recursion", "(b) count routes once"))
    for ax, (x, y, xl, yl, title) in zip(axes, panels):
        for mask, color, label in ((live & ~Q["repeated"], plotting.PALETTE["linear"], "no repeated skip route"),
                                   (live & Q["repeated"], plotting.PALETTE["skip"], "repeated skip route")):
            ax.scatter(x[mask], y[mask], s=8, color=color, label=label)
        lim = [0, float(x[live].max()) * 1.05]
        ax.plot(lim, lim, "k:", lw=1)
        ax.set(xlabel=rf"$\lambda_{{\min}}$ {xl}", ylabel=rf"$\lambda_{{\min}}$ {yl}", title=title)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside upper center", ncol=2, markerscale=2)
    return fig


__all__ = [
    "remark33_steps", "routes_step_is_exactly_the_repeated_dags", "lambda_far_off", "closed_forms_agree",
    "means_are_constant",
    "FORMATS", "SLOPE_RANGE", "closed_forms_numbers", "closed_forms_table", "error_slopes", "monte_carlo_numbers",
    "monte_carlo_table", "monte_carlo_figure", "paper_gap_numbers", "relative_lambda_change", "paper_gap_table",
    "paper_gap_figure", "remark33_numbers", "remark33_table", "remark33_figure"
]
