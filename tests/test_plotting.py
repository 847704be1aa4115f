"""convlib.plotting: the style changes nothing until use(); draw_dag draws each edge once, by kind."""
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.colors as mcolors  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib.patches import FancyArrowPatch  # noqa: E402

from convlib import dag as D  # noqa: E402
from convlib import plotting  # noqa: E402
from convlib.dag import FIGURE3

NB = "|nor_conv_3x3~0|+|skip_connect~0|none~1|+|avg_pool_3x3~0|nor_conv_1x1~1|none~2|"


def test_import_changes_no_rcparams():
    code = ("import matplotlib as m; before = dict(m.rcParams); import convlib.plotting; "
            "print(sum(before[k] != v for k, v in m.rcParams.items() if k in before))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0"


def test_palette_covers_every_kind():
    assert set(plotting.PALETTE) == set(D.KIND.values())


def _arrows(ax):
    return [p for p in ax.patches if isinstance(p, FancyArrowPatch)]


@pytest.mark.parametrize("arch", [*FIGURE3.values(), NB])
def test_one_arrow_per_nonzero_edge_coloured_by_kind(arch):
    fig, ax = plt.subplots()
    plotting.draw_dag(arch, ax=ax)
    arrows = _arrows(ax)
    edges = D.parse(arch).edges()
    assert len(arrows) == len(edges)
    got = sorted(mcolors.to_hex(a.get_edgecolor()) for a in arrows)
    want = sorted(mcolors.to_hex(plotting.PALETTE[D.KIND[op]]) for *_, op in edges)
    assert got == want
    plt.close(fig)


def test_zero_edges_dashed_on_request():
    fig, ax = plt.subplots()
    plotting.draw_dag(NB, ax=ax, show_zero=True)
    zero = [a for a in _arrows(ax) if mcolors.to_hex(a.get_edgecolor()) == plotting.PALETTE["zero"]]
    assert len(zero) == 2 and all(a.get_linestyle() == "--" for a in zero)
    plt.close(fig)


def test_fixed_layout_and_titles():
    ax = plotting.draw_dag("2_21_112")
    assert ax.get_title() == "2_21_112"
    assert [t.get_position()[0] for t in ax.texts] == [0.0, 1.0, 2.0, 3.0]
    assert plotting.draw_dag(NB).get_title() == "conv3x3 + skip,none + pool3x3,conv1x1,none"
    plt.close("all")


def test_use_sets_style():
    with matplotlib.rc_context():
        plotting.use()
        assert matplotlib.rcParams["axes.spines.top"] is False


def test_bad_arch_is_a_value_error():
    with pytest.raises(ValueError, match="malformed"):
        plotting.draw_dag("2_3")
