"""Chapter 07's page: tables, summaries, verdicts and figures, and the numbers cited from Zhou et al. (2020)."""
from __future__ import annotations

import inspect
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from scipy.stats import norm

from convlib import darts, paper, plotting, present, stats
from convlib.dag import DAGLike, mlp_dags
from convlib.experiments.ch07_prdarts import VARIANTS
from convlib.nas import benchmark
from convlib.nas.network import EDGES, Network, cell_string
from convlib.prdarts import toy

# ---------------------------------------------------------------- tables' rows, summaries and verdicts
RHO_CHECK = 0.8  # the check that can fail: rho(lambda_PR, lambda_min(G_last)) above it at every width
GATE_TAUS, GATE_BETAS = (10.0, 1.0, 0.1), (-2.0, 0.0, 2.0)  # the gate-law check's grid
# the gate-law tolerance, in binomial standard errors: the Bonferroni bound for its two-sided comparisons (two
# events per (tau, beta)) at 5 % in all, z = Phi^-1(1 - 0.05 / (2 n)), n = 18
MC_SE = round(float(norm.isf(0.05 / (2 * 2 * len(GATE_TAUS) * len(GATE_BETAS)))), 2)
PD_TOL = 1e-8  # a kept Gram block counts as positive definite when its least eigenvalue is above this
ON_SHARE = 0.01  # the regulariser's gradient is "on" from this share of its value at the code's start tau
LAST, FULL, RATE = "lambda_min(G_last)", "lambda_min(G)", "GD decay rate"
GD = "GD rate vs lambda_min(G) (not lambda_PR)"
WITHIN = f"within {MC_SE} s.e."
THEOREM4 = {"pr": ("lambda_PR (sum over each branch's last node)", "lam_pr"), "lam": ("lambda_min(G)", "lam"),
            "rate": ("GD decay rate", "rate")}
SEARCH_COLUMNS = ("skips", "skips + pools", "eff. depth", "eff. width", "NB201 C10 test acc %")
BRIDGE = {"lambda_PR (in-edges)": "lambda_pr_in_edges", "lambda_PR (chain)": "lambda_pr_chain",
          "L_path (binary)": "path", "effective depth": "depth", "effective width": "width"}
ALL_SKIP = cell_string(["skip_connect"] * len(EDGES))
PAPER = "zhou2020"


def cited() -> dict[str, paper.Cited]:
    """The numbers of Zhou et al. (2020) that the chapter cites, with their sources (``data/paper/zhou2020.csv``)."""
    return paper.cited(PAPER)


def cited_glue() -> dict:
    """``p_<key>``: every cited number as the paper prints it, and ``src_<key>``: its source, for glue."""
    return {name: text for k, c in cited().items() for name, text in ((f"p_{k}", c.printed), (f"src_{k}", c.source))}


def _median(x: np.ndarray) -> float:
    return float(np.median(x)) if len(x) else math.nan


def rho_row(a: np.ndarray, b: np.ndarray, n_boot: int, seed: int) -> dict:
    """Spearman's rho of ``a`` and ``b`` with its 95 % bootstrap interval, as the columns of a table row."""
    r = stats.rank_correlation_ci(a, b, "spearman", n_boot, seed)
    return {"Spearman rho": r.value, "95% CI low": r.lo, "95% CI high": r.hi}


def theorem1_rows(T1: dict, gd_width: int, n_boot: int, seed: int) -> list[dict]:
    """Theorem 1's chain of steps (``ch07.theorem1``): lambda_PR (in-edges reading) against lambda_min of the
    kept block and of G at every width, against the GD decay rate at ``gd_width``; last, lambda_min(G) of the
    trained nets against their rate."""
    pr = T1["lambda_pr_in_edges"]
    rows = [{"width": int(w), "compared with": what, **rho_row(pr, T1[key][i], n_boot, seed)}
            for i, w in enumerate(T1["widths"]) for what, key in ((LAST, "lam_last"), (FULL, "lam_full"))]
    rows.append({"width": gd_width, "compared with": RATE, **rho_row(pr, T1["rate"], n_boot, seed)})
    rows.append({"width": gd_width, "compared with": GD, **rho_row(T1["lam_gd"], T1["rate"], n_boot, seed)})
    return rows


def theorem1_summary(rows: list[dict]) -> dict:
    """The smallest rho with the kept block over the widths and its verdict against ``RHO_CHECK``
    ("passes" / "fails"), the largest rho with lambda_min(G), rho with the GD rate, and rho of lambda_min(G)
    with the rate."""
    rho = {what: [r["Spearman rho"] for r in rows if r["compared with"] == what] for what in (LAST, FULL, RATE, GD)}
    last = min(rho[LAST])
    return {"rho_last_min": last, "rho_check": RHO_CHECK,
            "rho_check_verdict": "passes" if last > RHO_CHECK else "fails",
            "rho_full_max": max(rho[FULL]), "rho_rate": rho[RATE][0], "rho_gd": rho[GD][0]}


