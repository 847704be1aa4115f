"""The results store: every heavy result on disk under ``data/results/``, with its provenance.

An entry is the result of one experiment (``convlib.registry``) at one set of parameters, keyed by
``param_hash(name, params)``. It is stored as ``<name>/<key>.json`` (parameters, scalars, provenance)
plus ``<name>/<key>.npz`` when it holds arrays; a sharded entry stores each shard the same way under
``<name>/<key>/<shard>.json``. Every file is written to a temporary file under ``data/results/.tmp/``
(which git ignores, as ``.state/``, the resumable state of shards in progress), made readable (0644)
and renamed into place, arrays before the JSON that indexes
them: a run killed at any moment leaves either the whole shard or nothing, and ``clean_tmp`` removes the
leftovers of dead runs.

Provenance records the git commit (``dirty`` when ``src/`` had uncommitted changes), device, versions,
wall time, date, and two fingerprints: ``code`` (``convlib.fingerprint``: the functions that ran and a
hash of each one's source) and ``data`` (``convlib.data.content_hashes``: every data file read and the
sha256 of its content, with the requests in ``datasets``). ``check(provenance)`` compares both with the
code and data of now; that is what makes an entry ``stale``.

``CONVLIB_CACHE=0`` turns the store off (compute, never read or write); ``CONVLIB_RESULTS`` moves it.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import os
import platform
import subprocess
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from convlib import ROOT, data, fingerprint

TMP = ".tmp"
STATE = ".state"


class CorruptEntry(ValueError):
    """A stored file that cannot be read back."""


def cache_dir() -> Path:
    return Path(os.environ.get("CONVLIB_RESULTS", ROOT / "data" / "results"))


def cache_enabled() -> bool:
    return os.environ.get("CONVLIB_CACHE", "1") != "0"


def jsonable(value: Any) -> Any:
    """Plain JSON types for numpy scalars, tuples and nested containers."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def param_hash(name: str, params: dict) -> str:
    """First 12 hex digits of sha256 over the experiment name and its canonical JSON parameters."""
    text = json.dumps({"name": name, "params": jsonable(params)}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Entry:
    """Where one stored result (or one shard of it) lives."""

    name: str
    key: str
    shard: str | None = None

    @property
    def json(self) -> Path:
        folder = cache_dir() / self.name
        return (folder / self.key / f"{self.shard}.json") if self.shard is not None else folder / f"{self.key}.json"

    @property
    def npz(self) -> Path:
        return self.json.with_suffix(".npz")

    def __str__(self) -> str:
        return f"{self.name}/{self.key}" + (f"/{self.shard}" if self.shard is not None else "")


# ---------------------------------------------------------------------- provenance
def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def source_state() -> tuple[str, bool]:
    """(commit, dirty): HEAD of the checkout holding this package, and whether ``src/`` has
    uncommitted changes (("unknown", False) outside a git checkout)."""
    commit = _git("rev-parse", "HEAD")
    if commit is None:
        return "unknown", False
    return commit, bool(_git("status", "--porcelain", "--", "src"))


def device_name(cuda: bool = True) -> str:
    """The GPU's name when there is one and ``cuda`` (the computation used it), else the CPU's description
    (naming the GPU it left unused, if any)."""
    import torch

    if torch.cuda.is_available() and cuda:
        return torch.cuda.get_device_name(0)
    unused = f"; {torch.cuda.get_device_name(0)} unused" if torch.cuda.is_available() else ""
    return f"cpu ({platform.machine()}, {os.cpu_count()} cores{unused})"


def is_cpu(device: str) -> bool:
    """Whether a name that :func:`device_name` gave is a CPU's."""
    return str(device).startswith("cpu")


def cuda_allocations() -> int:
    """How many CUDA memory allocations this process has made so far (0 while CUDA is not initialised):
    a computation used the GPU when the count grew while it ran."""
    import torch

    if not (torch.cuda.is_available() and torch.cuda.is_initialized()):
        return 0
    return int(torch.cuda.memory_stats().get("allocation.all.allocated", 0))


def provenance(wall_s: float, functions, requests, state: tuple[str, bool] | None = None,
               cuda: bool = True) -> dict:
    """Provenance of a result computed now, which ran ``functions`` and read ``requests``, from the
    checkout ``state`` = (commit, dirty) it started in (``source_state()`` now when not given), on the GPU
    if there is one and ``cuda`` (it was used), else on the CPU."""
    import torch

    commit, dirty = state or source_state()
    return {
        "commit": commit, "dirty": dirty, "device": device_name(cuda),
        "torch": torch.__version__, "numpy": np.__version__, "python": platform.python_version(),
        "wall_s": round(wall_s, 3),
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "code": fingerprint.hashes(functions),
        "datasets": sorted(requests), "data": data.content_hashes(requests),
    }


def data_changes(prov: dict) -> str | None:
    """Why the data an entry read differ from the data of now (None when they are the same)."""
    try:
        now = data.content_hashes(prov.get("datasets", []))
    except (FileNotFoundError, ValueError) as err:
        return f"data not readable now: {err}"
    diff = sorted(k for k in set(now) | set(prov["data"]) if now.get(k) != prov["data"].get(k))
    if diff:
        return "data differ: " + ", ".join(
            f"{k} (stored {prov['data'].get(k, 'absent')[:12]}, now {now.get(k, 'absent')[:12]})" for k in diff)
    return None


def check(prov: dict) -> str | None:
    """Why an entry with provenance ``prov`` is stale now (None when its code and data are current)."""
    if "code" not in prov or "data" not in prov:
        return "no code or data fingerprint (computed before fingerprints existed)"
    changed = fingerprint.changed(prov["code"])
    if changed:
        more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
        return "code changed: " + ", ".join(changed[:3]) + more
    return data_changes(prov)


# ---------------------------------------------------------------------- reading and writing
def _atomic_write(path: Path, payload: bytes) -> None:
    tmp_dir = cache_dir() / TMP
    tmp_dir.mkdir(parents=True, exist_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=tmp_dir, prefix=f"{os.getpid()}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def scratch(entry: Entry) -> Path:
    """Where a shard being computed keeps resumable state: ``data/results/.state/<name>/<key>/<commit>/<shard>``
    (git ignores it; ``registry.store`` removes it). The commit is part of the path so that a run never
    resumes from state that other code wrote (uncommitted changes get their own folder, ``<commit>+``)."""
    commit, dirty = source_state()
    version = commit[:12] + ("+" if dirty else "")
    return cache_dir() / STATE / entry.name / entry.key / version / (entry.shard or "all")


def clear_scratch(entry: Entry) -> None:
    """Remove a shard's resumable state, whatever commit wrote it."""
    import shutil

    for folder in (cache_dir() / STATE / entry.name / entry.key).glob(f"*/{entry.shard or 'all'}"):
        shutil.rmtree(folder, ignore_errors=True)


def clean_tmp() -> list[Path]:
    """Remove temporary files left by runs that are no longer alive; returns what was removed."""
    removed = []
    for tmp in (cache_dir() / TMP).glob("*.tmp"):
        pid = tmp.name.split(".", 1)[0]
        if pid.isdigit() and _alive(int(pid)):
            continue
        tmp.unlink(missing_ok=True)
        removed.append(tmp)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write(entry: Entry, params: dict, result: dict, prov: dict) -> None:
    """Store ``result`` (arrays to the NPZ, the rest to the JSON) with its parameters and provenance."""
    arrays = {k: np.asarray(v) for k, v in result.items() if isinstance(v, np.ndarray)}
    plain = {k: jsonable(v) for k, v in result.items() if k not in arrays}
    if arrays:
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        _atomic_write(entry.npz, buf.getvalue())
    doc = {"name": entry.name, "key": entry.key, "shard": entry.shard, "params": jsonable(params),
           "data": plain, "arrays": sorted(arrays), "provenance": prov}
    _write_doc(entry, doc)


def _write_doc(entry: Entry, doc: dict) -> None:
    _atomic_write(entry.json, (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode())


def restamp(entry: Entry, prov: dict) -> None:
    """Replace the provenance of a stored shard (its parameters, data and arrays untouched)."""
    doc = read_doc(entry)
    if doc is None:
        raise FileNotFoundError(f"no stored result {entry.json}")
    _write_doc(entry, {**doc, "provenance": prov})


def _recompute_hint(entry: Entry) -> str:
    return f"delete it and run: python -m convlib results --only {entry.name}"


def read_doc(entry: Entry) -> dict | None:
    """The stored JSON of an entry (None when absent); CorruptEntry when it cannot be parsed."""
    try:
        doc = json.loads(entry.json.read_text())
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CorruptEntry(f"cached result {entry.json} is unreadable ({err}); {_recompute_hint(entry)}") from None
    if not isinstance(doc, dict) or not {"params", "data", "provenance"} <= set(doc):
        raise CorruptEntry(f"cached result {entry.json} lacks params/data/provenance; {_recompute_hint(entry)}")
    return doc


def read(entry: Entry) -> dict | None:
    """The stored result with its arrays and ``_provenance`` (None when absent); CorruptEntry when a
    file of it is missing, truncated or unreadable."""
    doc = read_doc(entry)
    if doc is None:
        return None
    out = dict(doc["data"])
    if doc.get("arrays"):
        try:
            with open(entry.npz, "rb") as f, np.load(f, allow_pickle=False) as z:  # closed on a bad file too
                out.update({k: z[k] for k in doc["arrays"]})
        except (OSError, EOFError, KeyError, ValueError, zipfile.BadZipFile, zlib.error) as err:
            raise CorruptEntry(f"cached result {entry.npz} is unreadable ({type(err).__name__}: {err}); "
                               f"{_recompute_hint(entry)}") from None
    out["_provenance"] = doc["provenance"]
    return out


def stored_shards(name: str, key: str) -> list[str]:
    """Shard ids stored for an entry, sorted."""
    return sorted(p.stem for p in (cache_dir() / name / key).glob("*.json"))


def stored() -> Iterator[Entry]:
    """Every entry and shard on disk (its JSON exists), in path order."""
    root = cache_dir()
    for path in sorted(root.glob("*/*.json")) + sorted(root.glob("*/*/*.json")):
        rel = path.relative_to(root).parts
        if rel[0] in (TMP, STATE):
            continue
        yield Entry(rel[0], path.stem) if len(rel) == 2 else Entry(rel[0], rel[1], path.stem)


__all__ = [
    "TMP", "CorruptEntry", "cache_dir", "cache_enabled", "jsonable", "param_hash", "Entry", "source_state",
    "device_name", "is_cpu", "cuda_allocations", "provenance", "data_changes", "check", "scratch", "clear_scratch",
    "clean_tmp", "write", "restamp", "read_doc", "read", "stored_shards", "stored",
]
