"""convlib.experiments.ch05_dag: the Figure-4 run with the released recipe (inputs, resumption), the\nFigure-3 order on digits, the common step size and the speed of a DAG that cannot train; the page's tables (convlib.pages.ch05_dag)."""
import shutil

import numpy as np
import pytest
import torch

from convlib import data, kernels, registry, results
from convlib.experiments import ch03_convergence, ch05_dag
from convlib.mlp import DAGMLP, train
from convlib.pages.ch05_dag import (
    end_sentence,
    figure3_gd_tables,
    figure3_speeds,
    figure4_summary,
    rank_order,
    scale_table,
    space_taus,
)


def _X(n=5, d=4, seed=0, dtype=torch.float64):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=dtype)


FIG4 = dict(fig4_datasets=["digits"], fig4_width=8, fig4_batch=64, fig4_lr=0.05, fig4_epochs=4, fig4_seeds=2,
            data_seed=0)


def test_figure4_resumes_from_its_checkpoint_to_the_same_numbers(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVLIB_RESULTS", str(tmp_path))
    monkeypatch.setattr(ch05_dag, "CHECKPOINT_EPOCHS", 1)
    entry = results.Entry("ch05.figure4", registry.lookup("ch05.figure4").key(FIG4), "digits-3")
    full, _ = registry.compute("ch05.figure4", FIG4, "digits-3")
    assert full["train_acc"].shape == (1, 2, 4) and full["dag"] == ["2_21_112"]
    assert np.all((full["train_acc"] > 0) & (full["train_acc"] <= 1))
    shutil.rmtree(results.scratch(entry))

    real, calls = ch05_dag.train, []

    def interrupted(*args, **kwargs):
        calls.append(kwargs["seed"])
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(ch05_dag, "train", interrupted)
    with pytest.raises(KeyboardInterrupt):
        registry.compute("ch05.figure4", FIG4, "digits-3")
    assert torch.load(results.scratch(entry) / "checkpoint.pt")["epoch"] == 2
    calls.clear()
    resumed, _ = registry.compute("ch05.figure4", FIG4, "digits-3")
    assert calls == [2, 3]  # only the epochs after the checkpoint are trained again
    np.testing.assert_array_equal(resumed["train_acc"], full["train_acc"])
    np.testing.assert_array_equal(resumed["train_loss"], full["train_loss"])


@pytest.mark.requires_data("cifar10")
def test_released_inputs_use_the_release_cifar_standardisation():
    X, y = ch05_dag.released_inputs("cifar10")
    raw = data.load_images("cifar10", "train")[0]
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in data.CIFAR10_NORM)
    pixels = raw * std + mean
    r_mean, r_std = (torch.tensor(v).view(1, 3, 1, 1) for v in ch05_dag.RELEASE_CIFAR10_NORM)
    assert torch.allclose(X, ((pixels - r_mean) / r_std).flatten(1), atol=1e-5)
    assert X.shape == (10000, 3072) and len(y) == 10000



# ---------------------------------------------------------------------- chapter 05 at smoke scale
def test_figure3_dags_converge_in_the_lambda_min_order_on_digits():
    """Theory setting (GD, MSE, NTK parametrisation, one step size): on 64 digits images the chain
    DAG#1 removes the smallest fraction of its loss and the order of L_T / L_0 is the order of
    lambda_min (DAG#3 > DAG#2 > DAG#1); seen on seeds 0-2 of digits and MNIST, tested on seed 0."""
    from convlib import data, theory
    X, y = data.load("digits", n=64, seed=0)
    dags = list(ch05_dag.FIGURE3.values())
    lam = theory.lambda_min_many(dags, X)
    assert lam[0] < lam[1] < lam[2]
    model = DAGMLP(dags, X.shape[1], 64, 10, seeds=[0, 0, 0], parametrization="ntk")
    run = train(model, X, y, steps=30, lr=ch05_dag.stable_lr(dags, X, 0.5))
    ratio = run["final_loss"] / run["loss"][:, 0]
    assert ratio[0] > ratio[1] > ratio[2]


