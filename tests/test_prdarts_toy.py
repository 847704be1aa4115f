"""convlib.prdarts.toy: lambda_PR by hand, the Gram blocks against the Jacobian, gradient descent."""
import numpy as np
import pytest
import torch

from convlib.device import one_thread
from convlib.prdarts import toy


@pytest.fixture(autouse=True, scope="module")
def single_thread():
    """Tiny tensors: one intra-op thread avoids thread hand-off cost on a shared 2-core machine."""
    with one_thread():
        yield


def test_lambda_pr_hand_worked():
    e = np.array([[0.1, 0.6, 0.3],    # 0->1
                  [0.2, 0.5, 0.3],    # 0->2
                  [0.0, 0.7, 0.3],    # 1->2
                  [0.5, 0.1, 0.4],    # 0->3
                  [0.1, 0.1, 0.8],    # 1->3
                  [0.3, 0.2, 0.5]])   # 2->3
    cell = toy.dense_cell(e)
    assert cell.stems() == [0] and cell.sinks() == [3]
    base = 0.4 ** 2 + 0.8 ** 2 * 0.6 ** 2
    assert toy.lambda_pr(cell, "in_edges") == pytest.approx(base + 0.5 ** 2 * 0.5 ** 2 * 0.7 ** 2)
    assert toy.lambda_pr(cell, "chain") == pytest.approx(base + 0.5 ** 2 * 0.7 ** 2 * 0.6 ** 2)
    b = toy.two_branch(cell)  # branches {0, 1} and {2, 3}
    assert b.stems() == [0, 2] and b.sinks() == [1, 3]
    assert toy.lambda_pr(b) == pytest.approx(0.3 ** 2 + 0.5 ** 2)
    # binary cells from the MLP form: only conv edges into the last node whose source is fed by skips count
    assert toy.lambda_pr(toy.cell_from_dag("2_02_002"), "in_edges") == 0.0
    assert toy.lambda_pr(toy.cell_from_dag("1_11_222"), "in_edges") == 3.0
    assert toy.lambda_pr(toy.cell_from_dag("1_01_222"), "in_edges") == 2.0
    assert toy.lambda_pr(toy.cell_from_dag("1_01_222"), "chain") == 3.0
    with pytest.raises(ValueError, match="reading"):
        toy.lambda_pr(cell, "path")


def test_gram_blocks_equal_jacobian_gram():
    cells = [toy.dense_cell(a) for a in toy.random_alphas(4, 2, seed=2)]
    X = toy.unit_rows(torch.randn(5, 7, generator=torch.Generator().manual_seed(0)))
    net = toy.ToyNet(cells, 7, 16, seed=3)
    params = list(net.parameters())
    blocks = sum(toy.gram_blocks(net, X).values())
    for b in range(2):
        rows = [torch.cat([g[b].flatten() for g in torch.autograd.grad(net(X)[b, i], params)]) for i in range(5)]
        J = torch.stack(rows)
        assert torch.allclose(blocks[b], J @ J.T, atol=1e-10)
    # net b of a batch is the single net seeded seed + b
    single = toy.ToyNet(cells[1], 7, 16, seed=4)
    assert torch.allclose(single(X)[0], net(X)[1])
    eig = toy.gram_eigs(net, X)
    assert eig.shape == (2, 2) and np.all(0 < eig[:, 0]) and np.all(eig[:, 0] <= eig[:, 1] + 1e-12)  # G = G_last + PSD
    assert np.allclose(toy.gram_eigs_many(cells, X, 16, seed=3, budget_bytes=1), eig)
    with pytest.raises(ValueError, match="same edges"):
        toy.ToyNet([cells[0], toy.two_branch(cells[0])], 7, 16)
    # no conv into the last node: the kept block is empty; a skip-fed conv into it: positive definite
    eig = toy.gram_eigs(toy.ToyNet([toy.cell_from_dag("2_22_111"), toy.cell_from_dag("1_11_002")], 7, 16), X)
    assert eig[0, 0] == 0 and eig[1, 0] > 0 and np.all(eig[:, 1] > 0)


def test_gd_lowers_toy_loss():
    cells = [toy.dense_cell(a) for a in toy.random_alphas(4, 3, seed=0)]
    X = toy.unit_rows(torch.randn(8, 6, generator=torch.Generator().manual_seed(0)))
    y = torch.sign(torch.randn(8, generator=torch.Generator().manual_seed(1)))
    losses = toy.gd_losses(toy.ToyNet(cells, 6, 32, seed=0), X, y, eta=0.1, steps=40)
    assert losses.shape == (3, 41) and np.all(losses[:, -1] < losses[:, 0]) and np.all(toy.decay_rate(losses) > 0)
    # the nets of a batch train independently: net 1 alone (seed + 1) has the same curve
    alone = toy.gd_losses(toy.ToyNet(cells[1], 6, 32, seed=1), X, y, eta=0.1, steps=40)
    np.testing.assert_allclose(alone[0], losses[1], rtol=1e-10)


def test_decay_rate_and_unit_rows_by_hand():
    k = np.arange(11)
    losses = np.stack([2.0 * np.exp(-0.3 * k), 0.5 ** k, np.where(k < 5, 0.5 ** k, 1 / 32)])  # last: flat from k = 5
    np.testing.assert_allclose(toy.decay_rate(losses), [0.3, np.log(2), 0.0], rtol=1e-12, atol=1e-15)
    X = toy.unit_rows(torch.tensor([[3.0, 4.0], [0.0, -2.0]]))
    assert X.dtype == torch.float64 and torch.allclose(X, torch.tensor([[0.6, 0.8], [0.0, -1.0]], dtype=torch.float64))


def test_cells_by_hand_and_their_checks():
    e = np.arange(18, dtype=float).reshape(6, 3)  # edges 0->1, 0->2, 1->2, 0->3, 1->3, 2->3
    cell = toy.dense_cell(e)
    assert cell.h == 4 and np.array_equal(cell.alpha[2, 1], e[2]) and np.array_equal(cell.alpha[3, 0], e[3])
    assert cell.in_edges(3) == [0, 1, 2] and not cell.alpha[1, 2].any()
    onehot = toy.cell_from_dag("2_12_001")  # 0->1 conv; 0->2 skip, 1->2 conv; 2->3 skip
    assert onehot.alpha[1, 0].tolist() == [0, 0, 1] and onehot.alpha[2, 0].tolist() == [0, 1, 0]
    assert onehot.alpha[3, 0].tolist() == [1, 0, 0] and onehot.alpha[3, 2].tolist() == [0, 1, 0]
    alphas = toy.random_alphas(4, 5, seed=1)
    assert alphas.shape == (5, 6, 3) and np.allclose(alphas.sum(-1), 1) and np.all(alphas > 0)
    with pytest.raises(ValueError, match=r"\(h\(h-1\)/2, 3\)"):
        toy.dense_cell(np.ones((5, 3)))
    with pytest.raises(ValueError, match="earlier node"):
        toy.ToyCell(np.zeros((2, 2, 3)), np.array([[False, True], [False, False]]))
    with pytest.raises(ValueError, match="even"):
        toy.two_branch(toy.dense_cell(np.ones((3, 3))))
