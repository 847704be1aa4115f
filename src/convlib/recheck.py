"""``python -m convlib results --recheck``: keep a result whose code was only refactored, without hours of
recompute.

An entry is *stale by code* when a function it traced changed source (``convlib.fingerprint``) while
its parameters (its key) and the data it read (their sha256) did not. A recheck recomputes a sample of
it under the code of now, the ``Probe``s its experiment declares (``convlib.registry``; by default the
whole entry when it is not sharded, else its cheapest stored shard; for item-wise shards a seeded 1 % of
the items), and compares every stored number with the recomputed one: bit for bit (every computation
runs on one intra-op thread, ``registry.compute``), or within the ``rtol``/``atol`` the experiment
declares where float reductions may reorder (``|new - old| <= atol + rtol |old|``, NaN equal to NaN),
leaving out its ``volatile`` keys (seconds measured). If all agree, every
shard of the entry gets the code fingerprint of now (the functions it recorded that still exist and those
the probes ran) and a ``recheck`` block in its provenance: commit, what was recomputed, the largest
difference. If not, it prints where it differs and leaves the entry stale. A recheck never freshens an
entry whose data differ, one with missing, corrupt or dirty shards, nor one computed from uncommitted code.
"""
from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from convlib import fingerprint, registry, results
from convlib.registry import Experiment, Probe


@dataclass(frozen=True)
class Outcome:
    """What a recheck did with one entry: ``rechecked`` (restamped), ``differs`` (left stale),
    ``skipped`` (not stale by code alone) or ``fresh`` (nothing to do)."""

    name: str
    key: str
    state: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.name:28s} {self.key:12s} {self.state:9s} {self.detail}".rstrip()


@dataclass(frozen=True)
class Difference:
    """The result of comparing stored numbers with recomputed ones."""

    where: tuple[str, ...]      # keys that differ beyond the tolerance, with how
    compared: int               # numbers compared
    max_abs: float
    max_rel: float


def compare(stored: dict, new: dict, rtol: float = 0.0, atol: float = 0.0,
            volatile: tuple[str, ...] = ()) -> Difference:
    """Compare every key of ``stored`` but the ``volatile`` ones (and ``_provenance``) with ``new``:
    arrays and numbers within ``atol + rtol |stored|`` (exact when both are 0; NaN equals NaN), other
    values equal."""
    where, compared, max_abs, max_rel = [], 0, 0.0, 0.0
    for key in sorted(set(stored) - {"_provenance", *volatile}):
        if key not in new:
            where.append(f"{key}: not recomputed")
            continue
        old, now = stored[key], new[key]
        if _numeric(old) and _numeric(now):
            a, b = np.asarray(old, dtype=np.float64), np.asarray(now, dtype=np.float64)
            if a.shape != b.shape:
                where.append(f"{key}: shape {a.shape} stored, {b.shape} now")
                continue
            compared += a.size
            nan_a, nan_b = np.isnan(a), np.isnan(b)
            both = ~(nan_a | nan_b)
            diff = np.abs(a - b, where=both, out=np.zeros_like(a))
            with np.errstate(divide="ignore", invalid="ignore"):
                rel = np.where(both & (diff > 0), diff / np.abs(a), 0.0)
            max_abs = max(max_abs, float(diff.max(initial=0.0)))
            max_rel = max(max_rel, float(rel.max(initial=0.0)))
            bad = (nan_a != nan_b) | (diff > atol + rtol * np.abs(np.where(both, a, 0.0)))
            if bad.any():
                first = np.unravel_index(int(np.argmax(bad)), bad.shape) if bad.ndim else ()
                where.append(f"{key}: {int(bad.sum())} of {bad.size} values differ, first at {list(map(int, first))}"
                             f" ({a[first]!r} stored, {b[first]!r} now)")
        else:
            compared += 1
            if _plain(old) != _plain(now):
                where.append(f"{key}: {_plain(old)!r:.80} stored, {_plain(now)!r:.80} now")
    return Difference(tuple(where), compared, max_abs, max_rel)


def _numeric(value: Any) -> bool:
    """A number, or an array or (nested) list of numbers."""
    if isinstance(value, bool) or not isinstance(value, (int, float, list, tuple, np.ndarray, np.number)):
        return False
    try:
        return np.asarray(value).dtype.kind in "iuf"
    except ValueError:  # a ragged list
        return False


def _plain(value: Any) -> Any:
    return results.jsonable(value.tolist() if isinstance(value, np.ndarray) else value)


