"""convlib.pages.ch07_prdarts: the chapter's tables, summaries and verdicts on hand-worked inputs, and the cited
numbers of Zhou et al. (2020); the search shards of convlib.experiments.ch07_prdarts."""
import math

import numpy as np
import pytest
import torch

from convlib import darts
from convlib.dag import mlp_dags
from convlib.experiments.ch07_prdarts import VARIANTS, search_grid, search_shards
from convlib.nas import benchmark
from convlib.pages import ch07_prdarts as ch07

PR = np.arange(1.0, 11.0)


def test_theorem1_rows_and_summary_by_hand():
    T1 = {"lambda_pr_in_edges": PR, "widths": np.array([8, 16]), "lam_last": np.stack([PR, PR ** 2]),
          "lam_full": np.stack([-PR, np.r_[PR[5:], PR[:5]]]), "rate": 3 * PR, "lam_gd": -PR}
    rows = ch07.theorem1_rows(T1, gd_width=32, n_boot=50, seed=0)
    assert [(r["width"], r["compared with"]) for r in rows] == [
        (8, ch07.LAST), (8, ch07.FULL), (16, ch07.LAST), (16, ch07.FULL), (32, ch07.RATE), (32, ch07.GD)]
    s = ch07.theorem1_summary(rows)
    # the rotated ranks: centred (0.5, ..., 4.5, -4.5, ..., -0.5) against (-4.5, ..., 4.5): rho = -42.5 / 82.5
    assert s["rho_full_max"] == pytest.approx(-42.5 / 82.5)
    assert (s["rho_last_min"], s["rho_rate"], s["rho_gd"], s["rho_check_verdict"]) == (1.0, 1.0, -1.0, "passes")
    T1["lam_last"] = np.stack([PR, -PR])
    assert ch07.theorem1_summary(ch07.theorem1_rows(T1, 32, 50, 0))["rho_check_verdict"] == "fails"


def test_drift_slope_recovers_a_power_law():
    widths = np.array([32, 128, 512])
    drift = np.outer(widths ** -0.5, [1.0, 3.0])  # two nets, drift ~ width^-1/2
    assert ch07.drift_slope(widths, drift) == pytest.approx(-0.5)


def test_conv_into_last():
    assert ch07.conv_into_last("2_02_002") and ch07.conv_into_last("1_11_200")
    assert not ch07.conv_into_last("2_22_111") and not ch07.conv_into_last(ch07.ALL_SKIP)
    assert ch07.conv_into_last("|none~0|+|none~0|none~1|+|none~0|none~1|nor_conv_1x1~2|")


def test_binary_summary_and_reading_rows_by_hand():
    BG = {"archs": ["1_11_222", "2_22_002", "2_22_111", "1_01_222"],
          "lambda_pr_in_edges": np.array([3.0, 0.0, 0.0, 2.0]), "lambda_pr_chain": np.array([3.0, 1.0, 0.0, 3.0]),
          "lam_last": np.array([0.5, 1e-3, 0.0, 0.3]), "lam_full": np.array([1.0, 0.9, 0.2, 0.8])}
    s = ch07.binary_summary(BG)
    assert s == {"bg_n": 4, "n_differ": 2, "bg_missed": 1, "bg_missed_pd": 1.0, "bg_last_zero": 1e-3,
                 "bg_last_pos": pytest.approx(0.4)}
    rows = ch07.reading_rows(BG, n_boot=20, seed=0)
    assert [(r["reading"], r["vs"]) for r in rows] == [(r, v) for r in ("in_edges", "chain")
                                                       for v in (ch07.LAST, ch07.FULL)]
    assert math.isnan(ch07.binary_summary({**BG, "lambda_pr_in_edges": np.ones(4)})["bg_missed_pd"])


def test_binary_cells_phrase_counts_against_all_729():
    assert ch07.binary_cells_phrase({"archs": mlp_dags(3)}) == "all 729"
    assert ch07.binary_cells_phrase({"archs": mlp_dags(3)[:27]}) == "27 of the 729"


