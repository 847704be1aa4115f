import itertools
import re
import time

import networkx as nx
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from convlib import dag, kernels, theory

CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def test_round_trip_every_mlp_dag_and_cell():
    for text in dag.mlp_dags(3) + dag.mlp_dags(2):
        assert dag.parse(text).to_string() == text
    for text in dag.nb201_cells():
        assert dag.parse(text).to_string() == text


def test_mlp_form_meaning():
    d = dag.parse("2_21_112")
    assert d.n_nodes == 3
    assert d.edges() == [(0, 1, "linear"), (0, 2, "linear"), (1, 2, "skip"),
                         (0, 3, "skip"), (1, 3, "skip"), (2, 3, "linear")]
    assert [(s, t) for s, t, _ in dag.parse("2_02_002").edges()] == [(0, 1), (1, 2), (2, 3)]
    assert sorted(dag.parse("1_01_222").graph.edges) == [(0, 1), (0, 3), (1, 2), (1, 3), (2, 3)]


def test_nb201_form_and_mlp_analogue():
    d = dag.parse("|nor_conv_1x1~0|+|avg_pool_3x3~0|none~1|+|skip_connect~0|nor_conv_3x3~1|none~2|")
    assert d.op(0, 2) == "avg_pool_3x3" and d.kind(0, 2) == "skip" and d.kind(1, 2) == "zero"
    assert d.as_mlp().to_string() == "2_10_120"


def test_enumeration_sizes_order_and_index():
    mlp = dag.mlp_dags(3)
    assert len(mlp) == 3 ** 6 == len(set(mlp))
    assert mlp[:4] == ["0_00_000", "0_00_001", "0_00_002", "0_00_010"] and mlp[-1] == "2_22_222"
    assert [dag.mlp_index(a) for a in mlp] == list(range(729))
    cells = dag.nb201_cells()
    assert len(cells) == 5 ** 6 == len(set(cells)) == 15625
    assert cells[0] == "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    assert cells[1] == "|none~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|"
    assert [dag.nb201_index(a) for a in cells[::97]] == list(range(0, 15625, 97))
    assert len(dag.mlp_dags(1)) == 3 and len(dag.mlp_dags(4)) == 3 ** 10


@pytest.mark.parametrize("bad, why", [
    ("", "group 1"), ("2_2_222", "group 2 must have 2 digits"), ("2_02_0023", "digits 0/1/2 only"), ("2_02_00", "group 3 must have 3 digits"),
    ("3_00_000", "digits 0/1/2"), ("2__002", "group 2"), ("2_02_00a", "digits"),
    ("|nor_conv_3x3~0|+|nor_conv_3x3~0|conv~1|+|none~0|none~1|none~2|", "unknown NAS-Bench-201 operation 'conv'"),
    ("|nor_conv_3x3~0|+|nor_conv_3x3~0|none~0|+|none~0|none~1|none~2|", "must read '~1'"),
    ("|nor_conv_3x3~0|+|nor_conv_3x3~0|+|none~0|none~1|none~2|", "node 2 needs 2 edges"),
    ("|none~0|+|none~0|none~1|", "3 '+'-separated"),
    ("|none~0|+|none~0|none1|+|none~0|none~1|none~2|", "expected 'op~index'"),
])
def test_malformed_strings_raise_clear_errors(bad, why):
    with pytest.raises(ValueError, match=re.escape(why)):
        dag.parse(bad)


def test_parse_rejects_non_strings():
    with pytest.raises(ValueError, match="architecture string or DAG"):
        dag.parse(123)


def test_from_edges_builds_and_validates():
    d = dag.DAG.from_edges(3, [(0, 1, "linear"), (1, 2, "linear"), (2, 3, "linear")])
    assert d.to_string() == "2_02_002"
    cell = dag.DAG.from_edges(3, [(0, 1, "nor_conv_3x3"), (1, 3, "skip_connect")])
    assert cell.to_string() == "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|skip_connect~1|none~2|"
    with pytest.raises(ValueError, match="cycle"):
        dag.DAG.from_edges(3, [(0, 1, "linear"), (1, 2, "skip"), (2, 1, "linear")])
    with pytest.raises(ValueError, match="out of range 0..3"):
        dag.DAG.from_edges(3, [(0, 4, "linear")])
    with pytest.raises(ValueError, match="given twice"):
        dag.DAG.from_edges(2, [(0, 1, "linear"), (0, 1, "skip")])
    with pytest.raises(ValueError, match="lower to a higher"):
        dag.DAG.from_edges(2, [(0, 2, "linear"), (2, 1, "linear")])
    with pytest.raises(ValueError, match="unknown operation"):
        dag.DAG.from_edges(2, [(0, 1, "conv")])
    with pytest.raises(ValueError, match="cycle"):
        dag.DAG.from_edges(2, [(1, 1, "skip")])


