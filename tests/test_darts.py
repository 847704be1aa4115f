"""DARTS / PR-DARTS (convlib.darts) and the PR-DARTS theory toy (convlib.prdarts_theory), smoke scale."""
import math

import numpy as np
import pytest
import torch

from convlib import darts
from convlib import prdarts_theory as pt
from convlib.dag import parse
from convlib.device import one_thread


@pytest.fixture(autouse=True, scope="module")
def single_thread():
    """Tiny tensors: one intra-op thread avoids thread hand-off cost on a shared 2-core machine."""
    with one_thread():
        yield


# ---------------------------------------------------------------- Theorem 3: the gate law
@pytest.mark.parametrize("beta,tau", [(-2.0, 1.0), (0.0, 0.1), (0.5, 10.0), (2.0, 1.0)])
def test_gate_law_monte_carlo(beta, tau):
    n = 200_000
    g = darts.hard_concrete(torch.full((n,), beta, dtype=torch.float64), tau,
                            generator=torch.Generator().manual_seed(1))
    for emp, p in ((float((g != 0).double().mean()), float(darts.prob_nonzero(torch.tensor(beta), tau))),
                   (float((g == 1).double().mean()), float(darts.prob_one(torch.tensor(beta), tau)))):
        assert abs(emp - p) <= 5 * math.sqrt(p * (1 - p) / n) + 1e-12, (emp, p)
    assert float(g.min()) >= 0 and float(g.max()) <= 1


def test_gate_closed_form_hand_values():
    # ln(-a/b) = ln(1/11): P(g != 0) at beta = 0, tau = 1 is sigmoid(ln 11) = 11/12
    assert float(darts.prob_nonzero(torch.tensor(0.0), 1.0)) == pytest.approx(11 / 12)
    # ln((1-a)/(b-1)) = ln 11: P(g = 1) at beta = 0, tau = 1 is 1/12
    assert float(darts.prob_one(torch.tensor(0.0), 1.0)) == pytest.approx(1 / 12)
    with pytest.raises(ValueError, match="a < 0 < 1 < b"):
        darts.hard_concrete(torch.zeros(3), 1.0, a=0.1)


# ---------------------------------------------------------------- the two penalties and the path reward
def test_penalties_hand_worked():
    beta = torch.zeros(6, 5)
    pen = darts.penalties(beta, 1.0)  # every p = 11/12
    assert float(pen["skip"]) == pytest.approx(11 / 12)  # zeta * 6 edges * 11/12, zeta = 1/6
    assert float(pen["nonskip"]) == pytest.approx(11 / 12)  # zeta/4 * 24 ops * 11/12
    assert float(pen["path"]) == pytest.approx((22 / 12) ** 3)  # (p_1x1 + p_3x3)^3
    assert float(darts.penalties(beta, 1.0, path_reduce="mean")["path"]) == pytest.approx((11 / 12) ** 3)
    hinged = darts.penalties(beta, 1.0, hinge=0.2)
    assert float(hinged["skip"]) == pytest.approx(11 / 12 - 0.2)
    # tau -> 0 makes p = sigmoid(beta); switch off the 1x1 convs of the chain: path = p_3x3^3 only
    beta = torch.zeros(6, 5)
    beta[:, darts.SKIP] = math.log(3.0)  # p_skip = 3/4
    beta[list(darts.CHAIN), darts.CONVS[0]] = -1e4
    pen = darts.penalties(beta, 0.0)
    assert float(pen["skip"]) == pytest.approx(0.75)
    assert float(pen["nonskip"]) == pytest.approx((1 / 24) * (24 - 3) * 0.5)
    assert float(pen["path"]) == pytest.approx(0.5 ** 3)
    reg = darts.regulariser(beta, 0.0, (1.0, 2.0, 4.0))
    assert float(reg) == pytest.approx(0.75 + 2 * 21 / 48 - 4 * 0.125)
    with pytest.raises(ValueError, match=r"\(6, 5\)"):
        darts.penalties(torch.zeros(5, 5), 1.0)


def test_penalty_gradient_vanishes_at_paper_start_temperature():
    grads = {}
    for dtype in (torch.float64, torch.float32):
        beta = torch.full((6, 5), 0.5, dtype=dtype, requires_grad=True)
        for tau in (10.0, 1.0):
            (g,) = torch.autograd.grad(darts.regulariser(beta, tau), beta)
            grads[dtype, tau] = float(g.abs().max())
    # sigmoid'(0.5 + 2.40 * 10) ~ 2.3e-11, times at most lambda_3 * 3 * 2^2 = 0.06; float32 saturates to exactly 0
    assert 0 < grads[torch.float64, 10.0] < 0.06 * 2.4e-11 and grads[torch.float32, 10.0] == 0.0
    assert grads[torch.float64, 1.0] > 1e-4 and grads[torch.float32, 1.0] > 1e-4


