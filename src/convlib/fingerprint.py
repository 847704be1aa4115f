"""Code fingerprints: which convlib functions a computation ran, and a hash of each one's source.

A cached result is only as trustworthy as the code that made it. ``trace()`` records every function of
the ``convlib`` package that executes inside it (``sys.settrace``, call events only, so the cost is one
Python call per function call); ``hashes(functions)`` gives, for each ``"module:qualname"``, a hash of

* the function's source with comments, blank lines and its docstring removed (``normalised``), and
* the same normalised source of the module-level assignments of every module-level name it reads,
  following ``from convlib... import NAME`` and ``module.NAME`` into the module that binds the name,

so an edit to a comment or a docstring keeps a result fresh, while an edit to the code that ran, or to a
constant it read, makes it stale. Comprehensions and generator expressions count as part of the function
they appear in; lambdas are hashed together with the other lambdas of the same scope. The text is taken
from the source file, so the hash does not depend on the Python version that computes it.

A function decorated with ``@locator`` only decides *where* a file is read from: what it found is in the
data fingerprint (the sha256 of every file read), so it is left out of the code fingerprint, and moving
the search path (for example to the offline copies beside the checkout) does not stale any result.

A function cached with ``memo`` that answers from its cache does not run: ``memo`` records it anyway.
The sources are read (once per process) when the first trace starts, so editing a file while a long run
is in progress cannot change the hashes of the code that run is executing.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import io
import sys
import tokenize
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

PACKAGE = "convlib"
PKG_DIR = Path(__file__).resolve().parent
_PREFIX = str(PKG_DIR) + "/"
_INLINE = ("<listcomp>", "<dictcomp>", "<setcomp>", "<genexpr>")
_ACTIVE: list[set[str]] = []


def function_name(filename: str, qualname: str) -> str | None:
    """``"convlib.mod:qualname"`` of a code object of the package, comprehensions folded into their
    function; None for code outside the package or at module level."""
    if not filename.startswith(_PREFIX):
        return None
    rel = Path(filename[len(_PREFIX):]).with_suffix("")
    parts = [PACKAGE, *rel.parts]
    if parts[-1] == "__init__":
        parts.pop()
    names = [n for n in qualname.split(".") if n not in _INLINE]  # 3.12 inlines comprehensions
    while names and names[-1] == "<locals>":
        names.pop()
    if not names or names == ["<module>"] or parts[1:] == ["fingerprint"]:
        return None
    return ".".join(parts) + ":" + ".".join(names)


@contextmanager
def trace() -> Iterator[set[str]]:
    """Collect the ``"module:qualname"`` of every package function called inside the block."""
    seen: set[str] = set()
    codes: set = set()

    def tracer(frame, event, arg):
        code = frame.f_code
        if code not in codes:
            codes.add(code)
            name = function_name(code.co_filename, code.co_qualname)
            if name:
                seen.add(name)
        return None

    for module in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
        _module(module)  # read the sources of the code about to run now, not when the hashes are taken
    previous = sys.gettrace()
    _ACTIVE.append(seen)
    sys.settrace(tracer)
    try:
        yield seen
    finally:
        sys.settrace(previous)
        _ACTIVE.remove(seen)


def memo(fn: Callable) -> Callable:
    """``functools.cache`` that still counts as a call of ``fn`` for an active ``trace()``."""
    cached = functools.cache(fn)
    name = function_name(fn.__code__.co_filename, fn.__code__.co_qualname)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        for seen in _ACTIVE:
            if name:
                seen.add(name)
        return cached(*args, **kwargs)

    wrapper.cache_clear = cached.cache_clear
    return wrapper


def locator(fn: Callable) -> Callable:
    """Mark ``fn`` as a file locator (see the module docstring); it is recognised in the source."""
    return fn


# ---------------------------------------------------------------------- source hashes
class _Module:
    """The normalised source of every function and module-level binding of one module."""

    def __init__(self, name: str):
        rel = Path(*name.split(".")[1:])
        path = PKG_DIR / rel / "__init__.py" if (PKG_DIR / rel).is_dir() else (PKG_DIR / rel).with_suffix(".py")
        self.name, self.text = name, path.read_text()
        self.lines = self.text.splitlines()
        self.comments: dict[int, int] = {}  # line -> column where its comment starts
        for tok in tokenize.generate_tokens(io.StringIO(self.text).readline):
            if tok.type == tokenize.COMMENT:
                self.comments[tok.start[0]] = tok.start[1]
        tree = ast.parse(self.text)
        self.bindings: dict[str, tuple] = {}  # module-level name -> ("code", text) | ("import", module, name)
        for node in tree.body:
            if isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for t in targets:
                    for n in ast.walk(t):
                        if isinstance(n, ast.Name):
                            self.bindings[n.id] = ("code", self.segment(node))
            elif isinstance(node, ast.ImportFrom):
                base = self._resolve(node.module, node.level)
                if base:
                    for a in node.names:
                        self.bindings[a.asname or a.name] = ("import", base, a.name)
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.split(".")[0] == PACKAGE:
                        self.bindings[a.asname or a.name.split(".")[0]] = ("module", a.name if a.asname else PACKAGE)
        self.functions: dict[str, list[ast.AST]] = {}
        self.locators: set[str] = set()
        self._collect(tree.body, [])

    def _resolve(self, module: str | None, level: int) -> str | None:
        if level:
            is_pkg = (PKG_DIR / Path(*self.name.split(".")[1:])).is_dir()
            base = self.name.split(".")[: len(self.name.split(".")) - level + (1 if is_pkg else 0)]
            full = ".".join(base + ([module] if module else []))
        else:
            full = module or ""
        return full if full.split(".")[0] == PACKAGE else None

    def _collect(self, body, scope: list[str]) -> None:
        for node in body:
            self._visit(node, scope)

    def _visit(self, node, scope: list[str]) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            q = scope + [node.name]
            self.functions.setdefault(".".join(q), []).append(node)
            if any(getattr(d, "id", getattr(d, "attr", None)) == "locator" for d in node.decorator_list):
                self.locators.add(".".join(q))
            for d in node.decorator_list + node.args.defaults + node.args.kw_defaults:
                if d is not None:
                    self._visit(d, scope)
            for child in node.body:
                self._visit(child, q + ["<locals>"])
            return
        if isinstance(node, ast.ClassDef):
            for child in node.body:
                self._visit(child, scope + [node.name])
            return
        if isinstance(node, ast.Lambda):
            q = scope + ["<lambda>"]
            self.functions.setdefault(".".join(q), []).append(node)
            self._visit(node.body, q + ["<locals>"])
            return
        for child in ast.iter_child_nodes(node):
            self._visit(child, scope)

    def segment(self, node) -> str:
        """Source of ``node``: comments, blank lines and its docstring dropped, trailing blanks stripped."""
        doc = None
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            doc = (body[0].lineno, body[0].end_lineno)
        out = []
        for ln in range(node.lineno, node.end_lineno + 1):
            if doc and doc[0] <= ln <= doc[1]:
                continue
            line = self.lines[ln - 1]
            end = node.end_col_offset if ln == node.end_lineno else len(line)
            if ln in self.comments:
                end = min(end, self.comments[ln])
            start = node.col_offset if ln == node.lineno else 0
            text = line[start:end].rstrip()
            if text.strip():
                out.append(text)
        return "\n".join(out)

    def reads(self, nodes) -> list[tuple]:
        """Module-level bindings read by ``nodes``: names, and ``module.NAME`` of imported modules."""
        found = []
        for node in nodes:
            for n in ast.walk(node):
                if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and n.id in self.bindings:
                    found.append(("name", n.id))
                elif isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) \
                        and self.bindings.get(n.value.id, ("",))[0] in ("import", "module"):
                    found.append(("attr", n.value.id, n.attr))
        return found


@functools.cache
def _module(name: str) -> _Module | None:
    try:
        return _Module(name)
    except (OSError, SyntaxError):
        return None


def _binding_text(module: str, name: str, depth: int = 0) -> str | None:
    """Normalised source of the module-level assignment that binds ``module.name`` (None if it is a
    function, a class or not found): imports are followed into the binding module."""
    mod = _module(module)
    if mod is None or depth > 5:
        return None
    b = mod.bindings.get(name)
    if b is None:
        return None
    if b[0] == "code":
        return b[1]
    if b[0] == "import":
        return _binding_text(b[1], b[2], depth + 1)
    return None


def source_hash(function: str) -> str | None:
    """Hash of one ``"module:qualname"`` (see the module docstring); None when it no longer exists."""
    module, qualname = function.split(":", 1)
    mod = _module(module)
    if mod is None or qualname not in mod.functions:
        return None
    nodes = mod.functions[qualname]
    parts = [mod.segment(n) for n in nodes]
    for read in sorted(set(mod.reads(nodes))):
        if read[0] == "name":
            text = _binding_text(module, read[1])
            label = read[1]
        else:
            kind = mod.bindings[read[1]]
            target = kind[1] if kind[0] == "module" else f"{kind[1]}.{kind[2]}"
            text = _binding_text(target, read[2])
            label = f"{read[1]}.{read[2]}"
        if text is not None:
            parts.append(f"# {label}\n{text}")
    return hashlib.sha256("\n\n".join(parts).encode()).hexdigest()[:16]


def is_locator(function: str) -> bool:
    """Whether ``"module:qualname"`` is decorated with ``@locator`` now."""
    module, qualname = function.split(":", 1)
    mod = _module(module)
    return mod is not None and qualname in mod.locators


def hashes(functions) -> dict[str, str | None]:
    """``source_hash`` of each function but the locators, by name (sorted)."""
    return {f: source_hash(f) for f in sorted(functions) if not is_locator(f)}


def changed(recorded: dict[str, str]) -> list[str]:
    """The functions of a recorded fingerprint (locators aside) whose source differs now, or that no
    longer exist."""
    return [f for f, h in sorted(recorded.items()) if not is_locator(f) and source_hash(f) != h]


def reset() -> None:
    """Forget the parsed sources (after files changed on disk, e.g. in a test)."""
    _module.cache_clear()


__all__ = [
    "PKG_DIR", "function_name", "trace", "memo", "locator", "source_hash", "is_locator", "hashes", "changed", "reset",
]
