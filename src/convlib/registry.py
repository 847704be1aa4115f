"""The book's experiments and their parameter profiles, in one place.

An *experiment* is a function registered with ``@experiment(name, chapter)``: its keyword arguments are
its parameters, taken from the chapter's section of a profile (``book/params/<profile>.yaml``), and it
returns a dict of numbers, strings, lists and numpy arrays. A long experiment declares ``shards``, a
function of its parameters that lists shard ids; it is then called once per shard with ``shard=<id>``,
each shard is stored as it finishes, and the parts are joined by ``combine`` (default: ``concat``).

An experiment also says how ``python -m convlib results --recheck`` (``convlib.recheck``) may sample it
after a refactor: ``probes`` (a function of its parameters, the stored seconds per shard and a seeded
generator, returning the ``Probe``s to recompute; default: the whole entry, or its cheapest shard),
``rtol``/``atol`` (how far a recomputed number may be from the stored one where float reductions may
reorder; default 0: bit for bit) and ``volatile`` (keys never compared, such as seconds measured).

``get(name, params)`` is what a chapter calls: the stored result when it is there and fresh, computed
(and stored) when it is missing, and an error naming the reason when it is stale or unreadable, because
a chapter must never print numbers that other code or other data made. ``compute`` runs one shard
under ``convlib.fingerprint.trace`` and ``convlib.data.recording`` so its provenance says which code
and which data made it. ``convlib.runner`` runs many shards (resuming, on Dask workers).
"""
from __future__ import annotations

import inspect
import math
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from convlib import ROOT, data, fingerprint, results
from convlib.device import one_thread

PARAMS = ROOT / "book" / "params"
BOOK = ROOT / "book"
_SHARD_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class StaleResult(ValueError):
    """A stored result whose code or data fingerprint differs from now."""


class DirtyTree(ValueError):
    """Refusal to store a result computed from uncommitted code."""


def concat(parts: list[dict]) -> dict:
    """Join shard results: arrays concatenated along axis 0, lists joined, other values equal in all."""
    keys = list(parts[0])
    out: dict = {}
    for k in keys:
        vals = [p[k] for p in parts]
        if isinstance(vals[0], np.ndarray):
            out[k] = np.concatenate(vals)
        elif isinstance(vals[0], list):
            out[k] = [v for part in vals for v in part]
        elif all(v == vals[0] for v in vals):
            out[k] = vals[0]
        else:
            raise ValueError(f"shards disagree on {k!r}: {vals[:3]}")
    return out


@dataclass(frozen=True)
class Probe:
    """One recomputation of a recheck: run the experiment on ``run_shard`` with the entry's parameters
    updated by ``overrides``, and compare it with the stored shard ``shard`` cut by ``take(key, value)``
    (None: compared whole). ``what`` says in words what was recomputed."""

    shard: str | None
    run_shard: str | None
    what: str
    overrides: dict = field(default_factory=dict)
    take: Callable[[str, Any], Any] | None = None


@dataclass(frozen=True)
class Experiment:
    name: str
    chapter: str
    fn: Callable[..., dict]
    shards: Callable[..., list[str]] | None = None
    combine: Callable[[list[dict]], dict] = concat
    probes: Callable[[dict, dict, np.random.Generator], list[Probe]] | None = None
    rtol: float = 0.0
    atol: float = 0.0
    volatile: tuple[str, ...] = ()

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(k for k in inspect.signature(self.fn).parameters if k != "shard")

    def params(self, values: dict) -> dict:
        """The parameters this experiment takes, picked from ``values``; a missing one is an error."""
        missing = [k for k in self.keys if k not in values]
        if missing:
            raise ValueError(f"experiment {self.name!r} needs parameters {missing} (chapter {self.chapter})")
        return {k: values[k] for k in self.keys}

    def key(self, params: dict) -> str:
        return results.param_hash(self.name, self.params(params))

    def shard_ids(self, params: dict) -> list[str | None]:
        """``[None]`` for an unsharded experiment, else its shard ids (unique, file-name safe)."""
        if self.shards is None:
            return [None]
        ids = list(self.shards(**self.params(params)))
        bad = [s for s in ids if not isinstance(s, str) or not _SHARD_ID.fullmatch(s)]
        if not ids or bad or len(set(ids)) != len(ids):
            raise ValueError(f"experiment {self.name!r}: shard ids must be unique non-empty strings of "
                             f"letters, digits, '.', '_', '-'; got {ids[:5]}")
        return ids


