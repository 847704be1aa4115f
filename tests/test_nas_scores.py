"""Training-free scores: an independent Jacobian for the NTK, hand cases for NASWOT and linear regions,
seeds, the no-path error, and the cache (score_cells) against scoring on the fly."""
import numpy as np
import pytest
import torch
from torch.func import functional_call, jacrev

from convlib import data
from convlib.nas import scores

SKIPS = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
MIXED = "|nor_conv_1x1~0|+|avg_pool_3x3~0|none~1|+|nor_conv_3x3~0|skip_connect~1|none~2|"


@pytest.fixture(scope="module")
def x():
    return scores.minibatch(8, 0)


@pytest.mark.requires_data("cifar10")
def test_ntk_cond_matches_an_independent_jacobian(x):
    net = scores.init_network(MIXED, 3, **scores.PROXY)
    for m in net.modules():  # train-mode BN without the running-stat update, which jacrev cannot trace
        if isinstance(m, torch.nn.BatchNorm2d):
            m.track_running_stats = False
    weights = {n: p.detach() for n, p in net.named_parameters() if "weight" in n}
    J = jacrev(lambda w: functional_call(net, w, (x,), strict=False).sum(1))(weights)
    J = torch.cat([j.flatten(1) for j in J.values()], 1).double()
    eig = torch.linalg.eigvalsh(J @ J.T).detach()  # biases still require grad under functional_call
    assert scores.ntk_cond(MIXED, x, 3) == pytest.approx(float(eig[-1] / eig[0]), rel=1e-6)


def _ntk_by_backward_per_image(net, x):
    """The NTK as it was first computed: one forward of the batch, then one backward per summed logit."""
    weights = [p for name, p in net.named_parameters() if "weight" in name]
    out = net.train()(x).sum(1)
    rows = []
    for i in range(len(x)):
        grads = torch.autograd.grad(out[i], weights, retain_graph=i < len(x) - 1, allow_unused=True)
        rows.append(torch.cat([g.flatten() for g in grads if g is not None]))
    J = torch.stack(rows).double()
    return (J @ J.T).detach()


SUPERNET = [("skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")] * 3 + [("none", "nor_conv_3x3")] * 3


CELLS = [SKIPS, SUPERNET, "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|none~2|",
         "|avg_pool_3x3~0|+|nor_conv_1x1~0|none~1|+|nor_conv_3x3~0|nor_conv_1x1~1|none~2|"]


@pytest.mark.requires_data("cifar10")
@pytest.mark.parametrize(("arch", "chunk"), [(a, 4) for a in CELLS] + [(MIXED, None), (MIXED, 1), (MIXED, 10)])
def test_vectorised_ntk_equals_a_backward_per_image(arch, chunk):
    """The pullbacks of ``ntk_of`` (vectorised in chunks of 4: 4, 4, 2; all 10 at once, as on a GPU; one
    after the other, the CPU default) against one backward per image, on cells and a supernet state:
    the same kernel to 1e-6 relative (float32 sums in another order), and the same condition number."""
    x = scores.minibatch(10, 1)
    net = scores.init_network(arch, 7, "cpu", **scores.PROXY)
    theta = scores.ntk_of(net, x, chunk)
    reference = _ntk_by_backward_per_image(net, x)
    assert theta.dtype == torch.float64 and theta.shape == (10, 10)
    assert float(torch.linalg.norm(theta - reference) / torch.linalg.norm(reference)) < 1e-6
    eig, ref = torch.linalg.eigvalsh(theta), torch.linalg.eigvalsh(reference)
    assert scores.ntk_cond_of(net, x) == pytest.approx(float(ref[-1] / ref[0]), rel=1e-6)
    assert float(eig[-1] / eig[0]) == pytest.approx(float(ref[-1] / ref[0]), rel=1e-6)


