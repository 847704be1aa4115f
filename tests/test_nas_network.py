"""The NAS-Bench-201 network against the benchmark's published parameter counts (CIFAR-10, 10 classes).

Dong and Yang (2020) give 0.073 MB for the smallest and 1.531 MB for the largest network (MB =
millions of parameters, BN affine parameters included). The benchmark API's ``params`` field holds
the exact figures, min/max over the space 0.073306 / 1.531546 on CIFAR-10 and 0.079156 / 1.537396
on CIFAR-100 (as tabulated from the API in public NAS-Bench-201 tooling)."""
import pytest
import torch

from convlib.dag import nb201_cells
from convlib.nas.network import OPS, Network, edge_ops, param_count

ALL_3x3 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
ALL_SKIP = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
RESNET = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|none~2|"


@pytest.mark.parametrize("classes, smallest, largest", [(10, 73306, 1531546), (100, 79156, 1537396)])
def test_smallest_and_largest_match_the_benchmark(classes, smallest, largest):
    assert param_count(Network(ALL_SKIP, num_classes=classes)) == smallest
    assert param_count(Network(ALL_3x3, num_classes=classes)) == largest


def test_counts_are_additive_per_conv_edge():
    # a 3x3 conv edge at width c costs 9c^2 + 2c (BN); a 1x1 edge c^2 + 2c; 5 cells per stage
    per3 = sum(5 * (9 * c * c + 2 * c) for c in (16, 32, 64))
    per1 = sum(5 * (c * c + 2 * c) for c in (16, 32, 64))
    base = param_count(Network(ALL_SKIP))
    assert param_count(Network(RESNET)) == base + 2 * per3
    mixed = "|nor_conv_1x1~0|+|avg_pool_3x3~0|none~1|+|nor_conv_3x3~0|skip_connect~1|nor_conv_1x1~2|"
    assert param_count(Network(mixed)) == base + per3 + 2 * per1


def test_the_count_depends_only_on_how_many_edges_are_1x1_and_3x3():
    # what chapter 06's param_counts assumes: build one network per (n_1x1, n_3x3) and look the rest up
    reference = {}
    for arch in nb201_cells()[::61]:
        key = (arch.count("nor_conv_1x1"), arch.count("nor_conv_3x3"))
        assert reference.setdefault(key, param_count(Network(arch))) == param_count(Network(arch)), arch


@pytest.mark.parametrize("arch", [ALL_3x3, ALL_SKIP, RESNET, "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"])
def test_forward_shape(arch):
    net = Network(arch, C=4, N=1)
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_supernet_state_and_ops():
    state = [("skip_connect", "nor_conv_3x3")] * 6
    net = Network(state, C=3, N=1)
    assert net(torch.randn(2, 3, 16, 16)).shape == (2, 10)
    for name, make in OPS.items():
        op = make(4, 8, 2)
        assert op(torch.randn(1, 4, 8, 8)).shape == (1, 8, 4, 4), name
    with pytest.raises(ValueError, match="non-empty"):
        edge_ops([("skip_connect",)] * 5)
    with pytest.raises(ValueError, match="unknown operation"):
        edge_ops([("conv_5x5",)] * 6)
