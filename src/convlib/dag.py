"""Architectures as directed acyclic graphs (DAGs), in the two string forms of the book.

A network is a DAG over nodes ``0..N``: node 0 is the stem ``ReLU(W0 x)``, node ``t`` is the sum of
its in-edge outputs, the readout sits on node ``N``. Every edge ``s -> t`` (``s < t``) carries one
operation; each operation has a *kind*: ``linear`` (Linear then ReLU), ``skip`` (identity) or
``zero`` (no edge).

String forms
------------
* MLP form ``"2_21_112"``: the t-th ``_``-separated group lists node t's in-edges from nodes
  ``0..t-1`` with 0 = zero, 1 = skip, 2 = linear (Chen et al. 2022, Figure 3).
* NAS-Bench-201 form ``"|nor_conv_3x3~0|+|skip_connect~0|none~1|+|...|"`` (Dong and Yang 2020):
  ``op~s`` in group t is the edge ``s -> t``. In the MLP analogue of a cell, ``nor_conv_1x1`` and
  ``nor_conv_3x3`` are ``linear``, ``skip_connect`` and ``avg_pool_3x3`` are ``skip``, ``none`` is
  ``zero``.
"""
from __future__ import annotations

import itertools
import re
from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from typing import Iterable, Sequence, Union

import networkx as nx

MLP_OPS = ("zero", "skip", "linear")  # digit 0, 1, 2 of the MLP form
NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")  # benchmark order
KIND = {
    "zero": "zero", "skip": "skip", "linear": "linear",
    "none": "zero", "skip_connect": "skip", "avg_pool_3x3": "skip",
    "nor_conv_1x1": "linear", "nor_conv_3x3": "linear",
}
IDENTITY_OPS = ("skip", "skip_connect")
FIGURE3 = {"DAG#1": "2_02_002", "DAG#2": "1_01_222", "DAG#3": "2_21_112"}  # Chen et al. (2022), Figure 3
_MLP_GROUP = re.compile(r"[012]+")
_NB201_EDGE = re.compile(r"([a-z0-9_]+)~(0|[1-9][0-9]{0,5})")  # ASCII digits, no leading zeros, bounded
ECHO = 80  # characters of a user's input repeated in an error message


def shown(text: str) -> str:
    """``repr`` of user input for an error message: at most ``ECHO`` characters, then its length."""
    return repr(text) if len(text) <= ECHO else f"{text[:ECHO]!r}... ({len(text):,} characters)"


