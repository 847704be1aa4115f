"""What chapter 02 shows: the slope fit, the numbers it quotes and its tables and figures, on hand-made
results whose answers are known."""
import numpy as np
import pytest
from matplotlib.figure import Figure

from convlib.pages import ch02_nngp as ch02

WIDTHS = [64, 256, 1024, 4096]


def _mc(exponents=(-0.5, -0.5), paper_level=1.0):
    w = np.array(WIDTHS, float)
    err = np.stack([np.stack([3 * w ** e] * 2, -1) for e in exponents])  # (DAGs, widths, draws)
    return {"err_exact": err, "err_paper": np.full_like(err, paper_level)}


def test_error_slopes_recover_the_power_law_and_match_numpys_fit():
    R = _mc((-0.5, -1.0))
    np.testing.assert_allclose(ch02.error_slopes(R["err_exact"], WIDTHS), [-0.5, -1.0], atol=1e-12)
    noisy = np.random.default_rng(0).uniform(0.5, 2, size=(3, len(WIDTHS), 5))
    expected = [np.polyfit(np.log(WIDTHS), np.log(noisy[i].mean(-1)), 1)[0] for i in range(3)]
    np.testing.assert_allclose(ch02.error_slopes(noisy, WIDTHS), expected, rtol=1e-10)


def test_monte_carlo_numbers_and_verdict():
    good = ch02.monte_carlo_numbers(_mc((-0.5, -0.45)), WIDTHS)
    assert good["mc_verdict"] == "consistent with"
    assert good["mc_slope_min"] == pytest.approx(-0.5) and good["mc_slope_max"] == pytest.approx(-0.45)
    assert good["mc_err_widest"] == pytest.approx(3 * (4096 ** -0.5 + 4096 ** -0.45) / 2)
    assert good["paper_err_widest"] == 1.0
    assert ch02.monte_carlo_numbers(_mc((-0.5, -0.2)), WIDTHS)["mc_verdict"] == "NOT consistent with"


def test_closed_forms_numbers_and_table():
    C = {"max_abs_diff": np.array([4.4e-16, 8.9e-16, 2e-16]), "k0_offdiag_range": [0.3, 0.9],
         "scalar_out_of_domain": 0.99}
    numbers = ch02.closed_forms_numbers(C, 32)
    assert numbers == {"cf_n": 32, "cf_max": 8.9e-16, "cf_verdict": "equals", "cf_k0_low": 0.3, "cf_k0_high": 0.9,
                       "cf_out_of_domain": 0.99}
    assert ch02.closed_forms_numbers({**C, "max_abs_diff": np.array([1e-9])}, 32)["cf_verdict"] == "does NOT equal"
    t = ch02.closed_forms_table(C)
    assert [r[2] for r in t.cells] == ["4.4e-16", "8.9e-16", "2.0e-16"] and t.cells[0][0] == "DAG#1 (2_02_002)"


def test_paper_gap_numbers_on_a_hand_made_space():
    G = {"dags": ["2_02_002", "1_11_111", "1_01_222", "0_00_000"], "gap": np.array([0.0, 0.75, 0.4, 0.0]),
         "lambda_exact": np.array([0.5, 1.0, 0.5, 0.0]), "lambda_paper": np.array([0.5, 0.25, 0.499, 0.0])}
    got = ch02.paper_gap_numbers(G, 3)
    assert got["gap_total"] == 4 and got["gap_zero"] == 2 and got["gap_median"] == pytest.approx(0.575)
    assert got["lam_live"] == 3 and got["lam_small"] == 2 and got["lam_big"] == 1
    assert got["lam_big_repeated"] == 1  # 1_11_111 reaches node 3 from node 0 along several skip routes
    assert got["lam_rel_max"] == pytest.approx(0.75) and got["lam_exact_ge"] == 4
    np.testing.assert_allclose(ch02.relative_lambda_change(np.array([2.0, 0.0]), np.array([1.0, 5.0])), [0.5, 0.0])
    t = ch02.paper_gap_table(G, top=2)
    assert [r[0] for r in t.cells] == ["1_11_111", "1_01_222"] and t.cells[0][-1] == "0.750"


def _remark33():
    return {"repeated": np.array([False, True, False]), "gap_means": np.array([0.3, 0.5, 0.0]),
            "gap_routes": np.array([0.0, 0.4, 0.0]), "lambda_exact": np.array([1.0, 2.0, 0.0]),
            "lambda_remark33": np.array([0.99, 2.0, 0.0]), "lambda_paper": np.array([0.99, 1.0, 0.0]),
            "mean_spread": 1e-15}


def test_remark33_numbers_follow_the_steps():
    got = ch02.remark33_numbers(_remark33())
    assert got["r33_premise"] == "holds" and got["r33_live"] == 2 and got["r33_means_changed"] == 2
    assert got["r33_routes_changed"] == 1 and got["r33_routes_verdict"] == "exactly" and got["r33_repeated"] == 1
    assert got["r33_routes_lam_max"] == pytest.approx(0.5) and got["r33_means_lam_max"] == pytest.approx(0.01)
    t = ch02.remark33_table(_remark33())
    assert t.columns[0] == "step" and t.cells[0][0] == "drop the means (Remark 3.3)"


def test_figures_have_a_panel_per_dag_and_a_legend_for_every_colour():
    fig = ch02.monte_carlo_figure(_mc((-0.5, -0.5, -0.5)), ["2_02_002", "1_01_222", "2_21_112"], WIDTHS)
    assert isinstance(fig, Figure)
    assert sum(ax.get_visible() for ax in fig.axes) == 3
    table = ch02.monte_carlo_table(_mc((-0.5, -0.5, -0.5)), ["2_02_002", "1_01_222", "2_21_112"], WIDTHS)
    assert [row[0] for row in table.cells] == ["DAG#1 (2_02_002)", "DAG#2 (1_01_222)", "DAG#3 (2_21_112)"]
    assert [ax.get_title() for ax in fig.axes[:3]] == [f"DAG#{i} {code}\nfitted slope -0.50" for i, code in
                                                      enumerate(["2_02_002", "1_01_222", "2_21_112"], 1)]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["exact NNGP", "paper's recursion", r"slope $-1/2$"]
    assert fig.get_figwidth() == pytest.approx(6.5)
    fig = ch02.remark33_figure(_remark33())
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["no repeated skip route", "repeated skip route"]