def test_gate_law_rows_hold_and_the_verdict_can_fail():
    rows = ch07.gate_law_rows(20_000, seed=0)
    assert len(rows) == 2 * len(ch07.GATE_TAUS) * len(ch07.GATE_BETAS)
    at = {(r["tau"], r["beta"], r["event"]): r for r in rows}
    assert at[1.0, 0.0, "g != 0"]["closed form"] == pytest.approx(11 / 12)  # sigmoid(ln 11)
    assert at[1.0, 0.0, "g = 1"]["closed form"] == pytest.approx(1 / 12)
    s = ch07.gate_law_summary(rows)
    assert s["mc_all_ok"] == "all" and 0 < s["mc_max_diff"] < 0.02
    bad = [{**rows[0], ch07.WITHIN: False, "difference": 0.5}] + rows[1:]
    assert ch07.gate_law_summary(bad) == {"mc_all_ok": "not all", "mc_max_diff": 0.5, "mc_se": ch07.MC_SE}
    # the tolerance is the Bonferroni bound for 18 two-sided comparisons at 5 %, and the scorecard row uses it
    assert ch07.MC_SE == 2.99
    from convlib import claims
    assert float(next(r for r in claims.read() if r["key"] == "thm3_gate_law")["reference"]) == ch07.MC_SE


def test_regulariser_gradient_vanishes_at_the_paper_start():
    taus = np.array([1.0, 3.0, 10.0])
    g64, g32 = ch07.regulariser_gradient(taus), ch07.regulariser_gradient(taus, torch.float32)
    assert np.all(np.diff(g64) < 0) and g64[0] > 1e-4 and g64[-1] < 1e-10
    assert g32[-1] == 0.0 and g32[0] > 1e-4


def test_temperature_summary_by_hand():
    taus = np.array([0.1, 1.0, 2.0, 5.0, 10.0])
    g64, g32 = np.array([1.0, 1.0, 0.5, 0.005, 1e-11]), np.array([1.0, 1.0, 0.5, 0.0, 0.0])
    s = ch07.temperature_summary(taus, g64, g32)  # "on" from 1 % of g(tau = 1): tau <= 2
    assert (s["tau_paper"], s["tau_code"], s["grad_tau_paper"], s["grad_tau_code"]) == (10.0, 1.0, 1e-11, 1.0)
    assert s["tau_on"] == 2.0 and s["frac_off"] == pytest.approx(8 / 9.9) and s["tau_zero32"] == 5.0
    with pytest.raises(ValueError, match="must contain 1.0"):
        ch07.temperature_summary(taus[[0, 2, 3, 4]], g64[[0, 2, 3, 4]], g32[[0, 2, 3, 4]])


def test_start_saturation_by_hand():
    s = ch07.start_saturation()  # a = -0.1, b = 1.1: shift ln 11; beta 0.5, tau 10
    assert s["gate_shift"] == pytest.approx(math.log(11))
    assert s["gate_arg"] == pytest.approx(0.5 + 10 * math.log(11))
    assert s["gate_tail"] == pytest.approx(1 / (1 + 11 ** 10 * math.exp(0.5)))


def test_theorem4_rows_and_summary_by_hand():
    T4 = {"lam_pr_A": np.array([1.0, 2, 3]), "lam_pr_B": np.array([2.0, 1, 4]), "lam_A": np.array([1.0, 1, 1]),
          "lam_B": np.array([0.5, 0.5, 0.5]), "rate_A": np.array([1.0, 2, 3]), "rate_B": np.array([3.0, 3, 4])}
    rows = ch07.theorem4_rows(T4)
    assert (rows[0]["mean A"], rows[0]["mean B"]) == (2.0, pytest.approx(7 / 3))
    assert ch07.theorem4_summary(T4) == {"t4_share_pr": pytest.approx(2 / 3), "t4_share_lam": 0.0, "t4_share_rate": 1.0,
                                         "t4_diverged_A": 0, "t4_diverged_B": 0, "t4_converged": 3}
    T4["rate_A"] = np.array([np.nan, 2, 5])  # GD diverged on A in draw 0: compared over draws 1 and 2
    assert ch07.converged(T4).tolist() == [False, True, True]
    s = ch07.theorem4_summary(T4)
    assert (s["t4_share_rate"], s["t4_share_pr"], s["t4_diverged_A"], s["t4_diverged_B"]) == (0.5, 0.5, 1, 0)
    assert s["t4_converged"] == 2
    assert ch07.theorem4_rows(T4)[2]["mean A"] == 3.5


