"""Chapter 06: training-free NAS on NAS-Bench-201 with and without the DAG pre-filter."""
from __future__ import annotations

import numpy as np

from convlib import dag, data, registry, theory
from convlib.nas import DEPTH_RANGE, WIDTH_RANGE, benchmark, scores, search

CHAPTER = "06_nas_speedup"


def subset(n_cells: int, subset_seed: int) -> np.ndarray:
    """Benchmark indices of the scored cells: all 15,625 when ``n_cells`` is 15625, otherwise a
    uniform random subset without replacement drawn by ``subset_seed`` (sorted)."""
    if not 1 <= n_cells <= benchmark.N_CELLS:
        raise ValueError(f"n_cells must be in 1..{benchmark.N_CELLS}, got {n_cells!r}")
    if n_cells == benchmark.N_CELLS:
        return np.arange(n_cells)
    return np.sort(np.random.default_rng(subset_seed).choice(benchmark.N_CELLS, n_cells, replace=False))


@registry.experiment("ch06.scores", chapter=CHAPTER)
def score_table(n_cells: int, ntk_cells: int, subset_seed: int, seed: int) -> dict:
    """NASWOT and linear regions of ``n_cells`` cells (``subset``), the NTK condition number of the
    first ``ntk_cells`` of them, and the seconds each score took, on the minibatches of ``seed``."""
    idx = subset(n_cells, subset_seed)
    archs = benchmark.load()["arch"].to_numpy()[idx].tolist()
    out = scores.score_cells(archs, seed, ("naswot", "regions"))
    ntk = scores.score_cells(archs[:ntk_cells], seed, ("ntk",))
    pad = lambda v: np.concatenate([v, np.full(n_cells - ntk_cells, np.nan)])  # noqa: E731
    return {"index": idx, **out, "ntk": pad(ntk["ntk"]), "ntk_s": pad(ntk["ntk_s"])}


@registry.experiment("ch06.tenas", chapter=CHAPTER)
def tenas_runs(tenas_seeds: int, tenas_ntk_batch: int, tenas_lr_samples: int, tenas_lr_batches: int,
               tenas_repeat: int) -> dict:
    """TENAS and TENAS+DAG, one search per seed ``0..tenas_seeds-1``: picked benchmark index,
    wall seconds and number of pruned supernets evaluated."""
    budget = dict(ntk_batch=tenas_ntk_batch, lr_samples=tenas_lr_samples, lr_batches=tenas_lr_batches,
                  repeat=tenas_repeat)
    out: dict = {}
    for name, dag in (("tenas", False), ("tenas_dag", True)):
        runs = [search.tenas(s, dag, **budget) for s in range(tenas_seeds)]
        out[name + "_index"] = np.array([benchmark.index_of(r["arch"]) for r in runs])
        out[name + "_seconds"] = np.array([r["seconds"] for r in runs])
        out[name + "_evaluated"] = np.array([r["evaluated"] for r in runs])
    return out


@registry.experiment("ch06.lambda_min", chapter=CHAPTER)
def lambda_min_cells(lambda_inputs: int, seed: int) -> dict:
    """lambda_min of the exact NNGP Gram matrix of every cell's MLP analogue (conv -> linear,
    pooling -> skip) on ``lambda_inputs`` flattened CIFAR-10 training images, per benchmark index."""
    X = data.load("cifar10", "train", n=lambda_inputs, seed=seed)[0]
    cells = [dag.parse(a).as_mlp() for a in benchmark.load()["arch"]]
    kinds = sorted({c.to_string() for c in cells})
    lam = dict(zip(kinds, theory.lambda_min_many(kinds, X, kernel="exact")))
    return {"lambda_min": np.array([lam[c.to_string()] for c in cells])}


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


def wot_rows(table: dict, n_samples: int, n_runs: int, search_seed: int,
             depth=DEPTH_RANGE, width=WIDTH_RANGE, dw: np.ndarray | None = None) -> dict:
    """WOT and WOT+DAG summaries over ``n_runs`` searches drawing from the scored pool."""
    idx = table["index"]
    dw = depth_width()[idx] if dw is None else dw[idx]
    keep = ((depth[0] <= dw[:, 0]) & (dw[:, 0] <= depth[1]) & (width[0] <= dw[:, 1]) & (dw[:, 1] <= width[1]))
    rows = {}
    for name, mask in (("WOT", None), ("WOT+DAG", keep)):
        r = search.sample_search(table["naswot"], table["naswot_s"], mask, n_samples=n_samples,
                                 n_runs=n_runs, seed=search_seed)
        rows[name] = summary(idx[r.pick], r.evaluated, r.seconds)
    return rows


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
