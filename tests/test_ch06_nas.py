"""convlib.pages.ch06_nas: the tables of chapter 06 on inputs whose answers are known (and the shards of
convlib.experiments.ch06_nas)."""
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

from convlib import paper, registry
from convlib.experiments.ch06_nas import cell_shards, naswot_scores, region_counts, tenas_shards
from convlib.nas import benchmark, in_box
from convlib.pages import ch06_nas as ch


def test_shards_cover_the_space_once():
    shards = cell_shards(n_cells=benchmark.N_CELLS)
    assert len(shards) == 16 and shards[0] == "00000-01000" and shards[-1] == "15000-15625"
    assert sum(len(registry.span(s)) for s in shards) == benchmark.N_CELLS
    with pytest.raises(ValueError, match="n_cells must be in 1..15625"):
        cell_shards(n_cells=0)
    assert tenas_shards([0, 3]) == ["TENAS-0", "TENAS_DAG-0", "TENAS-3", "TENAS_DAG-3"]


def test_multiple_r_is_the_root_of_the_least_squares_r2():
    rng = np.random.default_rng(0)
    dw = rng.uniform(0, 3, size=(500, 2))
    assert ch.multiple_r(dw, 2 + 3 * dw[:, 0] - dw[:, 1]) == pytest.approx(1.0)
    acc = dw[:, 0] + rng.normal(scale=2.0, size=500)
    r2 = LinearRegression().fit(dw, acc).score(dw, acc)
    assert ch.multiple_r(dw, acc) == pytest.approx(np.sqrt(r2), rel=1e-10)


def test_figure5_groups_cells_by_their_depth_width_pair():
    dw = np.array([[1.0, 2.0], [1.0, 2.0], [0.5, 1.0]])
    table = pd.DataFrame({"cifar10": [90.0, 92.0, 50.0], "cifar100": [1.0, 3.0, 5.0], "imagenet16": [0.0, 0.0, 7.0]})
    g = ch.figure5(dw, table)
    assert g.loc[(1.0, 2.0), "cells"] == 2 and g.loc[(1.0, 2.0), "cifar10"] == 91.0
    assert g.loc[(1.0, 2.0), "cifar10_std"] == 1.0 and g.loc[(0.5, 1.0), "imagenet16"] == 7.0


def test_rank_table_leaves_out_cells_without_a_score():
    table = pd.DataFrame({"cifar10": [1.0, 2.0, 3.0, 4.0], "cifar100": [4.0, 3.0, 2.0, 1.0], "imagenet16": [1.0, 2.0, 3.0, 4.0]})
    t = ch.rank_table({"perfect": (np.array([10.0, 20.0, np.nan, 40.0]), np.arange(4))}, table)
    assert t.loc["perfect", "cells"] == 3
    assert t.loc["perfect", "tau cifar10"] == pytest.approx(1.0) and t.loc["perfect", "tau cifar100"] == pytest.approx(-1.0)


def test_savings_and_costs_are_percentages_of_the_base_method():
    rows = {"WOT": {"seconds": 10.0, "evaluated": 100.0}, "WOT+DAG": {"seconds": 6.0, "evaluated": 50.0},
            "TENAS": {"seconds": 100.0, "evaluated": 54.0}, "TENAS+DAG": {"seconds": 75.0, "evaluated": 36.0}}
    s = ch.savings(rows)
    assert s.loc["WOT+DAG", "time saved (%)"] == pytest.approx(40.0)
    assert s.loc["TENAS+DAG", "networks saved (%)"] == pytest.approx(100 / 3)
    assert s.loc["WOT+DAG", "paper: time saved (%)"] == 40.2
    c = ch.cost_table({"naswot": {"naswot": np.array([1.0, np.nan, 3.0]), "naswot_s": np.array([0.5, 0.0, 1.5])}})
    assert c.loc["naswot", "cells"] == 2 and c.loc["naswot", "mean s/cell"] == 1.0 and c.loc["naswot", "cells/s"] == 1.0