def test_loss_by_third_and_fig2_summary_by_hand():
    curves = np.array([[[6, 6, 3, 3, 1, 1], [4, 4, 1, 1, 1, 1]],    # mean 5, 5, 2, 2, 1, 1
                       [[2, 2, 2, 2, 2, 2], [4, 4, 4, 4, 4, 4]]], float)
    SF = {"fractions": np.array([0.0, 0.375]), "curves": curves}
    assert ch07.loss_by_third(SF) == {"0.0% skips": [5.0, 2.0, 1.0], "37.5% skips": [3.0, 3.0, 3.0]}
    assert ch07.fig2_summary(SF) == {"f2_0_first": 5.0, "f2_0_last": 1.0, "f2_375_first": 3.0, "f2_375_last": 3.0,
                                     "f2_sd": 1.0, "fig2_steps": 6}


def test_search_rows_means_and_summary_by_hand():
    shape = (2, 2, 3)  # variants, seeds, epochs
    S = {f"{k}_{r}": np.zeros(shape) for k in ("skips", "depth", "width", "acc") for r in darts.RULES}
    S["skips_top2"][:, :, -1] = [[1, 3], [0, 0]]
    S["acc_top2"][:, :, -1] = [[80, 90], [91, 93]]
    pick = "|skip_connect~0|+|avg_pool_3x3~0|nor_conv_3x3~1|+|none~0|none~1|skip_connect~2|"
    S["picks_top2"] = S["picks_argmax"] = [pick, ch07.ALL_SKIP, pick, pick]  # (variant, seed), seed fastest
    rows = ch07.search_rows(S, ["darts", "prdarts"], [0, 7])
    assert [(r["method"], r["seed"], r["rule"]) for r in rows][:3] == [("darts", 0, "argmax"), ("darts", 0, "top2"),
                                                                      ("darts", 7, "argmax")]
    assert rows[1]["skips + pools"] == 3 and rows[3]["skips + pools"] == 6 and rows[3]["skips"] == 3
    means = ch07.search_means(rows)
    assert [(m["method"], m["rule"]) for m in means] == [("darts", "argmax"), ("darts", "top2"),
                                                         ("prdarts", "argmax"), ("prdarts", "top2")]
    assert means[1]["skips"] == 2.0 and means[1]["NB201 C10 test acc %"] == 85.0 and means[3]["skips + pools"] == 3.0
    s = ch07.search_summary(means)
    assert s["acc_darts_top2"] == 85.0 and s["skips_darts_top2"] == 2.0 and s["acc_prdarts_top2"] == 92.0
    assert len(s) == 3 * len(means)


def test_search_budget_against_the_paper_by_hand():
    # paper: 200 epochs x (25,000 // 128 = 195) architecture steps on 25k + 25k images of 32 px, NB201 C = 16, N = 5;
    # ours: 8 epochs x (512 // 64) steps on 1,024 images of 16 px, C = 8, N = 1
    b = ch07.search_budget(search_images=1024, search_epochs=8, batch_size=64, search_C=8, search_N=1, image_size=16)
    assert b["s_steps"] == 64 and b["s_steps_ratio"] == pytest.approx(200 * 195 / 64)
    assert b["s_factor"] == pytest.approx(50_000 * 200 / (1024 * 8) * 2 ** 2 * 5 * 2 ** 2)
    rows = ch07.budget_rows(1024, 16, 8, 1, 8, 64, 0.03, 2, 3)
    assert [r["setting"] for r in rows] == ["data", "supernet", "schedule", "runs", "cost"]
    assert rows[0]["paper (DARTS space)"] == "CIFAR-10 train, 25000 / 25000 split"
    assert rows[2]["paper (DARTS space)"] == "200 epochs, batch 128, Adam lr 3e-4 for beta"
    assert all(r["source"].startswith("Zhou et al. 2020") for r in rows)


