"""Effective depth and width of any network ``torch.fx`` can trace (Chen et al. 2022, Definition 4.1,
Eq. 13), by dynamic programming over its graph of tensor operations: no path is ever listed.

**The graph** (``op_graph``): the operations of the traced forward pass that depend on the input (the
forward's first argument) and reach the output, from the node ``"input"`` to the node ``"output"``
(every returned tensor feeds it). An operation has one in-edge per occurrence of an input-dependent
tensor among its arguments, so additions, concatenations and products all merge paths. It is

* **parameterised** (``RULE``) when it is a convolution or a linear layer (a ``Linear``, ``Bilinear`` or
  ``Conv*`` module, or a functional linear / convolution / matrix product one of whose operands is
  derived from an ``nn.Parameter``): Remark 4.2 of Chen et al. counts conv and fully connected layers;
* not parameterised otherwise: identity, addition, concatenation, pooling, activation, reshaping,
  and normalisation (BatchNorm, LayerNorm, GroupNorm, RMSNorm; their affine weights are per-channel
  scales, not layers), and PReLU; a module holding other weights (RNNs, attention, embeddings) is an
  error, as no rule says how many layers it is;
* absent (a zero edge) when its output does not depend on the input's values: ``zeros_like`` and
  friends, ``x.new_zeros``, ``x.size()``, ``x.shape``, and ``x * 0`` (NAS-Bench-201's ``none``).

**The counts** (``connectivity``), per node ``v`` over the paths from the input to ``v``, as exact
Python integers: the number of paths ``P_v``, the sum of their depths ``S_v`` (a path's depth is its
number of parameterised nodes) and the number with depth > 0, ``Q_v``:

    P_in = 1,  P_v = sum_{u -> v} P_u,  S_v = sum_{u -> v} S_u + [v param] P_v,
    Q_v = P_v if v is parameterised else sum_{u -> v} Q_u,

so that ``d = S_out / P_out`` and ``m = Q_out / d`` (both 0 when ``S_out = 0``), the definitions of
``theory.effective_depth_width``; also the shortest and longest path depth.
"""
from __future__ import annotations

import copy
import importlib
import importlib.util
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import torch
import torch.nn.functional as F
from torch import fx, nn

RULE = ("parameterised: Conv*/Linear/Bilinear modules and functional linear, convolution and matrix "
        "products with a parameter operand; not: identity, addition, concatenation, pooling, activation, "
        "reshaping, normalisation (Remark 4.2 of Chen et al. 2022)")
PARAMETERISED_MODULES = (nn.Linear, nn.Bilinear, nn.modules.conv._ConvNd)
UNPARAMETERISED_MODULES = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.RMSNorm, nn.PReLU)
PRODUCTS = {F.linear, F.bilinear, F.conv1d, F.conv2d, F.conv3d, F.conv_transpose1d, F.conv_transpose2d,
            F.conv_transpose3d, torch.matmul, torch.mm, torch.bmm, torch.einsum, torch.addmm, torch.baddbmm,
            torch.tensordot, operator.matmul, "matmul", "mm", "bmm", "__matmul__"}
CONSTANT_OUTPUT = {torch.zeros_like, torch.ones_like, torch.empty_like, torch.full_like, torch.rand_like,
                   torch.randn_like, torch.randint_like, torch.numel, "size", "dim", "numel", "new_zeros",
                   "new_ones", "new_empty", "new_full", "new_tensor"}
METADATA = {"shape", "dtype", "device", "ndim", "layout", "is_cuda", "requires_grad"}
INPUT, OUTPUT = "input", "output"


class _Tracer(fx.Tracer):
    """``fx.Tracer`` that, given an example input shape, settles Python control flow on shapes
    (``if x.shape[1] == C``) by evaluating the graph so far on meta tensors; control flow on values
    still fails. While it runs, ``torch.is_tensor`` is true of traced tensors and ``torch.as_tensor``
    returns one unchanged (as both do for a tensor)."""

    def __init__(self, example_shape: Sequence[int] | None):
        super().__init__()
        self.example_shape = None if example_shape is None else tuple(int(s) for s in example_shape)
        self.values: dict[fx.Node, object] = {}
        self.meta_root: nn.Module | None = None

    def trace(self, root, concrete_args=None):
        is_tensor, as_tensor = torch.is_tensor, torch.as_tensor
        torch.is_tensor = lambda obj: isinstance(obj, (torch.Tensor, fx.Proxy))
        torch.as_tensor = lambda obj, *a, **kw: obj if isinstance(obj, fx.Proxy) and not (a or kw) else as_tensor(
            obj, *a, **kw)
        try:
            return super().trace(root, concrete_args)
        finally:
            torch.is_tensor, torch.as_tensor = is_tensor, as_tensor

    def to_bool(self, obj: fx.Proxy) -> bool:
        if self.example_shape is None:
            return super().to_bool(obj)
        try:
            return bool(self._value(obj.node))
        except (RuntimeError, NotImplementedError) as err:
            raise fx.proxy.TraceError(f"control flow depends on tensor values ({err})") from err

    def _value(self, node: fx.Node):
        """The value of ``node`` for a meta input of ``example_shape`` (weights moved to meta once)."""
        if self.meta_root is None:  # a copy: the tracer turns the root's own parameters into proxies
            self.meta_root = copy.deepcopy(self.root).to("meta")
        env = self.values
        for n in self.graph.nodes:
            if n not in env:
                args, kwargs = fx.node.map_arg((n.args, n.kwargs), env.__getitem__)
                if n.op == "placeholder":
                    first = next(iter(self.graph.nodes)) is n
                    env[n] = torch.empty(self.example_shape, device="meta") if first else n.args[0] if n.args else None
                elif n.op == "get_attr":
                    env[n] = operator.attrgetter(n.target)(self.meta_root)
                elif n.op == "call_module":  # forward, not __call__: the tracer patches Module.__call__
                    env[n] = self.meta_root.get_submodule(n.target).forward(*args, **kwargs)
                elif n.op == "call_method":
                    env[n] = getattr(args[0], n.target)(*args[1:], **kwargs)
                else:
                    env[n] = n.target(*args, **kwargs)
            if n is node:
                return env[n]
        raise KeyError(node)