@pytest.mark.requires_data("cifar10")
def test_ntk_leaves_the_network_as_it_was():
    """``ntk_of`` turns the BN running-statistics update off while it traces and back on after."""
    net = scores.init_network(MIXED, 0, "cpu", **scores.PROXY)
    scores.ntk_of(net, scores.minibatch(4, 0))
    assert all(m.track_running_stats for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert net.training


@pytest.mark.requires_data("cifar10")
def test_naswot_is_the_log_determinant_of_agreeing_relu_units(x, monkeypatch):
    """Recomputed as the NASWOT release states it: binary codes c of every ReLU's input, K = c c^T +
    (1 - c)(1 - c)^T summed over ReLUs, score log|det K|, on the same (small) network."""
    monkeypatch.setitem(scores.NASWOT_NET, "C", 4)
    monkeypatch.setitem(scores.NASWOT_NET, "N", 1)
    net = scores.init_network(MIXED, 5, "cpu", **scores.NASWOT_NET)
    K = np.zeros((len(x), len(x)))

    def count(module, inputs, output) -> None:
        K[:] += _agreements(inputs[0])

    hooks = [m.register_forward_hook(count) for m in net.modules() if isinstance(m, torch.nn.ReLU)]
    with torch.no_grad():
        net(x)
    for h in hooks:
        h.remove()
    assert scores.naswot(MIXED, x, 5, "cpu") == pytest.approx(np.linalg.slogdet(K)[1], rel=1e-9)


def _agreements(a: torch.Tensor) -> np.ndarray:
    c = (a.flatten(1) > 0).double().numpy()
    return c @ c.T + (1 - c) @ (1 - c).T


@pytest.mark.requires_data("cifar10")
def test_scores_are_finite_without_a_parameterised_path_and_seeded(x):
    patches = scores.patches(0, 200)
    a = scores.naswot(SKIPS, x, 1), scores.ntk_cond(SKIPS, x, 1), scores.linear_regions(SKIPS, patches, 1)
    assert all(np.isfinite(v) for v in a)
    assert a == (scores.naswot(SKIPS, x, 1), scores.ntk_cond(SKIPS, x, 1), scores.linear_regions(SKIPS, patches, 1))
    assert scores.naswot(SKIPS, x, 2) != a[0]


@pytest.mark.requires_data("cifar10")
def test_disconnected_cell_is_a_clear_error(x):
    for fn, inp in ((scores.naswot, x), (scores.ntk_cond, x), (scores.linear_regions, scores.patches(0, 50))):
        with pytest.raises(ValueError, match="no input-to-output path"):
            fn(NONE, inp, 0)


@pytest.mark.requires_data("cifar10")
def test_linear_regions_hand_cases():
    same = torch.ones(50, 1, 3, 3)
    assert scores.linear_regions(MIXED, same, 0) == 1
    p = scores.patches(0, 300)
    assert p.shape == (300, 1, 3, 3)
    assert 1 < scores.linear_regions(MIXED, p, 0) <= 300


@pytest.mark.requires_data("cifar10")
def test_cache_equals_scoring_on_the_fly(monkeypatch):
    monkeypatch.setattr(scores, "NASWOT_BATCH", 8)
    monkeypatch.setattr(scores, "NTK_BATCH", 6)
    monkeypatch.setattr(scores, "LR_SAMPLES", 100)
    monkeypatch.setattr(scores, "LR_BATCHES", 1)
    cached = scores.score_cells([SKIPS, NONE, MIXED], 4)
    assert np.isnan(cached["naswot"][1]) and np.isnan(cached["ntk"][1])
    assert cached["naswot"][2] == scores.naswot(MIXED, scores.minibatch(8, 4), 4)
    assert cached["ntk"][0] == scores.ntk_cond(SKIPS, scores.minibatch(6, 4), 4)
    assert cached["regions"][2] == scores.linear_regions(MIXED, scores.patches(4, 100), 4)
    with pytest.raises(ValueError, match="unknown measures"):
        scores.score_cells([SKIPS], 0, ("synflow",))


@pytest.mark.requires_data("cifar10")
def test_augmented_minibatch_is_a_flip_and_shift_of_the_images_in_nb201_units():
    x = scores.augmented_minibatch(6, 3)
    assert x.shape == (6, 3, 32, 32) and torch.equal(x, scores.augmented_minibatch(6, 3))
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in data.CIFAR10_NORM)
    nb_mean, nb_std = (torch.tensor(v).view(1, 3, 1, 1) for v in scores.NB201_NORM)
    originals = (scores.minibatch(6, 3) * std + mean - nb_mean) / nb_std  # the same images, NB201 units
    black = (-nb_mean / nb_std)[0]  # a zero-padded pixel
    for img, orig in zip(x, originals):
        found = 0
        for flipped in (orig, orig.flip(-1)):
            padded = black.expand(3, 40, 40).clone()
            padded[:, 4:36, 4:36] = flipped
            found += sum(torch.allclose(img, padded[:, a:a + 32, b:b + 32], atol=1e-5)
                         for a in range(9) for b in range(9))
        assert found >= 1


def test_score_cells_marks_only_pathless_cells_nan_and_raises_other_errors(monkeypatch):
    monkeypatch.setattr(scores, "NASWOT_BATCH", 4)
    out = scores.score_cells([NONE, SKIPS], 0, ("naswot",))
    assert np.isnan(out["naswot"][0]) and out["naswot_s"][0] == 0 and np.isfinite(out["naswot"][1])
    monkeypatch.setattr(scores, "naswot", lambda *a: (_ for _ in ()).throw(ValueError("a bug")))
    with pytest.raises(ValueError, match="a bug"):
        scores.score_cells([SKIPS], 0, ("naswot",))


@pytest.mark.requires_data("cifar10")
def test_float32_ntk_condition_number_matches_float64_on_the_cpu():
    """On the CPU the float32 NTK condition number of TENAS' 72-image minibatch agrees with the float64 one
    to 1e-3 relative (4e-4 on the first cell, 1e-7 to 2e-6 on others tried), a tenth of the median gap of
    the GPU's TF32 convolutions (chapter 06): that gap is not float32 rounding."""
    x = scores.images(scores.minibatch(scores.NTK_BATCH, 0), 3)
    for arch in (MIXED, SKIPS):
        net = scores.init_network(arch, 0, "cpu", **scores.PROXY)
        single = scores.ntk_cond_of(net, x)
        double = scores.ntk_cond_of(net.double(), x.double())
        assert single == pytest.approx(double, rel=1e-3) and single != double