def test_unreachable_output_is_legal():
    d = dag.parse("2_20_000")
    assert d.edges() and not d.graph.in_edges(3)
    assert dag.canonical(d) == "out=0"


# ---------------------------------------------------------------------- canonical form
def relabel(text: str, order: list[int]) -> dag.DAG:
    """The same DAG with intermediate node ``order[i]`` renamed ``i + 1`` (order must stay topological)."""
    d = dag.parse(text)
    new = {0: 0, d.n_nodes: d.n_nodes, **{old: i + 1 for i, old in enumerate(order)}}
    return dag.DAG.from_edges(d.n_nodes, [(new[s], new[t], op) for s, t, op in d.edges()])


def topological_orders(d: dag.DAG) -> list[list[int]]:
    inner = range(1, d.n_nodes)
    return [list(p) for p in itertools.permutations(inner)
            if all(p.index(s) < p.index(t) for s, t, _ in d.edges() if 0 < s and t < d.n_nodes)]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from("012"), min_size=10, max_size=10))
def test_canonical_is_invariant_under_relabelling(digits):
    text = "_".join("".join(digits[k * (k - 1) // 2: k * (k + 1) // 2]) for k in range(1, 5))
    d = dag.parse(text)
    X = torch.randn(4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    for order in topological_orders(d):
        other = relabel(text, order)
        assert dag.canonical(other) == dag.canonical(d)
        assert torch.allclose(kernels.nngp(other, X), kernels.nngp(d, X), rtol=1e-12, atol=1e-12)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.integers(5, 12).flatmap(lambda n: st.tuples(
    st.lists(st.sampled_from("00112"), min_size=n * (n + 1) // 2, max_size=n * (n + 1) // 2),
    st.lists(st.floats(0, 1), min_size=n, max_size=n))))
def test_canonical_is_invariant_under_relabelling_larger_dags(drawn):
    """A random topological relabelling of a 5- to 12-node DAG keeps its canonical form."""
    digits, priority = drawn
    n = len(priority)
    text = mlp_string(n, lambda s, t: digits[t * (t - 1) // 2 + s])
    d = dag.parse(text)
    inner = nx.DiGraph([(s, t) for s, t, _ in d.edges() if 0 < s and t < n])
    inner.add_nodes_from(range(1, n))
    order = list(nx.lexicographical_topological_sort(inner, key=priority.__getitem__))
    assert dag.canonical(relabel(text, order)) == dag.canonical(text)


def test_canonical_drops_edges_that_reach_no_output_and_skip_chains():
    # an edge into a node that no output depends on changes nothing
    assert dag.canonical("2_22_200") == dag.canonical("2_00_200")
    # a chain of skips is the identity
    assert dag.canonical("1_01_002") == dag.canonical("0_00_200") == dag.canonical("2")
    # two skip paths from the same node scale it: not the same class as one
    assert dag.canonical("1_11") != dag.canonical("1_01")


def test_function_classes_number_the_canonical_forms():
    # out = lin(x) twice (a dead edge, then one node); 2x; the identity
    classes = dag.function_classes(["2_22_200", "2", "1_11", "1_01"])
    assert classes[0] == classes[1] and len(set(classes[[0, 2, 3]])) == 3 and sorted(set(classes)) == [0, 1, 2]
    # the four-node MLP-DAGs of one class share depth, width and kernel: the claims count a class once
    space = dag.mlp_dags(3)
    classes = dag.function_classes(space, by="kind")
    dw = torch.tensor([theory.effective_depth_width(a) for a in space])
    X = torch.randn(5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    for c in range(classes.max() + 1):
        members = [i for i in range(len(space)) if classes[i] == c]
        assert torch.equal(dw[members], dw[members[:1]].expand(len(members), 2))
        K = kernels.nngp(space[members[0]], X)
        assert all(torch.allclose(kernels.nngp(space[i], X), K, rtol=1e-12, atol=1e-12) for i in members[-2:])


def test_canonical_keeps_shared_and_independent_branches_apart():
    # independent: out = lin_a(x) + lin_b(x); shared: out = 2 lin_a(x) (node 2 is a skip of node 1)
    independent = "2_20_011"
    shared = "2_01_011"
    assert dag.canonical(independent) != dag.canonical(shared)
    X = torch.randn(5, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    # the infinite-width NNGP sees the difference too: 2 V + 2 mu mu^T against 4 V
    assert not torch.allclose(kernels.nngp(independent, X), kernels.nngp(shared, X))
    # ... but not always: two linear edges out of a shared or an independent node have equal limits
    assert dag.canonical("2_01_022") != dag.canonical("2_20_022")
    assert torch.allclose(kernels.nngp("2_01_022", X), kernels.nngp("2_20_022", X), rtol=1e-12)


def test_same_canonical_class_means_same_kernels_and_counts():
    """Every class of the canonical form has one NNGP and one NTK (an independent check of both),
    and the counts the book reports: 729 MLP-DAGs form 99 function classes with 78 distinct kernels."""
    X = torch.randn(5, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    mlp = dag.mlp_dags(3)
    K, T = kernels.nngp_many(mlp, X), kernels.ntk_many(mlp, X)
    by_class: dict[str, int] = {}
    for i, text in enumerate(mlp):
        j = by_class.setdefault(dag.canonical(text), i)
        assert torch.allclose(K[i], K[j], rtol=1e-12, atol=1e-12) and torch.allclose(T[i], T[j], rtol=1e-12, atol=1e-12)
    kernel_keys = {tuple(torch.round(torch.cat([K[i].flatten(), T[i].flatten()]) * 1e8).long().tolist()) for i in range(729)}
    assert len(by_class) == 99
    assert len(kernel_keys) == 78
    assert len({dag.canonical(c, by="kind") for c in dag.nb201_cells()}) == 99


def test_nb201_canonical_counts():
    cells = dag.nb201_cells()
    classes = {dag.canonical(c) for c in cells}
    assert len(classes) == 5425
    # pooling is not an identity in the CNN: a pool and a skip are different classes
    assert dag.canonical("|avg_pool_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|skip_connect~2|") != \
        dag.canonical("|skip_connect~0|+|none~0|skip_connect~1|+|none~0|none~1|skip_connect~2|")
    # swapping the two intermediate nodes (no edge between them) is an isomorphism
    a = "|nor_conv_1x1~0|+|nor_conv_3x3~0|none~1|+|none~0|avg_pool_3x3~1|skip_connect~2|"
    b = "|nor_conv_3x3~0|+|nor_conv_1x1~0|none~1|+|none~0|skip_connect~1|avg_pool_3x3~2|"
    assert dag.canonical(a) == dag.canonical(b)


def test_canonical_rejects_bad_mode():
    with pytest.raises(ValueError, match="by must be"):
        dag.canonical("2", by="shape")


# ---------------------------------------------------------------------- canonical form: exactness and speed
def reduced_graph(text: str, by: str = "op") -> nx.DiGraph:
    """The reduced graph of ``canonical``'s docstring, derived independently by counting paths: one
    vertex per non-skip edge ``(s, t)``, fed by every atom (the stem ``x`` entering at node 0, a vertex
    entering at its target) as many times as there are skip-only paths from the atom's node to ``s``;
    vertices with nothing to feed them vanish (repeatedly), and only what ``out`` depends on stays."""
    d = dag.parse(text).as_mlp() if by == "kind" else dag.parse(text)
    skips = nx.DiGraph([(s, t) for s, t, op in d.edges() if op in dag.IDENTITY_OPS])
    skips.add_nodes_from(range(d.n_nodes + 1))

    def skip_paths(u: int, v: int) -> int:
        return 1 if u == v else sum(1 for _ in nx.all_simple_paths(skips, u, v))

    vertices = [(s, t) for s, t, op in d.edges() if op not in dag.IDENTITY_OPS]
    home = {"x": 0, **{v: v[1] for v in vertices}}  # the node where each atom enters
    reads = {**{v: v[0] for v in vertices}, "out": d.n_nodes}  # the node whose sum each consumer reads
    R = nx.DiGraph()
    R.add_nodes_from([("x", {"op": "x"}), ("out", {"op": "out"})] + [(v, {"op": d.op(*v)}) for v in vertices])
    for consumer, node in reads.items():
        for atom, start in home.items():
            if k := skip_paths(start, node):
                R.add_edge(atom, consumer, mult=k)
    while dead := [v for v in R if v not in ("x", "out") and R.in_degree(v) == 0]:
        R.remove_nodes_from(dead)
    return R.subgraph(nx.ancestors(R, "out") | {"x", "out"}).copy()


def isomorphic(a: nx.DiGraph, b: nx.DiGraph) -> bool:
    return nx.is_isomorphic(a, b, node_match=lambda u, v: u["op"] == v["op"], edge_match=lambda u, v: u["mult"] == v["mult"])


@pytest.mark.filterwarnings("ignore:The hashes produced for directed graphs changed")
@pytest.mark.parametrize("space, by", [(dag.mlp_dags(2), "op"), (dag.mlp_dags(3), "op"),
                                       (dag.nb201_cells()[::41], "op"), (dag.nb201_cells()[::41], "kind")])
def test_canonical_agrees_with_brute_force_isomorphism(space, by):
    """Equal strings exactly when networkx finds the reduced graphs isomorphic, over every pair: pairs
    with different Weisfeiler-Lehman hashes (an isomorphism invariant) are not isomorphic, so their
    strings must differ; pairs with equal hashes are checked one by one."""
    graphs = [reduced_graph(a, by) for a in space]
    codes = [dag.canonical(a, by) for a in space]
    hashes = [nx.weisfeiler_lehman_graph_hash(g, edge_attr="mult", node_attr="op") for g in graphs]
    assert all(len({h for h, c in zip(hashes, codes) if c == code}) == 1 for code in set(codes))
    for h in set(hashes):
        group = [i for i, g in enumerate(hashes) if g == h]
        for i, j in itertools.combinations(group, 2):
            assert (codes[i] == codes[j]) == isomorphic(graphs[i], graphs[j]), (space[i], space[j])


def mlp_string(n_nodes: int, digit) -> str:
    """The MLP form whose edge ``s -> t`` has digit ``digit(s, t)``."""
    return "_".join("".join(str(digit(s, t)) for s in range(t)) for t in range(1, n_nodes + 1))


def sums_of_pairs(pairs: list[tuple[int, int]]) -> str:
    """Nodes 1..a are independent ``linear(x)`` (a the largest index in ``pairs``); node a+k sums
    (skips) the nodes ``pairs[k-1]``; the output applies a linear edge to each of those sums."""
    a = max(map(max, pairs))
    n = a + len(pairs) + 1
    inputs = {a + k: set(p) for k, p in enumerate(pairs, start=1)}
    return mlp_string(n, lambda s, t: 2 if (t <= a and s == 0) or (t == n and s > a) else int(s in inputs.get(t, ())))


HEXAGON = [(1, 2), (2, 3), (3, 4), (4, 5), (5, 6), (6, 1)]
TRIANGLES = [(1, 2), (2, 3), (3, 1), (4, 5), (5, 6), (6, 4)]


def shift(pairs: list[tuple[int, int]], by: int) -> list[tuple[int, int]]:
    return [(i + by, j + by) for i, j in pairs]


def test_canonical_separates_graphs_colour_refinement_cannot():
    """A hexagon and two triangles of sums: every vertex sees the same colours around it, so colour
    refinement alone cannot tell them apart; the individualisation search must, and must agree on
    relabelled copies even when the first vertex it tries differs (hexagon first or triangles first)."""
    hexagon, triangles = sums_of_pairs(HEXAGON), sums_of_pairs(TRIANGLES)
    relabelled = sums_of_pairs([(4, 1), (1, 6), (6, 3), (3, 2), (2, 5), (5, 4)])  # another hexagon
    assert not isomorphic(reduced_graph(hexagon), reduced_graph(triangles))
    assert isomorphic(reduced_graph(hexagon), reduced_graph(relabelled))
    assert dag.canonical(hexagon) != dag.canonical(triangles)
    assert dag.canonical(hexagon) == dag.canonical(relabelled)
    hexagon_first = sums_of_pairs(HEXAGON + shift(TRIANGLES, 6))
    triangles_first = sums_of_pairs(TRIANGLES + shift(HEXAGON, 6))
    assert isomorphic(reduced_graph(hexagon_first), reduced_graph(triangles_first))
    assert dag.canonical(hexagon_first) == dag.canonical(triangles_first)
    assert dag.canonical(hexagon_first) != dag.canonical(sums_of_pairs(HEXAGON + shift(HEXAGON, 6)))


TIED = "1_10_100_1000_10000_100000_1000000_10000000_100000000_2222222222"  # the repro


@pytest.mark.parametrize("text, vertices", [
    (TIED, 10),                                                                     # 10 tied vertices
    (mlp_string(20, lambda s, t: 2 if (s == 0 and t < 20) or (t == 20 and s > 0) else 0), 38),  # 19 parallel chains
    (mlp_string(28, lambda s, t: 1 if s == 0 and t < 28 else 2 * (t == 28)), 28),  # 28 tied vertices
    (mlp_string(28, lambda s, t: 2), 28 * 29 // 2),                                 # every edge linear
    (mlp_string(28, lambda s, t: 1), 0),                                            # every edge a skip: 2^27 x
])
def test_canonical_of_large_dags_is_fast(text, vertices):
    start = time.perf_counter()
    code = dag.canonical(text)
    assert time.perf_counter() - start < 1.0
    assert code.count(";") == vertices


def test_canonical_of_the_repro_by_hand():
    names = sorted(f"v{i}" for i in range(10))
    assert dag.canonical(TIED) == ";".join(f"v{i}=linear(x)" for i in range(10)) + ";out=" + "+".join(names)
    assert dag.canonical(mlp_string(28, lambda s, t: 1)) == f"out={2 ** 27}*x"


# ---------------------------------------------------------------------- parsers on hostile input
NONE_CELL = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"


@pytest.mark.parametrize("index", ["00", "01", "٠", "\u0661", "０", "\uff11", "-0", " 1", "1" * 5000, ""])
def test_nb201_input_indices_are_ascii_digits_without_leading_zeros(index):
    text = NONE_CELL.replace("none~1|+|none~0", f"none~{index}|+|none~0", 1)
    with pytest.raises(ValueError, match="expected 'op~index', the index in ASCII digits without leading zeros"):
        dag.parse(text)


def test_shorten_keeps_short_text_and_cuts_long_text():
    assert dag.shorten("2_21") == "'2_21'"
    assert dag.shorten("x" * 81) == "'" + "x" * 80 + "'... (81 characters)"
    assert dag.shorten("é" * 100_000, limit=3) == "'ééé'... (100,000 characters)"


@pytest.mark.parametrize("huge", ["2" + "_" + "0" * 100_000, "2_21_" + "3" * 100_000, "|" + "a" * 100_000,
                                  "|" + "none~0" * 20_000 + "|+|none~0|none~1|+|none~0|none~1|none~2|",
                                  NONE_CELL.replace("none~2", "none~" + "2" * 100_000),
                                  NONE_CELL.replace("none~2", "x" * 100_000 + "~2")])
def test_errors_on_huge_strings_echo_at_most_a_short_excerpt(huge):
    with pytest.raises(ValueError) as err:
        dag.parse(huge)
    assert len(str(err.value)) < 500 and "characters)" in str(err.value)


def test_repeated_skip_route_by_hand_and_as_the_canonical_multiplicity():
    assert dag.repeated_skip_route("1_11")           # node 2 = x + x: two skip routes from the stem
    assert dag.repeated_skip_route("2_01_011")       # the linear edge 0->1 reaches node 3 twice (directly and via 2)
    assert not dag.repeated_skip_route("2_02_002") and not dag.repeated_skip_route("1_01_222")
    assert not dag.repeated_skip_route("1_11_000")   # repeated, but nothing reaches the output from there
    for arch in dag.mlp_dags(3):
        assert dag.repeated_skip_route(arch) == ("*" in dag.canonical(arch, by="kind")), arch