def trace(module: nn.Module, example_shape: Sequence[int] | None = None) -> fx.GraphModule:
    """``torch.fx`` graph of ``module``; with ``example_shape`` (the input's shape), Python control flow
    on shapes is settled for that shape. ``ValueError`` names the module when fx cannot trace it."""
    if not isinstance(module, nn.Module):
        raise TypeError(f"expected a torch.nn.Module, got {type(module).__name__}")
    tracer = _Tracer(example_shape)
    try:
        graph = tracer.trace(module)
    except Exception as err:  # fx raises TraceError, TypeError, AttributeError... from user code
        raise ValueError(f"torch.fx cannot trace {type(module).__name__}: {type(err).__name__}: {err}") from err
    return fx.GraphModule(tracer.root, graph)


def _operands(node: fx.Node) -> list[fx.Node]:
    """Every Node among ``node``'s arguments, nested ones included, once per occurrence."""
    found: list[fx.Node] = []
    fx.node.map_arg((node.args, node.kwargs), found.append)
    return found


def _constant_output(node: fx.Node) -> bool:
    """True when the output ignores the values of its inputs (a zero edge)."""
    if node.op not in ("call_function", "call_method"):
        return False
    if node.target in CONSTANT_OUTPUT:
        return True
    if node.target is getattr:
        return node.args[1] in METADATA
    if node.target in (operator.mul, torch.mul, "mul"):
        return any(isinstance(a, (int, float)) and a == 0 for a in node.args)
    return False


def op_graph(module: nn.Module | fx.GraphModule, example_shape: Sequence[int] | None = None) -> nx.MultiDiGraph:
    """The DAG of input-dependent operations of ``module`` from ``"input"`` to ``"output"`` (only nodes
    on some input-output path), each node with ``parameterised`` (``RULE``) and ``op`` (what it runs);
    parallel edges are repeated operands."""
    gm = module if isinstance(module, fx.GraphModule) else trace(module, example_shape)
    g = nx.MultiDiGraph()
    g.add_nodes_from(((INPUT, {"parameterised": False, "op": "input"}),
                      (OUTPUT, {"parameterised": False, "op": "output"})))
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    data: dict[fx.Node, str] = {placeholders[0]: INPUT} if placeholders else {}  # input-dependent nodes
    weighted: set[fx.Node] = set()     # constants derived from an nn.Parameter
    for node in gm.graph.nodes:
        operands = _operands(node)
        inputs = [data[a] for a in operands if a in data]
        if node.op == "placeholder":
            continue
        if node.op == "get_attr":
            if isinstance(operator.attrgetter(node.target)(gm), nn.Parameter):
                weighted.add(node)
            continue
        if node.op == "output":
            g.add_edges_from((u, OUTPUT) for u in inputs)
            break
        if not inputs or _constant_output(node):
            if any(a in weighted for a in operands):
                weighted.add(node)
            continue
        g.add_node(node.name, parameterised=_parameterised(gm, node, operands, weighted), op=_describe(gm, node))
        g.add_edges_from((u, node.name) for u in inputs)
        data[node] = node.name
    keep = (nx.descendants(g, INPUT) | {INPUT}) & (nx.ancestors(g, OUTPUT) | {OUTPUT})
    return g.subgraph(keep | {INPUT, OUTPUT}).copy()


def _parameterised(gm: fx.GraphModule, node: fx.Node, operands: list[fx.Node], weighted: set[fx.Node]) -> bool:
    if node.op == "call_module":
        mod = gm.get_submodule(node.target)
        if isinstance(mod, PARAMETERISED_MODULES):
            return True
        if isinstance(mod, UNPARAMETERISED_MODULES) or not any(True for _ in mod.parameters()):
            return False
        raise ValueError(f"module {node.target!r} ({type(mod).__name__}) holds weights but is neither a "
                         f"convolution, a linear layer nor a normalisation: the rule ({RULE}) does not say "
                         "how many layers it is")
    return node.target in PRODUCTS and any(a in weighted for a in operands)