def test_tau_schedule_and_top2_gates():
    assert darts.tau_at(0, 5) == 10.0 and darts.tau_at(4, 5) == pytest.approx(0.1)
    g = torch.rand(6, 5, generator=torch.Generator().manual_seed(0), requires_grad=True)
    w = darts.top2_straight_through(g, dropout=0.0, generator=torch.Generator().manual_seed(0))
    assert torch.equal(w.detach().sum(-1), torch.full((6,), 2.0))
    assert torch.equal(w.detach().topk(2).indices.sort().values, g.detach().topk(2).indices.sort().values)
    (grad,) = torch.autograd.grad(w.sum(), g)
    assert torch.equal(grad, torch.ones(6, 5))


# ---------------------------------------------------------------- selection rules
def test_pick_rules():
    s = np.zeros((6, 5))
    # edges (0,1) (0,2) (1,2) (0,3) (1,3) (2,3); ops none skip 1x1 3x3 pool
    s[0] = [0.9, 0.05, 0.05, 0.0, 0.0]   # argmax none; top2 skips none -> skip (tie with 1x1, first wins)
    s[1] = [0.0, 0.8, 0.1, 0.1, 0.0]
    s[2] = [0.0, 0.0, 0.0, 0.7, 0.3]
    s[3] = [0.0, 0.1, 0.2, 0.0, 0.0]     # weakest in-edge of node 3 -> none under top2
    s[4] = [0.0, 0.6, 0.0, 0.0, 0.0]
    s[5] = [0.0, 0.0, 0.0, 0.0, 0.5]
    assert darts.pick(s, "argmax") == ("|none~0|+|skip_connect~0|nor_conv_3x3~1|+|"
                                       "nor_conv_1x1~0|skip_connect~1|avg_pool_3x3~2|")
    assert darts.pick(s, "top2") == ("|skip_connect~0|+|skip_connect~0|nor_conv_3x3~1|+|"
                                     "none~0|skip_connect~1|avg_pool_3x3~2|")
    parse(darts.pick(s, "top2"))
    with pytest.raises(ValueError, match="rule"):
        darts.pick(s, "top3")


# ---------------------------------------------------------------- search steps and seeds
def _batch(n=16, size=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, size, size, generator=g), torch.randint(0, 10, (n,), generator=g)


@pytest.mark.parametrize("method", darts.METHODS)
def test_weight_step_lowers_training_loss(method):
    cfg = darts.SearchConfig(method=method, C=4, N=1, w_lr=0.05, w_momentum=0.0, tau_start=1.0)
    net = darts.SuperNet(cfg.C, cfg.N, arch_init=cfg.beta_init, seed=0)
    opt = torch.optim.SGD(net.weight_parameters(), lr=cfg.w_lr)
    x, y = _batch()
    gen = torch.Generator().manual_seed(3)
    state = gen.get_state()
    before = darts.weight_step(net, cfg, opt, x, y, 1.0, gen)
    gen.set_state(state)  # the same gate sample
    with torch.no_grad():
        after = torch.nn.functional.cross_entropy(net(x, darts.arch_weights(net, cfg, 1.0, gen)), y).item()
    assert after < before


def test_search_seed_reproduces_picks():
    X, y = _batch(n=32, size=8)
    cfg = darts.SearchConfig(method="prdarts", epochs=2, batch_size=8, C=4, N=1, arch_lr=0.05, tau_start=1.0)
    a, b = darts.search(X, y, cfg), darts.search(X, y, cfg)
    assert a["picks_top2"] == b["picks_top2"] and np.array_equal(a["scores"], b["scores"])
    c = darts.search(X, y, darts.SearchConfig(**{**a["config"], "lambdas": tuple(a["config"]["lambdas"]), "seed": 1}))
    assert not np.array_equal(a["scores"], c["scores"])
    assert len(a["picks_argmax"]) == 2 and a["scores"].shape == (2, 6, 5)


def test_search_runs_with_the_code_options():
    X, y = _batch(n=32, size=8)
    cfg = darts.SearchConfig(method="prdarts", epochs=1, batch_size=8, C=4, N=1, tau_start=1.0,
                             gate_mode="top2", hinge=0.2, path_reduce="mean")
    hist = darts.search(X, y, cfg)
    assert np.all(np.isfinite(hist["train_loss"])) and hist["scores"].shape == (1, 6, 5)
    assert np.all((hist["scores"] > 0) & (hist["scores"] < 1))