@dataclass(frozen=True)
class DAG:
    """A DAG network. ``ops[t-1][s]`` is the operation on edge ``s -> t``; ``form`` is ``"mlp"``
    or ``"nb201"`` and fixes the string the DAG formats back to."""

    ops: tuple[tuple[str, ...], ...]
    form: str

    def __post_init__(self):
        if self.form not in ("mlp", "nb201"):
            raise ValueError(f"DAG form must be 'mlp' or 'nb201', got {self.form!r}")
        allowed = MLP_OPS if self.form == "mlp" else NB201_OPS
        if not self.ops:
            raise ValueError("a DAG needs at least one node after the stem")
        for t, group in enumerate(self.ops, start=1):
            if len(group) != t:
                raise ValueError(f"node {t} must list {t} in-edges (from nodes 0..{t - 1}), got {len(group)}")
            for s, op in enumerate(group):
                if op not in allowed:
                    raise ValueError(f"unknown operation {op!r} on edge {s}->{t}; expected one of {allowed}")
        if self.form == "nb201" and len(self.ops) != 3:
            raise ValueError(f"a NAS-Bench-201 cell has 4 nodes (3 after the input), got {len(self.ops)}")

    # ------------------------------------------------------------------ structure
    @property
    def n_nodes(self) -> int:
        """Number of nodes after the stem, N (the output node is N)."""
        return len(self.ops)

    def op(self, s: int, t: int) -> str:
        return self.ops[t - 1][s]

    def kind(self, s: int, t: int) -> str:
        return KIND[self.ops[t - 1][s]]

    def edges(self, kind: str | None = None) -> list[tuple[int, int, str]]:
        """Every non-zero edge ``(s, t, op)`` in order of t then s; ``kind`` filters by kind."""
        return [(s, t, op) for t, group in enumerate(self.ops, start=1) for s, op in enumerate(group)
                if KIND[op] != "zero" and (kind is None or KIND[op] == kind)]

    @cached_property
    def graph(self) -> nx.DiGraph:
        """networkx view: nodes 0..N, one edge per non-zero operation, attributes ``op`` and ``kind``."""
        g = nx.DiGraph()
        g.add_nodes_from(range(self.n_nodes + 1))
        for s, t, op in self.edges():
            g.add_edge(s, t, op=op, kind=KIND[op])
        return g

    def as_mlp(self) -> "DAG":
        """The MLP analogue: every operation replaced by its kind (conv -> linear, pooling -> skip)."""
        return DAG(tuple(tuple(KIND[op] for op in g) for g in self.ops), "mlp")

    # ------------------------------------------------------------------ strings
    def to_string(self) -> str:
        """The string form the DAG was parsed from (round trip exact)."""
        if self.form == "mlp":
            return "_".join("".join(str(MLP_OPS.index(op)) for op in g) for g in self.ops)
        return "+".join("|" + "|".join(f"{op}~{s}" for s, op in enumerate(g)) + "|" for g in self.ops)

    def __str__(self) -> str:
        return self.to_string()

    @classmethod
    def from_edges(cls, n_nodes: int, edges: Iterable[tuple[int, int, str]]) -> "DAG":
        """Build a DAG with nodes ``0..n_nodes`` from ``(s, t, op)`` triples; absent pairs are zero.

        ``op`` is a kind (``linear``/``skip``/``zero``) or a NAS-Bench-201 operation name."""
        if not isinstance(n_nodes, int) or n_nodes < 1:
            raise ValueError(f"n_nodes must be a positive integer (nodes after the stem), got {n_nodes!r}")
        edges = list(edges)
        g = nx.DiGraph()
        g.add_nodes_from(range(n_nodes + 1))
        for e in edges:
            if len(e) != 3:
                raise ValueError(f"edge {e!r} must be a triple (source, target, op)")
            s, t, op = e
            for v in (s, t):
                if not isinstance(v, int) or not 0 <= v <= n_nodes:
                    raise ValueError(f"edge {e!r}: node {v!r} is out of range 0..{n_nodes}")
            if op not in KIND:
                raise ValueError(f"edge {e!r}: unknown operation {op!r}; expected one of {sorted(KIND)}")
            if g.has_edge(s, t):
                raise ValueError(f"edge {s}->{t} is given twice")
            g.add_edge(s, t, op=op)
        try:
            cycle = nx.find_cycle(g)
            raise ValueError("the graph has a cycle: " + " -> ".join(str(u) for u, _ in cycle) + f" -> {cycle[0][0]}")
        except nx.NetworkXNoCycle:
            pass
        backward = [(s, t) for s, t in g.edges if s >= t]
        if backward:
            raise ValueError(f"edges must go from a lower to a higher node index (topological order), got {backward}")
        names = {op for *_, op in edges}
        form = "mlp" if names <= set(MLP_OPS) else "nb201"
        if form == "nb201" and not names <= set(NB201_OPS):
            raise ValueError(f"mixed operation vocabularies {sorted(names)}: use kinds or NAS-Bench-201 names")
        blank = MLP_OPS[0] if form == "mlp" else NB201_OPS[0]
        ops = tuple(tuple(g.edges[s, t]["op"] if g.has_edge(s, t) else blank for s in range(t))
                    for t in range(1, n_nodes + 1))
        return cls(ops, form)


DAGLike = Union[DAG, str]


