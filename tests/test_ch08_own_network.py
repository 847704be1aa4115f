"""Chapter 08's experiment (convlib.experiments.ch08_own_network) and the helpers its page calls (convlib.pages)."""
import importlib.metadata
import math

import numpy as np

from convlib.experiments.ch08_own_network import networks
from convlib.pages import ch08_own_network as ch08

TINY = "convlib.experiments.ch08_own_network."


def test_networks_scores_each_model_with_its_version():
    R = networks([TINY + "TinyResNet", TINY + "TinyDenseNet", TINY + "TinyResNet"], [])
    # TinyResNet(4 blocks) + stem and classifier: 2^4 paths of depth 2 + 2 j, j blocks taken: d = 4 + 2 = 6
    assert R["paths"] == ["16", "16", "16"] and R["depth"][0] == 6.0 and R["longest"][0] == 10
    # TinyDenseNet(4 layers) + stem and classifier: 2^4 paths, mean depth 4/2 + 2 = 4
    assert R["depth"][1] == 4.0 and R["layers"][1] == 6
    assert R["versions"] == [importlib.metadata.version("convlib")] * 3
    assert (R["seconds"] > 0).all()


def test_table_is_formatted_strings_without_nan():
    R = networks([TINY + "TinyResNet", TINY + "TinyDenseNet"], [])
    t = ch08.table(R).frame().set_index("model")
    assert list(t.index) == ["TinyResNet", "TinyDenseNet"]
    assert t.map(lambda v: isinstance(v, str) and "nan" not in v.lower()).all().all()
    assert t.loc["TinyResNet", "d"] == "6.00" and t.loc["TinyResNet", "log2 paths"] == "4"
    assert t.loc["TinyResNet", "path depths"] == "2\u201310" and t.loc["TinyDenseNet", "layers"] == "6"
    assert set(t["NB201 box"]) | set(t["DARTS box"]) <= {"in", "out"}


def test_facts_find_coinciding_models_and_count_boxes():
    R = networks([TINY + "TinyResNet", TINY + "TinyDenseNet", TINY + "TinyResNet"], [])
    cells = ch08.nb201_plane()
    f = ch08.facts(R, cells)
    assert f["same_dm"] == "TinyResNet and TinyResNet" and f["in_any_box"] == 0
    assert f["deepest"] == "TinyResNet" and math.isclose(f["most_paths_log2"], 4.0)
    assert cells["cells"].sum() == 15625 and f["nb201_live"] == 15625 - int(cells.loc[cells["d"] == 0, "cells"].sum())
    assert 0 < f["nb201_in_box"] < f["nb201_live"]
    assert f["extremes"] == "TinyResNet has both the most paths (log\u2082 P = 4) and the largest effective depth, 6.0"
    R["paths"] = np.array([16, 64, 16], dtype=object)  # the densest is no longer the deepest: both named
    assert ch08.facts(R, cells)["extremes"] == ("TinyDenseNet has the most paths (log\u2082 P = 6) and TinyResNet "
                                                "the largest effective depth, 6.0")


def test_display_names():
    assert [ch08.short("torchvision.models." + n) for n in ("resnet152", "wide_resnet50_2", "densenet201",
            "vgg16", "mobilenet_v2", "efficientnet_b0")] == ["ResNet-152", "WRN-50-2", "DenseNet-201", "VGG-16",
                                                             "MobileNetV2", "EfficientNet-B0"]
    assert ch08.short("path/to/mine.py:net") == "net"


def test_plane_figure_draws_every_model():
    R = networks([TINY + "TinyResNet", TINY + "TinyDenseNet"], [])
    fig = ch08.plane_figure(R, ch08.nb201_plane())
    ax = fig.axes[0]
    assert {t.get_text() for t in ax.texts} == {"TinyResNet", "TinyDenseNet"}
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert np.isclose(ax.collections[1].get_offsets(), np.column_stack([R["depth"], R["width"]])).all()


def test_facts_check_the_depth_in_a_name_against_the_longest_path():
    R = {"models": ["torchvision.models.resnet50", "torchvision.models.vgg16", "m.py:net"],
         "depth": np.array([28.0, 16.0, 1.0]), "width": np.array([2340.0, 0.0625, 1.0]),
         "paths": ["65536", "1", "1"], "longest": np.array([50, 15, 1]), "seconds": np.array([0.1, 0.2, 0.3]),
         "versions": ["0.29.1", "0.29.1", "-"], "torch": "2.14.1"}
    f = ch08.facts(R, ch08.nb201_plane())
    assert (f["named_depths"], f["named_equal"]) == (2, 1)
    assert f["named_example"] == "ResNet-50, 50 in its name and 50 on its longest path"  # the first that agrees
    R["longest"] = np.array([49, 15, 1])
    assert ch08.facts(R, ch08.nb201_plane())["named_example"] == "ResNet-50, 50 in its name and 49 on its longest path"
    assert (f["slowest"], f["deepest"], f["most_paths"], f["versions"]) == ("net", "ResNet-50", "ResNet-50", "torchvision 0.29.1")


BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


def test_nb201_network_composes_its_cells():
    """The benchmark network chains a stem conv, 3 x 5 cells, 2 reduction blocks (a two-conv branch beside
    a one-conv shortcut) and a classifier: P = 2^2 P_cell^15 and, depths adding along the chain,
    d = 1 + 15 d_cell + 2 (2 + 1) / 2 + 1."""
    from convlib import theory

    R = networks([], [BEST, "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"])
    d_cell, _ = theory.effective_depth_width(BEST)
    assert R["paths"][0] == str(4 * theory.n_paths(BEST) ** 15)
    assert math.isclose(R["depth"][0], 1 + 15 * d_cell + 3 + 1)
    assert R["paths"][1] == "4" and R["depth"][1] == 5.0  # skip-only cells: the reductions' two branches
    f = ch08.facts(R, ch08.nb201_plane())
    assert (f["nb201_cell_d"], f["nb201_cell_in_box"], f["nb201_net_d"]) == (d_cell, "inside", R["depth"][0])
    assert ch08.short(R["models"][0]) == "NAS-Bench-201 net (cell d = 1.75, m = 1.71)"


def test_residual_chain_meets_its_closed_forms():
    """B residual blocks of two convs: P = 2^B, d = B, m = (2^B - 1) / B, exactly."""
    c = ch08.residual_chain(50)
    assert c["chain_paths"] == "2\u2075\u2070 = 1,125,899,906,842,624" and c["chain_check"] == "equal to"
    assert c["chain_d"] == 50.0 and math.isclose(c["chain_m"], (2 ** 50 - 1) / 50)
    assert ch08.residual_chain(3)["chain_paths"] == "2\u00b3 = 8"