def test_stable_lr_is_the_fraction_of_the_smallest_optimal_step():
    """lr_frac times the smallest 2 / (lambda_max + lambda_min) of Theta / n: the optimal constant step of the
    linearised dynamics, not the largest stable step 2 / lambda_max."""
    X = _X(n=10, d=4, seed=5)
    dags = ["2_02_002", "1_11_111", "1_01_111"]  # the last two share a kernel class
    ev = [torch.linalg.eigvalsh(kernels.ntk(d, X)).numpy() / 10 for d in dags]  # the spectra of Theta / n
    assert ch05_dag.stable_lr(dags, X, 0.5) == pytest.approx(0.5 * min(2 / (e[-1] + e[0]) for e in ev), rel=1e-9)


def test_a_dag_without_a_path_cannot_train():
    X, y = _X(n=8, d=4, seed=6), torch.arange(8) % 3
    run = train(DAGMLP(["2_00_000", "2_02_002"], 4, 8, 3, parametrization="ntk", dtype=torch.float64), X, y, steps=5, lr=0.1)
    speed = ch05_dag.convergence_speed(run["loss"][:, 0], run["final_loss"])
    assert speed[0] == 0 and speed[1] > 0



def test_rank_order_names_the_largest_first():
    assert rank_order([0.1, 0.5, 0.3]) == "DAG#2 > DAG#3 > DAG#1"
    assert rank_order([0.1, 0.5, 0.3], descending=False) == "DAG#1 > DAG#3 > DAG#2"


def test_figure3_tables_compare_the_predicted_and_observed_orders():
    loss = np.ones((3, 2, 4))
    loss[:, :, -1] = [[0.9, 0.8], [0.5, 0.6], [0.1, 0.2]]  # DAG#3 falls furthest, DAG#1 least
    GD = {"mnist_loss": loss, "mnist_lam_exact": np.array([0.1, 0.2, 0.3]),
          "mnist_lam_paper": np.array([0.1, 0.2, 0.3]), "mnist_lam_ntk": np.array([1.0, 2.0, 3.0])}
    lam, order, glue = figure3_gd_tables(GD, ["mnist"])
    assert order.loc["MNIST", "same order"] == "yes" and glue["slowest_mnist"] == 2 and glue["agree_mnist"] == "agrees"
    GD["mnist_lam_exact"] = np.array([0.3, 0.2, 0.1])
    assert figure3_gd_tables(GD, ["mnist"])[1].loc["MNIST", "same order"] == "no"


def test_figure4_summary_checks_the_papers_two_claims():
    epochs = np.linspace(0.1, 0.5, 6)
    acc = np.stack([np.stack([epochs * k] * 3) for k in (1.0, 1.1, 1.3)])  # DAG#1 < DAG#2 < DAG#3 throughout
    F = {"dataset": ["mnist"] * 3, "dag": list(ch05_dag.FIGURE3.values()), "train_acc": acc}
    table, glue = figure4_summary(F)
    assert glue["fig4_order_mnist"] == "DAG#3 > DAG#2 > DAG#1" and glue["fig4_claims_mnist"] == "hold"
    assert glue["fig4_ahead_mnist"] == 100.0 and glue["fig4_final_mnist_3"] == pytest.approx(65.0)
    assert glue["fig4_settled_mnist"] == "from epoch 1" and table.loc["MNIST", "paper's order from epoch"] == 1
    assert table.loc["MNIST", "DAG#3 first (mean over epochs)"] == "yes"  # words, not a Python boolean
    assert table.loc["MNIST", "DAG#2 above DAG#1 (mean over epochs)"] == "yes"
    assert "fig4_end_mnist" not in glue  # the paper speaks of the end of DAG#1 and DAG#2 on CIFAR-10 only
    F["train_acc"] = acc[[1, 0, 2]]  # now DAG#1 is above DAG#2
    assert figure4_summary(F)[1]["fig4_claims_mnist"] == "do not both hold"
    assert figure4_summary(F)[0].loc["MNIST", "DAG#2 above DAG#1 (mean over epochs)"] == "no"
    assert figure4_summary(F)[1]["fig4_settled_mnist"] == "at no epoch to the last"
    late = acc.copy()
    late[0, :, :2] = 1.0  # DAG#1 leads the first two epochs, then the paper's order holds
    assert figure4_summary({**F, "train_acc": late})[1]["fig4_settled_mnist"] == "from epoch 3"


