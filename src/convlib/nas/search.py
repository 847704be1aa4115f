"""Searches on NAS-Bench-201: random-sampling WOT (Mellor et al. 2021) and prune-based TENAS (Chen et
al. 2021), each with the DAG pre-filter of Chen et al. (2022).

* ``sample_search``: each run draws ``n_samples`` cells uniformly with replacement from a scored pool
  and keeps the best score. With a ``keep`` mask (``dag_filter``) rejected cells are never scored:
  they cannot win and cost nothing. Scores come from a cache computed once per minibatch seed, so a
  run costs only the lookups; its *search cost* is the sum of the recorded seconds of the cells it
  scored.
* ``tenas``: start from the supernet with every operation but ``none`` on each of the six edges; each
  round scores, for every live (edge, op), the supernet without that op: the relative change of the
  NTK condition number ``(k0 - k) / k0`` (ranked high first) and of the linear-region count
  ``(r0 - r) / r0`` (ranked low first), both rounded to ``precision`` significant digits with tied
  values sharing a rank; on each edge the op with the smallest rank sum is pruned, until one op per
  edge remains. TENAS+DAG (``dag=True``) first computes, for every candidate of an edge, the
  probability-weighted effective depth and width of the pruned supernet (``expected_depth_width``)
  and keeps, unscored, the ``min(2, live - 2)`` candidates nearest their centroid, so only the
  others are evaluated.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from convlib.dag import KIND
from convlib.device import Device, clock, one_thread
from convlib.seeds import derive

from . import scores
from .network import EDGES, cell_string, without

TENAS_OPS = ("skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")  # TENAS prunes none first
ROUTES = tuple(tuple(EDGES.index(e) for e in zip(p, p[1:]))  # edge indices of each input-output route
               for p in ((0, 1, 2, 3), (0, 1, 3), (0, 2, 3), (0, 3)))


@dataclass(frozen=True)
class SampleSearch:
    """Per run: ``pick`` (pool position of the chosen cell), ``evaluated`` (cells scored) and
    ``seconds`` (their recorded scoring time)."""
    pick: np.ndarray
    evaluated: np.ndarray
    seconds: np.ndarray


def sample_search(score: np.ndarray, seconds: np.ndarray, keep: np.ndarray | None = None, *,
                  n_samples: int = 100, n_runs: int = 500, seed: int = 0, higher: bool = True) -> SampleSearch:
    """``n_runs`` random-sampling searches over a pool of scored cells, vectorised over runs.

    NaN scores (cells without an input-output path) never win; if no drawn cell is scored, the
    first draw is returned."""
    score, seconds = np.asarray(score, float), np.asarray(seconds, float)
    keep = np.ones(len(score), bool) if keep is None else np.asarray(keep, bool)
    if not (len(score) == len(seconds) == len(keep)) or len(score) == 0:
        raise ValueError(f"score, seconds and keep must be non-empty and of equal length, got "
                         f"{len(score)}, {len(seconds)}, {len(keep)}")
    draws = np.random.default_rng(seed).integers(0, len(score), size=(n_runs, n_samples))
    scored = keep[draws]
    value = np.where(scored & np.isfinite(score[draws]), score[draws] if higher else -score[draws], -np.inf)
    best = value.argmax(1)
    return SampleSearch(pick=draws[np.arange(n_runs), best], evaluated=scored.sum(1),
                        seconds=np.where(scored, seconds[draws], 0.0).sum(1))


def expected_depth_width(state) -> tuple[float, float]:
    """Effective depth and width of a supernet state, each live op equally likely on its edge
    (Chen et al. 2022, TENAS+DAG): over every route and every kind assignment of its edges, with
    probability ``p`` the product of the edges' kind fractions, ``d = sum p depth / sum p`` and
    ``m = sum_{depth > 0} p / d`` (routes through an edge with no live op are absent)."""
    frac = []
    for ops in state:
        kinds = [int(KIND[o] == "linear") for o in ops if KIND[o] != "zero"]  # parameterised edges it adds
        frac.append({k: kinds.count(k) / len(kinds) for k in set(kinds)} if kinds else {})
    total = weighted = wide = 0.0
    for route in ROUTES:
        for assign in itertools.product(*(frac[e].items() for e in route)):
            p = math.prod(q for _, q in assign)
            depth = sum(k for k, _ in assign)
            total, weighted, wide = total + p, weighted + p * depth, wide + (p if depth > 0 else 0.0)
    if total == 0 or weighted == 0:
        return 0.0, 0.0
    d = weighted / total
    return d, wide / d


def _round_sig(x: float, digits: int) -> float:
    return 0.0 if x == 0 or not math.isfinite(x) else round(x, digits - 1 - math.floor(math.log10(abs(x))))


def _dense_rank(values: list[float], descending: bool) -> list[int]:
    order = sorted(set(values), reverse=descending)
    pos = {v: i for i, v in enumerate(order)}
    return [pos[v] for v in values]


def tenas(seed: int = 0, dag: bool = False, *, ntk_batch: int = scores.NTK_BATCH,
          lr_samples: int = scores.LR_SAMPLES, lr_batches: int = scores.LR_BATCHES,
          repeat: int = 3, precision: int = 3, device: Device = "auto") -> dict:
    """One TENAS (or TENAS+DAG) search on one intra-op thread; returns the arch string, the seconds it
    took (``device.clock``: the thread's CPU seconds on the CPU, synchronised wall seconds on a GPU),
    and the number of pruned supernets it evaluated (each: one NTK and one linear-region count per
    repeat).

    As TENAS' release does, each round draws one proxy network (shared by every candidate and repeat)
    and each repeat a new minibatch of ``ntk_batch`` augmented training images
    (``scores.augmented_minibatch``); the thin linear-region network is drawn once per repeat and shared
    by the candidates (TENAS draws one per candidate, and its repeats are identical), on fixed patches."""
    with one_thread():
        return _tenas(seed, dag, ntk_batch, lr_samples, lr_batches, repeat, precision, device)


def _tenas(seed, dag, ntk_batch, lr_samples, lr_batches, repeat, precision, device) -> dict:
    start = clock(device)
    patches = scores.patches(seed, lr_samples * lr_batches)
    state = [TENAS_OPS] * len(EDGES)
    evaluated, rounds = 0, 0
    while any(len(ops) > 1 for ops in state):
        rounds += 1
        candidates = [(e, op) for e, ops in enumerate(state) if len(ops) > 1 for op in ops]
        if dag:
            candidates = _dag_candidates(state, candidates)
        draws = [derive(seed, "tenas.draw", rounds, r) for r in range(repeat)]
        net = scores.init_network(state, draws[0], device, **scores.PROXY)
        batches = [scores.augmented_minibatch(ntk_batch, d) for d in draws]
        thins = [scores.init_network(state, d, device, **scores.THIN) for d in draws]
        k0 = [scores.ntk_cond_of(net, x) for x in batches]
        r0 = [scores.linear_regions_of(thin, patches, lr_samples) for thin in thins]
        ntk_mean, reg_mean = [], []
        for c in candidates:
            pruned = without(net, *c)
            ntk = [_round_sig((k0[r] - scores.ntk_cond_of(pruned, x)) / k0[r], precision)
                   for r, x in enumerate(batches)]
            reg = [_round_sig((r0[r] - scores.linear_regions_of(without(t, *c), patches, lr_samples)) / r0[r],
                              precision) for r, t in enumerate(thins)]
            ntk_mean.append(_round_sig(float(np.mean(ntk)), precision))
            reg_mean.append(_round_sig(float(np.mean(reg)), precision))
        evaluated += len(candidates)
        rank = [a + b for a, b in zip(_dense_rank(ntk_mean, True), _dense_rank(reg_mean, False))]
        chosen: dict[int, str] = {}
        for i in sorted(range(len(candidates)), key=lambda i: rank[i]):
            chosen.setdefault(candidates[i][0], candidates[i][1])
        state = [tuple(o for o in ops if o != chosen.get(e)) for e, ops in enumerate(state)]
    return {"arch": cell_string([ops[0] for ops in state]), "seconds": clock(device) - start,
            "evaluated": evaluated, "rounds": rounds}


def _dag_candidates(state, candidates):
    """Drop from each edge's candidates the ``min(2, live - 2)`` whose pruned supernet lies nearest
    the centroid, in (expected depth, width), of that edge's candidates."""
    keep = []
    for e in sorted({c[0] for c in candidates}):
        mine = [c for c in candidates if c[0] == e]
        reserve = min(2, len(state[e]) - 2)
        if reserve <= 0:
            keep += mine
            continue
        dw = np.array([expected_depth_width([tuple(o for o in ops if (j, o) != c) for j, ops in enumerate(state)])
                       for c in mine])
        dist = ((dw - dw.mean(0)) ** 2).sum(1)
        skipped = set(np.argsort(dist, kind="stable")[:reserve].tolist())
        keep += [c for i, c in enumerate(mine) if i not in skipped]
    return keep


__all__ = ["SampleSearch", "sample_search", "expected_depth_width", "tenas"]
