"""Chapter 05's page: the Figure-3 and Figure-4 orders and the predictors' rank correlations with speed."""
from __future__ import annotations

import numpy as np
import pandas as pd

from convlib import stats
from convlib.dag import FIGURE3, FIGURE3_NAME
from convlib.experiments.ch05_dag import convergence_speed

DATASET_NAMES = {"mnist": "MNIST", "cifar10": "CIFAR-10", "digits": "digits"}
PREDICTORS = {"lambda_min exact": "lam_exact", "lambda_min paper": "lam_paper", "lambda_min NTK": "lam_ntk",
              "effective depth": "depth", "effective width": "width", "parameter count": "params"}


def rank_order(values, descending: bool = True, names=tuple(FIGURE3)) -> str:
    """``"DAG#3 > DAG#2 > DAG#1"``: the names ordered by ``values`` (largest first when ``descending``)."""
    v = np.asarray(values, dtype=float)
    return " > ".join(names[i] for i in np.argsort(-v if descending else v, kind="stable"))


RELEASE_EPOCHS = 1000  # the released mlp_code's Figure-4 run
PAPER_DAG1_ENDS_ABOVE_DAG2 = ("cifar10",)  # Sec. 5.1: "on CIFAR-10 DAG#1 slightly outperforms DAG#2 in the end"


def yes_no(flag) -> str:
    """``"yes"`` or ``"no"``: a table cell that reads as words, not a Python boolean."""
    return "yes" if bool(flag) else "no"


def end_sentence(final1: float, final2: float, epochs: int) -> str:
    """Where DAG#1 ends against DAG#2 (final mean training accuracy, %) after ``epochs`` epochs, beside the
    paper's "DAG#1 slightly outperforms DAG#2 in the end" on CIFAR-10, whose end is epoch ``RELEASE_EPOCHS``."""
    where = ("above DAG#2, as in the paper" if final1 > final2
             else "below DAG#2, the other way round from the paper" if final1 < final2 else "level with DAG#2")
    when = (f"at epoch {epochs:,}, where the paper's run ends too" if epochs == RELEASE_EPOCHS else
            f"at our last epoch, {epochs:,}, while the paper's end is epoch {RELEASE_EPOCHS:,}, so the two "
            "compare different points of training")
    return f"DAG#1 ends {where} ({final1:.1f}% against {final2:.1f}%) {when}"


def figure3_gd_tables(GD: dict, datasets: list) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """The theory setting of Figure 3: lambda_min of each DAG (exact NNGP, paper's recursion, NTK), and per
    dataset the order lambda_min predicts beside the order observed by ``L_T / L_0`` (smallest first: the
    ratio the theorem bounds), the seeds on which DAG#1 ends slowest, and whether the two orders (of the
    means over seeds, not a test) are the same, as "yes" or "no". Returns the two tables and the values
    to glue."""
    lam_rows, rows, glue = [], [], {}
    for ds in datasets:
        lam = {k: GD[f"{ds}_lam_{k}"] for k in ("exact", "paper", "ntk")}
        lam_rows += [{"dataset": DATASET_NAMES[ds], "DAG": f"{name} {arch}",
                      **{f"lambda_min {k}": lam[k][i] for k in lam}} for i, (name, arch) in enumerate(FIGURE3.items())]
        ratio = GD[f"{ds}_loss"][:, :, -1] / GD[f"{ds}_loss"][:, :, 0]
        predicted, observed = rank_order(lam["exact"]), rank_order(ratio.mean(1), descending=False)
        slowest = int((ratio.argmax(0) == 0).sum())
        rows.append({"dataset": DATASET_NAMES[ds], "predicted (lambda_min exact)": predicted,
                     "observed (L_T / L_0)": observed, "DAG#1 slowest": f"{slowest}/{ratio.shape[1]} seeds",
                     "same order": yes_no(predicted == observed)})
        glue |= {f"lam_order_{ds}": predicted, f"slowest_{ds}": slowest,
                 f"agree_{ds}": "agrees" if predicted == observed else "does not agree",
                 f"l0_{ds}": ", ".join(f"{v:.2f}" for v in GD[f"{ds}_loss"][:, :, 0].mean(1)),
                 f"lT_{ds}": ", ".join(f"{v:.2f}" for v in GD[f"{ds}_loss"][:, :, -1].mean(1))}
    return (pd.DataFrame(lam_rows).set_index(["dataset", "DAG"]), pd.DataFrame(rows).set_index("dataset"), glue)


