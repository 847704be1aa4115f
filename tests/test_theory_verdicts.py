"""The analysis and verdict functions of the theory chapters (02-04), on hand-worked inputs (no data needed)."""
import math

import numpy as np
import pytest

from convlib.experiments.ch02_nngp import figure3_closed_forms, lemma32
from convlib.pages import ch02_nngp, ch03_convergence, ch04_depth_width


def h(C):
    return (2 * C * np.arcsin(C) + 2 * np.sqrt(1 - C ** 2) + np.pi * C) / (2 * np.pi)


def test_lemma32_on_a_kernel_of_diagonal_two_and_the_figure3_forms_on_orthogonal_inputs():
    c = 0.3
    np.testing.assert_allclose(lemma32(np.array([[2, 2 * c], [2 * c, 2]])), [[2, 2 * h(c)], [2 * h(c), 2]], rtol=1e-14)
    forms = figure3_closed_forms(np.eye(2))       # K_ij^(0) = 0, so f(K^(0)) has 1/pi off the diagonal
    want = {"2_02_002": (1, h(h(1 / math.pi))), "1_01_222": (3, 3 / math.pi), "2_21_112": (4, 2 * h(1 / math.pi) + 1 / math.pi)}
    for text, (diag, off) in want.items():
        np.testing.assert_allclose(forms[text], [[diag, off], [off, diag]], rtol=1e-14)


def test_remark33_steps_by_hand():
    R = {"lambda_exact": np.array([1.0, 2.0, 4.0, 0.0]), "lambda_remark33": np.array([1.0, 1.0, 3.0, 0.0]),
         "lambda_paper": np.array([1.0, 1.0, 1.5, 0.0]), "gap_means": np.array([0.0, 0.2, 0.4, 0.0]),
         "gap_routes": np.array([0.0, 0.0, 0.5, 0.0]), "repeated": np.array([False, False, True, False])}
    means, routes = ch02_nngp.remark33_steps(R)
    assert (means["DAGs changed"], means["of"]) == (2, 3)
    assert means["median gap"] == pytest.approx(0.3) and means["largest gap"] == pytest.approx(0.4)
    assert means["median lambda change"] == pytest.approx((0.5 + 0.25) / 2) and means["largest lambda change"] == pytest.approx(0.5)
    assert means["lambda_min not raised"] == 2
    assert routes["DAGs changed"] == 1 and routes["median lambda change"] == pytest.approx(0.5)
    assert ch02_nngp.routes_step_is_exactly_the_repeated_dags(R)
    assert not ch02_nngp.routes_step_is_exactly_the_repeated_dags({**R, "repeated": np.array([True, False, True, False])})


def test_closed_form_and_premise_verdicts():
    assert ch02_nngp.closed_forms_agree({"max_abs_diff": np.array([1e-16, 9e-13])})
    assert not ch02_nngp.closed_forms_agree({"max_abs_diff": np.array([1e-16, 2e-12])})
    assert ch02_nngp.means_are_constant({"mean_spread": 1e-14}) and not ch02_nngp.means_are_constant({"mean_spread": 1e-6})


def test_bound_check_by_hand():
    out = ch03_convergence.bound_check(np.array([1.0, 2.0, 3.0]), np.array([0.5, 2.5, 1.5]), np.array([False, True, False]))
    assert (out["violations"], out["of them repeated-route"]) == (1, 1)
    assert out["largest lambda / bound"] == pytest.approx(1.25) and out["median lambda / bound"] == pytest.approx(0.5)
    assert out["Kendall tau"] == pytest.approx(1 / 3)                  # 2 concordant pairs, 1 discordant


def test_figure3_in_order():
    R = {"dags": ["0_00_000", "2_21_112", "1_01_222", "2_02_002"], "a": np.array([9.0, 3, 2, 1]), "b": np.array([0.0, 3, 4, 1])}
    assert ch03_convergence.figure3_in_order(R, "a") and not ch03_convergence.figure3_in_order(R, "b")


