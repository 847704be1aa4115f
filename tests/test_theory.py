import math
from math import comb

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


def test_lambda_min_of_the_three_dags_and_the_unreachable_cell():
    X = torch.randn(8, 20, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    for arch in ("2_02_002", "1_01_222", "2_21_112"):
        for kernel in ("exact", "paper", "ntk"):
            lam = theory.lambda_min(arch, X, kernel)
            assert lam == pytest.approx(torch.linalg.eigvalsh(theory.gram(arch, X, kernel))[0].item(), rel=1e-12)
            assert lam > 0
    assert theory.lambda_min("2_20_000", X) == 0.0
    # the NTK dominates the NNGP (it adds a PSD tangent part), so its least eigenvalue is larger
    assert theory.lambda_min("2_21_112", X, "ntk") >= theory.lambda_min("2_21_112", X)
    with pytest.raises(ValueError, match="kernel must be one of"):
        theory.lambda_min("2", X, "rbf")


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
    assert math.isfinite(loss0)


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


# ---------------------------------------------------------------------- Lemma 3.2, Lemma 3.3, Eq. 12 (Chen et al. 2022)
FIG3_COUNTS = {"2_02_002": [0, 0, 0, 1], "1_01_222": [0, 3], "2_21_112": [1, 1, 2]}  # paths by number of linear edges


def unit_inputs(n=8, d=12, seed=0):
    X = torch.randn(n, d, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    return X * math.sqrt(d) / X.norm(dim=1, keepdim=True)


def test_correlation_map_is_lemma32_of_the_arc_cosine_kernel():
    assert theory.correlation_map(1.0) == pytest.approx(1.0, abs=1e-15)
    assert theory.correlation_map(0.0) == pytest.approx(1 / math.pi, abs=1e-15)
    assert theory.correlation_map(-1.0) == pytest.approx(0.0, abs=1e-15)
    A = torch.randn(6, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    K = A @ A.T                                                       # any diagonal, not only 1
    d = torch.sqrt(torch.diagonal(K))
    lemma = theory.correlation_map((K / torch.outer(d, d)).numpy()) * torch.outer(d, d).numpy()
    np.testing.assert_allclose(lemma, kernels.relu_second_moment(2 * K).numpy(), rtol=1e-10)


def test_lemma33_bound_against_brute_force_and_lambda_min():
    A = torch.randn(5, 7, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    G = A @ A.mT + torch.diag_embed(torch.rand(5, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(3)))
    got = theory.lemma33_bound(G)
    brute = [min(np.linalg.eigvalsh(g[np.ix_([i, j], [i, j])])[0] for i in range(7) for j in range(7) if i != j)
             for g in G.numpy()]
    np.testing.assert_allclose(got, brute, rtol=1e-12)
    assert np.all(got >= torch.linalg.eigvalsh(G)[:, 0].numpy() - 1e-12)          # Cauchy interlacing
    assert theory.lemma33_bound(torch.tensor([[2.0, 1.0], [1.0, 2.0]])) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="n >= 2"):
        theory.lemma33_bound(torch.ones(1, 1))


def test_depth_counts_and_eq12_by_hand_for_figure3():
    np.testing.assert_array_equal(theory.depth_counts(list(FIG3_COUNTS)), [[0, 0, 0, 1], [0, 3, 0, 0], [1, 1, 2, 0]])
    h = lambda C: (2 * C * np.arcsin(C) + 2 * np.sqrt(1 - C ** 2) + np.pi * C) / (2 * np.pi)  # noqa: E731
    C = np.linspace(-1, 1, 41)
    want = {"2_02_002": 1 - h(h(h(C))), "1_01_222": 3 * (1 - h(C)), "2_21_112": 4 - (C + h(C) + 2 * h(h(C)))}
    for text, counts in FIG3_COUNTS.items():
        np.testing.assert_allclose(theory.eq12_value(np.array([counts]), C)[0], want[text], rtol=1e-12, atol=1e-14)


def test_eq12_bound_is_lemma33_of_the_paper_recursion_on_figure3_and_never_above_it():
    """Eq. 12 sums f^{d_p} over paths; the recursion maps a sum through f, and f is increasing and
    convex, so (Jensen) its off-diagonal is at most the path sum: Eq. 12 <= Lemma 3.3 of the recursion,
    with equality when every linear edge leaves a node whose paths have equal terms (Figure 3)."""
    X = unit_inputs()
    space = dag.mlp_dags(3)
    bound = theory.eq12_bound_many(space, X)
    l33 = theory.lemma33_bound(kernels.nngp_paper_many(space, X))
    assert np.all(bound <= l33 + 1e-12)
    for text in FIG3_COUNTS:
        assert theory.eq12_bound(text, X) == pytest.approx(l33[space.index(text)], rel=1e-12)
    assert np.any(bound < l33 - 1e-3)                                 # strictly below for some DAG
    assert theory.eq12_bound("2_20_000", X) == 0.0                     # no path: P = 0


def test_eq12_bound_of_a_cell_is_that_of_its_mlp_analogue_and_many_equals_one():
    X = unit_inputs(n=6, seed=4)
    cells = dag.nb201_cells()[::997]
    many = theory.eq12_bound_many(cells, X)
    for c, b in zip(cells, many):
        assert b == theory.eq12_bound(dag.parse(c).as_mlp(), X)


def test_eq12_bound_rejects_bad_inputs():
    with pytest.raises(ValueError, match="K_ii"):
        theory.eq12_bound("2", 2 * unit_inputs())
    with pytest.raises(ValueError, match="two inputs"):
        theory.eq12_bound("2", unit_inputs(n=1))
    with pytest.raises(ValueError, match="empty"):
        theory.eq12_bound_many([], unit_inputs())


def test_path_depth_counts_equal_enumerated_paths_on_both_spaces():
    for arch in dag.mlp_dags(3) + dag.nb201_cells()[::7]:
        depths = theory.path_depths(arch)
        expect = np.bincount(depths, minlength=len(theory.path_depth_counts(arch))) if depths else 0
        np.testing.assert_array_equal(theory.path_depth_counts(arch), expect)
        assert theory.path_count(arch) == len(depths)


def test_path_counts_of_a_long_skip_chain_are_exact_and_fast():
    # node t takes skips from every earlier node: 2^(N-1) paths, all of depth 0
    long = "_".join("1" * t for t in range(1, 29))
    c = theory.path_depth_counts(long)
    assert c[0] == 2 ** 27 and c[1:].sum() == 0
    assert theory.effective_depth_width(long) == (0.0, 0.0)
    # every edge linear: C(27, k-1) paths of depth k (choose the intermediate nodes)
    dense = "_".join("2" * t for t in range(1, 29))
    np.testing.assert_array_equal(theory.path_depth_counts(dense)[1:], [comb(27, k - 1) for k in range(1, 29)])
