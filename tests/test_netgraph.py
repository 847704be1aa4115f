"""convlib.netgraph: the operation graph of a traced module and its path counts.

Checked against ``theory.effective_depth_width`` on NAS-Bench-201 cells and DAG-MLPs, against closed
forms on hand-worked blocks, and against brute-force path enumeration on random graphs."""
import itertools
import math

import networkx as nx
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from convlib import dag, netgraph, theory
from convlib.experiments.ch08_own_network import TinyDenseNet, TinyResNet
from convlib.mlp import DAGMLP
from convlib.nas.network import Cell


def dm(c: netgraph.Connectivity) -> tuple[float, float]:
    return c.effective_depth, c.effective_width


# ------------------------------------------------------------------ the DP on hand-made graphs
def op_dag(n: int, edges, param: set) -> nx.MultiDiGraph:
    """Nodes input, 1..n, output; ``edges`` (u, v) with u < v over 0..n+1 (0 = input, n+1 = output)."""
    name = {0: netgraph.INPUT, n + 1: netgraph.OUTPUT}
    g = nx.MultiDiGraph()
    for v in range(n + 2):
        g.add_node(name.get(v, v), parameterised=v in param)
    g.add_edges_from((name.get(u, u), name.get(v, v)) for u, v in edges)
    return g


def brute_force(g: nx.MultiDiGraph) -> tuple[int, int, int]:
    """(P, S, Q) by listing every input-output path, parallel edges counted."""
    depths = [sum(g.nodes[v]["parameterised"] for _, v, _ in path)
              for path in nx.all_simple_edge_paths(g, netgraph.INPUT, netgraph.OUTPUT)]
    return len(depths), sum(depths), sum(d > 0 for d in depths)


@st.composite
def random_op_dags(draw):
    n = draw(st.integers(0, 6))
    pairs = [(u, v) for u in range(n + 2) for v in range(u + 1, n + 2)]
    edges = [p for p in pairs for _ in range(draw(st.integers(0, 2)))]
    param = set(draw(st.sets(st.integers(1, max(n, 1)), max_size=n)))
    return op_dag(n, edges, param)


@settings(max_examples=200, deadline=None)
@given(random_op_dags())
def test_connectivity_equals_path_enumeration(g):
    c = netgraph.connectivity(g)
    assert (c.paths, c.depth_sum, c.deep_paths) == brute_force(g)
    if c.depth_sum:
        assert c.effective_depth == c.depth_sum / c.paths
        assert math.isclose(c.effective_width, c.deep_paths * c.paths / c.depth_sum)
    else:
        assert dm(c) == (0.0, 0.0)


def test_connectivity_two_branch_block_by_hand():
    # input -> 1 (conv) -> 2 (conv) -> 3 (add) <- input; output <- 3: paths of depth 2 and 0
    g = op_dag(3, [(0, 1), (1, 2), (2, 3), (0, 3), (3, 4)], {1, 2})
    c = netgraph.connectivity(g)
    assert (c.paths, c.depth_sum, c.deep_paths, c.shortest, c.longest, c.layers) == (2, 2, 1, 0, 2, 2)
    assert dm(c) == (1.0, 1.0)


def test_connectivity_rejects_cycles_and_counts_no_path_as_zero():
    g = op_dag(2, [(0, 1), (1, 2), (2, 1), (2, 3)], {1})
    with pytest.raises(ValueError, match="acyclic"):
        netgraph.connectivity(g)
    c = netgraph.connectivity(op_dag(1, [(0, 1)], {1}))  # the output is not reached
    assert (c.paths, dm(c), c.layers) == (0, (0.0, 0.0), 0)


# ------------------------------------------------------------------ hand-worked modules
@pytest.mark.parametrize("blocks", [1, 2, 5, 60])
def test_residual_stack_closed_form(blocks):
    """k two-conv residual blocks: paths are the 2^k subsets of blocks taken, depth 2 per block taken:
    P = 2^k, S = 2 k 2^(k-1), Q = 2^k - 1 (exact integers: 2^60 paths are never listed)."""
    c = netgraph.score(TinyResNet(blocks, head=False))
    assert (c.paths, c.depth_sum, c.deep_paths) == (2 ** blocks, blocks * 2 ** blocks, 2 ** blocks - 1)
    assert (c.shortest, c.longest, c.layers) == (0, 2 * blocks, 2 * blocks)
    assert dm(c) == (float(blocks), (2 ** blocks - 1) / blocks)