def test_end_sentence_says_where_dag1_ends_and_when():
    cifar = {**figure4_summary({"dataset": ["cifar10"] * 3, "dag": list(ch05_dag.FIGURE3.values()),
                                "train_acc": np.stack([np.full((2, 5), v) for v in (0.25, 0.26, 0.27)])})[1]}
    assert cifar["fig4_end_cifar10"].startswith("DAG#1 ends below DAG#2, the other way round from the paper "
                                                "(25.0% against 26.0%) at our last epoch, 5,")
    assert "the paper's end is epoch 1,000" in cifar["fig4_end_cifar10"]
    assert end_sentence(27.0, 26.0, 1000) == ("DAG#1 ends above DAG#2, as in the paper (27.0% against 26.0%) at "
                                              "epoch 1,000, where the paper's run ends too")


def test_space_taus_of_a_predictor_that_is_the_speed():
    rng = np.random.default_rng(0)
    loss0 = np.ones(40)
    lam = rng.uniform(0.1, 1.0, 40)
    ALL = {"mnist_loss0": loss0, "mnist_lossT": np.exp(-lam), "mnist_lam_exact": lam, "mnist_lam_paper": lam / 2,
           "mnist_lam_ntk": lam, "depth": rng.uniform(size=40), "width": rng.uniform(size=40),
           "mnist_params": rng.uniform(size=40)}
    table, glue = space_taus(ALL, ["mnist"], n_boot=50)
    assert glue["tau_mnist_lam_exact"] == pytest.approx(1.0) and glue["beats_mnist"] == "beats"
    assert table.loc[("MNIST", "lambda_min exact"), "95% CI low"] == pytest.approx(1.0)
    assert glue["cross_terms"] == "do not improve"  # the recursion ranks them the same here
    assert glue["beats_all"] == "beats the parameter count on MNIST"
    # a second dataset where the parameter count is the speed: lambda_min loses to it there, and the sentence says both
    ALL |= {"cifar10_loss0": loss0, "cifar10_lossT": np.exp(-ALL["mnist_params"]), "cifar10_lam_exact": lam,
            "cifar10_lam_paper": lam, "cifar10_lam_ntk": lam, "cifar10_params": ALL["mnist_params"]}
    glue = space_taus(ALL, ["mnist", "cifar10"], n_boot=50)[1]
    assert glue["beats_all"] == "beats the parameter count on MNIST and loses to it on CIFAR-10"


def test_per_model_steps_equal_separate_training():
    """Hooks scaling model b's gradient by s_b at lr 1 train each model as plain GD at lr s_b alone."""
    torch.manual_seed(0)
    X, y = torch.randn(12, 5), torch.randint(0, 10, (12,))
    dags, steps = ["2_02_002", "2_21_112"], np.array([0.3, 0.05])
    both = DAGMLP(dags, 5, 16, 10, seeds=[3, 4], parametrization="ntk")
    handles = ch05_dag.per_model_steps(both, steps)
    joint = train(both, X, y, steps=5, lr=1.0, loss="mse")
    for h in handles:
        h.remove()
    for b, (arch, lr) in enumerate(zip(dags, steps)):
        alone = train(DAGMLP([arch], 5, 16, 10, seeds=[3 + b], parametrization="ntk"), X, y, steps=5, lr=float(lr))
        np.testing.assert_allclose(joint["loss"][b], alone["loss"][0], rtol=1e-5)


def test_own_steps_remove_the_output_scale():
    """eta_b lambda_max(Theta_b / n) is the same function of the spectrum's shape for every DAG: with
    lr_frac 1 it is 2 lambda_max / (lambda_max + lambda_min), whatever the kernel's scale; no path gives 0."""
    X = torch.randn(16, 6, dtype=torch.float64)
    dags = ["2_02_002", "1_01_222", "0_00_000"]
    eta = ch05_dag.own_steps(dags, X, 1.0)
    ev = torch.linalg.eigvalsh(kernels.ntk_many(dags[:2], X) / len(X)).numpy()
    np.testing.assert_allclose(eta[:2] * ev[:, -1], 2 * ev[:, -1] / (ev[:, -1] + ev[:, 0]), rtol=1e-9)
    assert eta[2] == 0.0
    assert ch05_dag.own_steps(dags[:2], X, 1.0).min() == pytest.approx(ch05_dag.stable_lr(dags[:2], X, 1.0, n_probe=16))


