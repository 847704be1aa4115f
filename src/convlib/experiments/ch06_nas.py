"""Chapter 06's cached computations: the training-free scores of the whole NAS-Bench-201 space and the TENAS
searches, with and without the DAG pre-filter (Chen et al. 2022, Tables 2 and 3, Figure 5).

The scores of every cell are computed once per minibatch seed, in shards of ``CELLS_PER_SHARD`` cells
(``convlib.registry``: each shard stored as it finishes, a stopped run resumes, ``--workers`` fans the
shards out), each with the seconds it took on one intra-op thread; a search on the page
(``convlib.pages.ch06_nas``) then looks scores up and charges each run the recorded seconds of the cells it scored.
"""
from __future__ import annotations

import numpy as np

from convlib import dag, data, registry, theory
from convlib.nas import benchmark, scores, search

CHAPTER = "06_nas_speedup"
CELLS_PER_SHARD = 1000
TENAS_VARIANTS = {"TENAS": False, "TENAS+DAG": True}


def cell_shards(n_cells: int, **_) -> list[str]:
    """Shards of the benchmark indices ``0..n_cells-1`` (all 15,625 in the paper profile),
    ``CELLS_PER_SHARD`` cells each."""
    if not 1 <= n_cells <= benchmark.N_CELLS:
        raise ValueError(f"n_cells must be in 1..{benchmark.N_CELLS}, got {n_cells!r}")
    return registry.ranges(n_cells, CELLS_PER_SHARD)


def _score_range(measure: str, seed: int, shard: str) -> dict:
    span = registry.span(shard)
    archs = benchmark.load()["arch"].to_numpy()[span.start:span.stop]
    out = scores.score_cells(archs, seed, (measure,))
    return {"index": np.arange(span.start, span.stop), measure: out[measure], f"{measure}_s": out[f"{measure}_s"]}


@registry.experiment("ch06.naswot", chapter=CHAPTER, shards=cell_shards, probes=registry.item_probes(),
                     volatile=("naswot_s",))
def naswot_scores(n_cells: int, seed: int, shard: str) -> dict:
    """NASWOT (benchmark network, minibatch of 128 drawn by ``seed``) of the cells in ``shard``, benchmark
    index order, with seconds per cell; NaN for the cells with no input-to-output path."""
    return _score_range("naswot", seed, shard)


@registry.experiment("ch06.regions", chapter=CHAPTER, shards=cell_shards, probes=registry.item_probes(),
                     volatile=("regions_s",))
def region_counts(n_cells: int, seed: int, shard: str) -> dict:
    """Linear-region counts (TENAS' thin network, 3,000 patches drawn by ``seed``) of the cells in ``shard``."""
    return _score_range("regions", seed, shard)


def ntk_sample(ntk_cells: int, seed: int) -> np.ndarray:
    """Benchmark indices of the ``ntk_cells`` cells whose NTK condition number is computed: a uniform
    sample without replacement drawn by ``seed``, sorted."""
    if not 1 <= ntk_cells <= benchmark.N_CELLS:
        raise ValueError(f"ntk_cells must be in 1..{benchmark.N_CELLS}, got {ntk_cells!r}")
    return np.sort(np.random.default_rng(seed).choice(benchmark.N_CELLS, ntk_cells, replace=False))


@registry.experiment("ch06.ntk", chapter=CHAPTER, shards=lambda ntk_cells, seed: registry.ranges(ntk_cells, 250),
                     probes=registry.item_probes(), volatile=("ntk_s",))
def ntk_conditions(ntk_cells: int, seed: int, shard: str) -> dict:
    """NTK condition number (TENAS' proxy network, 72 images drawn by ``seed``) of the sampled cells
    ``ntk_sample(ntk_cells, seed)[shard]``, with seconds per cell."""
    idx = ntk_sample(ntk_cells, seed)[registry.span(shard).start:registry.span(shard).stop]
    out = scores.score_cells(benchmark.load()["arch"].to_numpy()[idx], seed, ("ntk",))
    return {"index": idx, "ntk": out["ntk"], "ntk_s": out["ntk_s"]}


@registry.experiment("ch06.ntk_cpu", chapter=CHAPTER,
                     shards=lambda ntk_check_cells, seed: registry.ranges(ntk_check_cells, 250),
                     probes=registry.item_probes(), volatile=("ntk_s",))
def ntk_conditions_cpu(ntk_check_cells: int, seed: int, shard: str) -> dict:
    """``ntk_conditions`` of the uniform sample ``ntk_sample(ntk_check_cells, seed)``, always on the CPU: the
    reference for the cells of ``ch06.ntk`` that another device computed."""
    idx = ntk_sample(ntk_check_cells, seed)[registry.span(shard).start:registry.span(shard).stop]
    out = scores.score_cells(benchmark.load()["arch"].to_numpy()[idx], seed, ("ntk",), "cpu")
    return {"index": idx, "ntk": out["ntk"], "ntk_s": out["ntk_s"]}


def tenas_shards(tenas_seeds: list, **_) -> list[str]:
    """One shard per (variant, seed): ``TENAS-0``, ``TENAS+DAG-0``, ..."""
    return [f"{v.replace('+', '_')}-{s}" for s in tenas_seeds for v in TENAS_VARIANTS]


@registry.experiment("ch06.tenas", chapter=CHAPTER, shards=tenas_shards, volatile=("seconds",))
def tenas_runs(tenas_seeds: list, tenas_batch: int, tenas_repeat: int, shard: str) -> dict:
    """One TENAS or TENAS+DAG search (``search.tenas``, NTK on ``tenas_batch`` augmented images,
    ``tenas_repeat`` repeats, linear regions on TENAS' 3 x 1,000 patches): the variant, seed, picked
    benchmark index, wall seconds and the number of pruned supernets evaluated."""
    variant, seed = shard.rsplit("-", 1)
    run = search.tenas(int(seed), TENAS_VARIANTS[variant.replace("_", "+")], ntk_batch=tenas_batch, repeat=tenas_repeat)
    return {"variant": [variant.replace("_", "+")], "seed": np.array([int(seed)]),
            "index": np.array([benchmark.index_of(run["arch"])]), "seconds": np.array([run["seconds"]]),
            "evaluated": np.array([run["evaluated"]])}


@registry.experiment("ch06.lambda_min", chapter=CHAPTER)
def lambda_min_cells(lambda_inputs: int, seed: int) -> dict:
    """lambda_min and trace of the exact NNGP Gram matrix of every cell's MLP analogue (conv -> linear,
    pooling -> skip) on ``lambda_inputs`` flattened CIFAR-10 training images, per benchmark index."""
    X = data.load("cifar10", "train", n=lambda_inputs, seed=seed)[0]
    mlp = [dag.parse(a).as_mlp().to_string() for a in benchmark.load()["arch"]]
    kinds = sorted(set(mlp))
    G = theory.gram_many(kinds, X, "exact")
    lam = dict(zip(kinds, theory.least_eigenvalues(G)))
    trace = dict(zip(kinds, G.diagonal(dim1=-2, dim2=-1).sum(-1).cpu().numpy()))
    return {"lambda_min": np.array([lam[k] for k in mlp]), "trace": np.array([trace[k] for k in mlp])}


__all__ = [
    "TENAS_VARIANTS", "cell_shards", "naswot_scores", "region_counts", "ntk_conditions", "ntk_conditions_cpu",
    "tenas_shards", "tenas_runs", "lambda_min_cells"
]