@pytest.mark.parametrize("layers", [1, 2, 3, 8])
def test_dense_block_closed_form(layers):
    """A dense block of L conv layers, each on the concatenation of the input and every earlier layer,
    the block's output the concatenation of all: a path is a subset of layers, depth its size, so
    P = 2^L, S = L 2^(L-1), Q = 2^L - 1; L = 2 by hand: x, x-f1, x-f2, x-f1-f2 give d = 1, m = 3."""
    c = netgraph.score(TinyDenseNet(layers, head=False))
    assert (c.paths, c.depth_sum, c.deep_paths) == (2 ** layers, layers * 2 ** (layers - 1), 2 ** layers - 1)
    assert (c.shortest, c.longest, c.layers) == (0, layers, layers)
    if layers == 2:
        assert dm(c) == (1.0, 3.0)


def test_heads_add_their_layers_to_every_path():
    """The stem conv and the classifier lie on every path: depth + 2, the longest path the named depth."""
    body, full = netgraph.score(TinyResNet(3, head=False)), netgraph.score(TinyResNet(3))
    assert full.paths == body.paths and full.depth_sum == body.depth_sum + 2 * body.paths
    assert (full.shortest, full.longest, full.layers) == (2, 8, 8) and full.deep_paths == full.paths


class Chain(nn.Module):
    """One of each operation kind on a single path; parameterised: conv, linear, F.linear, @ weight."""

    def __init__(self):
        super().__init__()
        self.conv, self.bn = nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4)
        self.ln, self.gn, self.prelu = nn.LayerNorm(4), nn.GroupNorm(2, 4), nn.PReLU()
        self.fc = nn.Linear(4, 4)
        self.w, self.b, self.scale = (nn.Parameter(torch.ones(4, 4)), nn.Parameter(torch.zeros(4)),
                                      nn.Parameter(torch.ones(4)))

    def forward(self, x):
        h = self.prelu(self.gn(F.max_pool2d(torch.relu(self.bn(self.conv(x))), 2)))
        h = nn.functional.dropout(F.adaptive_avg_pool2d(h, 1), 0.1, self.training)
        h = self.ln(h.view(h.size(0), -1))     # size() carries no path: one edge into view
        h = self.fc(h) + self.b * self.scale    # a bias add is not a layer
        h = F.linear(h, self.w) * self.scale    # a per-channel scale is not a layer
        h = torch.flatten(h @ self.w.T, 1)      # a product with a weight is
        return h + torch.zeros_like(h) + h.mul(0.0)  # zero edges


def test_rule_pins_what_is_parameterised():
    g = netgraph.op_graph(Chain())
    params = sorted(d["op"] for _, d in g.nodes(data=True) if d["parameterised"])
    assert params == ["Conv2d", "Linear", "linear", "matmul"]
    kinds = {d["op"] for _, d in g.nodes(data=True) if not d["parameterised"]}
    assert {"BatchNorm2d", "LayerNorm", "GroupNorm", "PReLU", "relu", "max_pool2d", "view", "flatten"} <= kinds
    c = netgraph.connectivity(g)
    assert (c.paths, c.depth_sum, c.layers) == (1, 4, 4)


def test_products_and_concatenations_merge_paths_with_multiplicity():
    class Gate(nn.Module):  # squeeze-excitation-like gate: x * sigmoid(fc(x)), then cat([y, y])
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 3)

        def forward(self, x):
            y = x * torch.sigmoid(self.fc(x))
            return torch.cat([y, y], 1)

    c = netgraph.score(Gate())
    assert (c.paths, c.depth_sum, c.deep_paths) == (4, 2, 2)