def test_spectrum_stats_match_direct_eigenvalues():
    X = torch.randn(10, 4, dtype=torch.float64)
    dags = ["2_02_002", "2_21_112", "2_12_112"]
    got = ch03_convergence.spectrum_stats(dags, X, "exact")
    for i, arch in enumerate(dags):
        K = kernels.nngp(arch, X)
        ev = torch.linalg.eigvalsh(K)
        assert got["lam"][i] == pytest.approx(float(ev[0]), rel=1e-9, abs=1e-12)
        assert got["lmax"][i] == pytest.approx(float(ev[-1]), rel=1e-9)
        assert got["diag"][i] == pytest.approx(float(K.diagonal().mean()), rel=1e-12)


def test_scale_table_and_figure3_speeds_on_made_up_runs():
    rng = np.random.default_rng(0)
    depth = np.array([0.0, 1.0, 2.0, 4.0, 3.0])
    lam = np.array([0.0, 4.0, 3.0, 1.0, 2.0])
    fast = np.array([0.0, 4.0, 3.0, 1.0, 2.0])  # speed ordered as lambda_min: tau +1 over the live DAGs
    S = {"depth": depth, "width": np.arange(5.0), "digits_exact_lam": lam, "digits_exact_diag": np.ones(5),
         "digits_speed_fixed": np.stack([fast, fast + 0.01]), "digits_speed_own": np.stack([-fast, -fast]),
         "digits_ntk_lam": lam, "digits_ntk_lmax": np.array([0.0, 16.0, 4.0, 0.5, 4.0])}  # ratios .25, .75, 2, .5
    t = scale_table(S, ["digits"], n_boot=20).set_index(["training", "predictor"])
    assert t.loc[("one step for all", "lambda_min"), "Kendall tau"] == pytest.approx(1.0)
    assert t.loc[("own step (scale removed)", "lambda_min / mean diagonal"), "Kendall tau"] == pytest.approx(-1.0)
    # own speeds -4, -3, -1, -2 against lambda_min / lambda_max .25, .75, 2, .5: 5 concordant pairs of 6
    assert t.loc[("own step (scale removed)", "lambda_min / lambda_max of the NTK"), "Kendall tau"] == pytest.approx(
        (5 - 1) / 6)
    assert ("one step for all", "lambda_min / lambda_max of the NTK") not in t.index
    assert t.loc[("one step for all", "effective depth"), "Kendall tau"] == pytest.approx(-1.0)
    assert set(t["DAGs"]) == {4}
    skip_only = {**S, "depth": np.array([0.0, 1.0, 2.0, 0.0, 3.0]), "width": np.array([0.0, 3.0, 2.0, 0.0, 1.0])}
    t = scale_table(skip_only, ["digits"], n_boot=20).set_index(["training", "predictor"])
    assert t.loc[("one step for all", "lambda_min"), "DAGs"] == 4  # every DAG with a path
    assert t.loc[("one step for all", "effective depth"), "DAGs"] == 3  # only those with a trained path (d > 0)
    assert t.loc[("one step for all", "effective depth"), "Kendall tau"] == pytest.approx(-1.0)  # 0 dropped
    assert t.loc[("one step for all", "effective width"), "Kendall tau"] == pytest.approx(1.0)
    loss = np.exp(-rng.uniform(0, 1, (3, 4, 1)) * np.arange(5))  # speed = the drawn rate x 4 steps
    R = {"digits_loss": loss}
    f = figure3_speeds(R, ["digits"])
    np.testing.assert_allclose(f["speed (mean)"], np.log(loss[..., 0] / loss[..., -1]).mean(1))


def test_merge_joins_shards_and_refuses_disagreement():
    a, b = {"x": np.arange(3), "m_speed": 1.0}, {"x": np.arange(3), "c_speed": 2.0}
    out = ch05_dag.merge([a, b])
    assert set(out) == {"x", "m_speed", "c_speed"} and out["c_speed"] == 2.0
    with pytest.raises(ValueError, match="disagree"):
        ch05_dag.merge([a, {"x": np.arange(4)}])


def test_figure4_length_reads_true_for_a_short_and_a_full_run():
    from convlib.pages.ch05_dag import figure4_length

    short, full = figure4_length(100), figure4_length(1000)
    assert short["fig4_length"] == "100 epochs of them fit this CPU, not the release's 1,000"
    assert short["fig4_span"].startswith("the first 100 of the release's 1,000 epochs")
    assert "release's full length" in full["fig4_span"] and "not the release's" not in full["fig4_length"]
