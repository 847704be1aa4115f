"""Rank correlations, and two-group comparisons, with percentile bootstrap intervals (the book's one place
for them).

Kendall's tau-b (``"kendall"``) and Spearman's rho (``"spearman"``: the Pearson correlation of the ranks,
ties given their mean rank). An interval resamples the n pairs with replacement ``n_boot`` times
(``np.random.default_rng(seed).integers(0, n, (n_boot, n))``) and takes the ``(1 - level) / 2`` and
``(1 + level) / 2`` quantiles of the statistic over the resamples; a resample whose statistic is
undefined (a constant column) is left out of the quantiles. Rows that come in clusters (``groups``: rows
that are copies of one architecture's numbers) are resampled cluster by cluster, whole clusters with
replacement, so that copies do not count as independent evidence. Two groups (``two_sample_ci``) are
resampled each on its own (a stratified bootstrap). Every interval is returned as
``Interval(value, lo, hi)``: the statistic on the data first, then the interval.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from scipy import stats as _stats

METHODS = ("kendall", "spearman")


class Interval(NamedTuple):
    """A statistic on the data and its percentile bootstrap interval, in this order."""

    value: float
    lo: float
    hi: float


def _kendall(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Kendall's tau-b of each row pair of two (B, n) arrays; scipy has no batched tau, so row by row."""
    return np.array([_stats.kendalltau(a, b).statistic for a, b in zip(x, y)])