def figure4_summary(F: dict) -> tuple[pd.DataFrame, dict]:
    """The paper's Figure-4 claims on our training-accuracy curves, per dataset: final accuracy (mean and
    std over seeds) of each DAG, the order by final accuracy and by the mean accuracy over all epochs
    (which DAG rises fastest: the area under the curve), the share of epochs in which DAG#2 is above
    DAG#1, the first epoch from which the mean curves keep the paper's order DAG#3 > DAG#2 > DAG#1 to the
    last, and whether the means put DAG#3 first and DAG#2 above DAG#1 (the paper's two claims, Chen et al.
    2022, Sec. 5.1), as "yes" or "no": the order of the means over seeds, not a test. For the datasets of
    ``PAPER_DAG1_ENDS_ABOVE_DAG2``, ``fig4_end_<ds>`` says where our DAG#1 ends against DAG#2
    (``end_sentence``)."""
    rows, glue = [], {}
    for ds in dict.fromkeys(F["dataset"]):
        pick = [i for i, d in enumerate(F["dataset"]) if d == ds]
        order = [FIGURE3_NAME[F["dag"][i]] for i in pick]
        acc = F["train_acc"][pick] * 100  # (3 DAGs, seeds, epochs), in %
        mean = acc.mean(1)
        auc, final = mean.mean(1), mean[:, -1]
        at = {n: i for i, n in enumerate(order)}
        ahead = float((mean[at["DAG#2"]] > mean[at["DAG#1"]]).mean())
        in_order = (np.diff(mean[[at[n] for n in FIGURE3]], axis=0) > 0).all(0)  # per epoch: #1 < #2 < #3
        settled = next((e + 1 for e in range(len(in_order)) if in_order[e:].all()), None)
        row = {"dataset": DATASET_NAMES.get(ds, ds), "epochs": acc.shape[-1],
               **{f"{n} final (%)": f"{final[at[n]]:.2f} ± {acc[at[n], :, -1].std(ddof=1):.2f}" for n in FIGURE3},
               "order by final accuracy": rank_order(final, names=tuple(order)),
               "order by mean over epochs": rank_order(auc, names=tuple(order)),
               "epochs DAG#2 > DAG#1 (%)": 100 * ahead,
               "paper's order from epoch": settled if settled else "-",
               "DAG#3 first (mean over epochs)": yes_no(auc[at["DAG#3"]] == auc.max()),
               "DAG#2 above DAG#1 (mean over epochs)": yes_no(auc[at["DAG#2"]] > auc[at["DAG#1"]])}
        rows.append(row)
        holds = auc[at["DAG#3"]] == auc.max() and auc[at["DAG#2"]] > auc[at["DAG#1"]]
        glue |= {f"fig4_order_{ds}": row["order by mean over epochs"],
                 f"fig4_final_order_{ds}": row["order by final accuracy"],
                 f"fig4_ahead_{ds}": 100 * ahead, f"fig4_claims_{ds}": "hold" if holds else "do not both hold",
                 f"fig4_settled_{ds}": f"from epoch {settled}" if settled else "at no epoch to the last",
                 **{f"fig4_final_{ds}_{n[-1]}": float(final[at[n]]) for n in FIGURE3}}
        if ds in PAPER_DAG1_ENDS_ABOVE_DAG2:
            glue[f"fig4_end_{ds}"] = end_sentence(final[at["DAG#1"]], final[at["DAG#2"]], acc.shape[-1])
    return pd.DataFrame(rows).set_index("dataset"), glue


