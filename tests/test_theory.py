import math
import re
import time

import numpy as np
import pytest
import torch

from convlib import dag, kernels, theory

CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


@pytest.mark.parametrize("arch, paths, depth, width", [
    # paths 0-1-2-3 (3 convs), 0-1-3 (2), 0-2-3 (2), 0-3 (skip, 0): d = 7/4, m = 3 / (7/4)
    (CELL, [(0, 1, 2, 3), (0, 1, 3), (0, 2, 3), (0, 3)], 7 / 4, 12 / 7),
    ("2_02_002", [(0, 1, 2, 3)], 3.0, 1 / 3),                                  # DAG#1: one path of 3
    ("1_01_222", [(0, 1, 2, 3), (0, 1, 3), (0, 3)], 1.0, 3.0),                 # DAG#2: three paths of 1
    ("2_21_112", [(0, 1, 2, 3), (0, 1, 3), (0, 2, 3), (0, 3)], 5 / 4, 3 / (5 / 4)),  # depths 2, 1, 2, 0
    # pool (a skip in the MLP analogue) then two convs, and a direct conv: depths 2, 1
    ("|avg_pool_3x3~0|+|none~0|nor_conv_1x1~1|+|nor_conv_3x3~0|none~1|nor_conv_3x3~2|", [(0, 1, 2, 3), (0, 3)], 1.5, 2 / 1.5),
    ("|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|",
     [(0, 1, 2, 3), (0, 1, 3), (0, 2, 3), (0, 3)], 0.0, 0.0),                 # only skip paths: d = 0
    ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|none~0|none~1|none~2|", [], 0.0, 0.0),  # no path
    ("2_20_011", [(0, 1, 3), (0, 2, 3)], 1.0, 2.0),
])
def test_paths_and_effective_depth_width_by_hand(arch, paths, depth, width):
    assert theory.paths(arch) == paths
    d, m = theory.effective_depth_width(arch)
    assert d == pytest.approx(depth, abs=1e-12) and m == pytest.approx(width, abs=1e-12)


def test_effective_depth_width_is_the_same_for_a_cell_and_its_mlp_analogue():
    for arch in dag.nb201_cells()[::311]:
        assert theory.effective_depth_width(arch) == theory.effective_depth_width(dag.parse(arch).as_mlp())


def test_lambda_min_of_every_kernel_by_hand_on_two_orthogonal_inputs():
    """One linear edge after the stem, two orthogonal inputs of squared norm d_in: Sigma_in = 2 I, so the stem
    kernel is [[1, 1/pi], [1/pi, 1]] and the output kernel is V(2 K_00) with unit diagonal; every NNGP
    kernel of a chain agrees and lambda_min = 1 - V(2 K_00)_12 (worked with the arc-cosine formula)."""
    X = torch.tensor([[2.0, 0.0, 0.0, 0.0], [0.0, 0.0, 2.0, 0.0]], dtype=torch.float64)
    c = 1 / math.pi  # stem off-diagonal
    s_xy, s = 2 * c, 2.0
    th = math.acos(s_xy / s)
    off = s * (math.sin(th) + (math.pi - th) * math.cos(th)) / (2 * math.pi)
    for name in kernels.KERNELS:
        lam = theory.lambda_min("2", X, name)
        G = theory.gram("2", X, name)
        assert lam == pytest.approx(float(G[0, 0] - abs(G[0, 1])), rel=1e-12)  # 2x2: a - |b|
        if name != "ntk":
            assert float(G[0, 0]) == pytest.approx(1.0, rel=1e-12) and lam == pytest.approx(1 - off, rel=1e-12)
        else:  # the NTK adds a positive semi-definite tangent part
            assert lam > 1 - off
    assert theory.lambda_min("2_20_000", X) == 0.0
    with pytest.raises(ValueError, match="kernel must be one of"):
        theory.lambda_min("2", X, "rbf")


def test_depth_counts_equal_a_histogram_of_the_listed_paths():
    archs = dag.mlp_dags(3) + dag.nb201_cells()[::977] + ["2_20_000", "1_01_001"]
    expected = [np.bincount(theory.path_depths(a), minlength=1) for a in archs]
    got = theory.depth_counts(archs)
    assert got.shape == (len(archs), max(len(e) for e in expected)) and got.dtype == np.float64
    for row, e in zip(got, expected):
        assert row[:len(e)].tolist() == e.tolist() and not row[len(e):].any()
    assert theory.depth_counts(["2_20_000"]).tolist() == [[0.0]]