def test_bridge_tables_by_hand():
    BR = {"lambda_pr_in_edges": np.array([1.0, 0, 0, 2]), "lambda_pr_chain": np.array([1.0, 1, 0, 2]),
          "path": np.array([1.0, 0, 0, 1]), "depth": np.array([2.0, 1, 0, 3]), "width": np.array([1.0, 2, 3, 4]),
          "cifar10": np.array([90.0, 80, 70, 94]), "cifar100": np.array([60.0, 50, 40, 70]),
          "imagenet16": np.array([30.0, 20, 10, 40])}
    rows = ch07.bridge_rows(BR)
    assert [r["quantity"] for r in rows] == list(ch07.BRIDGE)
    # ranks (3, 1.5, 1.5, 4) against (3, 2, 1, 4): 4.5 / sqrt(4.5 x 5)
    assert rows[0]["cifar10"] == pytest.approx(4.5 / math.sqrt(22.5)) and rows[3]["cifar100"] == pytest.approx(1.0)
    s = ch07.bridge_summary(BR)
    assert (s["br_cells"], s["br_path_acc"], s["br_nopath_acc"]) == (4, 92.0, 75.0)
    assert s["br_rho_depth"] == pytest.approx(1.0) and s["br_rho_pr"] == rows[0]["cifar10"]
    assert ch07.by_lambda_pr(BR) == [
        {"lambda_PR (in-edges)": 0.0, "cells": 2, "mean C10 acc %": 75.0, "mean eff. depth": 0.5},
        {"lambda_PR (in-edges)": 1.0, "cells": 1, "mean C10 acc %": 90.0, "mean eff. depth": 2.0},
        {"lambda_PR (in-edges)": 2.0, "cells": 1, "mean C10 acc %": 94.0, "mean eff. depth": 3.0}]


@pytest.mark.requires_data("nasbench201")
def test_benchmark_scale():
    assert ch07.ALL_SKIP == ("|skip_connect~0|+|skip_connect~0|skip_connect~1|+|"
                             "skip_connect~0|skip_connect~1|skip_connect~2|")
    s = ch07.benchmark_scale()
    table = benchmark.load()
    assert round(s["nb_best"], 2) == 94.37
    assert s["nb_allskip"] == float(table.loc[table["arch"] == ch07.ALL_SKIP, "cifar10"].iloc[0])


def test_cited_numbers_of_the_paper():
    c = ch07.cited()
    assert c["prdarts_c10_error"].value == 2.32 and c["prdarts_c10_error"].source == "Zhou et al. 2020, Table 1"
    assert c["prdarts_imagenet_error"].value == 24.1 and c["darts2_imagenet_error"].source.endswith("Table 2")
    glued = ch07.cited_glue()
    assert glued["p_darts1_c10_error"] == "3.00" and glued["src_prdarts_cost"] == "Zhou et al. 2020, Table 1"
    assert len(glued) == 2 * len(c)


def test_cited_tables_split_the_results_from_the_rest_without_repeating_a_row():
    """The page shows the DARTS-space results once (``RESULT_GROUPS``) and the other cited numbers apart."""
    results = ch07.cited_table(*ch07.RESULT_GROUPS).frame()
    rest = ch07.cited_table(exclude=ch07.RESULT_GROUPS).frame()
    assert len(results) + len(rest) == len(ch07.cited()) == len(ch07.cited_table().frame())
    assert not set(results["what"]) & set(rest["what"])
    assert "PR-DARTS, CIFAR-10 test error (DARTS space, cutout)" in set(results["what"])