def space_taus(ALL: dict, datasets: list, n_boot: int, seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """Kendall's tau (percentile bootstrap interval) between the convergence speed of the 729 DAGs with a
    path and each predictor, and the paired difference tau(lambda_min exact) - tau(parameter count);
    returns the table and the values to glue."""
    rows, glue = [], {}
    better = []
    for ds in datasets:
        speed = convergence_speed(ALL[f"{ds}_loss0"], ALL[f"{ds}_lossT"])
        live = ALL[f"{ds}_lam_exact"] > 0
        glue |= {f"live_{ds}": int(live.sum()), f"diverged_{ds}": int((~np.isfinite(speed)).sum())}
        for label, key in PREDICTORS.items():
            values = ALL[f"{ds}_{key}"] if f"{ds}_{key}" in ALL else ALL[key]
            tau, lo, hi = stats.rank_correlation_ci(speed[live], values[live], "kendall", n_boot, seed=seed)
            rows.append({"dataset": DATASET_NAMES[ds], "predictor": label, "Kendall tau": tau,
                         "95% CI low": lo, "95% CI high": hi})
            glue[f"tau_{ds}_{key}"] = tau
        d, lo, hi = stats.paired_difference_ci(speed[live], ALL[f"{ds}_lam_exact"][live], ALL[f"{ds}_params"][live],
                                               "kendall", n_boot, seed=seed)
        glue |= {f"dtau_{ds}": d, f"dtau_{ds}_ci": f"[{lo:.3f}, {hi:.3f}]",
                 f"beats_{ds}": "beats" if lo > 0 else "loses to" if hi < 0 else "does not significantly beat"}
        better.append(glue[f"tau_{ds}_lam_exact"] > glue[f"tau_{ds}_lam_paper"])
    glue["cross_terms"] = ("improve" if all(better) else "do not improve" if not any(better)
                           else "improve on some datasets")
    verbs = [glue[f"beats_{ds}"] for ds in datasets]
    where = {1: DATASET_NAMES[datasets[0]], 2: "both datasets"}.get(len(datasets), "every dataset")
    glue["beats_all"] = (f"{verbs[0]} the parameter count on {where}" if len(set(verbs)) == 1 else
                         " and ".join(f"{v} {'the parameter count' if i == 0 else 'it'} on {DATASET_NAMES[ds]}"
                                      for i, (ds, v) in enumerate(zip(datasets, verbs))))
    return pd.DataFrame(rows).set_index(["dataset", "predictor"]), glue


def ntk_rate(S: dict, ds: str) -> np.ndarray:
    """``lambda_min / lambda_max`` of each DAG's NTK on ``ds`` (``ch05.all_dags_seeds``; 0 where lambda_max is
    0): the linear rate of gradient descent at a step that is a fraction of ``2 / lambda_max``."""
    lmax = S[f"{ds}_ntk_lmax"]
    return S[f"{ds}_ntk_lam"] / np.where(lmax > 0, lmax, 1)


def scale_table(S: dict, datasets: list, n_boot: int, seed: int = 0) -> pd.DataFrame:
    """``ch05.all_dags_seeds`` at one step for all and at each DAG's own step: Kendall's tau of the
    seed-mean convergence speed with lambda_min (raw at one step, over the mean diagonal at the own step,
    where the output scale is removed; at the own step also lambda_min / lambda_max of the NTK, the linear
    rate at a step that is a fraction of 2 / lambda_max), with effective depth and with effective width,
    each with its bootstrap interval and its range over the seeds. The lambda_min rows cover the DAGs with a path
    (lambda_min > 0); the depth and width rows, like the claims, only those with a trained path (effective
    depth d > 0: some input-to-output path through a linear edge), since d = m = 0 is a convention, not a
    measurement. Column ``DAGs`` gives the count of each row."""
    rows = []
    for ds in datasets:
        lam, diag = S[f"{ds}_exact_lam"], S[f"{ds}_exact_diag"]
        free = lam / np.where(diag > 0, diag, 1)
        cond = ntk_rate(S, ds)
        for mode, label, scale in (("fixed", "one step for all", lam), ("own", "own step (scale removed)", free)):
            speed = S[f"{ds}_speed_{mode}"]
            path = (lam > 0) & np.isfinite(speed).all(0)
            trained = path & (np.asarray(S["depth"]) > 0)
            lams = ([("lambda_min", scale, path)] if mode == "fixed" else
                    [("lambda_min / mean diagonal", scale, path), ("lambda_min / lambda_max of the NTK", cond, path)])
            for name, x, live in lams + [("effective depth", S["depth"], trained),
                                         ("effective width", S["width"], trained)]:
                tau = stats.rank_correlation_ci(speed[:, live].mean(0), x[live], "kendall", n_boot, seed=seed)
                per_seed = [stats.rank_correlation(s[live], x[live]) for s in speed]
                rows.append({"dataset": DATASET_NAMES[ds], "training": label, "predictor": name,
                             "DAGs": int(live.sum()), "Kendall tau": tau.value, "95% CI low": tau.lo,
                             "95% CI high": tau.hi, "seeds: lowest tau": min(per_seed),
                             "seeds: highest tau": max(per_seed)})
    return pd.DataFrame(rows)


def figure3_speeds(R: dict, datasets: list) -> pd.DataFrame:
    """Mean and standard error over seeds of ``log(L_0 / L_T)`` for each Figure-3 DAG (``ch05.figure3_gd`` or
    ``ch05.figure3_scale_free``)."""
    rows = []
    for ds in datasets:
        speed = np.log(R[f"{ds}_loss"][..., 0] / R[f"{ds}_loss"][..., -1])
        for (name, arch), s in zip(FIGURE3.items(), speed):
            rows.append({"dataset": DATASET_NAMES[ds], "DAG": f"{name} {arch}", "speed (mean)": s.mean(),
                         "standard error": s.std(ddof=1) / np.sqrt(len(s))})
    return pd.DataFrame(rows)



def figure4_length(epochs: int) -> dict[str, str]:
    """How long our Figure-4 run is against the release's ``RELEASE_EPOCHS``, for the text: ``fig4_length``
    (the sizes paragraph) and ``fig4_span`` (what the curves cover), true for either profile."""
    if epochs < RELEASE_EPOCHS:
        return {"fig4_length": f"{epochs:,} epochs of them fit this CPU, not the release's {RELEASE_EPOCHS:,}",
                "fig4_span": f"the first {epochs:,} of the release's {RELEASE_EPOCHS:,} epochs, on a smaller "
                             "training set, so they test the early part of the paper's curves"}
    return {"fig4_length": f"{epochs:,} epochs of them, as many as the release's {RELEASE_EPOCHS:,}",
            "fig4_span": f"{epochs:,} epochs, the release's full length, on a smaller training set"}


__all__ = [
    "DATASET_NAMES", "rank_order", "yes_no", "end_sentence", "figure3_gd_tables", "figure4_summary", "space_taus",
    "scale_table", "ntk_rate", "figure3_speeds", "RELEASE_EPOCHS", "PAPER_DAG1_ENDS_ABOVE_DAG2", "figure4_length",
]