def parse(text: DAGLike) -> DAG:
    """Parse the MLP form (``"2_21_112"``) or a NAS-Bench-201 arch string; a DAG passes through."""
    if isinstance(text, DAG):
        return text
    if not isinstance(text, str):
        raise ValueError(f"expected an architecture string or DAG, got {type(text).__name__}")
    if text.startswith("|"):
        return _parse_nb201(text)
    groups = text.split("_")
    for t, group in enumerate(groups, start=1):
        if not _MLP_GROUP.fullmatch(group):
            raise ValueError(f"malformed MLP-DAG string {shown(text)}: group {t} {shown(group)} must use digits "
                             "0/1/2 only")
        if len(group) != t:
            raise ValueError(f"malformed MLP-DAG string {shown(text)}: group {t} must have {t} digits "
                             f"(in-edges from nodes 0..{t - 1}), got {len(group)}")
    return DAG(tuple(tuple(MLP_OPS[int(c)] for c in g) for g in groups), "mlp")


def _parse_nb201(text: str) -> DAG:
    groups = text.split("+")
    if len(groups) != 3:
        raise ValueError(f"malformed NAS-Bench-201 arch string {shown(text)}: expected 3 '+'-separated node groups")
    ops = []
    for t, group in enumerate(groups, start=1):
        if not (group.startswith("|") and group.endswith("|")) or len(group) < 2:
            raise ValueError(f"malformed NAS-Bench-201 arch string {shown(text)}: group {shown(group)} "
                             "must be '|op~i|...|'")
        items = group[1:-1].split("|")
        if len(items) != t:
            raise ValueError(f"malformed NAS-Bench-201 arch string {shown(text)}: node {t} needs {t} edges, "
                             f"got {len(items)}")
        row = []
        for s, item in enumerate(items):
            m = _NB201_EDGE.fullmatch(item)
            if not m:
                raise ValueError(f"malformed NAS-Bench-201 edge {shown(item)} in {shown(text)}: expected 'op~index' "
                                 "with the index in ASCII digits, no leading zeros")
            op, src = m.group(1), int(m.group(2))
            if op not in NB201_OPS:
                raise ValueError(f"unknown NAS-Bench-201 operation {shown(op)} in {shown(text)}; "
                                 f"expected one of {NB201_OPS}")
            if src != s:
                raise ValueError(f"bad input index in {shown(item)} of {shown(text)}: edge {s} of node {t} "
                                 f"must read '~{s}'")
            row.append(op)
        ops.append(tuple(row))
    return DAG(tuple(ops), "nb201")


# ---------------------------------------------------------------------- enumeration
def mlp_dags(n_nodes: int = 3) -> list[str]:
    """Every MLP-DAG with ``n_nodes`` nodes after the stem: ``3 ** (n (n + 1) / 2)`` strings.

    Order: ``itertools.product`` over the digits in string order (leftmost digit slowest), so the
    list starts ``0_00_000, 0_00_001, 0_00_002, 0_00_010`` and index ``i`` is ``i`` written in base 3."""
    if not isinstance(n_nodes, int) or not 1 <= n_nodes <= 6:
        raise ValueError(f"n_nodes must be an integer in 1..6, got {n_nodes!r}")
    sizes = range(1, n_nodes + 1)
    out = []
    for digits in itertools.product("012", repeat=sum(sizes)):
        s, groups = "".join(digits), []
        for k in sizes:
            groups.append(s[:k])
            s = s[k:]
        out.append("_".join(groups))
    return out


def nb201_cells() -> list[str]:
    """All 15,625 NAS-Bench-201 arch strings.

    Order: ``itertools.product`` over the six edges in string order (1<-0, 2<-0, 2<-1, 3<-0, 3<-1,
    3<-2, leftmost slowest), each edge over ``NB201_OPS`` in the benchmark's search-space order
    (none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3). So ``nb201_index`` is the
    base-5 number of the op indices. This is not the benchmark's own index order, which
    ``convlib.nas`` reads from the ground-truth file."""
    return [_nb201_string(combo) for combo in itertools.product(NB201_OPS, repeat=6)]


def _nb201_string(combo: Sequence[str]) -> str:
    a, b, c, d, e, f = combo
    return f"|{a}~0|+|{b}~0|{c}~1|+|{d}~0|{e}~1|{f}~2|"