# ------------------------------------------------------------------ the page: tables and figures
def test_page_tables_format_and_name_methods():
    rows = [{"method": "darts", "seed": 0, "rule": "top2", "pick": "|nor_conv_3x3~0|+|skip_connect~0|none~1|+|none~0|none~1|none~2|",
             "skips": 1, "skips + pools": 2, "eff. depth": 1.125, "eff. width": 2.857142, "NB201 C10 test acc %": 88.72},
            {"method": "prdarts_tau1", "seed": 1, "rule": "argmax", "pick": "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "skips": 0,
             "skips + pools": 0, "eff. depth": 0.0, "eff. width": 0.0, "NB201 C10 test acc %": 10.0}]
    t = ch07.search_table(rows)
    assert t.columns[-1] == "C10 acc %" and t.cells[0][0] == "DARTS" and t.cells[1][0] == "PR-DARTS (code's τ)"
    assert t.cells[0][6:] == ("1.12", "2.86", "88.72") and t.cells[0][3] == "3\u00a0|\u2060\u00a0s\u00a0-\u00a0|\u2060\u00a0-\u00a0-\u00a0-"
    means = ch07.search_means_table(ch07.search_means(rows))
    assert means.cells[0][:3] == ("DARTS", "top2", "1.0")
    gate = ch07.gate_law_table([
        {"tau": 10.0, "beta": -2.0, "event": "g != 0", "Monte Carlo": 0.12345, "closed form": 0.1234,
         "difference": 1e-4, ch07.WITHIN: True},
        {"tau": 10.0, "beta": -2.0, "event": "g = 1", "Monte Carlo": 0.0101, "closed form": 0.0104,
         "difference": -3e-4, ch07.WITHIN: False},
        {"tau": 1.0, "beta": 0.5, "event": "g != 0", "Monte Carlo": 0.5, "closed form": 0.5,
         "difference": 0.0, ch07.WITHIN: True},
        {"tau": 1.0, "beta": 0.5, "event": "g = 1", "Monte Carlo": 0.2, "closed form": 0.2,
         "difference": 0.0, ch07.WITHIN: True}])
    assert gate.columns[2:4] == ("P(g ≠ 0) Monte Carlo", "P(g ≠ 0) closed form")
    assert gate.cells == (("10", "-2", "0.1235", "0.1234", "0.0101", "0.0104", "3.0e-04", "no"),
                          ("1", "0.5", "0.5000", "0.5000", "0.2000", "0.2000", "0.0e+00", "yes"))


def test_every_float_the_page_prints_has_its_format():
    """FORMATS holds the printed precision of each glued float: a spec the page uses must be FORMATS's."""
    import json
    import re

    from convlib import ROOT
    from convlib.pages import ch02_nngp

    for nb, formats in (("07_pr_darts", ch07.FORMATS), ("02_nngp_propagation", ch02_nngp.FORMATS)):
        cells = json.loads((ROOT / "book" / f"{nb}.ipynb").read_text())["cells"]
        text = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
        specs = set(re.findall(r"\{glue:text\}`([A-Za-z0-9_]+):([^`]+)`", text))
        floats = {(name, spec) for name, spec in specs if spec not in (",", ",d")}
        wrong = {(name, spec) for name, spec in floats if formats.get(name) != "{:" + spec + "}"}
        assert not wrong, f"{nb}: glue:text specs without the same entry in FORMATS: {sorted(wrong)}"


def test_page_figures_carry_a_legend_for_every_colour():
    S = {f"skips_{rule}": np.zeros((2, 2, 3)) for rule in darts.RULES}
    fig = ch07.skips_figure(S, ["darts", "prdarts"], 3)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["DARTS", "PR-DARTS (paper's τ)"]
    taus = ch07.temperature_grid(5)
    assert taus[0] == darts.SearchConfig.tau_end and taus[-1] == pytest.approx(darts.SearchConfig.tau_start)
    fig = ch07.temperature_figure(taus, np.ones(5), np.r_[np.ones(3), 0, 0])
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["float64", "float32 (exactly 0 beyond)"]
    assert all(f.get_figwidth() == pytest.approx(6.5) for f in (fig,))


# ------------------------------------------------------------------ the searches: shards, one rule, gradient share
def test_search_shards_and_grid():
    ids = search_shards(["darts", "gates_tau1"], [0, 3])
    assert ids == ["darts-0", "darts-3", "gates_tau1-0", "gates_tau1-3"]
    assert [i.rsplit("-", 1) for i in ids][2] == ["gates_tau1", "0"]
    with pytest.raises(ValueError, match="variants must be among"):
        search_shards(["darts", "enas"], [0])
    parts = [{"variant": [v], "seed": np.array([s]), "acc_top2": np.array([[10 * i, 10 * i + 1]]),
              "picks_top2": [f"p{i}"]} for i, (v, s) in enumerate((("darts", 0), ("darts", 3), ("prdarts", 0),
                                                                    ("prdarts", 3)))]
    S = search_grid(parts)
    assert S["acc_top2"].shape == (2, 2, 2) and S["acc_top2"][1, 0, 1] == 21  # variant 1, seed 0, epoch 1
    assert S["seed"].tolist() == [0, 3, 0, 3] and S["picks_top2"] == ["p0", "p1", "p2", "p3"]


