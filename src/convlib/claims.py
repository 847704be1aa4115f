"""The claims table: every claim of the two papers the book tests, the paper's number, ours, the
difference and a verdict (``data/claims.csv`` holds the claims; this module computes ours).

A claim is one row: ``key, chapter, paper, source, claim, paper_value, paper_sd, paper_runs, unit, kind,
reference, fmt, note, reference_is``; ``fmt`` formats the numbers, or is ``ORDER`` for a claim that an order
holds (1 or 0, shown as words); ``reference_is`` is ``tolerance`` where the reference is ours, not the paper's.
``paper_value`` is a number, a cited entry ``"chen2022:<key>"`` (``convlib.paper``)
or the difference of two (``"a - b"``); ``paper_sd`` a standard deviation over ``paper_runs`` runs (two
entries joined by ``;`` add in quadrature), so the paper's standard error is ``sd / sqrt(runs)``.
``kind`` is ``value`` (the paper gives a number), ``above`` or ``below`` (it claims a direction with
respect to ``reference``). Our number is a ``Measured``: value, standard error, 95 % interval and the
number of independent seeds ``n`` it rests on (``None`` when it is deterministic or an interval over
architectures or cells).

**The rule** (one for every row, in this order):

1. no number of ours: *not attempted*;
2. our runs outside the conditions of the theorem the claim states (``Measured.outside`` says how):
   *conditions not met*, whatever the numbers;
3. fewer than 3 seeds (``n < 3``): *inconclusive*;
4. a direction (``above`` / ``below`` the reference r): the 95 % interval entirely on the claimed side:
   *reproduced*; entirely on the other side: *not reproduced*; containing r: *inconclusive*;
5. a number p, with d = ours - p and s = sqrt(se_ours^2 + se_paper^2):
   a. an effect (a reference r is given and p differs from it) that ours does not show (our interval
      contains r): *not reproduced* when our interval excludes p, *inconclusive* when it holds p too;
   b. |d| <= 2 s (or equal up to 1e-9 relative, for exact numbers): *reproduced*;
   c. an effect of ours on the same side of r as p (its interval excluding r) but of another size:
      *partly reproduced*;
   d. else *not reproduced*. A level (no reference: an accuracy, a count) is reproduced or not.
"""
from __future__ import annotations

import csv
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as _stats

from convlib import ROOT, dag, paper, present, registry

PATH = ROOT / "data" / "claims.csv"
COLUMNS = ("key", "chapter", "paper", "source", "claim", "paper_value", "paper_sd", "paper_runs", "unit", "kind",
           "reference", "fmt", "note", "reference_is")
REFERENCE_IS = ("", "tolerance")
"""What a direction claim's ``reference`` is: the line the paper's claim draws ("": a sign, a chance level, a
ratio of 1) or our tolerance where the paper claims an identity and prints no number ("tolerance")."""
LINE_OF = {"tau": "Kendall τ {}", "rho": "Spearman ρ {}", "ratio": "ratio {}", "loss": "loss difference {}",
           "": "{}"}
"""How the *paper* column shows a direction claim's line for each ``unit``: the quantity the interval is of
(a τ, a ratio) before the line, a difference's unit after it (``> 0 points``)."""
VERDICTS = ("reproduced", "partly reproduced", "not reproduced", "inconclusive", "conditions not met",
            "not attempted")
KINDS = ("value", "above", "below")
MIN_SEEDS = 3


@dataclass(frozen=True)
class Measured:
    """Our number: ``value``, its standard error ``se`` (0: exact), the 95 % interval ``(lo, hi)`` and
    the number of seeds ``n`` it rests on (None: deterministic, or an interval over architectures);
    ``outside``: how the runs fall outside the conditions of the theorem the claim states ("" inside)."""

    value: float
    se: float = 0.0
    lo: float | None = None
    hi: float | None = None
    n: int | None = None
    detail: str = ""
    outside: str = ""

    @property
    def interval(self) -> tuple[float, float]:
        if self.lo is not None and self.hi is not None:
            return self.lo, self.hi
        return self.value - 1.96 * self.se, self.value + 1.96 * self.se