def drift_slope(widths: Sequence[float], drift_by_width: np.ndarray) -> float:
    """Least-squares slope of log(mean relative Gram drift over the nets) against log(width)."""
    return float(np.polyfit(np.log(widths), np.log(np.mean(drift_by_width, axis=1)), 1)[0])


def conv_into_last(arch: DAGLike) -> bool:
    """Whether some conv-kind (linear) edge enters the last node of the cell."""
    return bool(toy.cell_from_dag(arch).alpha[-1, :, toy.CONV].any())


def reading_rows(BG: dict, n_boot: int, seed: int) -> list[dict]:
    """Each reading of lambda_PR (``ch07.binary_gram``) against lambda_min of the kept block and of G."""
    return [{"reading": r, "vs": what, **rho_row(BG[f"lambda_pr_{r}"], BG[key], n_boot, seed)}
            for r in toy.READINGS for what, key in ((LAST, "lam_last"), (FULL, "lam_full"))]


def binary_summary(BG: dict) -> dict:
    """Over the binary cells: how many there are, on how many the readings differ, how many have a conv
    into the last node but lambda_PR = 0 ("missed"), the share of those whose kept block is positive
    definite (above ``PD_TOL``), and the median least eigenvalue of the kept block for them and for the
    cells with lambda_PR > 0."""
    pr = BG["lambda_pr_in_edges"]
    missed = np.array([conv_into_last(a) for a in BG["archs"]], bool) & (pr == 0)
    last = BG["lam_last"]
    return {"bg_n": len(BG["archs"]), "n_differ": int((pr != BG["lambda_pr_chain"]).sum()),
            "bg_missed": int(missed.sum()),
            "bg_missed_pd": float((last[missed] > PD_TOL).mean()) if missed.any() else math.nan,
            "bg_last_zero": _median(last[missed]), "bg_last_pos": _median(last[pr > 0])}


def binary_cells_phrase(BG: dict) -> str:
    """How many of the binary cells (``dag.mlp_dags(3)``: zero, skip or conv on each of the 6 edges) ``BG``
    (``ch07.binary_gram``) holds, for the text: "all 729" or "27 of the 729"."""
    n, total = len(BG["archs"]), len(mlp_dags(3))
    return f"all {total:,}" if n == total else f"{n:,} of the {total:,}"


def gate_law_rows(mc_draws: int, seed: int, taus: Sequence[float] = GATE_TAUS,
                  betas: Sequence[float] = GATE_BETAS) -> list[dict]:
    """Theorem 3 by Monte Carlo: the frequencies of g != 0 and g = 1 over ``mc_draws`` hard-concrete gates
    per (tau, beta) (one generator seeded ``seed``) against the closed forms, and whether each lies within
    ``MC_SE`` binomial standard errors."""
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for tau in taus:
        for beta in betas:
            gate = darts.hard_concrete(torch.full((mc_draws,), beta, dtype=torch.float64), tau, generator=gen)
            for event, hit, law in (("g != 0", gate != 0, darts.prob_nonzero), ("g = 1", gate == 1, darts.prob_one)):
                emp, p = float(hit.double().mean()), float(law(torch.tensor(beta), tau))
                tol = MC_SE * math.sqrt(p * (1 - p) / mc_draws) + 1e-12
                rows.append({"tau": tau, "beta": beta, "event": event, "Monte Carlo": emp, "closed form": p,
                             "difference": emp - p, WITHIN: abs(emp - p) <= tol})
    return rows


def gate_law_summary(rows: list[dict]) -> dict:
    """Whether every setting lies within the tolerance ("all" / "not all"), the largest difference, the tolerance."""
    return {"mc_all_ok": "all" if all(r[WITHIN] for r in rows) else "not all",
            "mc_max_diff": max(abs(r["difference"]) for r in rows), "mc_se": MC_SE}


def regulariser_gradient(taus: Sequence[float], dtype: torch.dtype = torch.float64) -> np.ndarray:
    """max |dR / dbeta| of the PR-DARTS regulariser R (``darts.regulariser``, the paper's lambdas) at the
    paper's initialisation beta = ``SearchConfig.beta_init``, at each temperature."""
    beta = torch.full((len(EDGES), len(darts.NB201_OPS)), darts.SearchConfig.beta_init, dtype=dtype,
                      requires_grad=True)
    return np.array([float(torch.autograd.grad(darts.regulariser(beta, float(t)), beta)[0].abs().max()) for t in taus])