def nb201_index(arch: DAGLike) -> int:
    """Position of a NAS-Bench-201 cell in ``nb201_cells()`` (base-5 digits of its op indices)."""
    dag = parse(arch)
    if dag.form != "nb201":
        raise ValueError(f"{dag.to_string()!r} is not a NAS-Bench-201 arch string")
    index = 0
    for group in dag.ops:
        for op in group:
            index = index * 5 + NB201_OPS.index(op)
    return index


def mlp_index(arch: DAGLike) -> int:
    """Position of an MLP-DAG in ``mlp_dags(n)`` (its digits read in base 3)."""
    dag = parse(arch)
    if dag.form != "mlp":
        raise ValueError(f"{dag.to_string()!r} is not an MLP-DAG string")
    return int(dag.to_string().replace("_", ""), 3)


# ---------------------------------------------------------------------- canonical form
def canonical(arch: DAGLike, by: str = "op") -> str:
    """A string equal for two DAGs exactly when they compute the same function class.

    Skip edges are identities and zero edges vanish, so each node's value is a sum (a multiset) of
    the stem ``x`` and of *operation vertices*, one per non-skip edge that reaches the output; each
    vertex applies its own parameters to its source node's sum. The form is the smallest encoding
    of that reduced graph over all orderings of its vertices (vertices are first sorted by their
    unfolded expression, and only ties are permuted), so isomorphic cells, cells that differ only
    in edges no output depends on, and cells that differ by a chain of skips all agree, while two
    branches that share a vertex stay apart from two independent ones.
    Operations have no bias, so an operation on a node that receives nothing outputs zero (for
    NAS-Bench-201 this ignores the learnable shift of the batch norm after a convolution).
    ``by="kind"`` canonicalises the MLP analogue (conv -> linear, pooling -> skip)."""
    if by not in ("op", "kind"):
        raise ValueError(f"by must be 'op' or 'kind', got {by!r}")
    dag = parse(arch)
    if by == "kind":
        dag = dag.as_mlp()
    value: list[Counter] = [Counter({"x": 1})]  # node -> multiset of atoms ("x" or vertex id)
    source: dict[int, tuple[str, int]] = {}  # vertex id -> (op, source node)
    for t, group in enumerate(dag.ops, start=1):
        acc: Counter = Counter()
        for s, op in enumerate(group):
            if op in IDENTITY_OPS:
                acc.update(value[s])
                continue
            if KIND[op] == "zero" or not value[s]:  # an operation on a zero node outputs zero
                continue
            vid = len(source)
            source[vid] = (op, s)
            acc[vid] += 1
        value.append(acc)
    out = value[-1]
    live, stack = set(), [a for a in out if a != "x"]
    while stack:
        v = stack.pop()
        if v not in live:
            live.add(v)
            stack.extend(a for a in value[source[v][1]] if a != "x")

    expr_memo: dict = {}

    def expr(atom) -> str:
        if atom == "x":
            return "x"
        if atom not in expr_memo:
            op, s = source[atom]
            expr_memo[atom] = op + "(" + _sum_str(value[s], expr) + ")"
        return expr_memo[atom]

    order = sorted(live, key=expr)
    ties = [list(g) for _, g in itertools.groupby(order, key=expr)]
    best = None
    for perm in itertools.product(*(itertools.permutations(g) for g in ties)):
        rank = {v: i for i, v in enumerate(itertools.chain.from_iterable(perm))}
        name = lambda a: "x" if a == "x" else f"v{rank[a]}"  # noqa: E731
        parts = [f"v{rank[v]}={source[v][0]}({_sum_str(value[source[v][1]], name)})"
                 for v in sorted(live, key=rank.get)]
        code = ";".join(parts + ["out=" + _sum_str(out, name)])
        if best is None or code < best:
            best = code
    return best


def _sum_str(counter: Counter, name) -> str:
    terms = sorted(f"{n}*{name(a)}" if n > 1 else name(a) for a, n in counter.items())
    return "+".join(terms) if terms else "0"