def verdict(kind: str, ours: Measured | None, paper_value: float | None = None, paper_se: float = 0.0,
            reference: float | None = 0.0) -> str:
    """The verdict of the module docstring's rule; ``reference`` None: the claim is a level, not an effect."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if kind != "value" and reference is None:
        raise ValueError(f"a {kind!r} claim needs a reference")
    if ours is None or not math.isfinite(ours.value):
        return "not attempted"
    if ours.outside:
        return "conditions not met"
    if ours.n is not None and ours.n < MIN_SEEDS:
        return "inconclusive"
    lo, hi = ours.interval
    if kind != "value":
        side = 1 if kind == "above" else -1
        if min(side * (lo - reference), side * (hi - reference)) > 0:
            return "reproduced"
        if max(side * (lo - reference), side * (hi - reference)) < 0:
            return "not reproduced"
        return "inconclusive"
    if paper_value is None or not math.isfinite(paper_value):
        raise ValueError("a 'value' claim needs the paper's number")
    effect = reference is not None and paper_value != reference
    if effect and lo <= reference <= hi:
        return "inconclusive" if lo <= paper_value <= hi else "not reproduced"
    d, s = ours.value - paper_value, math.hypot(ours.se, paper_se)
    if abs(d) <= 2 * s or abs(d) <= 1e-9 * max(1.0, abs(paper_value)):
        return "reproduced"
    if effect and np.sign(ours.value - reference) == np.sign(paper_value - reference):
        return "partly reproduced"
    return "not reproduced"


# ---------------------------------------------------------------------- our numbers, one function per claim
OURS: dict[str, Callable[[str], Measured]] = {}


def ours(*keys: str) -> Callable:
    """Register ``fn(key, profile) -> Measured`` as the computation of our number for each of ``keys``."""
    def register(fn: Callable[[str, str], Measured]) -> Callable[[str, str], Measured]:
        for k in keys:
            OURS[k] = functools.partial(fn, k)
        return fn
    return register


@functools.cache
def _section(chapter: str, profile: str) -> dict:
    return registry.profile(profile)[chapter]


@functools.cache
def result(name: str, profile: str) -> dict:
    """A result at a profile (its chapter's section): from the cache, computed when missing."""
    return registry.get(name, _section(registry.lookup(name).chapter, profile))


def mean_se(x) -> Measured:
    """Mean of independent replicates with its standard error and t interval (n = len(x))."""
    x = np.asarray(x, float)
    n = len(x)
    se = float(x.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    half = float(_stats.t.ppf(0.975, n - 1) * se) if n > 1 else math.nan
    m = float(x.mean())
    return Measured(m, se, m - half, m + half, n)


def welch(a, b) -> Measured:
    """mean(a) - mean(b) over independent seeds, Welch's standard error and t interval; n = the fewer seeds."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1)) if se > 0 else 1.0
    d = float(a.mean() - b.mean())
    half = float(_stats.t.ppf(0.975, df) * se)
    return Measured(d, se, d - half, d + half, min(len(a), len(b)))


def tau_ci(x, y, n_boot: int = 1000, method: str = "kendall", groups=None) -> Measured:
    """Rank correlation with its percentile bootstrap interval over the rows (architectures or cells), or
    over the clusters ``groups`` labels (rows that copy one architecture's numbers)."""
    from convlib import stats

    r = stats.rank_correlation_ci(x, y, method, n_boot, seed=0, groups=groups)
    return Measured(r.value, 0.0, r.lo, r.hi, None)


def exact(value: float, detail: str = "") -> Measured:
    return Measured(float(value), 0.0, float(value), float(value), None, detail)


# ---- chapter 01 / 02
@ours("nb201_cells", "nb201_unique")
def _spaces(key: str, profile: str) -> Measured:
    from convlib.nas import benchmark
    from convlib.pages.ch01_spaces import agreement

    R = result("ch01.spaces", profile)
    if key == "nb201_cells":
        return exact(R["nb201_size"])
    unique = benchmark.load().set_index("arch").loc[dag.nb201_cells()[:len(R["nb201_class_op"])]]["unique"]
    a = agreement(R["nb201_class_op"], unique)
    return exact(a["theirs"], f"our own canonical form by operation gives {a['ours']:,} classes, and the two "
                              f"partitions differ both ways: {a['ours_merging']:,} of ours hold more than one of "
                              f"theirs, {a['theirs_merging']:,} of theirs more than one of ours (chapter 01)")


@ours("fig3_principles_order")
def _principles_order(key: str, profile: str) -> Measured:
    """1 when, for DAG#1 -> #2 and #2 -> #3, the later DAG is no deeper and no narrower (one of them strictly),
    so that the principles predict the paper's order; else 0."""
    from convlib import theory

    dm = np.array([theory.effective_depth_width(a) for a in dag.FIGURE3.values()])
    in_order = all(b[0] <= a[0] and b[1] >= a[1] and (b[0] < a[0] or b[1] > a[1]) for a, b in zip(dm, dm[1:]))
    ahead = dm[1][0] < dm[2][0] and dm[1][1] > dm[2][1]
    pairs = " / ".join(f"({d:.2f}, {m:.2f})" for d, m in dm)
    return exact(float(in_order), f"(d, m) = {pairs} for DAG#1 / #2 / #3"
                 + (": DAG#2 is shallower and wider than DAG#3, so the principles put it ahead" if ahead else ""))


@ours("closed_forms")
def _closed_forms(key: str, profile: str) -> Measured:
    return exact(np.max(result("ch02.closed_forms", profile)["max_abs_diff"]))


@ours("recursion_is_nngp")
def _recursion(key: str, profile: str) -> Measured:
    G = result("ch02.paper_gap", profile)
    return exact((G["gap"] > 1e-12).sum(), f"of {len(G['gap'])} DAGs")


@ours("recursion_lambda_min")
def _recursion_lambda(key: str, profile: str) -> Measured:
    from convlib.pages import ch02_nngp

    G, E = result("ch02.paper_gap", profile), result("ch03.eq12", profile)
    n = ch02_nngp.paper_gap_numbers(G, _section("02_nngp_propagation", profile)["mlp_nodes"])
    big = ch02_nngp.lambda_far_off(G)
    same = list(E["dags"]) == list(G["dags"])
    violators = (E["n_paths"] > 0) & (E["lambda_exact"] > E["eq12"] * (1 + 1e-9)) if same else None
    tie = ("; they are exactly the DAGs whose exact λmin violates Eq. 12 (chapter 03)"
           if same and np.array_equal(big, violators) else "")
    return exact(n["lam_big"], f"of the {n['lam_live']} DAGs a path reaches the output of; {n['lam_small']} within "
                               f"1 %; {n['lam_big_repeated']} of the {n['lam_big']} have a repeated skip route" + tie)


@ours("remark33_lambda")
def _remark33(key: str, profile: str) -> Measured:
    from convlib.pages import ch02_nngp

    means = ch02_nngp.remark33_steps(result("ch02.remark33", profile))[0]
    return exact(means["largest lambda change"],
                 f"the means change the kernel of {means['DAGs changed']} of {means['of']} DAGs (median relative gap "
                 f"{means['median gap']:.2f}), yet lambda_min by at most this much; it does not rise on "
                 f"{means['lambda_min not raised']} of the {means['DAGs changed']}")


# ---- chapter 03
@ours("thm31_slack")
def _slack(key: str, profile: str) -> Measured:
    from convlib.pages import ch03_convergence

    section = _section("03_spectrum_and_convergence", profile)
    R, T = result("ch03.gd", profile), result("ch03.theorem31", profile)
    runs = ch03_convergence.gd_bound_runs(R, list(section["dags"]))
    over = (f"{runs['runs_over']} above the bound at some step (of {', '.join(runs['dags_over'])}, steps "
            f"{runs['worst_steps'][0]}-{runs['worst_steps'][1]} at worst); " if runs["runs_over"] else "")
    scales = ch03_convergence.theorem31_scales(section["n"], T["n_paths"], T["lambda_paper"], R["eta"],
                                               section["width"])
    step, wide = scales["eta / step scale"], scales["width / width term"]
    outside = [f"the step is {step.min():.0f}-{step.max():.0f} times the step scale" if (step > 1).any() else "",
               f"the width at most {wide.max():.1e} of the width term" if (wide < 1).any() else ""]
    return Measured(runs["least_slack"], 0.0, runs["least_slack"], runs["least_slack"], None,
                    f"{runs['runs']} runs; {over}at the last step the bound is {runs['last_slack']:.3g} to "
                    f"{runs['last_slack_max']:.3g} times the loss",
                    " and ".join(x for x in outside if x) + " (unit constants)" if any(outside) else "")


@ours("lemma31_full_rank")
def _lemma31(key: str, profile: str) -> Measured:
    from convlib.pages import ch03_convergence

    c = ch03_convergence.lemma31_check(result("ch03.eq12", profile))
    low = min(c["smallest lambda paper"], c["smallest lambda exact"])
    return Measured(low, 0.0, low, low, None,
                    f"largest cosine of two inputs {c['max cosine']:.3f} (none parallel); the conclusion holds on our "
                    "inputs", outside="the lemma assumes an analytic activation; ReLU is not")


@ours("lemma33_bound")
def _lemma33(key: str, profile: str) -> Measured:
    from convlib.pages import ch03_convergence

    rows = [r for r in ch03_convergence.eq12_checks(result("ch03.eq12", profile)) if r["bound"] == "Lemma 3.3"]
    return exact(sum(r["violations"] for r in rows), f"over {len(rows)} checks (space x kernel) of "
                 f"{sum(r['DAGs'] for r in rows):,} DAG-kernel pairs")


def _eq12_row(space: str, kernel: str, profile: str) -> dict:
    from convlib.pages import ch03_convergence

    rows = ch03_convergence.eq12_checks(result("ch03.eq12", profile))
    return next(r for r in rows if r["space"] == space and r["kernel"] == kernel and r["bound"] == "Eq. 12")


@ours("eq12_paper_mlp", "eq12_paper_nb201", "eq12_exact_mlp", "eq12_exact_nb201")
def _eq12(key: str, profile: str) -> Measured:
    _, kernel, space = key.split("_")
    r = _eq12_row("MLP-DAGs" if space == "mlp" else "NAS-Bench-201", kernel, profile)
    return exact(r["violations"], f"of {r['DAGs']:,}; Kendall tau of bound with lambda_min {r['Kendall tau']:+.3f}")


@ours("fig3_lambda_order", "fig3_lambda_order_scale_free")
def _fig3_order(key: str, profile: str) -> Measured:
    from convlib.pages import ch03_convergence

    S = result("ch03.scale_free", profile)
    lam = ch03_convergence.figure3_values(S, S["exact_lam"])
    free = lam / ch03_convergence.figure3_values(S, S["exact_diag"])
    cond = ch03_convergence.figure3_values(S, S["exact_lmax"]) / lam
    v = free if key.endswith("scale_free") else lam
    at = functools.partial(ch03_convergence.figure3_values, S)
    others = {name: at(S[f"{k}_lam"]) / at(S[f"{k}_diag"]) for k, name in (("paper", "the paper's recursion"),
                                                                            ("ntk", "the NTK"))}
    detail = ("lambda_min / mean diagonal " + " / ".join(f"{x:.3g}" for x in free) + "; condition number "
              + " / ".join(f"{x:,.0f}" for x in cond) + "".join(f"; for {name} " + " / ".join(f"{x:.3g}" for x in r)
                                                            for name, r in others.items())
              if key.endswith("scale_free") else "lambda_min " + " / ".join(f"{x:.3g}" for x in lam))
    return exact(float(np.all(np.diff(v) > 0)), detail + " (DAG#1 / #2 / #3)")


# ---- chapter 04
@functools.cache
def mlp_classes(nodes: int) -> np.ndarray:
    """Per MLP-DAG with ``nodes`` nodes after the stem (``dag.mlp_dags(nodes)``), the index of its function class
    (``dag.canonical``): DAGs of one class have the same kernels, depth and width, one piece of evidence."""
    return dag.function_classes(dag.mlp_dags(nodes), by="kind")


@ours("depth_lambda_nb201", "width_lambda_nb201", "depth_lambda_mlp", "width_lambda_mlp", "depth_lambda_mlp_paper",
      "width_lambda_mlp_paper", "depth_lambda_mlp_ntk", "width_lambda_mlp_ntk", "depth_lambda_nb201_paper",
      "width_lambda_nb201_paper", "depth_lambda_nb201_ntk", "width_lambda_nb201_ntk",
      "depth_lambda_nb201_scale_free", "width_lambda_nb201_scale_free")
def _principles(key: str, profile: str) -> Measured:
    """Kendall tau of effective depth or width with lambda_min of the exact NNGP (``<what>_lambda_<space>``),
    of the paper's recursion (``_paper``), of the NTK (``_ntk``) or scale-free (``_scale_free``: over the mean
    diagonal), over the DAGs with a parameterised path. A NAS-Bench-201 cell has the numbers of its MLP
    analogue (``ch04.scale_free["nb201"]``); DAGs of one function class (``mlp_classes``) repeat each other's
    numbers, so the interval, over DAGs or cells, resamples the classes."""
    R, S = result("ch04.landscape", profile), result("ch04.scale_free", profile)
    what, _, space, *kernel = key.split("_")
    keep = R[f"{space}_depth"] > 0
    if key.endswith("scale_free"):
        y = (S["exact_lam"] / np.where(S["exact_diag"] > 0, S["exact_diag"], 1))[S["nb201"]][keep]
    else:
        y = R[f"{space}_lambda_{kernel[0] if kernel else 'exact'}"][keep]
    nodes = 3 if space == "nb201" else _section("04_effective_depth_width", profile)["mlp_nodes"]  # a cell: 3
    groups = mlp_classes(nodes)[S["nb201"] if space == "nb201" else slice(None)][keep]
    m = tau_ci(R[f"{space}_{what}"][keep], y, n_boot=200 if space == "nb201" else 1000, groups=groups)
    units = "cells" if space == "nb201" else "DAGs"
    return Measured(m.value, m.se, m.lo, m.hi, m.n,
                    f"{keep.sum():,} {units}, {len(np.unique(groups))} function classes")


# ---- chapter 05
def _fig4_auc(ds: str, profile: str) -> dict[str, np.ndarray]:
    """Per Figure-3 DAG name, each seed's training accuracy averaged over the epochs (%)."""
    F = result("ch05.figure4", profile)
    return {dag.FIGURE3_NAME[F["dag"][i]]: 100 * F["train_acc"][i].mean(-1)
            for i, d in enumerate(F["dataset"]) if d == ds}


@ours("fig4_mnist_2v1", "fig4_mnist_3v2", "fig4_cifar10_2v1", "fig4_cifar10_3v2")
def _fig4(key: str, profile: str) -> Measured:
    _, ds, pair = key.split("_")
    auc = _fig4_auc(ds, profile)
    a, b = f"DAG#{pair[0]}", f"DAG#{pair[2]}"
    m = welch(auc[a], auc[b])
    return Measured(m.value, m.se, m.lo, m.hi, m.n, f"{m.value / m.se:.1f} standard errors over {m.n} seeds each")


def _speed(loss: np.ndarray) -> np.ndarray:
    """log(L_0 / L_T) of each seed, ``(DAGs, seeds)``."""
    return np.log(loss[..., 0] / loss[..., -1])


@ours("fig3_gd_mnist_2v1", "fig3_gd_mnist_3v2", "fig3_own_mnist_2v1", "fig3_own_mnist_3v2", "fig3_gd_cifar10_2v1",
      "fig3_gd_cifar10_3v2", "fig3_own_cifar10_2v1", "fig3_own_cifar10_3v2")
def _fig3_gd(key: str, profile: str) -> Measured:
    _, mode, ds, pair = key.split("_")
    R = result("ch05.figure3_gd" if mode == "gd" else "ch05.figure3_scale_free", profile)
    speed = _speed(R[f"{ds}_loss"])
    m = welch(speed[int(pair[0]) - 1], speed[int(pair[2]) - 1])
    return Measured(m.value, m.se, m.lo, m.hi, m.n, f"{m.n} seeds per DAG")


@ours("space_lambda_mnist", "space_lambda_cifar10", "space_depth_mnist", "space_depth_cifar10",
      "space_own_lambda_mnist", "space_own_lambda_cifar10", "space_own_depth_mnist", "space_own_depth_cifar10",
      "space_width_mnist", "space_width_cifar10", "space_own_width_mnist", "space_own_width_cifar10",
      "space_own_cond_mnist", "space_own_cond_cifar10")
def _space(key: str, profile: str) -> Measured:
    """A row of chapter 05's scale table (``pages.ch05_dag.scale_table``); for depth and width also Kendall tau
    over every DAG with a path, those without a trained path (d = 0) included."""
    parts = key.split("_")
    mode = "own" if parts[1] == "own" else "fixed"
    what, ds = parts[-2], parts[-1]
    training, predictor = _SCALE_ROWS[mode, what]
    row = _scale_table(profile, ds).loc[(training, predictor)]
    R = result("ch05.all_dags_seeds", profile)
    speed, also = R[f"{ds}_speed_{mode}"], ""
    if what in ("depth", "width"):  # the principles speak of DAGs with a trained path (d > 0), as in chapter 04
        live = (R[f"{ds}_exact_lam"] > 0) & np.isfinite(speed).all(0)
        every = tau_ci(speed[:, live].mean(0), R[what][live], n_boot=_section("05_dag_experiments", profile)["n_boot"])
        also = (f"; with the {(live & (R['depth'] == 0)).sum()} DAGs without a trained path (d = 0) too: "
                f"{every.value:+.3f} [{every.lo:+.3f}, {every.hi:+.3f}]")
    return Measured(row["Kendall tau"], 0.0, row["95% CI low"], row["95% CI high"], None,
                    f"{row['DAGs']} DAGs, speed averaged over {len(speed)} seeds; per seed from "
                    f"{row['seeds: lowest tau']:+.3f} to {row['seeds: highest tau']:+.3f}" + also)


_SCALE_ROWS = {("fixed", "lambda"): ("one step for all", "lambda_min"),
               ("own", "lambda"): ("own step (scale removed)", "lambda_min / mean diagonal"),
               ("own", "cond"): ("own step (scale removed)", "lambda_min / lambda_max of the NTK"),
               **{(mode, what): (label, f"effective {what}") for mode, label in
                  (("fixed", "one step for all"), ("own", "own step (scale removed)")) for what in ("depth", "width")}}


@functools.cache
def _scale_table(profile: str, ds: str) -> pd.DataFrame:
    from convlib.pages.ch05_dag import scale_table

    n_boot = _section("05_dag_experiments", profile)["n_boot"]
    return scale_table(result("ch05.all_dags_seeds", profile), [ds], n_boot).set_index(["training", "predictor"])


# ---- chapter 06
@functools.cache
def _nas(profile: str) -> dict:
    from convlib.pages import ch06_nas as ch

    p = _section("06_nas_speedup", profile)
    W = result("ch06.naswot", profile)
    dw = ch.depth_width()
    return {"runs": ch.wot_readings(W, dw, p["n_samples"], p["n_runs"], p["search_seed"]),
            "tenas": result("ch06.tenas", profile), "dw": dw, "W": W}


def _saving(a: np.ndarray, b: np.ndarray) -> Measured:
    """The search time saved, 100 (1 - mean(b) / mean(a)) %, over runs paired by seed, with the delta-method
    standard error of the ratio."""
    ratio = b.mean() / a.mean()
    se = ratio * math.hypot(b.std(ddof=1) / b.mean(), a.std(ddof=1) / a.mean()) / math.sqrt(len(a))
    return Measured(100 * (1 - ratio), 100 * se)


@ours("wot_cifar10", "wot_cifar100", "wot_imagenet16", "wotdag_cifar10", "wotdag_cifar100", "wotdag_imagenet16",
      "wotdag_half_cifar10", "wotdag_half_cifar100", "wotdag_half_imagenet16", "effect_cifar10",
      "effect_cifar100", "effect_imagenet16", "wot_saving", "wot_saving_half")
def _wot(key: str, profile: str) -> Measured:
    runs = _nas(profile)["runs"]
    box = "half radius" if "half" in key else "released"
    if key.startswith("wot_saving"):
        return _saving(runs["WOT"]["seconds"], runs[box]["seconds"])
    ds = key.rsplit("_", 1)[1]
    if key.startswith("effect"):
        m = mean_se(runs[box][ds] - runs["WOT"][ds])
    else:
        m = mean_se(runs["WOT" if key.startswith("wot_") else box][ds])
    return Measured(m.value, m.se, m.lo, m.hi, m.n)


@ours("tenas_cifar10", "tenas_cifar100", "tenas_imagenet16", "tenasdag_cifar10", "tenasdag_cifar100",
      "tenasdag_imagenet16", "tenas_saving", "tenas_effect_cifar10", "tenas_effect_cifar100",
      "tenas_effect_imagenet16")
def _tenas(key: str, profile: str) -> Measured:
    from convlib.nas import benchmark

    T = _nas(profile)["tenas"]
    variant, seed = np.asarray(T["variant"]), np.asarray(T["seed"])
    a, b = (np.flatnonzero(variant == v) for v in ("TENAS", "TENAS+DAG"))
    a, b = a[np.argsort(seed[a])], b[np.argsort(seed[b])]  # both in seed order
    if not np.array_equal(seed[a], seed[b]):
        raise ValueError(f"ch06.tenas: TENAS seeds {seed[a]} and TENAS+DAG seeds {seed[b]} differ; the rows pair them")
    if key == "tenas_saving":
        m = _saving(T["seconds"][a], T["seconds"][b])
        return Measured(m.value, m.se, n=len(a), detail=f"{len(a)} seeds, paired")
    name, ds = key.rsplit("_", 1)
    acc = benchmark.load()[ds].to_numpy()
    if name == "tenas_effect":
        m = mean_se(acc[T["index"][b]] - acc[T["index"][a]])
        return Measured(m.value, m.se, m.lo, m.hi, m.n, f"{m.n} seeds, paired")
    m = mean_se(acc[T["index"][a if name == "tenas" else b]])
    return Measured(m.value, m.se, m.lo, m.hi, m.n, f"{m.n} seeds")


@ours("table3_1", "table3_0.75", "table3_0.5", "table3_0.25")
def _table3(key: str, profile: str) -> Measured:
    from convlib.pages import ch06_nas as ch

    p, nas = _section("06_nas_speedup", profile), _nas(profile)
    f = float(key.split("_")[1])
    runs = ch.wot_runs(nas["W"], p["n_samples"], p["n_runs"], p["search_seed"], ch.filter_box(nas["dw"], f), nas["dw"])
    m = mean_se(runs["cifar100"])
    return Measured(m.value, m.se, m.lo, m.hi, m.n)


@ours("acc_depth", "acc_lambda_trace")
def _accuracy(key: str, profile: str) -> Measured:
    from convlib.nas import benchmark

    nas = _nas(profile)
    every = nas["W"]["index"][np.isfinite(nas["W"]["naswot"])]
    acc = benchmark.load()["cifar10"].to_numpy()[every]
    if key == "acc_depth":
        trained = nas["dw"][every, 0] > 0  # cells with a trained path, as in chapter 04
        every, acc = every[trained], acc[trained]
        depth = nas["dw"][every, 0]
        bins = np.minimum(np.floor(depth / 0.5), 5)
        means = [acc[bins == b].mean() for b in np.unique(bins)]
        m = tau_ci(depth, acc, n_boot=200)
        return Measured(m.value, m.se, m.lo, m.hi, m.n,
                        f"{len(every):,} cells with a trained path; mean accuracy by effective depth (0.5 wide, last "
                        f"from 2.5): {' / '.join(f'{x:.1f}' for x in means)} %")
    L = result("ch06.lambda_min", profile)
    x = L["lambda_min"][every] / L["trace"][every]
    ok = np.isfinite(x)
    return tau_ci(x[ok], acc[ok], n_boot=200)


@ours("fig5_extremes_acc", "fig5_extremes_spread")
def _figure5(key: str, profile: str) -> Measured:
    from convlib import stats
    from convlib.nas import benchmark
    from convlib.pages import ch06_nas as ch

    t, dw = benchmark.load(), _nas(profile)["dw"]
    inside, outside = ch.extremes(dw, t["cifar10"].to_numpy())
    if key == "fig5_extremes_spread":
        r = stats.two_sample_ci(outside, inside, "sd ratio")
        return Measured(r.value, 0.0, r.lo, r.hi, None, f"{len(inside):,} cells inside, {len(outside):,} outside")
    r = stats.two_sample_ci(inside, outside)
    others = [f"{name} {a.mean() - b.mean():+.2f}" for name, (a, b) in
              (("CIFAR-100", ch.extremes(dw, t["cifar100"].to_numpy())),
               ("ImageNet16-120", ch.extremes(dw, t["imagenet16"].to_numpy())))]
    pathless = t["cifar10"].to_numpy()[dw[:, 0] == 0]
    return Measured(r.value, 0.0, r.lo, r.hi, None,
                    "; ".join(others) + f"; with the {len(pathless):,} cells without a trained path (mean "
                    f"{pathless.mean():.1f} %) counted outside: {inside.mean() - np.r_[outside, pathless].mean():+.2f}")


# ---- chapter 07
@ours("thm1_rate")
def _thm1(key: str, profile: str) -> Measured:
    T1 = result("ch07.theorem1", profile)
    m = tau_ci(T1["lambda_pr_in_edges"], T1["rate"], _section("07_pr_darts", profile)["n_boot"], method="spearman")
    return Measured(m.value, 0.0, m.lo, m.hi, None, f"{len(T1['rate'])} cells; interval over cells")


@ours("thm3_gate_law")
def _thm3(key: str, profile: str) -> Measured:
    from convlib.pages import ch07_prdarts as ch07

    section = _section("07_pr_darts", profile)
    draws = section["mc_draws"]
    rows = ch07.gate_law_rows(draws, section["seed"])
    se = [math.sqrt(r["closed form"] * (1 - r["closed form"]) / draws) for r in rows]
    z = [abs(r["difference"]) / e if e > 0 else (0.0 if r["difference"] == 0 else math.inf) for r, e in zip(rows, se)]
    return exact(max(z), f"{len(rows)} settings (τ, β, event) of {draws:,} draws; largest |difference| "
                         f"{max(abs(r['difference']) for r in rows):.1e}")


@ours("thm4_rate", "thm4_rate_premise")
def _thm4(key: str, profile: str) -> Measured:
    """B - A in GD decay rate over the draws in which both converged (``thm4_rate``), or over those of them in
    which the theorem's premise lambda_PR(B) > lambda_PR(A) holds (``thm4_rate_premise``)."""
    from convlib.pages import ch07_prdarts as ch07

    T4 = result("ch07.theorem4", profile)
    ok, premise = ch07.converged(T4), T4["lam_pr_B"] > T4["lam_pr_A"]
    outside = ""
    if key == "thm4_rate_premise":
        ok &= premise
    elif (ok & ~premise).any():
        outside = (f"our B does not meet the theorem's premise lambda_PR(B) > lambda_PR(A) in {(ok & ~premise).sum()} "
                   f"of the {ok.sum()} draws (the next row tests the others)")
    d = (T4["rate_B"] - T4["rate_A"])[ok]
    m = mean_se(d)
    only_b = np.isfinite(T4["rate_B"]) & ~np.isfinite(T4["rate_A"]) & (premise if key == "thm4_rate_premise" else True)
    return Measured(m.value, m.se, m.lo, m.hi, m.n,
                    f"B faster in {(d > 0).sum()} of the {len(d)} draws in which both converged"
                    + (" and the premise holds" if key == "thm4_rate_premise" else "") + f"; in {only_b.sum()} more "
                    "draws gradient descent diverged on A and not on B: left out of the mean, they would count for B",
                    outside=outside)


@ours("fig2_skips", "fig2_skips_early")
def _fig2(key: str, profile: str) -> Measured:
    """Training loss at no skips minus at the most skips, over the last (``fig2_skips``) or the first
    (``_early``) third of the steps, per seed, Welch interval."""
    SF = result("ch07.skip_fraction", profile)
    third = np.array_split(np.arange(SF["curves"].shape[-1]), 3)[0 if key.endswith("early") else 2]
    per_seed = SF["curves"][..., third].mean(-1)  # (fractions, seeds)
    m = welch(per_seed[0], per_seed[-1])
    return Measured(m.value, m.se, m.lo, m.hi, m.n, f"{m.n} seeds")


SEARCH_PAIRS = {"search_top2": ("darts", "prdarts", "top2"), "search_argmax": ("darts", "prdarts", "argmax"),
                "search_code_top2": ("darts", "prdarts_tau1", "top2"),
                "path_ablation_top2": ("gates_tau1", "prdarts_tau1", "top2")}


def _search_pair(key: str, profile: str) -> tuple[np.ndarray, np.ndarray]:
    """NB201 CIFAR-10 accuracy of the final picks of the two variants of ``SEARCH_PAIRS[key]``, by seed."""
    p = _section("07_pr_darts", profile)
    base, other, rule = SEARCH_PAIRS[key]
    acc = result("ch07.search", profile)[f"acc_{rule}"][:, :, -1]  # (variants, seeds)
    v = list(p["variants"])
    return acc[v.index(base)], acc[v.index(other)]


@ours(*SEARCH_PAIRS)
def _search(key: str, profile: str) -> Measured:
    """NB201 CIFAR-10 accuracy of the final picks, second variant - first, paired by seed (same rule)."""
    a, b = _search_pair(key, profile)
    m = mean_se(b - a)
    seeds = "; ".join(f"seed {s}: {x:.2f} -> {y:.2f}" for s, x, y in
                      zip(_section("07_pr_darts", profile)["search_seeds"], a, b))
    return Measured(m.value, m.se, m.lo, m.hi, m.n, f"higher in {search_wins(key, profile)} paired seeds; {seeds}")


def search_wins(key: str, profile: str | None = None) -> str:
    """For the text: in how many paired seeds the second variant of ``SEARCH_PAIRS[key]`` picked the more
    accurate cell, with the two-sided sign test's p-value (ties left out): ``"5 of 5 (sign test p = 0.062)"``."""
    a, b = _search_pair(key, profile or registry.active_profile())
    wins, n = int((b > a).sum()), int((b != a).sum())
    return f"{wins} of {len(a)} (sign test p = {_stats.binomtest(wins, n).pvalue:.2g})" if n else f"0 of {len(a)}"


@ours("darts_skips")
def _darts_skips(key: str, profile: str) -> Measured:
    """Skips in DARTS's final top-2 picks, mean over seeds (t interval, cut at 0: no count is negative); the
    row's reference is chance."""
    p = _section("07_pr_darts", profile)
    sk = result("ch07.search", profile)["skips_top2"][list(p["variants"]).index("darts"), :, -1]
    m = mean_se(sk)
    return Measured(m.value, m.se, max(m.lo, 0.0), m.hi, m.n, f"{m.n} seeds: {', '.join(f'{x:.0f}' for x in sk)}")


# ---------------------------------------------------------------------- the table
def _resolve(text: str) -> float | None:
    """A number, a cited entry ``paper:key`` or ``a - b`` of two; None when empty."""
    text = text.strip()
    if not text:
        return None
    if " - " in text:
        a, b = text.split(" - ")
        return _resolve(a) - _resolve(b)
    if ":" in text:
        name, key = text.split(":", 1)
        return paper.cited(name)[key].value
    return float(text)


def read(path=PATH) -> list[dict]:
    """The claims, checked: the columns, a unique key, a known kind, a paper number for a ``value``
    claim and a reason (note) where there is none."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if tuple(reader.fieldnames or ()) != COLUMNS:
            raise ValueError(f"{path}: columns must be {COLUMNS}, got {reader.fieldnames}")
        rows = list(reader)
    seen = set()
    for line, r in enumerate(rows, start=2):
        if None in r or r["key"] in seen or r["kind"] not in KINDS or not r["source"].strip():
            raise ValueError(f"{path}, line {line}: need all columns, a new key, a kind in {KINDS} and a source")
        if r["kind"] != "value" and not r["reference"].strip():
            raise ValueError(f"{path}, line {line}: a {r['kind']!r} claim needs a reference")
        if r["reference_is"] not in REFERENCE_IS or (r["reference_is"] and r["kind"] == "value"):
            raise ValueError(f"{path}, line {line}: reference_is must be one of {REFERENCE_IS}, and empty for a "
                             f"'value' claim; got {r['reference_is']!r}")
        if not r["paper_value"].strip() and not r["note"].strip():
            raise ValueError(f"{path}, line {line}: a claim without the paper's number needs a note saying why")
        seen.add(r["key"])
    return rows


def paper_number(row: dict) -> tuple[float | None, float]:
    """The paper's number and its standard error (0 when the paper prints no spread)."""
    sds = [_resolve(s) for s in row["paper_sd"].split(";") if s.strip()]
    runs = int(row["paper_runs"]) if row["paper_runs"].strip() else 1
    return _resolve(row["paper_value"]), math.sqrt(sum(s * s for s in sds) / runs) if sds else 0.0


TEXT_RUNS = 3  # Chen et al. (2022) Table 2: "mean (std over three random runs)"; rows may read the spread otherwise


ORDER = "order"
"""The ``fmt`` of a claim that an order holds: ours and the paper's are 1 (in order) or 0, shown in words."""


def evaluate(row: dict, profile: str | None = None) -> dict:
    """One claim with ours (from the results at ``profile``, default ``registry.active_profile()``), the
    difference and the verdict; where the row reads the paper's spread as over other than ``TEXT_RUNS`` runs,
    the note adds the verdict under the text's reading."""
    fn = OURS.get(row["key"])
    m = fn(profile or registry.active_profile()) if fn else None
    p, p_se = paper_number(row)
    ref = float(row["reference"]) if row["reference"].strip() else None
    v = verdict(row["kind"], m, p if row["kind"] == "value" else None, p_se, ref)
    text_reading = ""
    if m is not None and row["paper_sd"].strip() and row["paper_runs"].strip() and int(row["paper_runs"]) != TEXT_RUNS:
        _, se_text = paper_number({**row, "paper_runs": str(TEXT_RUNS)})
        text_reading = (f"the paper's standard error read over {row['paper_runs']} runs is {p_se:.2g}; over the "
                        f"{TEXT_RUNS} runs of its caption it would be {se_text:.2g}, and the verdict "
                        f"{verdict(row['kind'], m, p, se_text, ref)}")
    fmt = row["fmt"]
    if fmt == ORDER:  # a yes/no claim: an order holds (1) or not (0), printed in words, no difference
        show = lambda x: ("in order" if x == 1 else "not in order") if x is not None else None  # noqa: E731
    else:
        show = lambda x: present.format_cell(x, fmt) if x is not None and math.isfinite(x) else None  # noqa: E731
    lo, hi = m.interval if m else (None, None)
    # a no-break space keeps the relation with its number when the column wraps ("Kendall τ" / "< 0")
    claimed = {"above": f">\u00a0{ref:g}", "below": f"<\u00a0{ref:g}"}.get(row["kind"]) if ref is not None else None
    if claimed:
        claimed = LINE_OF.get(row["unit"], "{} " + row["unit"]).format(claimed)
    if claimed and row["reference_is"] == "tolerance":
        claimed += " (our tolerance)"
    return {"chapter": row["chapter"], "key": row["key"], "claim": row["claim"],
            "source": f"{row['paper']}, {row['source']}",
            "paper": show(p) if row["kind"] == "value" and p is not None else claimed,
            "ours": show(m.value) if m else None,
            "95% interval": f"[{show(lo)}, {show(hi)}]" if m and lo != hi else None,
            "difference": (show(m.value - p) if m and p is not None and row["kind"] == "value" and fmt != ORDER
                           else None),
            "seeds": m.n if m else None, "verdict": v,
            "note": "; ".join(s for s in (row["note"], m.detail if m else "", text_reading,
                                          f"conditions not met: {m.outside}" if m and m.outside else "") if s)}


@functools.cache
def _chapter(chapter: str, profile: str) -> pd.DataFrame:
    return pd.DataFrame([evaluate(r, profile) for r in read() if r["chapter"] == chapter])


def table(profile: str | None = None, chapter: str | None = None) -> pd.DataFrame:
    """The claims (of one chapter, or all) evaluated on the results at ``profile`` (default: the profile
    being executed, ``registry.active_profile()``), in file order."""
    profile = profile or registry.active_profile()
    chapters = [chapter] if chapter else list(dict.fromkeys(r["chapter"] for r in read()))
    if chapter and chapter not in {r["chapter"] for r in read()}:
        raise ValueError(f"no claims for chapter {chapter!r}; chapters: {sorted({r['chapter'] for r in read()})}")
    return pd.concat([_chapter(c, profile) for c in chapters], ignore_index=True)


def summary(chapter: str, profile: str | None = None) -> pd.DataFrame:
    """The claims of one chapter (notebook stem): claim, source, paper, ours, 95 % interval, difference,
    verdict, note."""
    return table(profile, chapter).drop(columns=["chapter", "key", "seeds"])


def chapter_tables(chapter: str, profile: str | None = None) -> tuple:
    """A chapter's claims as two tables of the page (``present.Table``), so that neither is squeezed into
    eight narrow columns: the numbers (claim, paper, ours, 95 % interval, difference, verdict; columns
    empty for every claim left out) and what each rests on (claim, source, note)."""
    S = summary(chapter, profile)
    numbers = S.drop(columns=["source", "note"]).dropna(axis=1, how="all")
    return (present.table(numbers, caption="Claims tested in this chapter: the paper's number, ours and the verdict"),
            present.table(S[["claim", "source", "note"]],
                          caption="Where each claim stands in the paper, and what its verdict rests on"))


def counts(t: pd.DataFrame | None = None) -> dict[str, int]:
    """How many claims got each verdict, in the order of ``VERDICTS``."""
    t = table() if t is None else t
    return {v: int((t["verdict"] == v).sum()) for v in VERDICTS}


def scorecard(profile: str | None = None) -> pd.DataFrame:
    """Every claim as one line of the book's scorecard: chapter number, the claim with its source (and,
    for a claim not attempted, what it would take), paper, ours, 95 % interval, difference, verdict."""
    t = table(profile)
    claim = t["claim"] + " (" + t["source"] + ")"
    why = t["note"].str.replace("not attempted: ", "", regex=False)
    claim = claim.where(t["verdict"] != "not attempted", claim + ": " + why)
    return pd.DataFrame({"ch.": t["chapter"].str[:2], "claim (source)": claim, "paper": t["paper"],
                         "ours": t["ours"], "95% interval": t["95% interval"], "difference": t["difference"],
                         "verdict": t["verdict"]})


def _with_interval(row: pd.Series) -> str:
    return row["ours"] if present.is_missing(row["95% interval"]) else f"{row['ours']} {row['95% interval']}"


def findings(keys: list[str], profile: str | None = None) -> dict[str, str]:
    """For the text: per claim key, ``c_<key>`` ours with its 95 % interval, ``p_<key>`` the paper's number
    (or claimed direction) and ``v_<key>`` the verdict; a dash where there is no number."""
    t = table(profile).set_index("key")
    unknown = [k for k in keys if k not in t.index]
    if unknown:
        raise ValueError(f"no claims {unknown}; keys are those of data/claims.csv")
    out = {}
    for key in keys:
        row = t.loc[key]
        out |= {f"c_{key}": present.DASH if present.is_missing(row["ours"]) else _with_interval(row),
                f"p_{key}": present.DASH if present.is_missing(row["paper"]) else row["paper"],
                f"v_{key}": row["verdict"]}
    return out


def depth_sentence(verdicts: dict[str, str]) -> str:
    """What the depth rows' verdicts (per dataset name) say, as a clause: "deeper DAGs train slower on
    CIFAR-10, as the depth principle says; MNIST cannot tell"."""
    parts = [text.format(" and ".join(n for n, v in verdicts.items() if v == want)) for want, text in (
        ("reproduced", "deeper DAGs train slower on {}, as the depth principle says"),
        ("not reproduced", "deeper DAGs train faster on {}, against it")) if want in verdicts.values()]
    rest = [n for n, v in verdicts.items() if v not in ("reproduced", "not reproduced")]
    return "; ".join(parts + ([f"{' and '.join(rest)} cannot tell"] if rest else []))


def scale_summary(profile: str | None = None) -> dict[str, str]:
    """The scale question in numbers, for the text: lambda_min of the Figure-3 DAGs raw and over the mean
    diagonal (``raw_fig3``, ``free_fig3``), Kendall tau of convergence speed with lambda_min at one step
    (``tau_fixed_<ds>``) and with scale-free lambda_min at each DAG's own step (``tau_own_<ds>``), of speed
    with lambda_min / lambda_max of the NTK (``tau_own_cond_<ds>``), with depth and width at the own step
    (``tau_own_depth_<ds>``, ``tau_own_width_<ds>``), the Figure-3 speed differences at their own steps
    (``fig3_own_<ds>_2v1`` / ``_3v2``), and two sentences the intervals decide: ``scale_verdict`` and
    ``depth_verdict`` (what depth does at the DAGs' own steps)."""
    from convlib.pages import ch03_convergence

    profile = profile or registry.active_profile()
    t = table(profile).set_index("key")
    S = result("ch03.scale_free", profile)
    lam = ch03_convergence.figure3_values(S, S["exact_lam"])
    out = {"raw_fig3": " / ".join(f"{x:.3g}" for x in lam),
           "free_fig3": " / ".join(f"{x:.3g}" for x in lam / ch03_convergence.figure3_values(S, S["exact_diag"]))}
    signs = []
    for ds in ("mnist", "cifar10"):
        out[f"tau_fixed_{ds}"] = _with_interval(t.loc[f"space_lambda_{ds}"])
        out[f"tau_own_{ds}"] = _with_interval(t.loc[f"space_own_lambda_{ds}"])
        out[f"tau_own_depth_{ds}"] = _with_interval(t.loc[f"space_own_depth_{ds}"])
        out[f"tau_own_width_{ds}"] = _with_interval(t.loc[f"space_own_width_{ds}"])
        out[f"tau_own_cond_{ds}"] = _with_interval(t.loc[f"space_own_cond_{ds}"])
        signs.append(t.loc[f"space_own_lambda_{ds}", "verdict"])
        for pair in ("2v1", "3v2"):
            row = t.loc[f"fig3_own_{ds}_{pair}"]
            out[f"fig3_own_{ds}_{pair}"] = f"{_with_interval(row)}, {row['verdict']}"
    out["depth_verdict"] = depth_sentence({name: t.loc[f"space_own_depth_{ds}", "verdict"]
                                           for ds, name in (("mnist", "MNIST"), ("cifar10", "CIFAR-10"))})
    if all(v == "reproduced" for v in signs):
        out["scale_verdict"] = ("With the scale removed, the scale-free λmin still ranks convergence on both "
                                "datasets: connectivity matters beyond the scale it brings, though less.")
    elif all(v == "not reproduced" for v in signs):
        out["scale_verdict"] = ("With the scale removed, the scale-free λmin ranks convergence in reverse on "
                                "both datasets: what the raw λmin measured was mostly the output scale that "
                                "more paths bring.")
    else:
        out["scale_verdict"] = ("With the scale removed, the scale-free λmin does not rank convergence the "
                                "same way on both datasets: the raw ordering rests largely on the output scale.")
    return out


__all__ = [
    "COLUMNS", "VERDICTS", "Measured", "verdict", "OURS", "mean_se", "welch", "read", "paper_number", "table",
    "search_wins", "depth_sentence", "summary", "chapter_tables", "findings", "counts", "scorecard", "scale_summary",
    "evaluate", "exact", "ORDER", "result", "mlp_classes", "REFERENCE_IS", "LINE_OF",
]