def temperature_summary(taus: np.ndarray, g64: np.ndarray, g32: np.ndarray) -> dict:
    """Where the regulariser's gradient (float64 ``g64``, float32 ``g32`` over ``taus``) switches on: its
    value at the paper's start (``SearchConfig.tau_start``) and at the code's (variant ``prdarts_tau1``); the
    largest tau at which it reaches ``ON_SHARE`` of its value at the code's start, and the share of the
    paper's linear schedule spent above that; the smallest tau at which the float32 gradient is exactly 0.
    Both starts must lie on the grid."""
    taus = np.asarray(taus)
    start, end, code = darts.SearchConfig.tau_start, darts.SearchConfig.tau_end, VARIANTS["prdarts_tau1"]["tau_start"]

    def at(tau: float) -> int:
        hit = np.flatnonzero(np.isclose(taus, tau))
        if not len(hit):
            raise ValueError(f"the temperature grid must contain {tau}, got {taus.min()}..{taus.max()}")
        return int(hit[0])

    tau_on = float(taus[g64 >= ON_SHARE * g64[at(code)]].max())
    zero32 = taus[g32 == 0]
    return {"tau_paper": start, "tau_code": code, "grad_tau_paper": float(g64[at(start)]),
            "grad_tau_code": float(g64[at(code)]), "on_share": ON_SHARE, "tau_on": tau_on,
            "frac_off": (start - tau_on) / (start - end),
            "tau_zero32": float(zero32.min()) if len(zero32) else math.nan}


def start_saturation() -> dict:
    """At the paper's start: the gate shift -ln(-a/b) (``P(g != 0) = sigmoid(beta + shift tau)``), the
    sigmoid's argument beta_init + shift tau_start, and 1 - sigmoid of it (its derivative is about the same)."""
    shift = -math.log(-darts.A / darts.B)
    arg = darts.SearchConfig.beta_init + shift * darts.SearchConfig.tau_start
    return {"gate_shift": shift, "gate_arg": arg, "gate_tail": 1 / (1 + math.exp(arg))}


def converged(T4: dict) -> np.ndarray:
    """The draws in which gradient descent stayed finite for both cell A and cell B (``ch07.theorem4``)."""
    return np.isfinite(T4["rate_A"]) & np.isfinite(T4["rate_B"])


def theorem4_rows(T4: dict) -> list[dict]:
    """Cell A (one chain) against cell B (two branches), ``ch07.theorem4``, over the draws in which both
    converged (``converged``): the mean of lambda_PR, of lambda_min(G) and of the GD rate for each, and the
    share of draws in which B's is larger."""
    ok = converged(T4)
    return [{"quantity": label, "mean A": float(T4[f"{key}_A"][ok].mean()), "mean B": float(T4[f"{key}_B"][ok].mean()),
             "share of draws with B > A": float((T4[f"{key}_B"][ok] > T4[f"{key}_A"][ok]).mean())}
            for label, key in THEOREM4.values()]


def theorem4_summary(T4: dict) -> dict:
    """``t4_share_pr`` / ``_lam`` / ``_rate``: the share of draws in which B beats A among the ``t4_converged``
    draws in which both converged, and ``t4_diverged_A`` / ``_B``: the draws in which gradient descent on
    A / B diverged (a non-finite loss)."""
    return {**{f"t4_share_{name}": row["share of draws with B > A"] for name, row in zip(THEOREM4, theorem4_rows(T4))},
            **{f"t4_diverged_{c}": int((~np.isfinite(T4[f"rate_{c}"])).sum()) for c in "AB"},
            "t4_converged": int(converged(T4).sum())}


def loss_by_third(SF: dict) -> dict[str, list[float]]:
    """Mean training loss (over seeds, then over steps) in the first, middle and last third of the steps,
    per skip fraction (``ch07.skip_fraction``): ``{"37.5% skips": [first, middle, last]}``."""
    thirds = np.array_split(np.arange(SF["curves"].shape[-1]), 3)
    return {f"{f:.1%} skips": [float(c.mean(0)[t].mean()) for t in thirds]
            for f, c in zip(SF["fractions"], SF["curves"])}


def fig2_summary(SF: dict) -> dict:
    """``f2_<1000 f>_first`` and ``_last`` per skip fraction f, ``f2_sd``: the largest standard deviation
    between seeds of a last-third mean, and ``fig2_steps``."""
    thirds = loss_by_third(SF)
    out = {}
    for f, (first, _, last) in zip(SF["fractions"], thirds.values()):
        out[f"f2_{1000 * f:g}_first"], out[f"f2_{1000 * f:g}_last"] = first, last
    steps = SF["curves"].shape[-1]
    last_third = np.array_split(np.arange(steps), 3)[2]
    return {**out, "f2_sd": float(SF["curves"][..., last_third].mean(-1).std(1).max()), "fig2_steps": steps}


def search_rows(S: dict, variants: Sequence[str], search_seeds: Sequence[int]) -> list[dict]:
    """The final pick of every search (``ch07.search``): method, seed, rule, the pick and ``SEARCH_COLUMNS``."""
    rows = []
    for v, name in enumerate(variants):
        for s, seed in enumerate(search_seeds):
            for rule in darts.RULES:
                arch = S[f"picks_{rule}"][v * len(search_seeds) + s]
                rows.append({"method": name, "seed": seed, "rule": rule, "pick": arch,
                             "skips": int(S[f"skips_{rule}"][v, s, -1]),
                             "skips + pools": arch.count("skip_connect") + arch.count("avg_pool_3x3"),
                             "eff. depth": float(S[f"depth_{rule}"][v, s, -1]),
                             "eff. width": float(S[f"width_{rule}"][v, s, -1]),
                             "NB201 C10 test acc %": float(S[f"acc_{rule}"][v, s, -1])})
    return rows