def test_lambda_min_many_with_and_without_deduplication_agree():
    X = torch.randn(10, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    cells = dag.nb201_cells()[::53]
    a = theory.lambda_min_many(cells, X, dedupe=True)
    b = theory.lambda_min_many(cells, X, dedupe=False)
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-14)
    assert theory.lambda_min(cells[7], X) == pytest.approx(b[7], rel=1e-10)


def test_gd_bound_and_its_step_size_condition():
    assert theory.gd_rate(0.5, 0.2) == pytest.approx(0.95)
    np.testing.assert_allclose(theory.gd_bound(0.5, 0.2, 3), [1, 0.95, 0.95 ** 2, 0.95 ** 3])
    for eta, lam, why in ((0.0, 1.0, "positive"), (1.0, -1.0, "non-negative"), (3.0, 1.0, "> 2")):
        with pytest.raises(ValueError, match=why):
            theory.gd_rate(eta, lam)
    H = torch.diag(torch.tensor([1.0, 3.0], dtype=torch.float64))
    assert theory.step_size_ok(0.5, H, 1.0) and not theory.step_size_ok(0.6, H, 1.0)
    assert not theory.step_size_ok(0.5, H, 1.5)


def test_bound_holds_for_kernel_regression_at_the_allowed_step():
    """Linearised GD r <- (I - eta H) r never exceeds (1 - eta lambda_min / 2)^k when step_size_ok."""
    X = torch.randn(12, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    H = kernels.ntk("2_21_112", X)
    lam = theory.lambda_min("2_21_112", X)          # the NNGP's, as in the theorem
    ev = torch.linalg.eigvalsh(H)
    eta = 2.0 / float(ev[-1] + ev[0])
    assert theory.step_size_ok(eta, H, lam)
    r = torch.randn(12, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    loss0 = r.dot(r).item()
    bound = theory.gd_bound(eta, lam, 200)
    for k in range(1, 201):
        r = r - eta * H @ r
        assert r.dot(r).item() / loss0 <= bound[k] * (1 + 1e-12)


def test_linearised_loss_equals_iterating_gd():
    X = torch.randn(9, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(8))
    H = kernels.ntk("1_12", X)
    r = torch.randn(9, dtype=torch.float64, generator=torch.Generator().manual_seed(9))
    eta = 1.0 / torch.linalg.eigvalsh(H)[-1].item()
    pred = theory.linearised_loss(H, r, eta, 30)
    r0 = r.dot(r).item()
    for k in range(31):
        assert pred[k] == pytest.approx(r.dot(r).item() / r0, rel=1e-9)
        r = r - eta * H @ r


# ---------------------------------------------------------------------- path counts without enumeration
def test_path_depth_counts_equal_a_histogram_of_the_listed_paths():
    for arch in dag.mlp_dags(3) + dag.nb201_cells():
        depths = theory.path_depths(arch)
        counts = theory.path_depth_counts(arch)
        assert len(counts) == dag.parse(arch).n_nodes + 1
        assert counts.tolist() == np.bincount(depths, minlength=len(counts)).tolist()
        assert theory.n_paths(arch) == len(theory.paths(arch))


def test_effective_depth_width_equal_the_mean_over_listed_paths():
    """The counting route against the definition: mean depth and (paths with depth > 0) / d."""
    for arch in dag.mlp_dags(3) + dag.mlp_dags(4)[::37]:
        depths = theory.path_depths(arch)
        d, m = theory.effective_depth_width(arch)
        mean = sum(depths) / len(depths) if depths else 0.0
        assert d == pytest.approx(mean, rel=1e-15, abs=0)
        assert m == (pytest.approx(sum(k > 0 for k in depths) / mean, rel=1e-15) if mean else 0.0)


def chain_of_skips(n_nodes: int, digit: str = "1") -> str:
    """Every edge ``s -> t`` carries ``digit``: 2^(N-1) paths from node 0 to node N."""
    return "_".join(digit * t for t in range(1, n_nodes + 1))


def test_path_counts_of_a_28_node_all_skip_dag_are_exact_and_fast():
    start = time.perf_counter()
    counts = theory.path_depth_counts(chain_of_skips(28))
    assert counts[0] == 2 ** 27 and not any(counts[1:])
    assert theory.effective_depth_width(chain_of_skips(28)) == (0.0, 0.0)
    # every edge linear: a path through j intermediate nodes has j + 1 edges; C(27, j) such paths
    counts = theory.path_depth_counts(chain_of_skips(28, "2"))
    assert counts.tolist() == [0] + [math.comb(27, j) for j in range(28)]
    d, m = theory.effective_depth_width(chain_of_skips(28, "2"))
    assert d == 14.5 and m == 2 ** 27 / 14.5
    # 70 nodes: 2^69 paths, beyond float64 and int64, still exact
    assert theory.n_paths(chain_of_skips(70)) == 2 ** 69
    assert time.perf_counter() - start < 5


def test_paths_refuses_to_list_too_many_paths():
    assert len(theory.paths(chain_of_skips(17))) == 2 ** 16 <= theory.MAX_PATHS
    with pytest.raises(ValueError, match=r"has 134,217,728 input-output paths; paths\(\) lists at most 100,000"):
        theory.paths(chain_of_skips(28))


# ---------------------------------------------------------------------- bad numbers
@pytest.mark.parametrize("eta, lam, why", [
    (math.nan, 0.1, "step size eta must be a finite real number, got nan"),
    (0.5, math.inf, "lambda_min must be a finite real number, got inf"),
    (0.5, math.nan, "lambda_min must be a finite real number"),
    ("0.5", 0.1, "step size eta must be a finite real number, got '0.5'"),
    (True, 0.1, "step size eta"),
    (np.float64(-math.inf), 0.1, "step size eta"),
])
def test_gd_rate_rejects_non_finite_numbers(eta, lam, why):
    with pytest.raises(ValueError, match=re.escape(why)):
        theory.gd_rate(eta, lam)
    with pytest.raises(ValueError, match=re.escape(why)):
        theory.gd_bound(eta, lam, 3)
    assert theory.gd_rate(np.float64(0.5), np.float32(0.2)) == pytest.approx(0.95)


@pytest.mark.parametrize("steps", [-1, 2.5, "3", None])
def test_gd_bound_rejects_bad_step_counts(steps):
    with pytest.raises(ValueError, match="steps must be an integer"):
        theory.gd_bound(0.5, 0.2, steps)


def test_lambda_min_of_inputs_that_require_grad():
    X = torch.randn(8, 20, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    for kernel in ("exact", "paper", "ntk"):
        expected = theory.lambda_min("2_21_112", X, kernel)
        assert theory.lambda_min("2_21_112", X.clone().requires_grad_(), kernel) == expected


def test_largest_step_of_the_zero_matrix_is_unbounded_and_a_negative_spectrum_is_refused():
    assert theory.largest_step([0.0, 0.0]).item() == math.inf  # nothing moves: any step is stable
    assert theory.largest_step(torch.tensor([[0.0, 0.0], [1.0, 3.0]])).tolist() == [math.inf, 0.5]
    with pytest.raises(ValueError, match="lambda_max \\+ lambda_min > 0"):
        theory.largest_step([-1.0, 1.0])


def test_largest_step_contracts_every_eigendirection_no_slower_than_the_slowest():
    ev = torch.tensor([[0.5, 1.0, 3.5], [1.0, 2.0, 4.0]], dtype=torch.float64)
    eta = theory.largest_step(ev)
    torch.testing.assert_close(eta, torch.tensor([2 / 4.0, 2 / 5.0], dtype=torch.float64))
    # at that step the extreme eigendirections contract by the same factor |1 - eta lambda|
    assert torch.allclose((1 - eta * ev[:, 0]).abs(), (1 - eta * ev[:, -1]).abs())
    H = torch.diag(ev[0])
    assert theory.step_size_ok(float(eta[0]), H, 0.5) and not theory.step_size_ok(float(eta[0]) * 1.01, H, 0.5)