def _spearman(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's rho of each row pair of two (B, n) arrays, ``sum rx ry / sqrt(sum rx^2 sum ry^2)`` over
    the centred ranks; nan where a row is constant."""
    rx, ry = _stats.rankdata(x, axis=-1), _stats.rankdata(y, axis=-1)
    rx, ry = rx - rx.mean(-1, keepdims=True), ry - ry.mean(-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (rx * ry).sum(-1) / np.sqrt((rx ** 2).sum(-1) * (ry ** 2).sum(-1))


_STATISTICS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {"kendall": _kendall, "spearman": _spearman}


def _columns(method: str, **columns) -> list[np.ndarray]:
    """The named columns as float arrays, checked: 1-D, one length >= 3, a known method."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    arrays = [np.asarray(v, float) for v in columns.values()]
    shapes = {name: a.shape for name, a in zip(columns, arrays)}
    if any(a.ndim != 1 for a in arrays) or len({a.shape for a in arrays}) != 1 or len(arrays[0]) < 3:
        raise ValueError(f"need 1-D arrays of the same length >= 3, got shapes {shapes}")
    return arrays


def _check(n_boot: int, level: float) -> None:
    if not 0 < level < 1 or n_boot < 1:
        raise ValueError(f"need 0 < level < 1 and n_boot >= 1, got level={level}, n_boot={n_boot}")


def _percentile(value, boot, level: float) -> Interval:
    """``Interval(value, lo, hi)`` from the resamples' statistics ``boot``, leaving out the undefined (non-finite)."""
    boot = np.asarray(boot, float)
    lo, hi = np.nanquantile(np.where(np.isfinite(boot), boot, np.nan), [(1 - level) / 2, (1 + level) / 2])
    return Interval(float(value), float(lo), float(hi))


def _interval(statistic: Callable[..., np.ndarray], columns: list[np.ndarray], n_boot: int, seed: int,
              level: float) -> Interval:
    """``statistic`` of the columns and its percentile bootstrap interval over resampled rows."""
    _check(n_boot, level)
    n = len(columns[0])
    idx = np.random.default_rng(seed).integers(0, n, (n_boot, n))
    return _percentile(statistic(*(c[None] for c in columns))[0], statistic(*(c[idx] for c in columns)), level)


def _clustered_interval(statistic: Callable[..., np.ndarray], columns: list[np.ndarray], groups, n_boot: int,
                        seed: int, level: float) -> Interval:
    """``_interval`` resampling whole clusters of rows: ``np.random.default_rng(seed).integers(0, G, (n_boot, G))``
    picks G of the G clusters (in the sorted order of their labels) per resample."""
    _check(n_boot, level)
    groups = np.asarray(groups)
    if groups.shape != columns[0].shape:
        raise ValueError(f"groups must label every row: shape {groups.shape}, rows {columns[0].shape}")
    _, label = np.unique(groups, return_inverse=True)
    members = [np.flatnonzero(label == g) for g in range(label.max() + 1)]
    picks = np.random.default_rng(seed).integers(0, len(members), (n_boot, len(members)))
    boot = [statistic(*(c[idx][None] for c in columns))[0]
            for idx in (np.concatenate([members[g] for g in pick]) for pick in picks)]
    return _percentile(statistic(*(c[None] for c in columns))[0], boot, level)


def rank_correlation(x, y, method: str = "kendall") -> float:
    """Kendall's tau-b or Spearman's rho of ``x`` and ``y`` (nan if either is constant)."""
    x, y = _columns(method, x=x, y=y)
    return float(_STATISTICS[method](x[None], y[None])[0])


def rank_correlation_ci(x, y, method: str = "kendall", n_boot: int = 1000, seed: int = 0,
                        level: float = 0.95, groups=None) -> Interval:
    """``Interval(value, lo, hi)`` of the rank correlation of ``x`` and ``y`` (module docstring); ``groups``
    labels clusters of rows to resample whole."""
    columns = _columns(method, x=x, y=y)
    if groups is not None:
        return _clustered_interval(_STATISTICS[method], columns, groups, n_boot, seed, level)
    return _interval(_STATISTICS[method], columns, n_boot, seed, level)


def paired_difference_ci(target, a, b, method: str = "kendall", n_boot: int = 1000, seed: int = 0,
                         level: float = 0.95) -> Interval:
    """``corr(target, a) - corr(target, b)`` with a paired bootstrap interval (both correlations on the same
    resampled rows): does predictor ``a`` rank ``target`` better than ``b``? An interval above 0 says yes."""
    columns = _columns(method, target=target, a=a, b=b)
    corr = _STATISTICS[method]
    return _interval(lambda t, p, q: corr(t, p) - corr(t, q), columns, n_boot, seed, level)


TWO_SAMPLE: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "mean difference": lambda a, b: a.mean(-1) - b.mean(-1),         # mean(a) - mean(b)
    "sd ratio": lambda a, b: a.std(-1, ddof=1) / b.std(-1, ddof=1),  # sd(a) / sd(b)
}


def two_sample_ci(a, b, statistic: str = "mean difference", n_boot: int = 1000, seed: int = 0,
                  level: float = 0.95) -> Interval:
    """``Interval(value, lo, hi)`` of a statistic of two independent groups (``TWO_SAMPLE``: ``mean(a) -
    mean(b)`` or ``sd(a) / sd(b)``), each group resampled with replacement on its own ``n_boot`` times."""
    if statistic not in TWO_SAMPLE:
        raise ValueError(f"statistic must be one of {tuple(TWO_SAMPLE)}, got {statistic!r}")
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.ndim != 1 or b.ndim != 1 or min(len(a), len(b)) < 3:
        raise ValueError(f"need two 1-D groups of at least 3 values each, got shapes {a.shape} and {b.shape}")
    _check(n_boot, level)
    rng = np.random.default_rng(seed)
    fn = TWO_SAMPLE[statistic]
    with np.errstate(invalid="ignore", divide="ignore"):  # a constant resample: its sd ratio is left out
        boot = fn(a[rng.integers(0, len(a), (n_boot, len(a)))], b[rng.integers(0, len(b), (n_boot, len(b)))])
    return _percentile(fn(a, b), boot, level)


__all__ = ["METHODS", "TWO_SAMPLE", "rank_correlation", "rank_correlation_ci", "paired_difference_ci", "two_sample_ci"]