def test_the_gates_only_variant_switches_off_the_path_term_alone():
    gates, pr = darts.SearchConfig(**VARIANTS["gates_tau1"]), darts.SearchConfig(**VARIANTS["prdarts_tau1"])
    assert gates.lambdas[2] == 0 and gates.lambdas[:2] == pr.lambdas[:2] and pr.lambdas[2] > 0
    assert (gates.method, gates.tau_start, gates.tau_end) == (pr.method, pr.tau_start, pr.tau_end) == ("prdarts", 1.0, 0.1)
    assert darts.SearchConfig(**VARIANTS["prdarts"]).tau_start == 10.0


def _search_result(rule_skips: dict) -> dict:
    """A (2 variants, 3 seeds, 2 epochs) search result with the given final skips per rule."""
    S = {f"{k}_{r}": np.zeros((2, 3, 2)) for k in ("skips", "acc") for r in darts.RULES}
    for r, sk in rule_skips.items():
        S[f"skips_{r}"][:, :, -1] = sk
        S[f"skips_{r}"][:, :, 0] = 1
    S["acc_top2"][:, :, -1] = [[80, 90, 85], [91, 93, 92]]
    S["reg_share"] = np.stack([np.zeros((3, 2)), np.full((3, 2), 0.2)])
    S["path_share"] = np.stack([np.zeros((3, 2)), np.full((3, 2), 0.1)])
    return S


def test_method_rows_use_one_rule_for_every_method():
    S = _search_result({"top2": [[1, 3, 2], [0, 0, 3]], "argmax": [[6, 6, 6], [6, 6, 6]]})
    rows = ch07.method_rows(S, ["darts", "prdarts"])
    assert [r["rule"] for r in rows] == [ch07.HEADLINE_RULE] * 2 == ["top2"] * 2
    assert (rows[0]["skips"], rows[0]["skips sd"], rows[0]["skip fraction"]) == (2.0, 1.0, pytest.approx(2 / 6))
    assert (rows[1]["C10 acc %"], rows[1]["acc sd"]) == (92.0, 1.0) and rows[0]["acc sd"] == 5.0
    assert (rows[0]["R share"], rows[1]["R share"], rows[1]["path share"]) == (0.0, pytest.approx(0.2), pytest.approx(0.1))
    assert ch07.method_rows(S, ["darts", "prdarts"], "argmax")[1]["skips"] == 6.0
    s = ch07.method_summary(rows)
    assert s["m_prdarts_skips"] == 1.0 and s["m_darts_acc"] == 85.0 and s["m_prdarts_path"] == pytest.approx(0.1)
    assert set(s) <= set(ch07.FORMATS)
    t = ch07.skip_trend(S, ["darts", "prdarts"])
    assert (t["t_darts_first"], t["t_darts_last"], t["t_prdarts_max"]) == (1.0, 2.0, 1.0)
    assert ch07.method_table(rows).cells[1][:3] == ("PR-DARTS (paper's τ)", "top2", "3")


def test_chance_skips_matches_uniform_scores():
    """Picks from i.i.d. uniform scores choose each kept edge's op uniformly: their mean skip count is chance."""
    rng = np.random.default_rng(0)
    n = 4000
    for rule in darts.RULES:
        sk = np.array([darts.pick(rng.uniform(size=(6, 5)), rule).count("skip_connect") for _ in range(n)])
        assert abs(sk.mean() - ch07.chance_skips(rule)) < 5 * sk.std() / math.sqrt(n), rule
    with pytest.raises(ValueError, match="rule must be one of"):
        ch07.chance_skips("top3")


def test_the_darts_skips_claim_is_measured_against_chance():
    from convlib import claims

    row = next(r for r in claims.read() if r["key"] == "darts_skips")
    assert float(row["reference"]) == ch07.chance_skips("top2") and row["kind"] == "above"


def test_share_figure_draws_the_gated_methods():
    S = _search_result({"top2": [[1, 3, 2], [0, 0, 3]]})
    fig = ch07.share_figure(S, ["darts", "prdarts"], 2)
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["PR-DARTS (paper's τ)"]


def test_the_darts_skips_row_compares_with_the_chance_level_of_the_top2_rule():
    from convlib import claims

    row = next(r for r in claims.read() if r["key"] == "darts_skips")
    assert float(row["reference"]) == ch07.chance_skips("top2") == 1.25
    assert f"{ch07.chance_skips('top2'):g} of the 5 kept edges" in row["claim"]
