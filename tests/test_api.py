"""The public API of convlib: every module says in ``__all__`` what it offers, and every name the rest of
the repository takes from a convlib module is in that list (or private, with a leading ``_``).

Uses are read with ``ast`` from the package, ``scripts/``, ``benchmarks/``, ``tests/`` and the code cells of
``book/*.ipynb``: ``from convlib.x import name`` (absolute or relative) and ``x.name`` where ``x`` is bound by
``from convlib import x``, ``import convlib.x as x`` or ``import convlib.x`` (``convlib.x.name``), and
``"convlib.x.name"`` strings (``netgraph.build`` specs). A registered experiment is used through the registry, so
its function is in its module's ``__all__`` too. A name a module only imports (from another convlib module) and
that a test reaches through it is listed in ``REACHED_THROUGH``; a module bound in another is that module's API."""
from __future__ import annotations

import ast
import importlib
import inspect
import json
import pkgutil
import re
from pathlib import Path

import pytest

import convlib

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
MODULES = sorted(["convlib", *(m.name for m in pkgutil.walk_packages(convlib.__path__, "convlib."))])
# Tests that reach a name a module imports from another convlib module, to patch it or for brevity.
REACHED_THROUGH = {
    ("convlib.bookrun", "ROOT"), ("convlib.experiments.ch05_dag", "FIGURE3"),
    ("convlib.experiments.ch05_dag", "train"), ("convlib.nas.search", "EDGES"),
}
SPEC = re.compile(r"convlib(\.[A-Za-z_]\w*){2,}")  # a "package.module.name" string, as netgraph.build reads it


def _sources() -> list[tuple[str, str, str | None]]:
    """(where, code, own module or None) of every Python file and notebook code cell that may use convlib."""
    out = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).with_suffix("")
        parts = list(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        out.append((str(path.relative_to(REPO)), path.read_text(), ".".join(parts)))
    for folder in ("scripts", "benchmarks", "tests"):
        out += [(str(p.relative_to(REPO)), p.read_text(), None) for p in sorted((REPO / folder).rglob("*.py"))]
    for nb in sorted((REPO / "book").glob("*.ipynb")):
        cells = ["".join(c["source"]) for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code"]
        lines = "\n".join(cells).splitlines()  # one namespace: a name imported in one cell is used in others
        code = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in lines)
        out.append((str(nb.relative_to(REPO)), code, None))
    return out


def uses(code: str, own: str | None = None) -> set[tuple[str, str]]:
    """``(module, name)`` for every name ``code`` takes from a convlib module other than ``own``."""
    package = own if own is not None and (SRC / own.replace(".", "/") / "__init__.py").exists() else \
        (own.rpartition(".")[0] if own else None)
    bound: dict[str, str] = {}  # local name -> convlib module it stands for
    found: set[tuple[str, str]] = set()
    tree = ast.parse(code)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name == "convlib" or a.name.startswith("convlib."):
                    if a.asname:
                        bound[a.asname] = a.name
                    else:
                        bound["convlib"] = "convlib"
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, *([module] if module else [])])
            if module not in MODULES:
                continue
            for a in node.names:
                if f"{module}.{a.name}" in MODULES:
                    bound[a.asname or a.name] = f"{module}.{a.name}"
                else:
                    found.add((module, a.name))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and SPEC.fullmatch(node.value):
            module, _, name = node.value.rpartition(".")
            if module in MODULES and node.value not in MODULES:
                found.add((module, name))
        if isinstance(node, ast.Attribute):
            module = _module_of(node.value, bound)
            if module is not None and f"{module}.{node.attr}" not in MODULES:
                found.add((module, node.attr))
    return {(m, n) for m, n in found if m != own}


def _module_of(node: ast.expr, bound: dict[str, str]) -> str | None:
    if isinstance(node, ast.Name):
        return bound.get(node.id)
    if isinstance(node, ast.Attribute):
        parent = _module_of(node.value, bound)
        if parent is not None and f"{parent}.{node.attr}" in MODULES:
            return f"{parent}.{node.attr}"
    return None


def all_uses() -> dict[tuple[str, str], list[str]]:
    """``(module, name) -> [where]`` over the whole repository."""
    out: dict[tuple[str, str], list[str]] = {}
    for where, code, own in _sources():
        for use in uses(code, own):
            out.setdefault(use, []).append(where)
    return out


@pytest.mark.parametrize("name", MODULES)
def test_every_module_declares_its_public_names(name):
    module = importlib.import_module(name)
    assert isinstance(getattr(module, "__all__", None), list), f"{name} has no __all__ list"
    listed = module.__all__
    assert len(set(listed)) == len(listed), f"{name}.__all__ lists a name twice"
    assert not [n for n in listed if n.startswith("_")], f"{name}.__all__ lists a private name"
    assert not [n for n in listed if not hasattr(module, n)], f"{name}.__all__ lists names it does not define"


def test_every_name_used_from_a_module_is_in_its_all():
    missing = []
    for (module, name), where in sorted(all_uses().items()):
        imported = importlib.import_module(module)
        if name.startswith("_") or (module, name) in REACHED_THROUGH or inspect.ismodule(getattr(imported, name, None)):
            continue  # a module bound in another one is that module's API, not a name of the one that imports it
        if name not in imported.__all__:
            missing.append(f"{module}.{name} (used in {', '.join(sorted(set(where))[:3])})")
    assert not missing, "used but not in __all__:\n" + "\n".join(missing)


def test_every_registered_experiment_is_in_its_modules_all():
    from convlib import registry

    for name, exp in registry.load_all().items():
        if exp.fn.__module__.startswith("convlib."):  # not a test's own toy experiment
            assert exp.fn.__name__ in importlib.import_module(exp.fn.__module__).__all__, name


def test_the_use_finder_sees_each_kind_of_use():
    code = ("from convlib.dag import parse\nfrom convlib import theory, ROOT\nimport convlib.nas.network as net\n"
            "import convlib.kernels\nfrom convlib.nas import scores as sc\ntheory.lambda_min(1)\nnet.Cell\n"
            "convlib.kernels.KERNELS\nsc.naswot\nx = other.thing\nbuild('convlib.nas.network.Network')\n")
    assert uses(code) == {("convlib.dag", "parse"), ("convlib", "ROOT"), ("convlib.theory", "lambda_min"),
                          ("convlib.nas.network", "Cell"), ("convlib.kernels", "KERNELS"),
                          ("convlib.nas.scores", "naswot"), ("convlib.nas.network", "Network")}
    relative = "from ..dag import parse\nfrom . import network\nfrom .search import tenas\nnetwork.Cell\n"
    assert uses(relative, own="convlib.nas.search") == {("convlib.dag", "parse"), ("convlib.nas.network", "Cell")}
