"""convlib.stats: rank correlations and their bootstrap intervals, against hand-worked values and scipy."""
import numpy as np
import pytest
from scipy.stats import kendalltau, spearmanr

from convlib import stats

x = np.arange(40.0)
noise = np.random.default_rng(1).normal(size=40)


@pytest.mark.parametrize("method", stats.METHODS)
def test_monotone_relations_give_one_and_minus_one(method):
    assert stats.rank_correlation_ci(x, np.exp(x / 10), method, n_boot=200) == pytest.approx((1.0, 1.0, 1.0))
    assert stats.rank_correlation_ci(x, -x ** 3, method, n_boot=200) == pytest.approx((-1.0, -1.0, -1.0))


@pytest.mark.parametrize("method", stats.METHODS)
def test_independent_noise_gives_an_interval_around_zero(method):
    value, lo, hi = stats.rank_correlation_ci(x, noise, method, n_boot=500, seed=0)
    assert lo < value < hi and lo < 0 < hi
    narrow = stats.rank_correlation_ci(x, noise, method, n_boot=500, seed=0, level=0.5)
    assert lo < narrow.lo < narrow.hi < hi  # same resamples, inner quantiles


def test_ties_hand_worked():
    # 4 concordant pairs, 2 tied in y, none discordant: tau-b = 4 / sqrt(6 * 4); centred ranks
    # (-1.5, -0.5, 0.5, 1.5) and (-1, -1, 1, 1): rho = 4 / sqrt(5 * 4)
    a, b = [1, 2, 3, 4], [1, 1, 2, 2]
    assert stats.rank_correlation(a, b, "kendall") == pytest.approx(4 / np.sqrt(24))
    assert stats.rank_correlation(a, b, "spearman") == pytest.approx(4 / np.sqrt(20))
    assert np.isnan(stats.rank_correlation(a, [3, 3, 3, 3], "spearman"))


def test_statistics_equal_scipy_on_tied_samples():
    rng = np.random.default_rng(2)
    for _ in range(20):
        a, b = rng.integers(0, 5, 12), rng.normal(size=12).round(1)
        assert stats.rank_correlation(a, b, "kendall") == pytest.approx(kendalltau(a, b).statistic, abs=1e-12)
        assert stats.rank_correlation(a, b, "spearman") == pytest.approx(spearmanr(a, b).statistic, abs=1e-12)


def test_interval_is_the_percentile_interval_of_the_documented_resamples():
    a, b = x[:15], x[:15] + 8 * noise[:15]
    idx = np.random.default_rng(3).integers(0, 15, (300, 15))
    boot = [spearmanr(a[i], b[i]).statistic for i in idx]
    want = (spearmanr(a, b).statistic, *np.quantile(boot, [0.05, 0.95]))
    assert stats.rank_correlation_ci(a, b, "spearman", n_boot=300, seed=3, level=0.9) == pytest.approx(want, abs=1e-12)
    assert stats.rank_correlation_ci(a, b, "spearman", n_boot=300, seed=4) != stats.rank_correlation_ci(
        a, b, "spearman", n_boot=300, seed=3)


def test_constant_resamples_are_left_out():
    a, b = [0, 0, 0, 0, 1], [1, 2, 3, 4, 5]  # about a third of the resamples hold no 1: undefined there
    for method in stats.METHODS:
        value, lo, hi = stats.rank_correlation_ci(a, b, method, n_boot=200)
        assert np.isfinite([lo, hi]).all() and 0 < lo <= value <= hi <= 1


@pytest.mark.parametrize("method", stats.METHODS)
def test_paired_difference_favours_the_predictor_close_to_the_target(method):
    d, lo, hi = stats.paired_difference_ci(x, x + 5 * noise, noise, method, n_boot=500, seed=0)
    assert 0 < lo < d < hi
    assert d == pytest.approx(stats.rank_correlation(x, x + 5 * noise, method) - stats.rank_correlation(x, noise, method))
    same = stats.paired_difference_ci(x, noise, noise, method, n_boot=100)
    assert same == (0.0, 0.0, 0.0)  # paired: the same resamples for both predictors


def test_bad_input_raises():
    with pytest.raises(ValueError, match="same length"):
        stats.rank_correlation_ci(x, x[:3])
    with pytest.raises(ValueError, match="same length"):
        stats.paired_difference_ci(x, x, x[None])
    with pytest.raises(ValueError, match=">= 3"):
        stats.rank_correlation([1, 2], [2, 1])
    with pytest.raises(ValueError, match="method"):
        stats.rank_correlation_ci(x, x, "pearson")
    with pytest.raises(ValueError, match="level"):
        stats.rank_correlation_ci(x, x, level=95)