def _describe(gm: fx.GraphModule, node: fx.Node) -> str:
    if node.op == "call_module":
        return type(gm.get_submodule(node.target)).__name__
    return node.target if isinstance(node.target, str) else getattr(node.target, "__name__", str(node.target))


@dataclass(frozen=True)
class Connectivity:
    """Path counts from the input to the output, exact: ``paths`` (P), ``depth_sum`` (S, the sum over
    paths of their number of parameterised nodes), ``deep_paths`` (Q, paths with depth > 0), the
    ``shortest`` and ``longest`` path depth, and ``layers`` (parameterised nodes on some path)."""

    paths: int
    depth_sum: int
    deep_paths: int
    shortest: int
    longest: int
    layers: int

    @property
    def effective_depth(self) -> float:
        """``d = S / P`` (0 when S = 0)."""
        return self.depth_sum / self.paths if self.depth_sum else 0.0

    @property
    def effective_width(self) -> float:
        """``m = Q / d`` (0 when S = 0), rounded as ``theory.effective_depth_width`` rounds it."""
        return self.deep_paths / self.effective_depth if self.depth_sum else 0.0


def connectivity(g: nx.MultiDiGraph) -> Connectivity:
    """``Connectivity`` of an operation DAG with nodes ``"input"`` and ``"output"`` and a boolean
    ``parameterised`` per node, in one pass in topological order (see the module docstring)."""
    if not nx.is_directed_acyclic_graph(g):
        raise ValueError("the operation graph must be acyclic")
    state: dict = {INPUT: (1, 0, 0, 0, 0)}  # P, S, Q, shortest, longest
    for v in nx.topological_sort(g):
        ins = [state[u] for u, _ in g.in_edges(v) if u in state]
        if v == INPUT or not ins:
            continue
        P, S, Q = (sum(s[i] for s in ins) for i in range(3))
        lo, hi = min(s[3] for s in ins), max(s[4] for s in ins)
        if g.nodes[v].get("parameterised", False):
            S, Q, lo, hi = S + P, P, lo + 1, hi + 1
        state[v] = (P, S, Q, lo, hi)
    P, S, Q, lo, hi = state.get(OUTPUT, (0, 0, 0, 0, 0))
    on_path = nx.ancestors(g, OUTPUT) & set(state) if OUTPUT in g else set()
    layers = sum(1 for v in on_path if g.nodes[v].get("parameterised", False))
    return Connectivity(P, S, Q, lo, hi, layers)


def score(module: nn.Module, example_shape: Sequence[int] | None = None) -> Connectivity:
    """``connectivity(op_graph(module, example_shape))``."""
    return connectivity(op_graph(module, example_shape))


def factory(spec: str) -> Callable[..., nn.Module]:
    """The callable named by ``spec``: ``package.module.name`` (imported) or ``path/to/file.py:name``."""
    path, colon, name = spec.rpartition(":")
    where = path if colon else spec.rpartition(".")[0]
    if not colon:
        name = spec.rpartition(".")[2]
    if not where or not name:
        raise ValueError(f"model {spec!r}: expected package.module.callable or path/to/file.py:callable")
    try:
        if colon:
            file = Path(path)
            if not file.is_file():
                raise FileNotFoundError(f"no file {file}")
            loader = importlib.util.spec_from_file_location(f"_netgraph_{file.stem}", file)
            module = importlib.util.module_from_spec(loader)
            loader.loader.exec_module(module)
        else:
            module = importlib.import_module(where)
    except Exception as err:  # whatever the imported code raises
        raise ValueError(f"model {spec!r}: cannot import {where}: {type(err).__name__}: {err}") from err
    fn = getattr(module, name, None)
    if not callable(fn):
        raise ValueError(f"model {spec!r}: {where} has no callable {name!r}")
    return fn


def build(spec: str, kwargs: dict | None = None, device: str | torch.device = "meta") -> nn.Module:
    """``factory(spec)(**kwargs)`` with tensors created on ``device`` ("meta": no weights are drawn,
    enough for the graph); ``ValueError`` when it fails or returns no ``nn.Module``."""
    fn = factory(spec)
    try:
        with torch.device(device):
            module = fn(**(kwargs or {}))
    except Exception as err:  # whatever the user's factory raises
        raise ValueError(f"model {spec!r} with {kwargs or {}}: {type(err).__name__}: {err}") from err
    if not isinstance(module, nn.Module):
        raise ValueError(f"model {spec!r} returned {type(module).__name__}, not a torch.nn.Module")
    return module


__all__ = ["RULE", "INPUT", "OUTPUT", "trace", "op_graph", "Connectivity", "connectivity", "score", "factory", "build"]