REGISTRY: dict[str, Experiment] = {}


def experiment(name: str, chapter: str, *, shards: Callable[..., list[str]] | None = None,
               combine: Callable[[list[dict]], dict] = concat,
               probes: Callable[[dict, dict, np.random.Generator], list[Probe]] | None = None,
               rtol: float = 0.0, atol: float = 0.0, volatile: tuple[str, ...] = ()) -> Callable:
    """Register ``fn(**params) -> dict`` (with ``shard=`` when ``shards`` is given) as ``name``; the
    keyword arguments after ``combine`` say how a recheck samples it (module docstring)."""
    def register(fn: Callable[..., dict]) -> Callable[..., dict]:
        if name in REGISTRY and REGISTRY[name].fn.__qualname__ != fn.__qualname__:
            raise ValueError(f"experiment {name!r} is registered twice")
        if shards is not None and "shard" not in inspect.signature(fn).parameters:
            raise ValueError(f"sharded experiment {name!r} must take a 'shard' argument")
        REGISTRY[name] = Experiment(name, chapter, fn, shards, combine, probes, rtol, atol, tuple(volatile))
        return fn
    return register


def ranges(n: int, size: int) -> list[str]:
    """Shard ids ``"00000-01000"``, ... covering ``range(n)`` in blocks of ``size``."""
    width = len(str(n))
    return [f"{a:0{width}d}-{min(a + size, n):0{width}d}" for a in range(0, n, size)]


def span(shard: str) -> range:
    """The index range of a ``ranges`` shard id."""
    a, b = shard.split("-")
    return range(int(a), int(b))


def item_probes(fraction: float = 0.01) -> Callable[[dict, dict, np.random.Generator], list[Probe]]:
    """Probes for an experiment sharded by ``ranges`` whose items do not depend on their neighbours: a
    seeded sample of ``fraction`` of all items (at least one), each recomputed alone as the one-item
    shard ``"i-(i+1)"`` and compared with its row of the stored shard."""
    def probes(params: dict, walls: dict, rng: np.random.Generator) -> list[Probe]:
        spans = {shard: span(shard) for shard in walls}
        items = sorted(i for s in spans.values() for i in s)
        picked = rng.choice(items, max(1, math.ceil(len(items) * fraction)), replace=False)
        out = []
        for i in sorted(int(i) for i in picked):
            shard = next(s for s, r in spans.items() if i in r)
            row = i - spans[shard].start
            out.append(Probe(shard, f"{i}-{i + 1}", f"item {i}",
                             take=lambda key, v, row=row: v[row:row + 1] if isinstance(v, np.ndarray) else v))
        return out
    return probes


def load_all() -> dict[str, Experiment]:
    """Import every chapter's experiment module (they register themselves), and the modules named in
    ``$CONVLIB_EXPERIMENTS`` (comma-separated: a user's own experiments), and return the registry."""
    import importlib

    import convlib.experiments  # noqa: F401  (import registers)

    for module in filter(None, (m.strip() for m in os.environ.get("CONVLIB_EXPERIMENTS", "").split(","))):
        importlib.import_module(module)
    return REGISTRY


def lookup(name: str) -> Experiment:
    if name not in REGISTRY:
        load_all()
    if name not in REGISTRY:
        raise ValueError(f"unknown experiment {name!r}; registered: {sorted(REGISTRY)}")
    return REGISTRY[name]


# ---------------------------------------------------------------------- profiles
def profile_path(profile: str) -> Path:
    """``book/params/<profile>.yaml`` for a name, or the given path for a ``.yaml`` file."""
    if profile.endswith((".yaml", ".yml")):
        return Path(profile)
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", profile):
        from convlib.dag import shorten
        raise ValueError(f"profile must be a name (1 to 64 letters, digits, '_', '-') such as 'paper' or a path to a "
                         f".yaml file, got {shorten(profile)}")
    return PARAMS / f"{profile}.yaml"


