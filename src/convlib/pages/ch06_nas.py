"""Chapter 06's page: the searches replayed on the cached scores, Tables 2 and 3, Figure 5, ranks and costs."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from convlib import paper, present, registry, results, theory
from convlib.experiments.ch06_nas import TENAS_VARIANTS
from convlib.nas import benchmark, in_box, scores, search


def depth_width() -> np.ndarray:
    """(15625, 2) effective depth and width of every cell, in benchmark index order."""
    return np.array([theory.effective_depth_width(a) for a in benchmark.load()["arch"]])


def summary(picks: np.ndarray, evaluated, seconds) -> dict:
    """Mean and std (ddof=1 over runs) of the picked cells' test accuracy on each dataset, with the
    mean number of networks evaluated and mean search seconds per run."""
    t = benchmark.load()
    row = {}
    for ds in benchmark.DATASETS:
        acc = t[ds].to_numpy()[picks]
        row[ds] = acc.mean()
        row[ds + "_std"] = acc.std(ddof=1) if len(acc) > 1 else np.nan
    row["evaluated"] = float(np.mean(evaluated))
    row["seconds"] = float(np.mean(seconds))
    return row


def wot_rows(naswot: dict, dw: np.ndarray, n_samples: int, n_runs: int, search_seed: int,
             box: tuple | None = None) -> dict:
    """WOT and WOT+DAG (kept box ``box`` = (depth range, width range), default the released code's) over
    ``n_runs`` searches, each drawing ``n_samples`` of the scored cells with replacement, as the release
    does; ``dw`` holds the (d, m) of every benchmark index."""
    keep = in_box(dw[naswot["index"]], *(box or ()))
    rows = {}
    for name, mask in (("WOT", None), ("WOT+DAG", keep)):
        r = search.sample_search(naswot["naswot"], naswot["naswot_s"], mask, n_samples=n_samples,
                                 n_runs=n_runs, seed=search_seed)
        rows[name] = summary(naswot["index"][r.pick], r.evaluated, r.seconds)
    return rows


def tenas_rows(T: dict) -> dict:
    """TENAS and TENAS+DAG summaries over the seeds of ``ch06.tenas``."""
    variant = np.asarray(T["variant"])
    return {v: summary(T["index"][variant == v], T["evaluated"][variant == v], T["seconds"][variant == v])
            for v in TENAS_VARIANTS}


def tenas_picks(T: dict) -> pd.DataFrame:
    """One row per TENAS search: variant, seed, the picked cell, its test accuracies, seconds, networks scored."""
    t = benchmark.load()
    return pd.DataFrame({"variant": T["variant"], "seed": T["seed"], "arch": t["arch"].to_numpy()[T["index"]],
                         **{ds: t[ds].to_numpy()[T["index"]] for ds in benchmark.DATASETS},
                         "seconds": T["seconds"], "networks scored": T["evaluated"]})


def tenas_picks_table(T: dict) -> present.Table:
    """:func:`tenas_picks` for the page: each pick as ``present.cell_code``, seconds without decimals."""
    picks = tenas_picks(T)
    picks = picks.assign(arch=picks["arch"].map(present.cell_code)).rename(columns={"arch": "cell"})
    return present.table(picks, {"seconds": "{:,.0f}"}, caption="The pick of every TENAS search; " + present.CELL_KEY)


RECHECK_RTOL = 1e-9  # a cached NASWOT score agrees with a new one within this relative difference


def recheck(naswot: dict, regions: dict, n: int, seed: int) -> pd.DataFrame:
    """``n`` connected cells spread evenly over the scored range, scored again now beside their cached
    NASWOT score and region count (same minibatch seed), and the verdict per cell: ``agrees`` when the
    scores are within ``RECHECK_RTOL`` relative and the region counts are equal."""
    live = np.flatnonzero(np.isfinite(naswot["naswot"]))
    pick = live[np.linspace(0, len(live) - 1, n).round().astype(int)]
    archs = benchmark.load()["arch"].to_numpy()[naswot["index"][pick]]
    now = scores.score_cells(archs, seed, ("naswot", "regions"))
    out = pd.DataFrame({"NASWOT cached": naswot["naswot"][pick], "NASWOT now": now["naswot"],
                        "regions cached": regions["regions"][pick], "regions now": now["regions"]},
                       index=pd.Index(naswot["index"][pick], name="benchmark index"))
    out["agrees"] = np.isclose(out["NASWOT now"], out["NASWOT cached"], rtol=RECHECK_RTOL, atol=0) & (
        out["regions now"] == out["regions cached"])
    return out


def table2(rows: dict) -> pd.DataFrame:
    """Our rows (``wot_rows`` and ``tenas_rows`` merged, and ``optimal``: the benchmark's best test accuracy)
    beside the same rows of Chen et al. (2022) Table 2: per dataset our mean, std, the paper's mean, std and
    the difference; then the search cost. The paper's other rows are :func:`table2_cited`."""
    t = benchmark.load()
    ours = pd.DataFrame({**rows, "optimal": {ds: float(t[ds].max()) for ds in benchmark.DATASETS}}).T
    theirs, their_std = paper.table("chen2022", "table2"), paper.table("chen2022", "table2", "std")
    out = pd.DataFrame(index=[m for m in theirs.index if m in ours.index])
    for ds in benchmark.DATASETS:
        out[(ds, "ours")] = ours[ds]
        out[(ds, "ours std")] = ours[ds + "_std"]
        out[(ds, "paper")] = theirs[ds]
        out[(ds, "paper std")] = their_std[ds]
        out[(ds, "diff")] = ours[ds] - theirs[ds]
    out[("cost", "networks scored")] = ours["evaluated"]
    out[("cost", "ours (s)")] = ours["seconds"]
    out[("cost", "paper (GPU s)")] = theirs["seconds"]
    out.columns = pd.MultiIndex.from_tuples(out.columns)
    return out


ALL_SKIP = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
"""The cell with a skip on every edge, which DARTS and ENAS return on NAS-Bench-201 (Dong and Yang, 2020)."""


def table2_cited(rows: dict) -> pd.DataFrame:
    """The rows of Chen et al. (2022) Table 2 that ``rows`` lacks (methods this book does not rerun), one line
    each: the paper's accuracy on every dataset as "mean (std)", its GPU seconds, and what the row is (those
    equal on every dataset, to the paper's two decimals, to the benchmark's ``ALL_SKIP`` cell say so)."""
    t = benchmark.load()
    skip = t.loc[t["arch"] == ALL_SKIP, list(benchmark.DATASETS)].iloc[0]
    theirs, their_std = paper.table("chen2022", "table2"), paper.table("chen2022", "table2", "std")
    out = {}
    for m in theirs.index.difference(list(rows) + ["optimal"], sort=False):
        line = {ds: f"{theirs.loc[m, ds]:.2f}" + ("" if pd.isna(their_std.loc[m, ds]) else
                                                  f" ({their_std.loc[m, ds]:.2f})") for ds in benchmark.DATASETS}
        same = all(abs(theirs.loc[m, ds] - skip[ds]) < 0.005 for ds in benchmark.DATASETS)
        line["paper (GPU s)"] = theirs.loc[m, "seconds"]
        line["what it is"] = ("a search; its pick is the all-skip cell (the benchmark's entry is equal)" if same
                              else "no search: a hand-designed network" if pd.isna(theirs.loc[m, "seconds"])
                              else "a search this book does not rerun")
        out[m] = line
    return pd.DataFrame(out).T


def savings(rows: dict) -> pd.DataFrame:
    """The filter's saving of search time and of networks scored (% of the method without it), ours
    beside the paper's (Table 2)."""
    theirs = paper.table("chen2022", "table2")
    out = {}
    for base in ("WOT", "TENAS"):
        a, b = rows[base], rows[base + "+DAG"]
        out[base + "+DAG"] = {"time saved (%)": 100 * (1 - b["seconds"] / a["seconds"]),
                              "networks saved (%)": 100 * (1 - b["evaluated"] / a["evaluated"]),
                              "paper: time saved (%)": theirs.loc[base + "+DAG", "saving"]}
    return pd.DataFrame(out).T


BASELINE = "none (WOT)"
"""Table 3's row without the filter, beside the paper's row 1 (the full radius, labelled the baseline, with the
numbers of WOT in its Table 2)."""


def table3(naswot: dict, dw: np.ndarray, fractions, n_samples: int, n_runs: int, search_seed: int,
           baseline: bool = False) -> pd.DataFrame:
    """WOT+DAG with the text's centre-radius box at each ``fraction`` of the radius (``filter_box``):
    share of the space kept, networks scored per run, mean accuracy on every dataset (CIFAR-100 std too),
    beside Chen et al. (2022) Table 3 (CIFAR-100). ``baseline`` puts WOT without the filter first (row
    ``BASELINE``), beside the paper's row 1, which has its unfiltered WOT's numbers."""
    theirs = paper.table("chen2022", "table3")
    theirs.index = theirs.index.astype(float)
    rows = {}
    if baseline:
        r = wot_rows(naswot, dw, n_samples, n_runs, search_seed)["WOT"]
        rows[BASELINE] = {"kept share": 1.0, "networks scored": r["evaluated"],
                          **{ds: r[ds] for ds in benchmark.DATASETS}, "cifar100 std": r["cifar100_std"]}
    for f in fractions:
        box = filter_box(dw, f)
        r = wot_rows(naswot, dw, n_samples, n_runs, search_seed, box=box)["WOT+DAG"]
        rows[f] = {"kept share": float(in_box(dw, *box).mean()), "networks scored": r["evaluated"],
                   **{ds: r[ds] for ds in benchmark.DATASETS}, "cifar100 std": r["cifar100_std"]}
    out = pd.DataFrame(rows).T.rename_axis("fraction of radius")
    out["paper cifar100"] = theirs["cifar100"].reindex([1.0 if k == BASELINE else k for k in out.index]).to_numpy()
    out["diff cifar100"] = out["cifar100"] - out["paper cifar100"]
    return out


def figure5(dw: np.ndarray, table: pd.DataFrame) -> pd.DataFrame:
    """Chen et al. (2022) Figure 5: the cells grouped by their (effective depth, effective width) pair,
    with the number of cells and the mean and std of the test accuracy on each dataset."""
    key = pd.MultiIndex.from_arrays([np.round(dw[:, 0], 9), np.round(dw[:, 1], 9)], names=["depth", "width"])
    frame = table[list(benchmark.DATASETS)].set_axis(key)
    grouped = frame.groupby(level=[0, 1])
    out = grouped.size().to_frame("cells")
    for ds in benchmark.DATASETS:
        out[ds] = grouped[ds].mean()
        out[ds + "_std"] = grouped[ds].std(ddof=0)
    return out


def multiple_r(dw: np.ndarray, acc: np.ndarray) -> float:
    """Multiple correlation R of ``acc`` on (d, m): the correlation of ``acc`` with its least-squares fit
    ``a + b d + c m`` (the square root of the fit's R^2)."""
    A = np.column_stack([np.ones(len(dw)), dw])
    fit = A @ np.linalg.lstsq(A, acc, rcond=None)[0]
    return float(np.corrcoef(fit, acc)[0, 1])


def rank_table(measures: dict, table: pd.DataFrame) -> pd.DataFrame:
    """Kendall tau-b of each measure with each dataset's test accuracy over the cells it covers:
    ``measures`` maps a name to (values, benchmark indices); NaN values (no path) are left out."""
    rows = {}
    for name, (values, index) in measures.items():
        values, index = np.asarray(values, float), np.asarray(index)
        ok = np.isfinite(values)
        rows[name] = {"cells": int(ok.sum()),
                      **{f"tau {ds}": stats.kendalltau(values[ok], table[ds].to_numpy()[index[ok]]).statistic
                         for ds in benchmark.DATASETS}}
    return pd.DataFrame(rows).T


def cost_table(results_by_measure: dict) -> pd.DataFrame:
    """Seconds per scored cell on one intra-op thread (mean, median) and cells per second, per measure;
    ``results_by_measure`` maps a measure to its ``ch06.<measure>`` result."""
    rows = {}
    for m, R in results_by_measure.items():
        secs = R[m + "_s"][np.isfinite(R[m])]
        rows[m] = {"cells": len(secs), "mean s/cell": secs.mean(), "median s/cell": float(np.median(secs)),
                   "cells/s": 1 / secs.mean(), "total (h)": secs.sum() / 3600}
    return pd.DataFrame(rows).T


def param_counts() -> np.ndarray:
    """Parameter count of every cell's benchmark network (CIFAR-10 head), in benchmark index order.

    The count depends only on how many edges are 1x1 and 3x3 convolutions, so one network is built
    per combination (28) and the counts are looked up."""
    from convlib.nas.network import Network, param_count

    archs = benchmark.load()["arch"]
    keys = [(a.count("nor_conv_1x1"), a.count("nor_conv_3x3")) for a in archs]
    built = {}
    for k, a in zip(keys, archs):
        if k not in built:
            built[k] = param_count(Network(a))
    return np.array([built[k] for k in keys])


def filter_box(dw: np.ndarray, fraction: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """Chen et al. (2022, Sec. 5.3): centre ``(max + min) / 2`` and radius ``(max - min) / 2`` of the
    effective depth and width over the space (cells with d > 0), keep ``|d - d*| <= fraction r_d``
    and ``|m - m*| <= fraction r_m``; returns the (depth, width) ranges."""
    live = dw[dw[:, 0] > 0]
    lo, hi = live.min(0), live.max(0)
    centre, radius = (hi + lo) / 2, (hi - lo) / 2
    return ((centre[0] - fraction * radius[0], centre[0] + fraction * radius[0]),
            (centre[1] - fraction * radius[1], centre[1] + fraction * radius[1]))


def extremes(dw: np.ndarray, acc: np.ndarray, fraction: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Figure 5's reading: the accuracies ``acc`` of the cells with a trained path (d > 0) inside the text's
    box at ``fraction`` of the radius (``filter_box``) and of those outside it, the extremes of depth or width."""
    live = dw[:, 0] > 0
    inside = in_box(dw, *filter_box(dw, fraction))
    return acc[live & inside], acc[live & ~inside]


# ---------------------------------------------------------------------- Table 2 under both readings of the box
BOX_READINGS = ("released", "half radius")


def wot_runs(naswot: dict, n_samples: int, n_runs: int, search_seed: int, box: tuple | None = None,
             dw: np.ndarray | None = None) -> dict:
    """Per run of the random-sampling search (``n_runs`` runs of ``n_samples`` draws, ``search_seed``):
    the picked cell (``pick``, benchmark index), its test accuracy on each dataset and the search seconds;
    WOT without a box (``box`` None), WOT+DAG with the kept box ``box`` = (depth range, width range) over the
    (d, m) ``dw``."""
    keep = None if box is None else in_box(dw[naswot["index"]], *box)
    r = search.sample_search(naswot["naswot"], naswot["naswot_s"], keep, n_samples=n_samples, n_runs=n_runs,
                             seed=search_seed)
    t = benchmark.load()
    picks = naswot["index"][r.pick]
    return {"pick": picks, **{ds: t[ds].to_numpy()[picks] for ds in benchmark.DATASETS}, "seconds": r.seconds,
            "evaluated": r.evaluated}


def changed_picks(runs: dict) -> dict[str, float]:
    """Per reading of the box, the share of runs (``wot_readings``) whose WOT+DAG pick differs from WOT's:
    with the same draws it differs exactly when WOT's pick lies outside the box, the only runs in which the
    filter can change the accuracy."""
    return {reading: float(np.mean(runs[reading]["pick"] != runs["WOT"]["pick"])) for reading in BOX_READINGS}


def wot_readings(naswot: dict, dw: np.ndarray, n_samples: int, n_runs: int, search_seed: int) -> dict:
    """``wot_runs`` of WOT and of WOT+DAG under both readings of the paper's box: ``"released"`` (the
    released code's ranges, ``nas.in_box`` defaults) and ``"half radius"`` (the text's centre and radius,
    Sec. 5.3, at half the radius: ``filter_box(dw, 0.5)``). All three share the draws of each run."""
    return {"WOT": wot_runs(naswot, n_samples, n_runs, search_seed),
            "released": wot_runs(naswot, n_samples, n_runs, search_seed, (), dw),
            "half radius": wot_runs(naswot, n_samples, n_runs, search_seed, filter_box(dw, 0.5), dw)}


def readings_table(runs: dict) -> pd.DataFrame:
    """WOT+DAG under each reading beside the paper's Table-2 row: mean accuracy per dataset, the time
    saved against WOT, and the distance to the paper's entries (mean |ours - paper| over the three
    datasets, in points, and |saving - paper's saving|)."""
    theirs = paper.table("chen2022", "table2").loc["WOT+DAG"]
    rows = {}
    for reading in BOX_READINGS:
        r = runs[reading]
        acc = {ds: float(r[ds].mean()) for ds in benchmark.DATASETS}
        saving = 100 * (1 - r["seconds"].mean() / runs["WOT"]["seconds"].mean())
        rows[reading] = {**acc, "time saved (%)": saving,
                         "mean |diff| to paper (points)": float(np.mean([abs(acc[ds] - theirs[ds])
                                                                        for ds in benchmark.DATASETS])),
                         "|diff| of saving (points)": abs(saving - theirs["saving"])}
    rows["paper"] = {**{ds: float(theirs[ds]) for ds in benchmark.DATASETS}, "time saved (%)": float(theirs["saving"])}
    return pd.DataFrame(rows).T.rename_axis("box")


def closer_reading(readings: pd.DataFrame) -> dict[str, str]:
    """Which reading of the box lies nearer the paper's Table-2 row: by the accuracies (``closer_acc``) and by
    the time saved (``closer_saving``)."""
    ours = readings.loc[list(BOX_READINGS)]
    return {"closer_acc": str(ours["mean |diff| to paper (points)"].idxmin()),
            "closer_saving": str(ours["|diff| of saving (points)"].idxmin())}


def ntk_devices(K: dict, ntk_cells: int, seed: int) -> np.ndarray:
    """The device that computed each cell of ``K`` (``ch06.ntk``), from its shards' provenance."""
    exp = registry.lookup("ch06.ntk")
    shards = exp.shard_ids(exp.params({"ntk_cells": ntk_cells, "seed": seed}))
    return np.repeat(K["_provenance"]["shard_devices"], [len(registry.span(s)) for s in shards])


def on_device(R: dict, devices: np.ndarray, device: str, measure: str = "ntk") -> dict:
    """The ``measure`` and ``measure_s`` arrays of ``R`` restricted to the cells computed on a device whose
    name starts with ``device`` (for ``cost_table``: seconds of different devices do not add up)."""
    keep = np.char.startswith(devices.astype(str), device)
    return {measure: R[measure][keep], measure + "_s": R[measure + "_s"][keep]}


def device_agreement(K: dict, devices: np.ndarray, C: dict, acc: np.ndarray) -> pd.DataFrame:
    """Per device that computed cells of ``K`` (``ch06.ntk``): the cells with a path that ``C``
    (``ch06.ntk_cpu``, on the CPU) holds too; how many agree to the bit; the median and largest relative
    difference ``|K - C| / C``; Kendall tau between the two; and Kendall tau with the test accuracy ``acc``
    (benchmark index order) on those cells of each."""
    where = {int(i): k for k, i in enumerate(K["index"])}
    rows = {}
    for dev in dict.fromkeys(devices):
        pairs = [(where[int(i)], c) for i, c in zip(C["index"], C["ntk"])
                 if np.isfinite(c) and int(i) in where and devices[where[int(i)]] == dev]
        if not pairs:
            continue
        k = np.array([p for p, _ in pairs])
        ours, ref = K["ntk"][k], np.array([c for _, c in pairs])
        rel, a = np.abs(ours - ref) / ref, acc[K["index"][k]]
        rows[dev] = {"cells": len(ref), "equal to the bit": int((ours == ref).sum()),
                     "median rel. diff": float(np.median(rel)), "max rel. diff": float(rel.max()),
                     "tau, device vs CPU": stats.kendalltau(ours, ref).statistic,
                     "tau with accuracy (device)": stats.kendalltau(ours, a).statistic,
                     "tau with accuracy (CPU)": stats.kendalltau(ref, a).statistic}
    return pd.DataFrame(rows).T


def device_numbers(agree: pd.DataFrame) -> dict[str, object]:
    """The text's numbers from ``device_agreement``: the CPU's row (``cpu_*``) and the other device's
    (``gpu_*``, the first row not on a CPU), NaN where there is no such row."""
    cpu = [d for d in agree.index if results.is_cpu(d)]
    gpu = [d for d in agree.index if not results.is_cpu(d)]
    nan = pd.Series(np.nan, index=agree.columns)
    c, g = (agree.loc[rows[0]] if rows else nan for rows in (cpu, gpu))
    count = lambda v: int(v) if np.isfinite(v) else v  # noqa: E731
    return {"cpu_cells": count(c["cells"]), "cpu_bit": count(c["equal to the bit"]), "cpu_max": c["max rel. diff"],
            "gpu_name": str(gpu[0]) if gpu else "none", "gpu_cells": count(g["cells"]),
            "gpu_med": g["median rel. diff"], "gpu_max": g["max rel. diff"], "gpu_tau": g["tau, device vs CPU"],
            "gpu_tau_acc": g["tau with accuracy (device)"], "gpu_tau_acc_cpu": g["tau with accuracy (CPU)"]}


def ntk_scope(drawn: int, scored: int) -> str:
    """Which cells have an NTK condition number, for the text: every connected cell when the sample is the
    whole space (``ntk_cells`` = 15,625), else the connected ones of a uniform sample."""
    if drawn >= benchmark.N_CELLS:
        return f"every connected cell ({scored:,} of {benchmark.N_CELLS:,})"
    return f"the {scored:,} connected cells of a uniform sample of {drawn:,}"


__all__ = [
    "BASELINE", "ALL_SKIP", "table2_cited", "depth_width", "wot_rows", "tenas_rows", "tenas_picks",
    "tenas_picks_table", "recheck", "table2", "savings", "table3", "figure5", "extremes", "multiple_r", "rank_table",
    "cost_table", "param_counts", "filter_box", "BOX_READINGS", "wot_runs", "changed_picks", "wot_readings",
    "readings_table", "closer_reading", "RECHECK_RTOL", "ntk_scope", "ntk_devices", "on_device", "device_agreement",
    "device_numbers",
]