@pytest.mark.parametrize("module", [nn.LSTM(3, 3), nn.Embedding(5, 3), nn.MultiheadAttention(4, 2)])
def test_modules_with_other_weights_are_refused(module):
    class Wrap(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = module

        def forward(self, x):
            return self.inner(x)

    with pytest.raises(ValueError, match="neither a convolution"):
        netgraph.score(Wrap())


def test_control_flow_on_shapes_needs_an_example_and_on_values_fails():
    class ShapeBranch(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 1)

        def forward(self, x):
            return self.conv(x) + x if x.shape[1] == 3 else x

    class ValueBranch(nn.Module):
        def forward(self, x):
            return x if x.sum() > 0 else -x

    with pytest.raises(ValueError, match="cannot trace ShapeBranch.*control flow"):
        netgraph.score(ShapeBranch())
    assert dm(netgraph.score(ShapeBranch(), (1, 3, 4, 4))) == (0.5, 2.0)
    for shape in (None, (2, 3)):
        with pytest.raises(ValueError, match="cannot trace ValueBranch"):
            netgraph.score(ValueBranch(), shape)
    with pytest.raises(TypeError, match="torch.nn.Module"):
        netgraph.trace(lambda x: x)


# ------------------------------------------------------------------ against convlib.theory
def cell_score(arch: str) -> tuple[float, float]:
    with torch.device("meta"):
        cell = Cell(arch, 1)
    return dm(netgraph.score(cell, (1, 1, 2, 2)))


def kind_representatives() -> list[str]:
    """One cell per pattern of edge kinds (3^6 = 729: zero, not parameterised, parameterised), the
    concrete operation of a kind rotating with the pattern's index so every operation meets every edge."""
    ops = {"zero": ["none"], "skip": ["skip_connect", "avg_pool_3x3"], "linear": ["nor_conv_1x1", "nor_conv_3x3"]}
    cells = []
    for i, kinds in enumerate(itertools.product(ops, repeat=6)):
        chosen = [ops[k][(i + e) % len(ops[k])] for e, k in enumerate(kinds)]
        cells.append("+".join("|" + "|".join(f"{chosen[e]}~{s}" for e, s in group) + "|"
                              for group in ([(0, 0)], [(1, 0), (2, 1)], [(3, 0), (4, 1), (5, 2)])))
    return cells


def test_every_kind_pattern_of_nb201_cells_equals_theory():
    cells = kind_representatives()
    assert len(set(cells)) == 729 and all(dag.parse(a).form == "nb201" for a in cells)
    assert {dag.canonical(a, by="kind") for a in cells} == {dag.canonical(a, by="kind") for a in dag.nb201_cells()}
    for arch in cells:
        assert cell_score(arch) == theory.effective_depth_width(arch), arch


@pytest.mark.slow
def test_every_nb201_cell_without_none_equals_theory():
    """All 4^6 = 4,096 cells whose edges all hold an operation (every operation on every edge,
    traced without an example input); the cells with ``none`` edges, 11,529 more, need the example's
    meta evaluation (about 40 ms a cell) and are covered by their kind patterns above."""
    cells = [a for a in dag.nb201_cells() if "none" not in a]
    assert len(cells) == 4 ** 6
    for arch in cells:
        assert dm(netgraph.score(Cell(arch, 1))) == theory.effective_depth_width(arch), arch


def with_stem_and_readout(mlp: str) -> str:
    """The MLP-DAG string of the whole traced network: the stem ``ReLU(W0 x)`` and the readout become
    linear edges into a new first node and out of a new last node (every path gains 2 layers)."""
    groups = mlp.split("_")
    return "_".join(["2"] + ["0" + g for g in groups] + ["0" * (len(groups) + 1) + "2"])


def test_every_four_node_dag_mlp_equals_theory():
    assert theory.effective_depth_width(with_stem_and_readout("2_02_002")) == (5.0, 0.2)  # one path, 5 layers
    for arch in dag.mlp_dags(3):
        c = netgraph.score(DAGMLP(arch, 2, 2), (1, 2))
        assert c.paths == theory.n_paths(arch), arch
        assert dm(c) == theory.effective_depth_width(with_stem_and_readout(arch)), arch


# ------------------------------------------------------------------ building a model by name
def test_build_by_name_and_by_file(tmp_path):
    m = netgraph.build("convlib.experiments.ch08_own_network.TinyResNet", {"blocks": 2})
    assert isinstance(m, TinyResNet) and next(m.parameters()).is_meta
    f = tmp_path / "mine.py"
    f.write_text("from torch import nn\ndef net(w=3):\n    return nn.Linear(w, 2)\ndef three():\n    return 3\n")
    assert netgraph.score(netgraph.build(f"{f}:net", {"w": 4})).layers == 1
    for spec, kwargs, match in [(f"{f}:three", None, "returned int"), (f"{f}:nope", None, "no callable"),
                                (f"{tmp_path}/absent.py:net", None, "no file"), ("no_such_pkg.net", None, "cannot import"),
                                (f"{f}:net", {"bad": 1}, "unexpected keyword"), ("resnet", None, "expected")]:
        with pytest.raises(ValueError, match=match):
            netgraph.build(spec, kwargs)


# ------------------------------------------------------------------ the command line
TINY = "convlib.experiments.ch08_own_network.TinyResNet"


def run_cli(capsys, *args):
    from convlib.__main__ import main

    try:
        rc = main(["score", *args])
    except SystemExit as exit_:  # argparse's errors
        rc = exit_.code
    out, err = capsys.readouterr()
    return rc, out, err


def test_cli_model_prints_exact_path_counts_and_boxes(capsys):
    import json

    rc, out, err = run_cli(capsys, "--model", TINY, "--model-kwargs", '{"blocks": 70}')
    assert rc == 0 and not err
    r = json.loads(out)
    assert r["paths"] == 2 ** 70 and isinstance(r["paths"], int)  # exact beyond 64 bits
    assert r["effective_depth"] == 72.0 and r["parameterised_layers"] == 142 and r["longest_path_depth"] == 142
    assert r["in_nb201_box"] is False and r["in_darts_box"] is False and "centre" in r["box_caveat"]
    assert r["boxes"]["darts"] == {"depth": [0.5, 1.6], "width": [4.0, 12.0]}


def test_cli_model_in_the_nb201_box(capsys, tmp_path):
    """A cell-sized block lands in the box: one conv branch beside a skip, d = 0.5 + ... by hand."""
    import json

    f = tmp_path / "cellish.py"
    f.write_text("from convlib.nas.network import Cell\n"
                 "def cell():\n    return Cell('|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|"
                 "+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|', 2)\n")
    rc, out, _ = run_cli(capsys, "--model", f"{f}:cell", "--input-shape", "1,2,4,4")
    r = json.loads(out)
    assert rc == 0 and r["input_shape"] == [1, 2, 4, 4]
    # paths 0-3 (0), 0-1-3 (2), 0-2-3 (2), 0-1-2-3 (2): d = 6/4 = 1.5, m = 3/1.5 = 2
    assert (r["effective_depth"], r["effective_width"], r["paths"]) == (1.5, 2.0, 4)
    assert r["in_nb201_box"] is True and r["in_darts_box"] is False


@pytest.mark.requires_data("cifar10")
def test_cli_model_naswot_on_data(capsys):
    import json

    from convlib import data
    from convlib.nas.scores import naswot_of

    rc, out, _ = run_cli(capsys, "--model", TINY, "--data", "cifar10", "--n", "8", "--seed", "3")
    r = json.loads(out)
    assert rc == 0 and r["input_shape"] == [8, 3, 32, 32] and (r["data"], r["n"], r["seed"]) == ("cifar10", 8, 3)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        net = TinyResNet().train()
    assert r["naswot"] == naswot_of(net, data.load_images("cifar10", "train", n=8, seed=3)[0])


@pytest.mark.parametrize("args, match", [
    (["--model", "no_such_pkg.net"], "cannot import no_such_pkg"),
    (["--model", "convlib.theory.MAX_PATHS"], "no callable"),
    (["--model", "convlib.dag.nb201_cells"], "returned list, not a torch.nn.Module"),
    (["--model", "convlib.nas.network.Cell", "--model-kwargs",
      '{"arch": "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "C": 1}'], "cannot trace Cell"),
    (["--model", TINY, "--model-kwargs", "[1]"], "expected a JSON object"),
    (["--model", TINY, "--input-shape", "1,x"], "positive integers"),
    (["2_21_112", "--model", TINY], "one of ARCH and --model"),
    ([], "one of ARCH and --model"),
])
def test_cli_model_errors_exit_2_with_one_line(capsys, args, match):
    rc, out, err = run_cli(capsys, *args)
    assert rc == 2 and not out
    assert match in err and len(err.strip().splitlines()) == 1
