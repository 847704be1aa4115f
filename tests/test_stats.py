"""convlib.stats: rank correlations and two-group comparisons with their bootstrap intervals, against
hand-worked values, scipy and the normal-theory intervals."""
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
    with pytest.raises(ValueError, match="statistic"):
        stats.two_sample_ci(x, x, "median difference")
    with pytest.raises(ValueError, match="at least 3"):
        stats.two_sample_ci(x, [1.0, 2.0])


def test_two_sample_values_hand_worked():
    a, b = [1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 3.0]  # means 2.5 and 1; variances 5/3 and 3
    assert stats.two_sample_ci(a, b, n_boot=10).value == pytest.approx(1.5)
    assert stats.two_sample_ci(a, b, "sd ratio", n_boot=10).value == pytest.approx(np.sqrt(5 / 9))
    assert stats.two_sample_ci(a, a, "sd ratio", n_boot=10).value == 1.0


def test_two_sample_intervals_match_normal_theory():
    # Large normal groups: the bootstrap interval of a mean difference is close to Welch's, and that of an
    # sd ratio close to the F interval; both hold the true values (difference 1, ratio 2).
    from scipy.stats import f as fdist

    rng = np.random.default_rng(3)
    a, b = rng.normal(1.0, 2.0, 4000), rng.normal(0.0, 1.0, 3000)
    d, lo, hi = stats.two_sample_ci(a, b, n_boot=2000, seed=0)
    half = 1.96 * np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    assert lo < 1.0 < hi and (hi - lo) / 2 == pytest.approx(half, rel=0.1) and d == pytest.approx((lo + hi) / 2, abs=0.3 * half)
    r, lo, hi = stats.two_sample_ci(a, b, "sd ratio", n_boot=2000, seed=0)
    f_lo, f_hi = (r * np.sqrt(1 / fdist.ppf(q, len(a) - 1, len(b) - 1)) for q in (0.975, 0.025))
    assert lo < 2.0 < hi and lo == pytest.approx(f_lo, rel=0.02) and hi == pytest.approx(f_hi, rel=0.02)


@pytest.mark.parametrize("method", stats.METHODS)
def test_clusters_of_copies_count_once(method):
    # every row copied 5 times: resampled cluster by cluster, the interval is the one of the distinct rows
    # (same draws: G clusters in label order), while a row-wise bootstrap of the copies is much narrower
    y = x + 8 * noise
    xs, ys, groups = np.repeat(x, 5), np.repeat(y, 5), np.repeat(np.arange(len(x)), 5)
    once = stats.rank_correlation_ci(x, y, method, n_boot=300, seed=4)
    clustered = stats.rank_correlation_ci(xs, ys, method, n_boot=300, seed=4, groups=groups)
    assert clustered == pytest.approx(once, abs=1e-12)
    rowwise = stats.rank_correlation_ci(xs, ys, method, n_boot=300, seed=4)
    assert rowwise.hi - rowwise.lo < 0.6 * (once.hi - once.lo)
    with pytest.raises(ValueError, match="label every row"):
        stats.rank_correlation_ci(xs, ys, method, groups=groups[:-1])