def default_probes(exp: Experiment, params: dict, walls: dict, rng: np.random.Generator) -> list[Probe]:
    """The whole entry when it is not sharded, else its cheapest stored shard (by recorded seconds)."""
    if exp.shards is None:
        return [Probe(None, None, "the whole entry")]
    shard = min(walls, key=lambda s: (walls[s], s))
    return [Probe(shard, shard, f"shard {shard} (the cheapest, {walls[shard]:.0f} s stored)")]


def recheck_entry(exp: Experiment, params: dict, seed: int = 0) -> Outcome:
    """Recheck the entry of ``exp`` at ``params`` (see the module docstring)."""
    key = exp.key(params)
    entries = [results.Entry(exp.name, key, s) for s in exp.shard_ids(params)]
    try:
        docs = {e: results.read(e) for e in entries}
    except results.CorruptEntry as err:
        return Outcome(exp.name, key, "skipped", f"corrupt: {err}")
    missing = [str(e) for e, d in docs.items() if d is None]
    if missing:
        return Outcome(exp.name, key, "skipped", f"{len(missing)} of {len(entries)} shards missing "
                                                 "(compute them: python -m convlib results)")
    provs = {e: d["_provenance"] for e, d in docs.items()}
    if any(p.get("dirty") for p in provs.values()):
        return Outcome(exp.name, key, "skipped", "computed from uncommitted code: recompute it")
    if any("code" not in p or "data" not in p for p in provs.values()):
        return Outcome(exp.name, key, "skipped", "no code or data fingerprint: recompute it")
    for e, p in provs.items():
        why = results.data_changes(p)
        if why:
            return Outcome(exp.name, key, "skipped", f"shard {e.shard}: {why} (recompute it)" if e.shard else why)
    changed = sorted({f for p in provs.values() for f in fingerprint.changed(p["code"])})
    if not changed:
        return Outcome(exp.name, key, "fresh")
    walls = {e.shard: float(p.get("wall_s", 0.0)) for e, p in provs.items()}
    chooser = exp.probes or (lambda prm, w, r: default_probes(exp, prm, w, r))
    probes = chooser(params, walls, np.random.default_rng([seed, int(key, 16)]))
    start, traced, where, commit = time.perf_counter(), set(), [], results.source_state()[0]
    compared, max_abs, max_rel = 0, 0.0, 0.0
    for probe in probes:
        run_params = {**params, **probe.overrides}
        result, prov = registry.compute(exp.name, run_params, probe.run_shard)
        results.clear_scratch(results.Entry(exp.name, exp.key(run_params), probe.run_shard))
        traced |= set(prov["code"])
        stored = docs[results.Entry(exp.name, key, probe.shard)]
        if probe.take is not None:
            stored = {k: probe.take(k, v) for k, v in stored.items() if k != "_provenance"}
        diff = compare(stored, result, exp.rtol, exp.atol, exp.volatile)
        compared, max_abs, max_rel = compared + diff.compared, max(max_abs, diff.max_abs), max(max_rel, diff.max_rel)
        where += [f"{probe.what}: {w}" for w in diff.where]
    if where:
        more = f" and {len(where) - 5} more" if len(where) > 5 else ""
        return Outcome(exp.name, key, "differs", "; ".join(where[:5]) + more)
    block = {"commit": commit, "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
             "device": results.device_name(), "changed": changed,
             "recomputed": [p.what for p in probes], "compared": compared,
             "max_abs_diff": max_abs, "max_rel_diff": max_rel, "rtol": exp.rtol, "atol": exp.atol,
             "wall_s": round(time.perf_counter() - start, 3)}
    for e, p in provs.items():
        kept = {f for f in p["code"] if fingerprint.source_hash(f) is not None}
        results.restamp(e, {**p, "code": fingerprint.hashes(kept | traced), "recheck": block})
    return Outcome(exp.name, key, "rechecked", f"{len(probes)} probe(s), {compared:,} numbers compared, "
                                                f"largest difference {max_abs:.3g} (relative {max_rel:.3g}), "
                                                f"{block['wall_s']:.1f} s; changed: {', '.join(changed[:3])}"
                                                + (f" and {len(changed) - 3} more" if len(changed) > 3 else ""))


def recheck(profile: str = "paper", names: list[str] | None = None, seed: int = 0) -> Iterator[Outcome]:
    """Recheck every experiment of ``profile`` (those named or under ``names``) that is stale by code,
    one ``Outcome`` per experiment as it is done."""
    from convlib import runner

    if results.source_state()[1]:
        raise registry.DirtyTree("src/ has uncommitted changes: commit first, then recheck "
                                 "(a recheck stamps the code of a commit)")
    sections = registry.profile(profile)
    for exp in runner.select(names):
        if exp.chapter in sections:
            yield recheck_entry(exp, exp.params(sections[exp.chapter]), seed)


__all__ = ["compare", "recheck"]
