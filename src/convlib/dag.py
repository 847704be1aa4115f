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
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

import networkx as nx
import numpy as np

from . import validate

KINDS = ("zero", "skip", "linear")  # what the theory distinguishes: no edge, an identity-like edge, a parameterised one
MLP_OPS = KINDS  # digit 0, 1, 2 of the MLP form
NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")  # benchmark order
KIND = {
    "zero": "zero", "skip": "skip", "linear": "linear",
    "none": "zero", "skip_connect": "skip", "avg_pool_3x3": "skip",
    "nor_conv_1x1": "linear", "nor_conv_3x3": "linear",
}
IDENTITY_OPS = ("skip", "skip_connect")  # skip-kind operations that pass their input on unchanged
FIGURE3 = {"DAG#1": "2_02_002", "DAG#2": "1_01_222", "DAG#3": "2_21_112"}  # Chen et al. (2022), Figure 3
FIGURE3_NAME = {code: name for name, code in FIGURE3.items()}  # "2_02_002" -> "DAG#1"
MAX_NODES = 2_000
"""Most nodes after the stem a DAG may have: N (N + 1) / 2 edge slots, 2 million here (a 2,000-node
string is 2 MB); every kernel of a larger one would need terabytes."""
MAX_SPACE_NODES = 5
"""``mlp_dags`` lists spaces up to this size: 3^15 = 14.3 million strings (6 nodes would be 3^21 = 1.05e10)."""
_MLP_GROUP = re.compile(r"[012]+")
_NB201_EDGE = re.compile(r"([a-z0-9_]+)~(0|[1-9][0-9]{0,8})")  # ASCII digits, no leading zeros


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
        if len(self.ops) > MAX_NODES:
            raise ValueError(f"a DAG may have at most {MAX_NODES:,} nodes after the stem, got {len(self.ops):,}")
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

    def as_mlp(self) -> DAG:
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
    def from_edges(cls, n_nodes: int, edges: Iterable[tuple[int, int, str]]) -> DAG:
        """Build a DAG with nodes ``0..n_nodes`` from ``(s, t, op)`` triples; absent pairs are zero.

        ``op`` is a kind (``linear``/``skip``/``zero``) or a NAS-Bench-201 operation name."""
        validate.integer(n_nodes, "n_nodes (nodes after the stem)", 1, MAX_NODES)
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


DAGLike = DAG | str


