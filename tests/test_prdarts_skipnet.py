"""convlib.prdarts.skipnet: the Figure 2 analogue's cell wiring, skip placement, seeding and trainer."""
import numpy as np
import pytest
import torch

from convlib.device import one_thread
from convlib.prdarts import skipnet


@pytest.fixture(autouse=True, scope="module")
def single_thread():
    with one_thread():
        yield


def test_all_skip_cell_is_the_genotype_sum_by_hand():
    # nodes 2..5 = s0 + s1, 2 s0 + s1, 2 s0 + 2 s1, 2 s0 + 3 s1: their mean is 7 (s0 + s1) / 4
    cell = skipnet.SkipCell(3, [True] * 8)
    s0, s1 = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    assert torch.allclose(cell(s0, s1), 1.75 * (s0 + s1))
    with pytest.raises(ValueError, match="8 booleans"):
        skipnet.SkipCell(3, [True] * 7)


@pytest.mark.parametrize("fraction,k", [(0.0, 0), (0.375, 3), (0.625, 5), (1.0, 8)])
def test_each_cell_has_round_8f_skips(fraction, k):
    net = skipnet.SkipNet(3, 4, fraction, seed=1)
    for cell, skips in zip(net.cells, net.skips):
        identity = [isinstance(op, torch.nn.Identity) for op in cell.ops]
        assert sum(identity) == k and identity == skips.tolist()


def test_seed_fixes_skips_and_weights_and_leaves_the_global_generator_alone():
    torch.manual_seed(0)
    before = torch.rand(1)
    a, b = skipnet.SkipNet(2, 4, 0.375, seed=3), skipnet.SkipNet(2, 4, 0.375, seed=3)
    torch.manual_seed(0)
    assert torch.equal(torch.rand(1), before)
    x = torch.randn(5, 3, 8, 8)
    assert np.array_equal(a.skips, b.skips) and torch.equal(a(x), b(x)) and a(x).shape == (5, 10)
    assert not np.array_equal(a.skips, skipnet.SkipNet(2, 4, 0.375, seed=4).skips)
    with pytest.raises(ValueError, match="skip_fraction"):
        skipnet.SkipNet(1, 4, 1.5)


def test_train_curve_has_a_loss_per_step_and_learns_a_small_set():
    g = torch.Generator().manual_seed(0)
    X, y = torch.randn(32, 3, 8, 8, generator=g), torch.randint(0, 10, (32,), generator=g)
    curve = skipnet.train_curve(skipnet.SkipNet(1, 4, 0.375), X, y, epochs=12, batch_size=8, lr=0.05)
    again = skipnet.train_curve(skipnet.SkipNet(1, 4, 0.375), X, y, epochs=12, batch_size=8, lr=0.05)
    assert curve.shape == (48,) and np.array_equal(curve, again)
    assert curve[-4:].mean() < curve[:4].mean()