def profile(name: str) -> dict[str, dict]:
    """The sections of a profile (chapter -> parameters), validated: every section names a chapter
    notebook ``book/<section>.ipynb`` (or a chapter of registered experiments), and every parameter
    is one that chapter takes (its notebook's ``parameters`` cell, else its experiments' arguments)."""
    import yaml

    path = profile_path(name)
    try:
        found = path.is_file()
    except OSError as err:  # a name too long for the file system, for example
        raise ValueError(f"cannot read the profile {str(path)[:80]!r}: {err.strerror}") from None
    if not found:
        known = sorted(p.stem for p in PARAMS.glob("*.yaml"))
        raise FileNotFoundError(f"no parameter profile {path}; profiles: {known}")
    try:
        sections = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ValueError(f"{path} is not valid YAML: {err}".replace("\n", " ")) from None
    except RecursionError:
        raise ValueError(f"{path} nests too deeply to be a profile (chapter -> parameter -> value)") from None
    if not isinstance(sections, dict) or not all(isinstance(k, str) and isinstance(v, dict)
                                                 for k, v in sections.items()):
        raise ValueError(f"{path} must map chapter names to mappings of parameters")
    load_all()
    for section, values in sections.items():
        nb = BOOK / f"{section}.ipynb"
        if nb.is_file():
            from convlib.bookrun import parameters_cell

            known = set(parameters_cell(nb))
        else:
            known = {k for e in REGISTRY.values() if e.chapter == section for k in e.keys}
        if not known:
            raise ValueError(f"{path}: section {section!r} names no chapter (no {nb.relative_to(ROOT)}, "
                             "no experiment of that chapter)")
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"{path}: section {section!r} has unknown parameters {unknown}; "
                             f"the chapter takes {sorted(known)}")
        for exp in (e for e in REGISTRY.values() if e.chapter == section):
            missing = [k for k in exp.keys if k not in values]
            if missing:
                raise ValueError(f"{path}: section {section!r} lacks parameters {missing} of experiment {exp.name!r}")
            bad = next(_bad_types(exp, values), None)
            if bad:
                raise ValueError(f"{path}: section {section!r}, parameter {bad[0]!r} = {str(values[bad[0]])[:60]!r}: "
                                 f"{bad[1]}")
    return sections


def _bad_types(exp: Experiment, values: dict):
    """``(key, why)`` for each parameter of ``exp`` whose value does not fit its annotation: an ``int``
    (no bool) or ``float`` that is finite and >= 0 (sizes, counts, seeds, rates: no experiment takes a
    negative one), a ``str``, a ``list``."""
    import math
    import typing

    for key, hint in typing.get_type_hints(exp.fn).items():
        if key not in exp.keys:
            continue
        v = values[key]
        number = isinstance(v, (int, float)) and not isinstance(v, bool)
        if hint is int and not (number and isinstance(v, int) and v >= 0):
            yield key, "expected an integer >= 0"
        elif hint is float and not (number and math.isfinite(v) and v >= 0):
            yield key, "expected a finite number >= 0"
        elif hint in (str, list) and not isinstance(v, hint):
            yield key, f"expected a {hint.__name__}"


# ---------------------------------------------------------------------- computing and serving
_RUNNING: list[results.Entry] = []


def compute(name: str, params: dict, shard: str | None = None) -> tuple[dict, dict]:
    """Run one shard (or the whole of an unsharded experiment) now: ``(result, provenance)``, on one
    intra-op CPU thread wherever it runs (this process, a Dask worker), so that float reductions add in
    one order and the same parameters give the same bits. The provenance names the GPU only when the
    computation allocated memory on it."""
    exp = lookup(name)
    chosen = exp.params(params)
    kwargs = chosen if shard is None else {**chosen, "shard": shard}
    _RUNNING.append(results.Entry(name, exp.key(chosen), shard))
    state = results.source_state()  # the checkout the computation starts from
    start, allocations = time.perf_counter(), results.cuda_allocations()
    try:
        with one_thread(), data.recording() as requests, fingerprint.trace() as functions:
            result = dict(exp.fn(**kwargs))
    finally:
        _RUNNING.pop()
    used_cuda = results.cuda_allocations() > allocations
    return result, results.provenance(time.perf_counter() - start, functions, requests, state, used_cuda)