def shorten(text: str, limit: int = 80) -> str:
    """``repr(text)``, cut to its first ``limit`` characters plus ``'... (N characters)'`` when longer:
    user input echoed in a message stays one short line."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text):,} characters)"


def parse(text: DAGLike) -> DAG:
    """Parse the MLP form (``"2_21_112"``) or a NAS-Bench-201 arch string; a DAG passes through."""
    if isinstance(text, DAG):
        return text
    if not isinstance(text, str):
        raise ValueError(f"expected an architecture string or DAG, got {type(text).__name__}")
    if text.startswith("|") or "~" in text:  # "~" only occurs in NAS-Bench-201 strings
        return _parse_nb201(text)
    groups = text.split("_")
    for t, group in enumerate(groups, start=1):
        if not _MLP_GROUP.fullmatch(group):
            raise ValueError(f"malformed MLP-DAG string {shorten(text)}: group {t} {shorten(group)} must use digits "
                             "0/1/2 only")
        if len(group) != t:
            raise ValueError(f"malformed MLP-DAG string {shorten(text)}: group {t} must have {t} digits "
                             f"(in-edges from nodes 0..{t - 1}), got {len(group)}")
    return DAG(tuple(tuple(MLP_OPS[int(c)] for c in g) for g in groups), "mlp")


def _parse_nb201(text: str) -> DAG:
    if text != text.strip():
        raise ValueError(f"malformed NAS-Bench-201 arch string {shorten(text)}: leading or trailing white space")
    if "/" in text:
        raise ValueError(f"malformed NAS-Bench-201 arch string {shorten(text)}: edges are separated by '|', not '/'")
    if not text.startswith("|"):
        raise ValueError(f"malformed NAS-Bench-201 arch string {shorten(text)}: it must start with '|' "
                         "(such as '|nor_conv_3x3~0|+|...|')")
    groups = text.split("+")
    if len(groups) != 3:
        raise ValueError(f"malformed NAS-Bench-201 arch string {shorten(text)}: expected 3 '+'-separated node groups")
    ops = []
    for t, group in enumerate(groups, start=1):
        if not (group.startswith("|") and group.endswith("|")) or len(group) < 2:
            raise ValueError(f"malformed NAS-Bench-201 arch string {shorten(text)}: group {shorten(group)} must be "
                             "'|op~i|...|'")
        items = group[1:-1].split("|")
        if len(items) != t:
            raise ValueError(f"malformed NAS-Bench-201 arch string {shorten(text)}: node {t} needs {t} edges, "
                             f"got {len(items)}")
        row = []
        for s, item in enumerate(items):
            m = _NB201_EDGE.fullmatch(item)
            if not m:
                raise ValueError(f"malformed NAS-Bench-201 edge {shorten(item)} in {shorten(text)}: expected "
                                 "'op~index', the index in ASCII digits without leading zeros")
            op, src = m.group(1), int(m.group(2))
            if op not in NB201_OPS:
                raise ValueError(f"unknown NAS-Bench-201 operation {shorten(op)} in {shorten(text)}; expected one of "
                                 f"{NB201_OPS}")
            if src != s:
                raise ValueError(f"bad input index in {shorten(item)} of {shorten(text)}: edge {s} of node {t} must "
                                 f"read '~{s}'")
            row.append(op)
        ops.append(tuple(row))
    return DAG(tuple(ops), "nb201")


# ---------------------------------------------------------------------- enumeration
def mlp_dags(n_nodes: int = 3) -> list[str]:
    """Every MLP-DAG with ``n_nodes`` nodes after the stem: ``3 ** (n (n + 1) / 2)`` strings.

    Order: ``itertools.product`` over the digits in string order (leftmost digit slowest), so the
    list starts ``0_00_000, 0_00_001, 0_00_002, 0_00_010`` and index ``i`` is ``i`` written in base 3."""
    validate.integer(n_nodes, "n_nodes", 1, MAX_SPACE_NODES)
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
    return [DAG(((a,), (b, c), (d, e, f)), "nb201").to_string()
            for a, b, c, d, e, f in itertools.product(NB201_OPS, repeat=6)]


def nb201_index(arch: DAGLike) -> int:
    """Position of a NAS-Bench-201 cell in ``nb201_cells()`` (base-5 digits of its op indices)."""
    dag = parse(arch)
    if dag.form != "nb201":
        raise ValueError(f"{shorten(dag.to_string())} is not a NAS-Bench-201 arch string")
    index = 0
    for group in dag.ops:
        for op in group:
            index = index * 5 + NB201_OPS.index(op)
    return index


def mlp_index(arch: DAGLike) -> int:
    """Position of an MLP-DAG in ``mlp_dags(n)`` (its digits read in base 3)."""
    dag = parse(arch)
    if dag.form != "mlp":
        raise ValueError(f"{shorten(dag.to_string())} is not an MLP-DAG string")
    return int(dag.to_string().replace("_", ""), 3)


# ---------------------------------------------------------------------- canonical form
def canonical(arch: DAGLike, by: str = "op") -> str:
    """A string equal for two DAGs exactly when they compute the same function class.

    Skip edges are identities and zero edges vanish, so each node's value is a sum (a multiset) of
    the stem ``x`` and of *operation vertices*, one per non-skip edge that reaches the output; each
    vertex applies its own parameters to its source node's sum. The form is the smallest encoding
    of that reduced graph over the vertex orderings of a canonical labelling search (McKay 1981:
    colour refinement, then individualisation of one vertex of the first tied colour at a time;
    branches that an automorphism maps onto an explored one are skipped), so it is exact and, on
    these graphs, polynomial in practice. Isomorphic cells, cells that differ only in edges no output
    depends on, and cells that differ by a chain of skips all agree, while two branches that share a
    vertex stay apart from two independent ones.
    Operations have no bias, so an operation on a node that receives nothing outputs zero (for
    NAS-Bench-201 this ignores the learnable shift of the batch norm after a convolution).
    ``by="kind"`` canonicalises the MLP analogue (conv -> linear, pooling -> skip)."""
    if by not in ("op", "kind"):
        raise ValueError(f"by must be 'op' or 'kind', got {by!r}")
    dag = parse(arch)
    return _Reduced.of(dag.as_mlp() if by == "kind" else dag).canonical_code()


def function_classes(archs: Iterable[DAGLike], by: str = "op") -> np.ndarray:
    """The index of each architecture's function class (equal ``canonical`` forms), 0 .. classes - 1."""
    return np.unique([canonical(a, by) for a in archs], return_inverse=True)[1]


