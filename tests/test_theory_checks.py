"""The numbers behind the theory chapters (02-04), asserted at the smoke scale so a regression turns CI red."""
import numpy as np
import pytest
from scipy import stats

from convlib.experiments import ch02_nngp, ch03_convergence, ch04_depth_width

pytestmark = pytest.mark.requires_data("mnist")
FIG3 = ["2_02_002", "1_01_222", "2_21_112"]


def test_monte_carlo_error_falls_with_width_for_the_exact_kernel_only():
    R = ch02_nngp.monte_carlo("mnist", 8, 0, ["2_21_112"], [64, 1024], 4)
    exact, paper = R["err_exact"][0].mean(-1), R["err_paper"][0].mean(-1)
    assert exact[1] < exact[0] / 2.5          # 16x the width: about 4x smaller, at least 2.5x
    assert paper[1] > 0.5 * paper[0]          # the recursion's error levels off at its bias
    assert paper[1] > 3 * exact[1]


def test_paper_recursion_gap_over_the_mlp_space():
    G = ch02_nngp.paper_gap("mnist", 16, 0, 2)
    chains = [i for i, a in enumerate(G["dags"]) if a in ("0_02", "2_02")]
    assert all(G["gap"][i] < 1e-12 for i in chains)
    assert G["gap"][list(G["dags"]).index("1_11")] == pytest.approx(0.5, rel=1e-9)   # 4K against 2K
    assert np.all(G["lambda_exact"] >= G["lambda_paper"] * (1 - 1e-9))


def test_gd_never_exceeds_the_bound_and_the_order_follows_lambda_min():
    R = ch03_convergence.gradient_descent("mnist", 8, 0, FIG3, 256, 40, 1)
    excess = R["ratio"] / R["bound"][R["dag_index"]]
    assert excess.max() <= 1 + 1e-6
    lam = R["lambda_nngp"]
    assert lam[0] < lam[1] < lam[2]           # chain < parallel < mixed on these inputs


def test_lambda_min_scaling_laws():
    S = ch03_convergence.scaling("mnist", 16, 0, 4, 4)
    assert np.all(np.diff(S["chain_exact"]) < 0)                    # deeper chains: smaller lambda_min
    np.testing.assert_allclose(S["chain_exact"], S["chain_paper"], rtol=1e-10)
    assert np.all(S["parallel_exact"] >= S["parallel_bound"] * (1 - 1e-10))
    np.testing.assert_allclose(S["parallel_paper"], S["parallel_bound"], rtol=1e-8)


def test_depth_and_width_principles_on_the_mlp_space():
    R = ch04_depth_width.landscape("mnist", 16, 0, 2)
    keep = R["mlp_depth"] > 0
    tau_d = stats.kendalltau(R["mlp_depth"][keep], R["mlp_lambda_exact"][keep]).statistic
    tau_m = stats.kendalltau(R["mlp_width"][keep], R["mlp_lambda_exact"][keep]).statistic
    assert tau_d < 0 < tau_m
    assert len(R["nb201_depth"]) == 15625