@pytest.mark.requires_data("nasbench201")
def test_wot_with_a_perfect_score_picks_the_best_of_its_draws():
    table = benchmark.load()
    acc = table["cifar10"].to_numpy()
    naswot = {"index": np.arange(len(acc)), "naswot": acc.copy(), "naswot_s": np.ones(len(acc))}
    dw = ch.depth_width()
    rows = ch.wot_rows(naswot, dw, n_samples=20, n_runs=50, search_seed=1)
    draws = np.random.default_rng(1).integers(0, len(acc), size=(50, 20))  # the searches' own draws
    assert rows["WOT"]["cifar10"] == pytest.approx(acc[draws].max(1).mean())
    assert rows["WOT"]["evaluated"] == 20 and rows["WOT"]["seconds"] == 20
    keep = in_box(dw)
    assert rows["WOT+DAG"]["evaluated"] == pytest.approx(keep[draws].sum(1).mean())
    t3 = ch.table3(naswot, dw, [1.0, 0.5], 20, 50, 1, baseline=True)
    assert t3.loc[1.0, "paper cifar100"] == 69.48 and t3.loc[0.5, "kept share"] < t3.loc[1.0, "kept share"]
    # the paper's baseline is WOT without the filter: our first row is WOT's, beside the paper's row 1
    assert t3.index[0] == ch.BASELINE and t3.loc[ch.BASELINE, "paper cifar100"] == 69.48
    assert t3.loc[ch.BASELINE, "cifar10"] == rows["WOT"]["cifar10"] and t3.loc[ch.BASELINE, "networks scored"] == 20
    assert t3.loc[1.0, "networks scored"] < 20  # the full radius already leaves out the cells without a path
    t2 = ch.table2({**rows, **{k: rows["WOT"] for k in ("TENAS", "TENAS+DAG")}})
    assert t2.loc["optimal", ("cifar10", "paper")] == 94.37 and np.isnan(t2.loc["optimal", ("cifar10", "ours std")])
    # the benchmark's best cell is the paper's "optimal" row, to its two decimals
    assert abs(t2.loc["optimal", ("cifar10", "diff")]) < 0.005 and abs(t2.loc["optimal", ("imagenet16", "diff")]) < 0.005
    assert t2.loc["WOT", ("cifar10", "diff")] == pytest.approx(rows["WOT"]["cifar10"] - 92.81)
    # rows with no number of ours are not in the comparison but in the cited table, each said once
    assert "RSPS" not in t2.index and list(t2.index[-1:]) == ["optimal"]
    cited = ch.table2_cited({**rows, **{k: rows["WOT"] for k in ("TENAS", "TENAS+DAG")}})
    assert set(cited.index) | set(t2.index) == set(paper.table("chen2022", "table2").index)
    assert cited.loc["RSPS", "cifar10"] == "87.66 (1.69)" and cited.loc["ResNet", "cifar100"] == "70.86"
    # DARTS and ENAS on NAS-Bench-201 end at the all-skip cell: the paper's 54.30 / 15.61 / 16.32 is its entry
    skip = table.loc[table["arch"] == ch.ALL_SKIP].iloc[0]
    assert [round(skip[ds], 2) for ds in benchmark.DATASETS] == [54.30, 15.61, 16.32]
    assert cited.loc["DARTS-2nd", "what it is"].startswith("a search; its pick is the all-skip cell")
    assert cited.loc["GDAS", "what it is"] == "a search this book does not rerun"


@pytest.mark.requires_data("nasbench201", "cifar10")
def test_recheck_scores_the_cells_again(monkeypatch):
    monkeypatch.setattr(ch.scores, "NASWOT_BATCH", 8)
    monkeypatch.setattr(ch.scores, "LR_SAMPLES", 50)
    monkeypatch.setattr(ch.scores, "LR_BATCHES", 1)
    W = naswot_scores(n_cells=12, seed=0, shard="00-12")
    R = region_counts(n_cells=12, seed=0, shard="00-12")
    check = ch.recheck(W, R, 2, 0)
    assert len(check) == 2 and check.index[0] == np.flatnonzero(np.isfinite(W["naswot"]))[0]
    np.testing.assert_allclose(check["NASWOT now"], check["NASWOT cached"], rtol=1e-9)
    np.testing.assert_array_equal(check["regions now"], check["regions cached"])
    assert check["agrees"].all()
    first = np.flatnonzero(np.isfinite(W["naswot"]))[0]
    W["naswot"][first] *= 1 + 1e-6  # a cache that lies, even slightly, is caught on that cell only
    assert ch.recheck(W, R, 2, 0)["agrees"].tolist() == [False, True]
    W["naswot"][first] /= 1 + 1e-6
    R["regions"][first] += 1  # and so is a wrong region count
    assert ch.recheck(W, R, 2, 0)["agrees"].tolist() == [False, True]


@pytest.mark.requires_data("nasbench201")
def test_tenas_picks_lists_each_search():
    T = {"variant": ["TENAS", "TENAS+DAG"], "seed": np.array([0, 0]), "index": np.array([5, 7]),
         "seconds": np.array([10.0, 6.0]), "evaluated": np.array([54, 36])}
    picks = ch.tenas_picks(T)
    assert list(picks["arch"]) == list(benchmark.load()["arch"].iloc[[5, 7]])
    assert ch.tenas_rows(T)["TENAS+DAG"]["evaluated"] == 36


