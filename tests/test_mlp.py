"""Finite DAG-MLPs: hand-worked forward passes, seeds, the empirical NTK against a full Jacobian,
and batched training against training each model alone."""
import math

import numpy as np
import pytest
import torch
from torch.func import functional_call, jacrev

from convlib.dag import FIGURE3
from convlib.mlp import DAGMLP, batches, empirical_ntk, layer_gram, train

FIG3 = list(FIGURE3.values())
MIXED = FIG3 + ["0_10_201", "1_11_111"]


def _X(n=5, d=4, seed=0, dtype=torch.float64):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def test_forward_matches_hand_written_network():
    """2_21_112: h1 = R(W01 h0) + R(W02 h0) ... written out with the model's own weights."""
    X = _X()
    m = DAGMLP(["2_21_112"], 4, 6, 2, dtype=torch.float64)
    R = torch.relu
    W = lambda s, t: m.edge[0, t * (t - 1) // 2 + s]  # noqa: E731
    with torch.no_grad():
        h0 = R(X @ m.stem[0].T)
        h1 = R(h0 @ W(0, 1).T)
        h2 = R(h0 @ W(0, 2).T) + h1
        h3 = h0 + h1 + R(h2 @ W(2, 3).T)
        expect = h3 @ m.readout[0].T
        assert torch.allclose(m(X)[0], expect, atol=1e-12)
        assert torch.allclose(m.features(X)[0], h3, atol=1e-12)


def test_zero_and_skip_slots_hold_no_weights():
    m = DAGMLP(["1_01_000", "0_00_000"], 4, 3, dtype=torch.float64)
    assert torch.count_nonzero(m.edge) == 0
    with torch.no_grad():
        assert torch.count_nonzero(m.features(_X())[1]) == 0  # no path to the output


def test_batched_init_equals_alone_bit_for_bit():
    seeds = [11, 5, 7, 3, 2]
    big = DAGMLP(MIXED, 4, 8, 3, seeds=seeds)
    X = _X(dtype=torch.float32)
    for b, (dag, s) in enumerate(zip(MIXED, seeds)):
        one = DAGMLP([dag], 4, 8, 3, seeds=[s])
        for name in ("stem", "edge", "readout"):
            assert torch.equal(getattr(one, name)[0], getattr(big, name)[b])
        with torch.no_grad():
            assert torch.allclose(one(X)[0], big(X)[b], rtol=1e-5, atol=1e-6)


def test_parametrizations_share_the_forward_pass():
    X = _X()
    a = DAGMLP(FIG3, 4, 16, seeds=[1, 2, 3], dtype=torch.float64)
    b = DAGMLP(FIG3, 4, 16, seeds=[1, 2, 3], parametrization="ntk", dtype=torch.float64)
    with torch.no_grad():
        assert torch.allclose(a(X), b(X), rtol=1e-10, atol=1e-12)
    w = b.edge.detach()[b.edge.detach() != 0]
    assert abs(float(w.std()) - 1.0) < 0.1


def test_kaiming_variance_preserves_the_second_moment():
    """Stem of a ReLU net with W ~ N(0, 2/d): E ||h0||^2 / width = ||x||^2 / d (He et al. 2015)."""
    X = _X(n=64, d=32, seed=3)
    m = DAGMLP(["2"] * 50, 32, 256, seeds=range(50), dtype=torch.float64)
    with torch.no_grad():
        h = m.features(X)  # one linear edge after the stem keeps the same second moment
    got = h.pow(2).sum(-1).mean(0) / 256
    expect = X.pow(2).sum(-1) / 32
    # relative standard error of a mean over 50 x 256 squared half-normal units: sqrt(5/(50*256))
    assert torch.allclose(got, expect, rtol=6 * math.sqrt(5 / (50 * 256)))


def _random_biases(m: DAGMLP, seed: int = 0) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for b in (m.stem_bias, m.edge_bias, m.readout_bias):
            b.copy_(0.3 * torch.randn(b.shape, generator=gen, dtype=b.dtype))


def test_forward_with_biases_matches_hand_written_network():
    """The released code's layers: Linear (with bias) then ReLU; a Linear readout with bias."""
    X = _X()
    m = DAGMLP(["2_21_112"], 4, 6, 2, dtype=torch.float64, bias=True, readout_gain=2.0)
    assert all(torch.count_nonzero(b) == 0 for b in (m.stem_bias, m.edge_bias, m.readout_bias))
    _random_biases(m)
    R = torch.relu
    lin = lambda s, t, h: h @ m.edge[0, t * (t - 1) // 2 + s].T + m.edge_bias[0, t * (t - 1) // 2 + s]  # noqa: E731
    with torch.no_grad():
        h0 = R(X @ m.stem[0].T + m.stem_bias[0])
        h1 = R(lin(0, 1, h0))
        h2 = R(lin(0, 2, h0)) + h1
        h3 = h0 + h1 + R(lin(2, 3, h2))
        assert torch.allclose(m(X)[0], h3 @ m.readout[0].T + m.readout_bias[0], atol=1e-12)


def test_readout_gain_scales_the_readout_variance():
    a = DAGMLP(["2"] * 40, 4, 512, 3, seeds=range(40), dtype=torch.float64)
    b = DAGMLP(["2"] * 40, 4, 512, 3, seeds=range(40), dtype=torch.float64, readout_gain=2.0)
    assert torch.allclose(b.readout, a.readout * math.sqrt(2.0))
    assert abs(float(b.readout.detach().var()) * 512 - 2.0) < 0.05  # 61,440 draws: std error of the variance ~0.6%
    with pytest.raises(ValueError, match="readout_gain"):
        DAGMLP(["2"], 4, 8, readout_gain=0)


@pytest.mark.parametrize("param, bias", [("standard", False), ("ntk", False), ("standard", True), ("ntk", True)])
def test_empirical_ntk_equals_jacobian_product(param, bias):
    X = _X(n=5, d=3, seed=1)
    m = DAGMLP(MIXED, 3, 4, seeds=[4, 5, 6, 7, 8], parametrization=param, dtype=torch.float64, bias=bias)
    if bias:
        _random_biases(m, 2)
    params = dict(m.named_parameters())
    jac = jacrev(lambda p: functional_call(m, p, (X,)))(params)  # (B, n, 1, *shape) each
    J = torch.cat([j.reshape(len(MIXED), len(X), -1) for j in jac.values()], dim=-1)
    expect = J @ J.mT
    got = empirical_ntk(m, X)
    assert got.dtype == torch.float64 and got.shape == (5, 5, 5)
    assert torch.allclose(got, expect, rtol=1e-10, atol=1e-12)


def test_layer_gram_by_hand_and_against_the_jacobian_of_one_layer():
    # a = (1, 2), delta = (3, 1), c = 2: c^2 a a^T = [[4, 8], [8, 16]], delta delta^T = [[9, 3], [3, 1]]
    a, d = torch.tensor([[1.0], [2.0]]), torch.tensor([[3.0], [1.0]])
    assert torch.equal(layer_gram(a, d, 2.0), torch.tensor([[36.0, 24.0], [24.0, 16.0]]))
    assert torch.equal(layer_gram(a, d, 2.0, bias=True), torch.tensor([[45.0, 27.0], [27.0, 17.0]]))
    # f(x) = v . tanh(c W a(x) + b) for 4 inputs: J J^T over (W, b) against delta = df/dz
    g = torch.Generator().manual_seed(0)
    A, W, b, v = (torch.randn(*s, generator=g, dtype=torch.float64) for s in ((4, 3), (5, 3), (5,), (5,)))
    f = lambda W, b: torch.tanh(0.7 * A @ W.T + b) @ v  # noqa: E731
    J = torch.cat([j.reshape(4, -1) for j in torch.autograd.functional.jacobian(f, (W, b))], 1)
    delta = (1 - torch.tanh(0.7 * A @ W.T + b) ** 2) * v
    assert torch.allclose(layer_gram(A, delta, 0.7, bias=True), J @ J.T, rtol=1e-12)
    assert torch.allclose(layer_gram(A, delta, 0.7), J[:, :15] @ J[:, :15].T, rtol=1e-12)


def test_empirical_ntk_accepts_per_model_inputs_and_rejects_vector_outputs():
    X = _X(n=4, d=3)
    m = DAGMLP(FIG3, 3, 4, dtype=torch.float64)
    shared = empirical_ntk(m, X)
    assert torch.allclose(empirical_ntk(m, X.expand(3, 4, 3)), shared, atol=1e-12)
    with pytest.raises(ValueError, match="d_out"):
        empirical_ntk(DAGMLP(FIG3, 3, 4, 2), X)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="same number of nodes"):
        DAGMLP(["2_02", "2_02_002"], 3, 4)
    with pytest.raises(ValueError, match="seeds"):
        DAGMLP(FIG3, 3, 4, seeds=[1])
    with pytest.raises(ValueError, match="parametrization"):
        DAGMLP(FIG3, 3, 4, parametrization="mup")
    with pytest.raises(ValueError, match="width"):
        DAGMLP(FIG3, 3, 0)
    with pytest.raises(ValueError, match=r"X must be \(n, 3\)"):
        DAGMLP(FIG3, 3, 4)(torch.zeros(2, 5))


def test_batches_cover_each_epoch_once():
    idx = list(batches(10, 4, 6, seed=0))
    assert [len(i) for i in idx] == [4, 4, 2, 4, 4, 2]
    assert sorted(torch.cat(idx[:3]).tolist()) == list(range(10))
    assert all(i is None for i in batches(10, None, 3, seed=0))


@pytest.mark.parametrize("kw", [
    dict(loss="mse", batch_size=None, optimizer="sgd"),
    dict(loss="ce", batch_size=8, optimizer="sgd", momentum=0.9, weight_decay=1e-3),
    dict(loss="mse", batch_size=8, optimizer="adam"),
])
def test_batched_training_equals_training_alone(kw):
    X, y = _X(n=20, d=6, seed=2), torch.arange(20) % 3
    seeds = [3, 1, 4, 1, 5]
    lr = 1e-2
    big = DAGMLP(MIXED, 6, 16, 3, seeds=seeds, dtype=torch.float64)
    out = train(big, X, y, steps=12, lr=lr, seed=9, **kw)
    assert out["loss"].shape == (5, 12) and out["final_loss"].shape == (5,)
    for b, (dag, s) in enumerate(zip(MIXED, seeds)):
        one = DAGMLP([dag], 6, 16, 3, seeds=[s], dtype=torch.float64)
        alone = train(one, X, y, steps=12, lr=lr, seed=9, **kw)
        assert np.isfinite(alone["loss"]).all()
        np.testing.assert_allclose(alone["loss"][0], out["loss"][b], rtol=1e-9, atol=1e-12)
        for name in ("stem", "edge", "readout"):
            assert torch.allclose(getattr(one, name)[0], getattr(big, name)[b], rtol=1e-9, atol=1e-12)


def test_training_counts_the_correct_predictions_of_each_step():
    X, y = _X(n=24, d=6, seed=4), torch.arange(24) % 3
    m = DAGMLP(FIG3, 6, 16, 3, seeds=[0, 1, 2], dtype=torch.float64, bias=True, readout_gain=2.0)
    before = [p.detach().clone() for p in m.parameters()]
    out = train(m, X, y, steps=6, lr=1e-3, loss="ce", batch_size=8, seed=5)
    assert out["correct"].shape == (3, 6) and out["correct"].dtype.kind == "i"
    assert all(not torch.equal(a, p) for a, p in zip(before, m.parameters()))  # biases train too
    # the first step's count, recomputed from the initial weights on the first batch
    first = next(batches(24, 8, 1, 5))
    m0 = DAGMLP(FIG3, 6, 16, 3, seeds=[0, 1, 2], dtype=torch.float64, bias=True, readout_gain=2.0)
    with torch.no_grad():
        expect = (m0(X[first]).argmax(-1) == y[first]).sum(-1)
    assert out["correct"][:, 0].tolist() == expect.tolist()
    assert "correct" not in train(m, X, y.double()[:, None].repeat(1, 3), steps=1, lr=1e-3, loss="mse")


def test_gradient_descent_decreases_the_loss_and_seeds_repeat():
    X, y = _X(n=16, d=5, seed=4), torch.randn(16, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    runs = [train(DAGMLP(FIG3, 5, 32, seeds=[0, 1, 2], dtype=torch.float64), X, y, steps=30, lr=0.01) for _ in range(2)]
    np.testing.assert_array_equal(runs[0]["loss"], runs[1]["loss"])
    assert np.all(runs[0]["final_loss"] < runs[0]["loss"][:, 0])


@pytest.mark.parametrize("dag", FIG3)
def test_empirical_ntk_averages_to_the_infinite_width_ntk(dag):
    """Monte Carlo: the mean of 16 finite NTKs (width 256) is within 5 standard errors of
    ``kernels.ntk`` at every entry (the standard error is estimated from the 16 draws)."""
    from convlib import kernels

    X, draws = _X(n=3, d=5, seed=7), 16
    K = empirical_ntk(DAGMLP([dag] * draws, 5, 256, seeds=range(draws), parametrization="ntk", dtype=torch.float64), X)
    z = (K.mean(0) - kernels.ntk(dag, X)) / (K.std(0) / math.sqrt(draws))
    assert z.abs().max() < 5