def search_means(rows: list[dict]) -> list[dict]:
    """The mean over seeds of ``SEARCH_COLUMNS`` per (method, rule), in the order of ``rows``."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["method"], r["rule"]), []).append(r)
    return [{"method": m, "rule": rule, **{c: float(np.mean([r[c] for r in g])) for c in SEARCH_COLUMNS}}
            for (m, rule), g in groups.items()]


def search_summary(means: list[dict]) -> dict:
    """``acc_<method>_<rule>``, ``skips_...`` and ``depth_...`` from ``search_means``."""
    out = {}
    for r in means:
        tag = f"{r['method']}_{r['rule']}"
        out |= {f"acc_{tag}": r["NB201 C10 test acc %"], f"skips_{tag}": r["skips"], f"depth_{tag}": r["eff. depth"]}
    return out


HEADLINE_RULE = "top2"  # the one selection rule every method's verdict uses (DARTS's and PR-DARTS's own)


def chance_skips(rule: str) -> float:
    """Expected skip_connect edges of a pick whose op per kept edge is uniform: ``top2`` keeps 5 of the 6
    edges (1 + 2 + 2 in-edges), each one of 4 non-zero ops; ``argmax`` keeps all 6, each one of 5 ops."""
    if rule not in darts.RULES:
        raise ValueError(f"rule must be one of {darts.RULES}, got {rule!r}")
    return 5 / 4 if rule == "top2" else 6 / 5


def _sd(x: np.ndarray) -> float:
    return float(np.std(x, ddof=1)) if len(x) > 1 else math.nan


def method_rows(S: dict, variants: Sequence[str], rule: str = HEADLINE_RULE) -> list[dict]:
    """Per method (``ch07.search``), the final picks of one ``rule`` over the seeds: skips (mean, sd), skip
    fraction of the 6 edges, NB201 CIFAR-10 accuracy (mean, sd), and the regulariser's and its path term's
    share of the architecture gradient averaged over every epoch and seed."""
    rows = []
    for v, name in enumerate(variants):
        sk, acc = S[f"skips_{rule}"][v, :, -1], S[f"acc_{rule}"][v, :, -1]
        rows.append({"method": name, "rule": rule, "seeds": len(sk), "skips": float(sk.mean()), "skips sd": _sd(sk),
                     "skip fraction": float(sk.mean()) / len(EDGES), "C10 acc %": float(acc.mean()),
                     "acc sd": _sd(acc), "R share": float(S["reg_share"][v].mean()),
                     "path share": float(S["path_share"][v].mean())})
    return rows


def method_summary(rows: list[dict]) -> dict:
    """``m_<method>_{skips, skips_sd, frac, acc, acc_sd, share, path}`` from ``method_rows``."""
    cols = {"skips": "skips", "skips_sd": "skips sd", "frac": "skip fraction", "acc": "C10 acc %",
            "acc_sd": "acc sd", "share": "R share", "path": "path share"}
    return {f"m_{r['method']}_{k}": r[c] for r in rows for k, c in cols.items()}


def skip_trend(S: dict, variants: Sequence[str], rule: str = HEADLINE_RULE) -> dict:
    """Mean skips of each method's pick after the first, middle and last epoch (``t_<method>_first`` /
    ``_mid`` / ``_last``) and the largest mean over the epochs (``t_<method>_max``)."""
    out = {}
    for v, name in enumerate(variants):
        m = S[f"skips_{rule}"][v].mean(0)
        out |= {f"t_{name}_first": float(m[0]), f"t_{name}_mid": float(m[len(m) // 2]),
                f"t_{name}_last": float(m[-1]), f"t_{name}_max": float(m.max())}
    return out


def _benchmark_size() -> tuple[int, int]:
    """(C, N) of the NAS-Bench-201 network: ``Network``'s defaults, the benchmark's own sizes."""
    p = inspect.signature(Network).parameters
    return p["C"].default, p["N"].default


def search_budget(search_images: int, search_epochs: int, batch_size: int, search_C: int, search_N: int,
                  image_size: int) -> dict:
    """Our searches against the paper's: architecture steps (``s_steps``, one per validation batch), the
    paper's count over ours (``s_steps_ratio``), and the compute of one search at the paper's schedule on
    the benchmark's network over ours (``s_factor``: images x epochs x C^2 x N x pixels, FLOP ratio)."""
    p = {k: c.value for k, c in cited().items()}
    C, N = _benchmark_size()
    steps = search_epochs * (search_images // 2 // batch_size)
    paper_steps = p["search_epochs"] * (p["search_val_images"] // p["search_batch"])
    factor = ((p["search_train_images"] + p["search_val_images"]) * p["search_epochs"] / (search_images * search_epochs)
              * (C / search_C) ** 2 * (N / search_N) * (p["search_image_size"] / image_size) ** 2)
    return {"s_steps": steps, "s_steps_ratio": paper_steps / steps, "s_factor": factor, "nb_C": C, "nb_N": N}


def budget_rows(search_images: int, image_size: int, search_C: int, search_N: int, search_epochs: int,
                batch_size: int, arch_lr: float, n_seeds: int, n_variants: int) -> list[dict]:
    """The search budget, the paper's (as printed, with its source) beside ours."""
    c = cited()
    v = {k: e.printed for k, e in c.items()}
    return [
        {"setting": "data", "paper (DARTS space)": f"CIFAR-10 train, {v['search_train_images']} / "
         f"{v['search_val_images']} split", "source": c["search_train_images"].source,
         "here": f"{search_images} training images (half / half) at {image_size}x{image_size} pixels"},
        {"setting": "supernet", "paper (DARTS space)": f"{v['search_cells']} cells, C = {v['search_C']}",
         "source": c["search_cells"].source,
         "here": f"NB201 skeleton, {present.count(search_N, 'cell')} per stage, C = {search_C}"},
        {"setting": "schedule", "paper (DARTS space)": f"{v['search_epochs']} epochs, batch {v['search_batch']}, "
         f"Adam lr {v['arch_lr']} for beta", "source": c["arch_lr"].source,
         "here": f"{search_epochs} epochs, batch {batch_size}, Adam lr {arch_lr:g}"},
        {"setting": "runs", "paper (DARTS space)": "one reported run", "source": c["prdarts_c10_error"].source,
         "here": f"{present.count(n_seeds, 'seed')} x {n_variants} variants"},
        {"setting": "cost", "paper (DARTS space)": f"{v['prdarts_cost']} {c['prdarts_cost'].unit}",
         "source": c["prdarts_cost"].source, "here": "CPU minutes, below"},
    ]


def benchmark_scale() -> dict:
    """The best NAS-Bench-201 cell's CIFAR-10 test accuracy and the all-skip cell's."""
    return {"nb_best": float(benchmark.load()["cifar10"].max()), "nb_allskip": float(benchmark.accuracy([ALL_SKIP])[0])}


def bridge_rows(BR: dict) -> list[dict]:
    """Spearman's rho of each of ``BRIDGE``'s quantities with the test accuracy on each benchmark dataset."""
    return [{"quantity": q, **{ds: stats.rank_correlation(BR[key], BR[ds], "spearman") for ds in benchmark.DATASETS}}
            for q, key in BRIDGE.items()]


def bridge_summary(BR: dict) -> dict:
    """The number of cells, the mean CIFAR-10 accuracy with and without the full-depth conv chain, and the
    CIFAR-10 rho of lambda_PR (in-edges), L_path and the effective depth."""
    rho = {r["quantity"]: r["cifar10"] for r in bridge_rows(BR)}
    path = BR["path"] == 1
    return {"br_cells": len(BR["path"]), "br_path_acc": float(BR["cifar10"][path].mean()),
            "br_nopath_acc": float(BR["cifar10"][~path].mean()), "br_rho_pr": rho["lambda_PR (in-edges)"],
            "br_rho_path": rho["L_path (binary)"], "br_rho_depth": rho["effective depth"]}


def by_lambda_pr(BR: dict) -> list[dict]:
    """Per value of the binary lambda_PR (in-edges): the number of cells, their mean CIFAR-10 accuracy and
    mean effective depth."""
    pr = BR["lambda_pr_in_edges"]
    return [{"lambda_PR (in-edges)": float(v), "cells": int((pr == v).sum()),
             "mean C10 acc %": float(BR["cifar10"][pr == v].mean()),
             "mean eff. depth": float(BR["depth"][pr == v].mean())} for v in np.unique(pr)]


# ---------------------------------------------------------------- formats, tables and figures
FORMATS: dict[str, str] = {
    **dict.fromkeys(("rho_last_min", "rho_full_max", "rho_rate", "rho_gd", "drift_slope", "gate_shift", "tau_on",
                     "tau_zero32", "depth_darts_top2", "acc_darts_top2", "depth_prdarts_top2", "acc_prdarts_top2",
                     "depth_prdarts_tau1_top2", "acc_prdarts_tau1_top2", "nb_best", "nb_allskip", "br_path_acc",
                     "br_nopath_acc", "br_rho_pr", "br_rho_path", "br_rho_depth"), "{:.2f}"),
    **dict.fromkeys(("bg_missed_pd", "on_share", "frac_off", "t4_share_pr", "t4_share_lam", "t4_share_rate"), "{:.0%}"),
    **dict.fromkeys(("bg_last_zero", "bg_last_pos", "mc_max_diff", "grad_tau_paper", "grad_tau_code"), "{:.1e}"),
    **dict.fromkeys(("f2_0_first", "f2_375_first", "f2_625_first", "f2_0_last", "f2_375_last", "f2_625_last",
                     "f2_sd"), "{:.3f}"),
    **dict.fromkeys(("skips_darts_top2", "skips_prdarts_top2", "skips_prdarts_tau1_top2", "gate_arg"), "{:.1f}"),
    "gate_tail": "{:.0e}", "s_factor": "{:,.0f}", "s_steps_ratio": "{:,.0f}",
    **{f"m_{v}_{k}": f for v in VARIANTS for k, f in (("skips", "{:.1f}"), ("skips_sd", "{:.1f}"), ("frac", "{:.0%}"),
                                                      ("acc", "{:.2f}"), ("acc_sd", "{:.2f}"), ("share", "{:.1%}"),
                                                      ("path", "{:.1%}"))},
    **{f"t_{v}_{k}": "{:.1f}" for v in VARIANTS for k in ("first", "mid", "last", "max")},
    **{f"{q}_{v}_{r}": f for v in VARIANTS for r in darts.RULES
       for q, f in (("skips", "{:.1f}"), ("depth", "{:.2f}"), ("acc", "{:.2f}"))},
    "chance_skips": "{:.2f}"}
"""The precision the chapter prints each glued float at (``present.glue`` stores it so)."""

METHODS = {"darts": "DARTS", "gates_tau1": "gates only, λ3 = 0 (code's τ)", "prdarts": "PR-DARTS (paper's τ)",
           "prdarts_tau1": "PR-DARTS (code's τ)"}
"""How the page names each search variant of :data:`VARIANTS`."""
METHOD_COLOURS = {"darts": "#E69F00", "gates_tau1": "#CC79A7", "prdarts": "#0072B2", "prdarts_tau1": "#009E73"}
RHO = {"Spearman rho": "{:.2f}", "95% CI low": "{:.2f}", "95% CI high": "{:.2f}"}


def theorem1_table(rows: list[dict]) -> present.Table:
    """:func:`theorem1_rows` as a table."""
    return present.table(pd.DataFrame(rows), {"width": "{:,d}", **RHO})


def theorem1_figure(T1: dict, gd_width: int) -> Figure:
    """lambda_PR against lambda_min of the kept Gram block and of G (widest width) and the GD decay rate."""
    fig = Figure(figsize=(9, 3.0), layout="constrained")  # shown full-width: three panels side by side
    axes = fig.subplots(1, 3, sharex=True)
    w = int(T1["widths"][-1])
    panels = ((T1["lam_last"][-1], rf"(a) $\lambda_{{\min}}(G_{{\mathrm{{last}}}})$, m = {w}"),
              (T1["lam_full"][-1], rf"(b) $\lambda_{{\min}}(G)$, m = {w}"),
              (T1["rate"], f"(c) GD decay rate, m = {gd_width}"))
    for ax, (y, title) in zip(axes, panels):
        ax.scatter(T1["lambda_pr_in_edges"], y, s=10, color=plotting.PALETTE["linear"])
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(r"$\lambda_{PR}$")
    return fig


def drift_table(T1: dict) -> present.Table:
    """Mean relative Gram drift after training, per width."""
    rows = pd.DataFrame({"width": T1["widths"].astype(int), "mean relative Gram drift": T1["drift_by_width"].mean(1)})
    return present.table(rows, {"width": "{:,d}", "mean relative Gram drift": "{:.4f}"})


def readings_table(rows: list[dict]) -> present.Table:
    """:func:`reading_rows` as a table."""
    return present.table(pd.DataFrame(rows), RHO)


def gate_law_table(rows: list[dict]) -> present.Table:
    """:func:`gate_law_rows` as a table, one row per (tau, beta): each event's Monte Carlo frequency beside its
    closed form, the larger of the two differences, and whether both lie within the tolerance (yes / no)."""
    df = pd.DataFrame(rows)
    wide = df.pivot_table(index=["tau", "beta"], columns="event", values=["Monte Carlo", "closed form"],
                          sort=False)
    out = pd.DataFrame({"τ": [t for t, _ in wide.index], "β": [b for _, b in wide.index]})
    for event, name in (("g != 0", "P(g ≠ 0)"), ("g = 1", "P(g = 1)")):
        out[f"{name} Monte Carlo"] = wide[("Monte Carlo", event)].to_numpy()
        out[f"{name} closed form"] = wide[("closed form", event)].to_numpy()
    group = df.groupby(["tau", "beta"], sort=False)
    out["largest |difference|"] = group["difference"].agg(lambda d: d.abs().max()).to_numpy()
    out[WITHIN] = group[WITHIN].all().map({True: "yes", False: "no"}).to_numpy()
    return present.table(out, {"τ": "{:g}", "β": "{:g}", "largest |difference|": "{:.1e}",
                               **{c: "{:.4f}" for c in out.columns if "(" in c}})


def temperature_grid(points: int = 41) -> np.ndarray:
    """Temperatures from the schedule's end to the paper's start, geometrically spaced (both starts on it)."""
    return np.geomspace(darts.SearchConfig.tau_end, darts.SearchConfig.tau_start, points)


def temperature_figure(taus: np.ndarray, g64: np.ndarray, g32: np.ndarray) -> Figure:
    """The regulariser's largest gradient against the temperature, float64 and float32, with both starts."""
    fig = Figure(figsize=(6.5, 3.4), layout="constrained")
    ax = fig.subplots()
    ax.loglog(taus, g64, color=plotting.PALETTE["linear"], label="float64")
    ax.loglog(taus[g32 > 0], g32[g32 > 0], color=plotting.PALETTE["skip"], ls=":", lw=2.5,
              label="float32 (exactly 0 beyond)")
    starts = (darts.SearchConfig.tau_start, VARIANTS["prdarts_tau1"]["tau_start"])
    for start, label in zip(starts, ("paper's start", "code's start")):
        ax.axvline(start, color=plotting.PALETTE["zero"], ls="--", lw=1)
        ax.annotate(label, (start, 0.98), xycoords=("data", "axes fraction"), ha="right", va="top", fontsize=9,
                    rotation=90, color="#555555")
    ax.set(xlabel=r"temperature $\tau$", ylabel=rf"max $|\partial R / \partial \beta|$ at $\beta = "
                                                 rf"{darts.SearchConfig.beta_init}$")
    ax.legend(loc="lower left")
    return fig


def theorem4_table(T4: dict) -> present.Table:
    """:func:`theorem4_rows` as a table."""
    return present.table(pd.DataFrame(theorem4_rows(T4)), {"mean A": "{:.3g}", "mean B": "{:.3g}",
                                                           "share of draws with B > A": "{:.0%}"})


def theorem4_figure(T4: dict) -> Figure:
    """Training loss of cell A and cell B (geometric mean over the draws in which both converged)."""
    fig = Figure(figsize=(6.5, 3.2), layout="constrained")
    ax = fig.subplots()
    ok = converged(T4)
    for name, color, label in (("A", plotting.PALETTE["linear"], "A: one deep chain"),
                               ("B", plotting.PALETTE["skip"], "B: two shallow branches")):
        ax.semilogy(np.exp(np.log(T4[f"loss_{name}"][ok]).mean(0)), color=color, label=label)
    ax.set(xlabel="gradient-descent step", ylabel="training loss (geometric mean)")
    ax.legend()
    return fig


def skip_fraction_figure(SF: dict) -> Figure:
    """Training loss (mean over seeds, running mean over about a twelfth of the steps) per skip fraction."""
    fig = Figure(figsize=(6.5, 3.4), layout="constrained")
    ax = fig.subplots()
    colors = [plotting.PALETTE["linear"], "#009E73", plotting.PALETTE["skip"]]
    k = max(1, SF["curves"].shape[-1] // 12)
    for f, c, color in zip(SF["fractions"], SF["curves"], colors):
        smooth = np.convolve(c.mean(0), np.ones(k) / k, mode="valid")
        ax.plot(np.arange(len(smooth)) + k, smooth, color=color, label=f"{f:.1%} skips")
    ax.set(xlabel="SGD step", ylabel="training loss (running mean)")
    ax.legend()
    return fig


def loss_by_third_table(SF: dict) -> present.Table:
    """:func:`loss_by_third` with one row per third of the steps."""
    df = pd.DataFrame(loss_by_third(SF), index=["first third", "middle third", "last third"])
    return present.table(df.rename_axis("mean training loss"), dict.fromkeys(df.columns, "{:.3f}"), index=True)


def search_minutes(S: dict) -> float:
    """Total compute of the cached searches, in minutes (from their provenance)."""
    return S["_provenance"]["wall_s"] / 60


def budget_table(rows: list[dict]) -> present.Table:
    """:func:`budget_rows` as a table."""
    return present.table(pd.DataFrame(rows))


def skips_figure(S: dict, variants: Sequence[str], search_epochs: int) -> Figure:
    """Skip connections in each method's pick after every epoch, top-2 rule and argmax (mean and range over seeds)."""
    fig = Figure(figsize=(6.5, 3.4), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    epochs = np.arange(1, search_epochs + 1)
    for ax, rule in zip(axes, darts.RULES):
        for v, name in enumerate(variants):
            sk = S[f"skips_{rule}"][v]
            ax.plot(epochs, sk.mean(0), marker="o", ms=4, color=METHOD_COLOURS[name], label=METHODS[name])
            ax.fill_between(epochs, sk.min(0), sk.max(0), color=METHOD_COLOURS[name], alpha=0.15, lw=0)
        ax.set(title=f"rule: {rule}", xlabel="search epoch")
    axes[0].set_ylabel("skip_connect edges in the pick")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside upper center", ncol=2)
    return fig


def share_figure(S: dict, variants: Sequence[str], search_epochs: int) -> Figure:
    """The regulariser's share of the architecture gradient (solid) and its path term's (dashed) per
    search epoch, mean over seeds, for the gated methods."""
    fig = Figure(figsize=(6.5, 3.2), layout="constrained")
    ax = fig.subplots()
    epochs = np.arange(1, search_epochs + 1)
    for v, name in enumerate(variants):
        if VARIANTS[name]["method"] == "darts":
            continue
        ax.plot(epochs, S["reg_share"][v].mean(0), marker="o", ms=4, color=METHOD_COLOURS[name], label=METHODS[name])
        ax.plot(epochs, S["path_share"][v].mean(0), ls="--", color=METHOD_COLOURS[name])
    ax.set_yscale("symlog", linthresh=1e-3)
    ax.set(xlabel="search epoch", ylabel="share of the architecture gradient", ylim=(0, 1))
    ax.legend(title="solid: all of R; dashed: path term", fontsize=8, title_fontsize=8)
    return fig


def method_table(rows: list[dict]) -> present.Table:
    """:func:`method_rows` as a table, methods by their names."""
    df = pd.DataFrame(rows).assign(method=lambda d: d["method"].map(METHODS))
    return present.table(df, {"skips": "{:.1f}", "skips sd": "{:.1f}", "skip fraction": "{:.0%}",
                              "C10 acc %": "{:.2f}", "acc sd": "{:.2f}", "R share": "{:.1%}", "path share": "{:.1%}"})


SEARCH_FORMATS = {"skips": "{:.1f}", "skips + pools": "{:.1f}", "eff. depth": "{:.2f}", "eff. width": "{:.2f}",
                  "NB201 C10 test acc %": "{:.2f}"}


def search_table(rows: list[dict]) -> present.Table:
    """:func:`search_rows` as a table: one row per search and rule, methods by their names."""
    df = pd.DataFrame(rows).assign(method=lambda d: d["method"].map(METHODS),
                                   pick=lambda d: d["pick"].map(present.cell_code))
    return present.table(df.rename(columns={"NB201 C10 test acc %": "C10 acc %"}),
                         {"skips": "{:d}", "skips + pools": "{:d}", "eff. depth": "{:.2f}", "eff. width": "{:.2f}",
                          "C10 acc %": "{:.2f}"},
                         caption="The final pick of every search and rule; " + present.CELL_KEY)


def search_means_table(means: list[dict]) -> present.Table:
    """:func:`search_means` as a table, methods by their names."""
    df = pd.DataFrame(means).assign(method=lambda d: d["method"].map(METHODS))
    return present.table(df, SEARCH_FORMATS)


def bridge_table(BR: dict) -> present.Table:
    """:func:`bridge_rows` as a table."""
    df = pd.DataFrame(bridge_rows(BR))
    return present.table(df, dict.fromkeys(benchmark.DATASETS, "{:.2f}"),
                         caption="Spearman rho with the benchmark's test accuracy")


def by_lambda_pr_table(BR: dict) -> present.Table:
    """:func:`by_lambda_pr` as a table."""
    return present.table(pd.DataFrame(by_lambda_pr(BR)), {"lambda_PR (in-edges)": "{:.0f}", "cells": "{:,d}",
                                                          "mean C10 acc %": "{:.2f}", "mean eff. depth": "{:.2f}"})


RESULT_GROUPS = ("results", "evaluation")
"""The cited groups of the paper's DARTS-space results and evaluation protocol: one table of their own on the page."""


def cited_table(*groups: str, exclude: Sequence[str] = ()) -> present.Table:
    """The numbers cited from the paper (all, or those of ``groups``), less those of the groups ``exclude``, as
    printed, with their sources."""
    kept = {k: c for k, c in cited().items() if c.group not in exclude}
    return present.table(pd.DataFrame(paper.rows(kept, *groups)))


__all__ = [
    "MC_SE", "GATE_TAUS", "GATE_BETAS", "LAST", "FULL", "RATE", "GD", "WITHIN", "BRIDGE", "ALL_SKIP", "cited",
    "cited_glue", "theorem1_rows", "theorem1_summary", "drift_slope", "conv_into_last", "reading_rows",
    "binary_summary", "binary_cells_phrase", "gate_law_rows", "gate_law_summary", "regulariser_gradient",
    "temperature_summary", "start_saturation", "theorem4_rows", "theorem4_summary", "loss_by_third", "fig2_summary",
    "search_rows", "search_means", "search_summary", "search_budget", "budget_rows", "benchmark_scale", "bridge_rows",
    "bridge_summary", "by_lambda_pr", "FORMATS", "theorem1_table", "theorem1_figure", "drift_table", "readings_table",
    "gate_law_table", "temperature_grid", "temperature_figure", "theorem4_table", "theorem4_figure",
    "skip_fraction_figure", "loss_by_third_table", "search_minutes", "budget_table", "skips_figure", "search_table",
    "search_means_table", "bridge_table", "by_lambda_pr_table", "cited_table", "RESULT_GROUPS", "HEADLINE_RULE",
    "chance_skips", "converged", "method_rows", "method_summary", "method_table", "share_figure", "skip_trend"
]