def test_search_config_validation():
    with pytest.raises(ValueError, match="method"):
        darts.SearchConfig(method="enas")
    with pytest.raises(ValueError, match="gate_mode"):
        darts.SearchConfig(gate_mode="hard")
    with pytest.raises(ValueError, match="n, 3, H, W"):
        darts.search(torch.zeros(4, 3, 8, 8), torch.zeros(4, dtype=torch.long), darts.SearchConfig(batch_size=4))


# ---------------------------------------------------------------- Theorem 1 toy: lambda_PR and the Gram matrix
def test_lambda_pr_hand_worked():
    e = np.array([[0.1, 0.6, 0.3],    # 0->1
                  [0.2, 0.5, 0.3],    # 0->2
                  [0.0, 0.7, 0.3],    # 1->2
                  [0.5, 0.1, 0.4],    # 0->3
                  [0.1, 0.1, 0.8],    # 1->3
                  [0.3, 0.2, 0.5]])   # 2->3
    cell = pt.dense_cell(e)
    assert cell.stems() == [0] and cell.sinks() == [3]
    base = 0.4 ** 2 + 0.8 ** 2 * 0.6 ** 2
    assert pt.lambda_pr(cell, "in_edges") == pytest.approx(base + 0.5 ** 2 * 0.5 ** 2 * 0.7 ** 2)
    assert pt.lambda_pr(cell, "chain") == pytest.approx(base + 0.5 ** 2 * 0.7 ** 2 * 0.6 ** 2)
    b = pt.two_branch(cell)  # branches {0, 1} and {2, 3}
    assert b.stems() == [0, 2] and b.sinks() == [1, 3]
    assert pt.lambda_pr(b) == pytest.approx(0.3 ** 2 + 0.5 ** 2)
    # binary cells from the MLP form: only conv edges into the last node whose source is fed by skips count
    assert pt.lambda_pr(pt.cell_from_dag("2_02_002"), "in_edges") == 0.0
    assert pt.lambda_pr(pt.cell_from_dag("1_11_222"), "in_edges") == 3.0
    assert pt.lambda_pr(pt.cell_from_dag("1_01_222"), "in_edges") == 2.0
    assert pt.lambda_pr(pt.cell_from_dag("1_01_222"), "chain") == 3.0
    with pytest.raises(ValueError, match="reading"):
        pt.lambda_pr(cell, "path")


def test_gram_blocks_equal_jacobian_gram():
    cells = [pt.dense_cell(a) for a in pt.random_alphas(4, 2, seed=2)]
    X = pt.unit_rows(torch.randn(5, 7, generator=torch.Generator().manual_seed(0)))
    net = pt.ToyNet(cells, 7, 16, seed=3)
    params = list(net.parameters())
    blocks = sum(pt.gram_blocks(net, X).values())
    for b in range(2):
        rows = [torch.cat([g[b].flatten() for g in torch.autograd.grad(net(X)[b, i], params)]) for i in range(5)]
        J = torch.stack(rows)
        assert torch.allclose(blocks[b], J @ J.T, atol=1e-10)
    # net b of a batch is the single net seeded seed + b
    single = pt.ToyNet(cells[1], 7, 16, seed=4)
    assert torch.allclose(single(X)[0], net(X)[1])
    eig = pt.gram_eigs(net, X)
    assert eig.shape == (2, 2) and np.all(0 < eig[:, 0]) and np.all(eig[:, 0] <= eig[:, 1] + 1e-12)  # G = G_last + PSD
    assert np.allclose(pt.gram_eigs_many(cells, X, 16, seed=3, budget_bytes=1), eig)
    with pytest.raises(ValueError, match="same edges"):
        pt.ToyNet([cells[0], pt.two_branch(cells[0])], 7, 16)
    # no conv into the last node: the kept block is empty; a skip-fed conv into it: positive definite
    eig = pt.gram_eigs(pt.ToyNet([pt.cell_from_dag("2_22_111"), pt.cell_from_dag("1_11_002")], 7, 16), X)
    assert eig[0, 0] == 0 and eig[1, 0] > 0 and np.all(eig[:, 1] > 0)


def test_gd_lowers_toy_loss():
    cells = [pt.dense_cell(a) for a in pt.random_alphas(4, 3, seed=0)]
    X = pt.unit_rows(torch.randn(8, 6, generator=torch.Generator().manual_seed(0)))
    y = torch.sign(torch.randn(8, generator=torch.Generator().manual_seed(1)))
    losses = pt.gd_losses(pt.ToyNet(cells, 6, 32, seed=0), X, y, eta=0.1, steps=40)
    assert losses.shape == (3, 41) and np.all(losses[:, -1] < losses[:, 0]) and np.all(pt.decay_rate(losses) > 0)
