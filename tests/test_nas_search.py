"""The DAG pre-filter against an independent path enumeration, and the searches at smoke scale."""
import random

import numpy as np
import pytest

from convlib import theory
from convlib.dag import nb201_cells, parse
from convlib.nas import DEPTH_RANGE, WIDTH_RANGE, benchmark, dag_filter, search

# the four input-to-output routes of a cell, as (source, target) edges; written out by hand
ROUTES = [((0, 1), (1, 2), (2, 3)), ((0, 1), (1, 3)), ((0, 2), (2, 3)), ((0, 3),)]


def depth_width_by_hand(arch: str) -> tuple[float, float]:
    dag = parse(arch)
    depths = []
    for route in ROUTES:
        ops = [dag.op(s, t) for s, t in route]
        if "none" not in ops:
            depths.append(sum(op.startswith("nor_conv") for op in ops))
    d = float(np.mean(depths)) if depths else 0.0
    return (0.0, 0.0) if d == 0 else (d, sum(k > 0 for k in depths) / d)


def test_filter_rejects_exactly_the_defined_cells():
    cells = random.Random(0).sample(nb201_cells(), 3000)
    for arch in cells:
        d, m = depth_width_by_hand(arch)
        expected = DEPTH_RANGE[0] <= d <= DEPTH_RANGE[1] and WIDTH_RANGE[0] <= m <= WIDTH_RANGE[1]
        assert dag_filter(arch) == expected, arch
    kept = sum(dag_filter(a) for a in cells)
    assert 0 < kept < len(cells)
    assert not dag_filter("|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|")
    with pytest.raises(ValueError, match="depth range"):
        dag_filter(cells[0], depth=(2.0, 1.0))


def test_expected_depth_width_of_a_single_cell_is_the_effective_one():
    for arch in random.Random(1).sample(nb201_cells(), 200):
        dag = parse(arch)
        state = [(dag.op(s, t),) for s, t in search.EDGES]
        assert search.expected_depth_width(state) == pytest.approx(theory.effective_depth_width(dag))


def test_sample_search_picks_best_scored_and_is_seeded():
    rng = np.random.default_rng(0)
    score, secs = rng.normal(size=50), np.full(50, 0.5)
    score[3] = np.nan
    keep = rng.random(50) < 0.6
    a = search.sample_search(score, secs, keep, n_samples=10, n_runs=40, seed=7)
    b = search.sample_search(score, secs, keep, n_samples=10, n_runs=40, seed=7)
    assert np.array_equal(a.pick, b.pick)
    draws = np.random.default_rng(7).integers(0, 50, size=(40, 10))
    for run in range(40):
        ok = [i for i in draws[run] if keep[i] and np.isfinite(score[i])]
        assert a.pick[run] == (max(ok, key=lambda i: score[i]) if ok else draws[run, 0])
        assert a.evaluated[run] == keep[draws[run]].sum()
    assert np.allclose(a.seconds, 0.5 * a.evaluated)
    assert keep[a.pick].all() or (a.evaluated == 0).any()


@pytest.mark.requires_data("cifar10", "nasbench201")
def test_tenas_returns_a_valid_cell_and_dag_evaluates_fewer():
    budget = dict(ntk_batch=3, lr_samples=60, lr_batches=1, repeat=1)
    a = search.tenas(0, **budget)
    b = search.tenas(0, dag=True, **budget)
    assert benchmark.index_of(a["arch"]) >= 0 and benchmark.index_of(b["arch"]) >= 0
    assert "none" not in a["arch"] and a["rounds"] == 3
    assert a["evaluated"] == 24 + 18 + 12 and b["evaluated"] == 12 + 12 + 12
    assert search.tenas(0, dag=True, **budget)["arch"] == b["arch"]