def repeated_skip_route(arch: DAGLike) -> bool:
    """True when, in the MLP analogue, some signal reaches a sum the output depends on along two or more
    routes of skip edges (k copies of one signal: kernel k^2 K, which the paper's recursion counts as
    k K); the multiplicities above 1 that the canonical form writes as ``k*``."""
    reduced = _Reduced.of(parse(arch).as_mlp())
    return any(n > 1 for total in (*reduced.inputs, reduced.out) for n in total.values())


@dataclass(frozen=True)
class _Reduced:
    """The reduced graph: vertex ``v`` applies ``ops[v]`` to the sum ``inputs[v]``; the output is the
    sum ``out``. A sum is a Counter over ``"x"`` (the stem) and vertex ids."""

    ops: tuple[str, ...]
    inputs: tuple[Counter, ...]
    out: Counter

    @classmethod
    def of(cls, dag: DAG) -> _Reduced:
        value: list[Counter] = [Counter({"x": 1})]  # node -> sum of atoms
        source: list[tuple[str, int]] = []  # vertex id -> (op, source node)
        for group in dag.ops:
            acc: Counter = Counter()
            for s, op in enumerate(group):
                if op in IDENTITY_OPS:
                    acc.update(value[s])
                elif KIND[op] != "zero" and value[s]:  # an operation on a zero node outputs zero
                    acc[len(source)] += 1
                    source.append((op, s))
            value.append(acc)
        live, stack = set(), [a for a in value[-1] if a != "x"]
        while stack:
            v = stack.pop()
            if v not in live:
                live.add(v)
                stack.extend(a for a in value[source[v][1]] if a != "x")
        new = {v: i for i, v in enumerate(sorted(live))}
        rename = lambda c: Counter({a if a == "x" else new[a]: n for a, n in c.items()})  # noqa: E731
        return cls(tuple(source[v][0] for v in sorted(live)), tuple(rename(value[source[v][1]]) for v in sorted(live)),
                   rename(value[-1]))

    @cached_property
    def consumers(self) -> tuple[tuple[tuple[int, int], ...], ...]:
        """``consumers[v]``: every ``(w, k)`` with ``v`` appearing ``k`` times in ``inputs[w]``."""
        found: list[list[tuple[int, int]]] = [[] for _ in self.ops]
        for w, inp in enumerate(self.inputs):
            for a, k in inp.items():
                if a != "x":
                    found[a].append((w, k))
        return tuple(map(tuple, found))

    @cached_property
    def neighbours(self) -> tuple[tuple, ...]:
        """Per vertex: ``(op, stem count, output count, vertex inputs (a, k), consumers (w, k))``."""
        return tuple((op, inp["x"], self.out[v], tuple((a, k) for a, k in inp.items() if a != "x"), self.consumers[v])
                     for v, (op, inp) in enumerate(zip(self.ops, self.inputs)))

    @cached_property
    def twins(self) -> tuple[int, ...]:
        """``twins[v]``: an id shared by vertices with the same op, inputs, output count and consumers.
        Swapping two twins is an automorphism that fixes every other vertex."""
        ids: dict = {}
        return tuple(ids.setdefault((op, frozenset(self.inputs[v].items()), self.out[v], self.consumers[v]), len(ids))
                     for v, op in enumerate(self.ops))

    def refine(self, colour: list[int]) -> list[int]:
        """Colour refinement: split colours by op, stem count, output count and the colours (with
        counts) of inputs and consumers until stable; colours are ranks of these invariant signatures."""
        while True:
            sig = [(colour[v], op, x, out, tuple(sorted((colour[a], k) for a, k in ins)),
                    tuple(sorted((colour[w], k) for w, k in cons)))
                   for v, (op, x, out, ins, cons) in enumerate(self.neighbours)]
            rank = {s: i for i, s in enumerate(sorted(set(sig)))}
            new = [rank[s] for s in sig]
            if len(rank) == len(set(colour)):
                return new
            colour = new

    def code(self, rank: list[int]) -> str:
        """The encoding under the labelling ``v -> v{rank[v]}``."""
        name = lambda a: "x" if a == "x" else f"v{rank[a]}"  # noqa: E731
        parts = [f"{name(v)}={self.ops[v]}({_sum_str(self.inputs[v], name)})"
                 for v in sorted(range(len(self.ops)), key=rank.__getitem__)]
        return ";".join(parts + ["out=" + _sum_str(self.out, name)])

    def orbits(self, automorphisms: list[tuple[int, ...]], fixed: set[int]) -> list[int]:
        """Orbit representative of each vertex under the known automorphisms that fix ``fixed``."""
        parent = list(range(len(self.ops)))

        def root(a: int) -> int:
            while parent[a] != a:
                parent[a] = parent[parent[a]]
                a = parent[a]
            return a

        for g in automorphisms:
            if all(g[f] == f for f in fixed):
                for a, b in enumerate(g):
                    if a != b:
                        parent[root(a)] = root(b)
        return [root(a) for a in range(len(self.ops))]

    def canonical_code(self) -> str:
        """Smallest ``code`` over the leaves of the individualisation-refinement search tree. A cell of
        twins is individualised whole, in index order, in one step: its members are interchangeable, so
        every order leads to the same leaves as the first (this keeps wide parallel DAGs shallow)."""
        leaves: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = []  # (code, order, path): first, best
        automorphisms: list[tuple[int, ...]] = []

        def search(colour: list[int], path: tuple[int, ...]) -> int:
            """Explore below the node reached by individualising ``path``; return the depth at which
            to go on (``len(path)``, or less when the rest of a subtree mirrors the first one)."""
            while True:
                colour = self.refine(colour)
                tied = [c for c, k in Counter(colour).items() if k > 1]
                if not tied:
                    break
                target = min(tied)
                cell = [u for u, c in enumerate(colour) if c == target]
                if len({self.twins[u] for u in cell}) > 1:
                    break
                place = {u: i for i, u in enumerate(cell)}
                colour = [(len(colour) + 1) * c + place.get(u, 0) for u, c in enumerate(colour)]
                path += tuple(cell)
            if not tied:
                code, order = self.code(colour), tuple(sorted(range(len(colour)), key=colour.__getitem__))
                for ref_code, ref_order, _ in set(leaves):
                    if code == ref_code:  # two leaves, one graph: their relabelling is an automorphism
                        automorphisms.append(tuple(o for _, o in sorted(zip(ref_order, order))))
                if not leaves:
                    leaves.extend([(code, order, path)] * 2)
                elif code == leaves[0][0]:  # this subtree maps onto the first path's: leave it
                    return next(d for d, (a, b) in enumerate(zip(path, leaves[0][2])) if a != b)
                elif code < leaves[1][0]:
                    leaves[1] = (code, order, path)
                return len(path)
            tried, known = [], -1
            for v in cell:
                if known < len(automorphisms):  # orbits change only when an automorphism is found
                    orbit, known = self.orbits(automorphisms, set(path)), len(automorphisms)
                if all(orbit[v] != orbit[u] for u in tried):
                    tried.append(v)
                    depth = search([2 * c + (u != v) for u, c in enumerate(colour)], path + (v,))
                    if depth < len(path):
                        return depth
            return len(path)

        search([0] * len(self.ops), ())
        return leaves[1][0]


def _sum_str(counter: Counter, name) -> str:
    terms = sorted(f"{n}*{name(a)}" if n > 1 else name(a) for a, n in counter.items())
    return "+".join(terms) if terms else "0"


__all__ = [
    "KINDS", "MLP_OPS", "NB201_OPS", "KIND", "IDENTITY_OPS", "FIGURE3", "FIGURE3_NAME", "DAG", "DAGLike", "shorten",
    "parse", "mlp_dags", "nb201_cells", "nb201_index", "mlp_index", "canonical", "function_classes",
    "repeated_skip_route",
]
