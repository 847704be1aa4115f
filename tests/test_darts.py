"""DARTS / PR-DARTS search on the NAS-Bench-201 supernet (convlib.darts), smoke scale."""
import math

import numpy as np
import pytest
import torch

from convlib import darts
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


def test_search_on_a_named_device_is_the_default_search_and_draws_follow_the_tensors_device():
    """``device``: the CPU named is the same search bit for bit; every draw is made on the CPU generator and
    moved to the parameters' device (the meta device stands in for a GPU this machine lacks)."""
    X, y = _batch(n=32, size=8)
    cfg = darts.SearchConfig(method="prdarts", epochs=1, batch_size=8, C=4, N=1, tau_start=1.0, gate_mode="top2")
    a, b = darts.search(X, y, cfg), darts.search(X, y, cfg, device="cpu")
    assert a["picks_top2"] == b["picks_top2"] and np.array_equal(a["scores"], b["scores"])
    assert a["reg_share"] == b["reg_share"] and a["train_loss"] == b["train_loss"]
    beta = torch.zeros(6, 5, device="meta")
    gen = torch.Generator().manual_seed(0)
    gates = darts.hard_concrete(beta, 1.0, generator=gen)
    assert gates.device.type == "meta" and darts.top2_straight_through(gates, generator=gen).device.type == "meta"
    with pytest.raises(ValueError, match="unknown device"):
        darts.search(X, y, cfg, device="tpu")


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


def test_defaults_are_the_cited_paper_values():
    """The method's constants and SearchConfig's optimiser defaults are the numbers data/paper/zhou2020.csv
    cites (the sizes and the batch are this book's)."""
    from convlib import paper

    p = {k: c.value for k, c in paper.cited("zhou2020").items()}
    cfg = darts.SearchConfig()
    assert (darts.A, darts.B) == (p["gate_a"], p["gate_b"])
    assert cfg.lambdas == (p["lambda_1"], p["lambda_2"], p["lambda_3"])
    assert (cfg.tau_start, cfg.tau_end, cfg.beta_init) == (p["tau_start"], p["tau_end"], p["beta_init"])
    assert (cfg.w_lr, cfg.w_momentum, cfg.w_wd) == (p["w_lr"], p["w_momentum"], p["w_wd"])
    assert (cfg.arch_lr, cfg.arch_wd) == (p["arch_lr"], p["arch_wd"])


# ---------------------------------------------------------------- the regulariser's share of the architecture gradient
def test_gradient_shares_by_hand():
    total, l0, path = torch.tensor([3.0, 4.0, 2.0]), torch.tensor([0.0, 0.0, 2.0]), torch.zeros(3)
    # g_CE = (3, 4, 0): norms 5, 2, 0
    assert darts.gradient_shares(total, l0, path) == (pytest.approx(2 / 7), 0.0)
    path = torch.tensor([0.0, 0.0, -2.0])  # the two parts cancel: g_CE = total, norms 5.39, 2, 2
    n_ce = math.sqrt(29)
    assert darts.gradient_shares(total, l0, path) == (pytest.approx(4 / (n_ce + 4)), pytest.approx(2 / (n_ce + 4)))
    assert darts.gradient_shares(torch.zeros(3), torch.zeros(3), torch.zeros(3)) == (0.0, 0.0)


def test_regulariser_terms_split_the_regulariser():
    beta = torch.randn(6, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    terms = darts.regulariser_terms(beta, 0.5, (0.01, 0.005, 0.005))
    pen = darts.penalties(beta, 0.5)
    assert float(terms["path"]) == pytest.approx(-0.005 * float(pen["path"]))
    assert float(terms["l0"] + terms["path"]) == pytest.approx(float(darts.regulariser(beta, 0.5)))


@pytest.mark.parametrize("lambdas,path_zero", [((0.01, 0.005, 0.0), True), ((0.01, 0.005, 0.005), False)])
def test_search_records_the_regulariser_share(lambdas, path_zero):
    """With lambda_3 = 0 (gates only) the path term's gradient is exactly 0; with it, it is not at tau 1;
    DARTS has no regulariser; every share lies in [0, 1]."""
    X, y = _batch(n=32, size=8)
    cfg = darts.SearchConfig(method="prdarts", epochs=2, batch_size=8, C=4, N=1, tau_start=1.0, lambdas=lambdas)
    hist = darts.search(X, y, cfg)
    reg, path = np.array(hist["reg_share"]), np.array(hist["path_share"])
    assert reg.shape == path.shape == (2,) and np.all((reg > 0) & (reg <= 1)) and np.all((path >= 0) & (path <= reg))
    assert np.all(path == 0) if path_zero else np.all(path > 0)
    d = darts.search(X, y, darts.SearchConfig(method="darts", epochs=1, batch_size=8, C=4, N=1))
    assert d["reg_share"] == [0.0] and d["path_share"] == [0.0]