def scratch() -> Path:
    """A folder for the running shard's resumable state (checkpoints of a long training run): kept
    across interrupted runs, removed once the shard is stored (``results.scratch``)."""
    if not _RUNNING:
        raise RuntimeError("registry.scratch() is only available inside a computation")
    folder = results.scratch(_RUNNING[-1])
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def store(entry: results.Entry, params: dict, result: dict, prov: dict, allow_dirty: bool = False) -> None:
    """Write a computed shard, refusing one computed from uncommitted code unless ``allow_dirty``;
    its scratch state is no longer needed once it is stored."""
    if prov["dirty"] and not allow_dirty:
        raise DirtyTree(f"refusing to store {entry}: src/ has uncommitted changes (commit first, or pass "
                        "--allow-dirty / set CONVLIB_ALLOW_DIRTY=1 for an entry that must never be committed)")
    results.write(entry, params, result, prov)
    results.clear_scratch(entry)


def allow_dirty_env() -> bool:
    """``CONVLIB_ALLOW_DIRTY=1``: what ``--allow-dirty`` is for results a chapter computes."""
    return os.environ.get("CONVLIB_ALLOW_DIRTY", "0") == "1"


def fresh(entry: results.Entry) -> dict | None:
    """The stored shard if it is there and fresh; None when absent; StaleResult / CorruptEntry otherwise."""
    hit = results.read(entry)
    if hit is None:
        return None
    why = results.check(hit["_provenance"])
    if why:
        raise StaleResult(f"cached result {entry} is stale ({why}); recompute it: "
                          f"python -m convlib results --only {entry.name}")
    return hit


# With the cache off (CONVLIB_CACHE=0) nothing is read from or written to the store, but what this process
# computed is served again from memory: a smoke run computes each result once, not once per reader.
_COMPUTED: dict[results.Entry, dict] = {}


COMMITTED_PROFILES = ("gpu", "paper")
"""Profiles whose results are committed, the one the book prefers first: ``gpu`` (larger sizes, the paper's where
one GPU command allows, committed when that run is done), then ``paper`` (sized for a 2-core CPU; always complete)."""


def active_profile() -> str:
    """The profile the book is being executed with (``CONVLIB_PROFILE``, set by ``bookrun``), else ``paper``."""
    return os.environ.get("CONVLIB_PROFILE") or "paper"


def get(name: str, params: dict) -> dict:
    """The result of experiment ``name`` at ``params`` (the keys it takes are picked from ``params``):
    served from the store when fresh, computed and stored when missing (every missing shard, with a
    progress bar on stderr when there are several: plain tqdm, so a notebook records no widget warning).
    With the cache off, computed once per process (``_COMPUTED``)."""
    from tqdm import tqdm

    exp = lookup(name)
    chosen = exp.params(params)
    key = exp.key(chosen)
    entries = [results.Entry(name, key, shard) for shard in exp.shard_ids(chosen)]
    cached = results.cache_enabled()
    parts = {e: fresh(e) if cached else _COMPUTED.get(e) for e in entries}
    missing = [e for e in entries if parts[e] is None]
    for entry in tqdm(missing, desc=name, unit="shard", disable=len(missing) <= 1, leave=False):
        result, prov = compute(name, chosen, entry.shard)
        if cached:
            store(entry, chosen, result, prov, allow_dirty_env())
        else:
            _COMPUTED[entry] = {**result, "_provenance": prov}
        parts[entry] = {**result, "_provenance": prov}
    return assemble(exp, [dict(parts[e]) for e in entries])


def assemble(exp: Experiment, parts: list[dict]) -> dict:
    """One result from its shards, with a provenance summary (shard count, total wall time, the devices, and
    the device of each shard in order: ``shard_devices``)."""
    if exp.shards is None:
        return parts[0]
    provs = [p.pop("_provenance") for p in parts]
    out = exp.combine(parts)
    out["_provenance"] = {"shards": len(provs), "wall_s": round(sum(p["wall_s"] for p in provs), 3),
                          "device": ", ".join(sorted({p["device"] for p in provs})),
                          "shard_devices": [p["device"] for p in provs],
                          "commit": ", ".join(sorted({p["commit"][:12] for p in provs})),
                          "date": max(p["date"] for p in provs), "dirty": any(p["dirty"] for p in provs)}
    return out


__all__ = [
    "StaleResult", "DirtyTree", "concat", "assemble", "Probe", "Experiment", "REGISTRY", "experiment", "ranges", "span",
    "item_probes", "load_all", "lookup", "profile", "compute", "scratch", "store", "get", "active_profile",
    "COMMITTED_PROFILES",
]