def test_wot_runs_are_the_searches_of_wot_rows_and_readings_share_their_draws():
    rng = np.random.default_rng(0)
    n = 40
    naswot = {"index": np.arange(n), "naswot": rng.normal(size=n), "naswot_s": rng.uniform(0.1, 0.2, n)}
    dw = ch.depth_width()
    runs = ch.wot_readings(naswot, dw, n_samples=10, n_runs=30, search_seed=1)
    rows = ch.wot_rows(naswot, dw, 10, 30, 1)
    for ds in ("cifar10", "cifar100"):
        assert runs["WOT"][ds].mean() == pytest.approx(rows["WOT"][ds])
        assert runs["released"][ds].mean() == pytest.approx(rows["WOT+DAG"][ds])
    # the filtered searches score a subset of the same draws: never more seconds than WOT in any run
    assert np.all(runs["released"]["seconds"] <= runs["WOT"]["seconds"] + 1e-12)
    assert np.all(runs["half radius"]["seconds"] <= runs["WOT"]["seconds"] + 1e-12)
    # the pick changes exactly in the runs whose WOT pick the box rejects
    for reading, box in (("released", ()), ("half radius", ch.filter_box(dw, 0.5))):
        assert ch.changed_picks(runs)[reading] == np.mean(~in_box(dw[runs["WOT"]["pick"]], *box))
    assert 0 < ch.changed_picks(runs)["half radius"] < 1
    table = ch.readings_table(runs)
    assert list(table.index) == ["released", "half radius", "paper"]
    assert ch.closer_reading(table)["closer_acc"] in ch.BOX_READINGS


def test_ntk_scope_names_a_sample_or_the_whole_space():
    from convlib.pages.ch06_nas import ntk_scope

    assert ntk_scope(250, 245) == "the 245 connected cells of a uniform sample of 250"
    assert ntk_scope(15625, 15284) == "every connected cell (15,284 of 15,625)"


def test_extremes_split_the_trained_cells_at_the_texts_box():
    # Live depths and widths span 1..3, so the half-radius box keeps |d - 2| <= 0.5 and |m - 2| <= 0.5: only
    # the cell at (2, 2); the cell with d = 0 (no trained path) is in neither group.
    dw = np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0], [0.0, 0.0], [2.4, 1.2]])
    acc = np.array([10.0, 20.0, 30.0, 40.0, 50.0])
    inside, outside = ch.extremes(dw, acc)
    assert inside.tolist() == [20.0] and outside.tolist() == [10.0, 30.0, 50.0]
    inside, outside = ch.extremes(dw, acc, fraction=1.0)
    assert inside.tolist() == [10.0, 20.0, 30.0, 50.0] and outside.size == 0


def test_ntk_devices_gives_each_cell_the_device_of_its_shard():
    K = {"_provenance": {"shard_devices": ["cpu (x86_64, 2 cores)", "NVIDIA H200"]}}
    devices = ch.ntk_devices(K, 300, 0)  # shards of 250: cells 0-249 and 250-299
    assert list(devices[:250]) == ["cpu (x86_64, 2 cores)"] * 250 and list(devices[250:]) == ["NVIDIA H200"] * 50
    R = {"ntk": np.arange(300.0), "ntk_s": np.ones(300)}
    assert list(ch.on_device(R, devices, "cpu")["ntk"]) == list(range(250))
    assert len(ch.on_device(R, devices, "NVIDIA")["ntk_s"]) == 50


def test_device_agreement_compares_each_devices_cells_with_the_cpu_reference():
    """Worked by hand: the CPU's one shared cell is equal; the GPU's cells 3 and 5 differ by 4/44 and 10/50
    (cell 4 has no path), both in the same order as the reference and as the accuracy."""
    K = {"index": np.arange(6), "ntk": np.array([10.0, 20.0, 30.0, 40.0, np.nan, 60.0])}
    devices = np.array(["cpu (x)"] * 3 + ["GPU"] * 3)
    C = {"index": np.array([1, 3, 4, 5, 7]), "ntk": np.array([20.0, 44.0, np.nan, 50.0, 9.0])}
    agree = ch.device_agreement(K, devices, C, np.arange(10.0))
    assert list(agree.index) == ["cpu (x)", "GPU"]
    assert agree.loc["cpu (x)", "cells"] == 1 and agree.loc["cpu (x)", "equal to the bit"] == 1
    assert agree.loc["cpu (x)", "max rel. diff"] == 0
    gpu = agree.loc["GPU"]
    assert gpu["cells"] == 2 and gpu["equal to the bit"] == 0
    assert gpu["median rel. diff"] == pytest.approx((4 / 44 + 10 / 50) / 2) and gpu["max rel. diff"] == pytest.approx(0.2)
    assert gpu["tau, device vs CPU"] == pytest.approx(1.0) and gpu["tau with accuracy (device)"] == pytest.approx(1.0)
    nums = ch.device_numbers(agree)
    assert nums["gpu_name"] == "GPU" and nums["gpu_cells"] == 2 and nums["gpu_max"] == pytest.approx(0.2)
    assert nums["cpu_cells"] == 1 and nums["cpu_bit"] == 1 and nums["cpu_max"] == 0
    alone = ch.device_numbers(agree.loc[["cpu (x)"]])
    assert alone["gpu_name"] == "none" and np.isnan(alone["gpu_med"])
