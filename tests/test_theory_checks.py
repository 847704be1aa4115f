"""The numbers behind the theory chapters (02-04), asserted at the smoke scale so a regression turns CI red."""
import numpy as np
import pytest
from scipy import stats

from convlib.dag import FIGURE3
from convlib.experiments import ch02_nngp, ch03_convergence, ch04_depth_width
from convlib.pages import ch02_nngp as ch02_page
from convlib.pages import ch03_convergence as ch03_page
from convlib.pages import ch04_depth_width as ch04_page

pytestmark = pytest.mark.requires_data("mnist")
FIG3 = list(FIGURE3.values())


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
    lam = R["lambda_exact"]
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


def test_paper_closed_forms_and_remark33_at_the_smoke_scale():
    C = ch02_nngp.closed_forms("mnist", 8, 0)
    assert ch02_page.closed_forms_agree(C) and C["k0_diag_error"] < 1e-12
    R = ch02_nngp.remark33("mnist", 8, 0, 2)
    assert ch02_page.routes_step_is_exactly_the_repeated_dags(R) and R["repeated"].any()
    assert ch02_page.means_are_constant(R)                           # Remark 3.3's premise
    means, _ = ch02_page.remark33_steps(R)
    assert means["DAGs changed"] > 0


def test_eq12_and_lemma33_over_the_spaces_at_the_smoke_scale():
    R = ch03_convergence.eq12("mnist", 8, 0)
    rows = {(r["space"], r["kernel"], r["bound"]): r for r in ch03_page.eq12_checks(R)}
    assert len(rows) == 8 and rows[("NAS-Bench-201", "exact", "Eq. 12")]["DAGs"] < 15625
    for space in ("MLP-DAGs", "NAS-Bench-201"):
        assert rows[(space, "paper", "Lemma 3.3")]["violations"] == 0 == rows[(space, "exact", "Lemma 3.3")]["violations"]
        assert rows[(space, "paper", "Eq. 12")]["violations"] == 0
    assert np.all(R["eq12"] <= R["lemma33_paper"] + 1e-12)            # Jensen: Eq. 12 is below the recursion's 2x2 bound
    assert ch03_page.lemma31_check(R)["holds"]
    T = ch03_convergence.theorem31("mnist", 8, 0, FIG3)
    assert list(T["n_paths"]) == [1, 3, 4] and ch03_page.paper_bound_is_implied(T)
    assert ch03_page.figure3_in_order(R, "eq12") and ch03_page.figure3_in_order(R, "lambda_paper")
    S = ch04_page.summary_fits(ch04_depth_width.eq12_summary("mnist", 8, 0))
    assert len(S) == 4 and all(0 <= r["linear"] <= r["any function"] + 1e-12 <= 1 + 1e-12 for r in S)


def test_scale_free_table_divides_by_the_mean_diagonal():
    from convlib.dag import FIGURE3

    dags = ["0_00_000", *FIGURE3.values()]
    S = {"dags": dags}
    for kernel in ("exact", "ntk"):
        S |= {f"{kernel}_lam": np.array([0.0, 1.0, 2.0, 3.0]), f"{kernel}_diag": np.array([0.0, 1.0, 4.0, 12.0]),
              f"{kernel}_lmax": np.array([0.0, 10.0, 40.0, 90.0])}
    t = ch03_page.scale_free_table(S)
    assert list(t["kernel"].unique()) == ["NNGP (exact)", "NTK"]
    t = ch03_page.scale_free_table({**S, "paper_lam": S["exact_lam"], "paper_diag": S["exact_diag"],
                                    "paper_lmax": S["exact_lmax"]})
    assert list(t["kernel"].unique()) == ["NNGP (exact)", "paper's recursion", "NTK"]
    np.testing.assert_allclose(t["lambda_min / mean diagonal"][:3], [1.0, 0.5, 0.25])
    np.testing.assert_allclose(t["condition number"][:3], [10.0, 20.0, 30.0])
    assert list(t["DAG"][:3]) == [f"{n} {a}" for n, a in FIGURE3.items()]


def test_gd_bound_runs_counts_the_runs_above_the_bound_and_the_text_follows():
    # two DAGs, three runs; bound (1/2)^k; run 2 (DAG 1) is above it at steps 1 and 2 by 1.5 and 1.2
    bound = np.array([[1.0, 0.5, 0.25, 0.125]] * 2)
    ratio = np.array([[1.0, 0.4, 0.2, 0.01], [1.0, 0.5, 0.25, 0.1], [1.0, 0.75, 0.3, 0.001]])
    R = {"ratio": ratio, "bound": bound, "dag_index": np.array([0, 0, 1]), "eta": 0.5,
         "lambda_max_ntk": np.array([1.0, 3.9])}
    runs = ch03_page.gd_bound_runs(R, ["a", "b"])
    assert runs["runs_over"] == 1 and runs["dags_over"] == ["b"] and runs["worst"] == pytest.approx(1.5)
    assert runs["worst_step"] == 1 and runs["worst_steps"] == (1, 2) and runs["edge_dag"] == "b"
    assert runs["last_slack"] == pytest.approx(1.25)   # run 1: 0.125 / 0.1
    assert runs["last_slack_max"] == pytest.approx(125)  # run 2: 0.125 / 0.001
    assert runs["least_slack"] == pytest.approx(1 / 1.5)  # run 2 at step 1: 0.5 / 0.75
    text = ch03_page.gd_bound_text(runs)
    assert text["bound_verdict"] == "is exceeded in 1 of 3 runs"
    assert "from step 1 to step 2, by up to a factor 1.500 at step 1" in text["bound_detail"]
    assert "2.6% above" in text["bound_regime"]          # 2 / 1.95 - 1
    R["ratio"] = np.minimum(ratio, bound[R["dag_index"]])  # every run at or below: the bound holds
    text = ch03_page.gd_bound_text(ch03_page.gd_bound_runs(R, ["a", "b"]))
    assert text["bound_verdict"] == "holds at every step of every run" and "1.0000" in text["bound_detail"]