def test_figure3_order_share():
    assert ch03_convergence.figure3_order_share(np.linspace(-1, 1, 201)[:-1]) == 1.0
    assert ch03_convergence.figure3_order_share(np.array([1.0])) == 0.0   # identical inputs: every bound is 0


def test_theorem31_scales_by_hand():
    out = ch03_convergence.theorem31_scales(2, np.array([1, 2]), np.array([0.5, 1.0]), eta=0.1, width=100)
    np.testing.assert_allclose(out["step scale"], [0.5 / 4, 1 / 16])
    np.testing.assert_allclose(out["eta / step scale"], [0.8, 1.6])
    np.testing.assert_allclose(out["width term"], [16 / 0.0625, 256])
    np.testing.assert_allclose(out["width / width term"], [100 / 256, 100 / 256])


def test_r_squared_by_hand():
    d, m = np.array([1.0, 1, 2, 2, 3, 3]), np.array([1.0, 2, 1, 2, 1, 2])
    exact = ch04_depth_width.r_squared(1 + 2 * d - m, d, m)
    assert exact["linear"] == pytest.approx(1) and exact["any function"] == pytest.approx(1)
    curved = ch04_depth_width.r_squared((d - 2) ** 2, d, m)           # a function of d, not a linear one
    assert curved["any function"] == pytest.approx(1) and curved["linear"] == pytest.approx(0, abs=1e-12)
    # within-group spread: group means 1 and 2 explain 1 of the total 5 (worked by hand)
    spread = ch04_depth_width.r_squared(np.array([0.0, 2, 1, 3]), np.array([1.0, 1, 2, 2]), np.ones(4))
    assert spread["any function"] == pytest.approx(0.2) and spread["linear"] == pytest.approx(0.2)


def test_lemma31_check_and_the_implied_paper_bound():
    R = {"n_paths": np.array([0, 1, 2]), "lambda_paper": np.array([0.0, 0.1, 0.3]), "lambda_exact": np.array([0.0, 0.2, 0.3]),
         "max_cosine": 0.9}
    out = ch03_convergence.lemma31_check(R)
    assert out["holds"] and out["smallest lambda paper"] == 0.1 and out["smallest lambda exact"] == 0.2
    assert not ch03_convergence.lemma31_check({**R, "max_cosine": 1.0})["holds"]                 # parallel inputs
    assert not ch03_convergence.lemma31_check({**R, "lambda_exact": np.array([0.0, 0.0, 0.3])})["holds"]
    assert ch03_convergence.paper_bound_is_implied(R)
    assert not ch03_convergence.paper_bound_is_implied({**R, "lambda_paper": np.array([0.0, 0.3, 0.3])})


def test_share_word():
    assert ch04_depth_width.share_word(0.51) == "most" and ch04_depth_width.share_word(0.5) == "less than half"


def test_principle_taus_and_filter_regions_on_a_hand_made_landscape():
    d = np.array([0.0, 0.5, 1.0, 2.0, 3.0, 1.5])
    m = np.array([0.0, 2.0, 1.0, 2.0, 1.0, 4.0])
    lam = np.array([0.0, 0.6, 0.4, 0.2, 0.1, 0.3])
    R = {"mlp_depth": d, "mlp_width": m, "nb201_depth": d, "nb201_width": m,
         **{f"{s}_lambda_{k}": lam for s in ("mlp", "nb201") for k in ("exact", "paper", "ntk")}}
    taus = ch04_depth_width.principle_taus(R).set_index(["space", "kernel", "principle"])
    assert taus.loc[("nb201", "exact", "depth"), "Kendall tau"] == pytest.approx(-1.0)  # deeper: smaller here
    assert taus.loc[("mlp", "paper", "depth"), "cells"] == 5  # d = 0 left out
    regions = ch04_depth_width.filter_regions(R)
    assert regions.loc["kept by the filter", "cells"] == 2  # (1, 1) and (2, 2)
    assert regions.filter(like="too deep", axis=0)["cells"].iloc[0] == 1
    assert regions.filter(like="too wide", axis=0)["median lambda_min exact"].iloc[0] == pytest.approx(0.3)
