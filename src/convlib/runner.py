"""``python -m convlib results``: compute what is missing or stale, resuming, on one process or on Dask.

``status(profile)`` gives one row per registered experiment of the profile (``fresh``, ``missing``,
``stale``, ``corrupt``, ``dirty``), one per stored entry only another committed profile asks for (its
state, or ``partial`` while some of its shards are not computed yet) and one per stored entry no profile
key asks for (``orphan``).
``run(...)`` computes the shards that are not fresh (all of them with ``force``), storing each one as it
finishes, so a run stopped at any moment loses only the shards in flight and the next run continues.
With ``workers`` it starts a ``dask.distributed.LocalCluster`` of that many single-threaded worker
processes (on a small CPU two one-thread processes beat one process with two OpenMP threads, which
stall each other); with ``scheduler`` it uses an existing Dask cluster (see the README for SLURM/PBS
with dask-jobqueue). The shards compute the same numbers either way: the parameters, not the placement,
fix every seed. Only this process writes to the store.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

from convlib import registry, results, validate
from convlib.registry import Experiment

CONNECT_TIMEOUT_S = 10
MAX_WORKERS = 4 * (os.cpu_count() or 1)
"""Most ``workers``: one one-thread process per core is what helps; 4x leaves room, while refusing counts
that would only exhaust memory (every worker process holds its own torch, about 0.3 GB)."""
_ADDRESS = re.compile(r"(?:(?:tcp|tls|ws|wss|ucx)://)?(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})")


@dataclass(frozen=True)
class Task:
    name: str
    params: dict
    entry: results.Entry


@dataclass(frozen=True)
class Row:
    name: str
    key: str
    state: str
    detail: str = ""
    rechecked: bool = False  # fresh by a recheck (``convlib.recheck``), not by a recomputation
    shards: tuple[int, int] = (0, 0)  # (fresh, all) shards of a sharded experiment

    def __str__(self) -> str:
        state = f"{self.state} (rechecked)" if self.rechecked else self.state
        return f"{self.name:28s} {self.key:12s} {state:8s} {self.detail}".rstrip()


def select(only: list[str] | None) -> list[Experiment]:
    """Registered experiments, sorted by name; ``only`` keeps names equal to or under one of its items
    (``ch06`` keeps ``ch06.*``); an item that matches nothing is an error."""
    exps = sorted(registry.load_all().values(), key=lambda e: e.name)
    if not only:
        return exps
    unmatched = [o for o in only if not any(e.name == o or e.name.startswith(o.rstrip(".") + ".") for e in exps)]
    if unmatched:
        raise ValueError(f"--only {', '.join(map(repr, unmatched))} matches no experiment; registered: "
                         f"{[e.name for e in exps]}")
    return [e for e in exps if any(e.name == o or e.name.startswith(o.rstrip(".") + ".") for o in only)]


def _shard_state(entry: results.Entry) -> tuple[str, str]:
    try:
        doc = results.read(entry)
    except results.CorruptEntry as err:
        return "corrupt", str(err)
    if doc is None:
        return "missing", ""
    prov = doc["_provenance"]
    if prov.get("dirty"):
        return "dirty", f"computed from uncommitted code at {prov.get('commit', '?')[:12]}"
    why = results.check(prov)
    if why:
        return "stale", why
    return "fresh", "rechecked" if "recheck" in prov else ""


def _rows(profile: str, only: list[str] | None,
          keep: set[tuple[str, str]] | None = None) -> tuple[list[Row], set[tuple[str, str]]]:
    """One row per experiment of ``profile`` (``only`` those; with ``keep``, those whose (name, key) is in
    it), and the (name, key) pairs the profile asks for."""
    sections = registry.profile(profile)
    rows, wanted = [], set()
    for exp in select(only):
        if exp.chapter not in sections:
            continue
        params = exp.params(sections[exp.chapter])
        key = exp.key(params)
        wanted.add((exp.name, key))
        if keep is not None and (exp.name, key) not in keep:
            continue
        ids = exp.shard_ids(params)
        states = [(s, *_shard_state(results.Entry(exp.name, key, s))) for s in ids]
        worst = next((st for st in ("corrupt", "dirty", "stale", "missing")
                      if any(x[1] == st for x in states)), "fresh")
        bad = [x for x in states if x[1] == worst]
        rechecked = worst == "fresh" and any(x[2] == "rechecked" for x in states)
        if worst == "fresh":
            detail = f"{len(ids)} shards" if exp.shards else ""
        elif worst == "missing":
            detail = f"{len(bad)} of {len(ids)} shards missing" if exp.shards else ""
        else:
            detail = (f"{len(bad)} of {len(ids)} shards, e.g. shard {bad[0][0]}: " if exp.shards else "") + bad[0][2]
        rows.append(Row(exp.name, key, worst, detail, rechecked, (sum(x[1] == "fresh" for x in states), len(ids))))
    return rows, wanted


def keys(profile: str = "paper", only: list[str] | None = None) -> set[tuple[str, str]]:
    """The (name, key) pairs ``profile`` asks for (``only`` those experiments), without reading the store."""
    return _rows(profile, only, keep=set())[1]


def status(profile: str = "paper", only: list[str] | None = None) -> list[Row]:
    """One row per experiment of the profile; then, for a profile of ``registry.COMMITTED_PROFILES``, one
    per stored entry that only another committed profile asks for (its state, so a stale one fails
    ``--status``; one not computed yet is no row, one with some shards still to compute is ``partial``: the
    book reads that profile only once all of it is fresh, ``book_profile``); then one per orphan entry
    (stored, asked for by none)."""
    rows, wanted = _rows(profile, only)
    if only:
        return rows
    stored = {(e.name, e.key) for e in results.stored()}
    if profile in registry.COMMITTED_PROFILES:
        for other in (p for p in registry.COMMITTED_PROFILES if p != profile):
            theirs, asked = _rows(other, None, keep=stored - wanted)  # read the shards of these alone
            rows += [Row(r.name, r.key, "partial" if r.state == "missing" else r.state,
                         f"{other} profile" + (f": {r.detail}" if r.detail else ""), r.rechecked, r.shards)
                     for r in theirs]
            wanted |= asked
    for name, key in sorted(stored - wanted):
        rows.append(Row(name, key, "orphan", f"no experiment of profile {profile!r} has this key "
                                             "(remove it with --prune)"))
    return rows


def book_profile() -> str:
    """The profile ``make book`` renders: the first of ``registry.COMMITTED_PROFILES`` whose every result
    is stored and fresh (the ``gpu`` profile, larger sizes, once its run is committed), else the
    last (``paper``, which ``make test`` holds fresh)."""
    for name in registry.COMMITTED_PROFILES[:-1]:
        if all(r.state == "fresh" for r in _rows(name, None)[0]):
            return name
    return registry.COMMITTED_PROFILES[-1]


def prune(profile: str = "paper") -> list[str]:
    """Delete the orphan entries of ``status(profile)`` (those no committed profile asks for); returns what
    was removed."""
    import shutil

    removed = []
    for row in status(profile):
        if row.state != "orphan":
            continue
        folder = results.cache_dir() / row.name
        for path in [folder / f"{row.key}.json", folder / f"{row.key}.npz"]:
            if path.exists():
                path.unlink()
                removed.append(str(path))
        if (folder / row.key).is_dir():
            shutil.rmtree(folder / row.key)
            removed.append(str(folder / row.key))
    return removed


def plan(profile: str = "paper", only: list[str] | None = None, force: bool = False,
         allow_dirty: bool = False) -> list[Task]:
    """The shards to compute: every shard of the selected experiments with ``force``, else those not
    fresh (a shard stored from uncommitted code counts as done only when ``allow_dirty``)."""
    done = ("fresh", "dirty") if allow_dirty else ("fresh",)
    sections = registry.profile(profile)
    tasks = []
    for exp in select(only):
        if exp.chapter not in sections:
            if only:
                raise ValueError(f"profile {profile!r} has no section {exp.chapter!r} for {exp.name}")
            continue
        params = exp.params(sections[exp.chapter])
        key = exp.key(params)
        for shard in exp.shard_ids(params):
            entry = results.Entry(exp.name, key, shard)
            if force or _shard_state(entry)[0] not in done:
                tasks.append(Task(exp.name, params, entry))
    return tasks


def local_cluster(workers: int):
    """A ``dask.distributed.LocalCluster`` of ``workers`` one-thread processes, without the
    ``MALLOC_TRIM_THRESHOLD_=65536`` that Dask sets in its workers by default: with it glibc hands every
    freed activation back to the OS and maps it again, and a NASWOT score took 2.4 times the CPU time."""
    import dask
    from dask.distributed import LocalCluster

    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
        return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0")


def check_scheduler(address: str, timeout_s: float | None = None) -> None:
    """A ``ValueError`` naming ``--scheduler`` unless ``address`` has the form ``[PROTOCOL://]HOST:PORT``
    and a Dask scheduler there answers Dask's ``identity`` request within ``timeout_s`` seconds
    (default ``CONNECT_TIMEOUT_S``)."""
    import asyncio

    from distributed.comm import connect

    from convlib.dag import shorten

    timeout_s = timeout_s or CONNECT_TIMEOUT_S
    m = _ADDRESS.fullmatch(address) if isinstance(address, str) else None
    if not m or not 1 <= int(m.group(1)) <= 65535:
        raise ValueError(f"--scheduler expects a Dask scheduler address PROTOCOL://HOST:PORT or HOST:PORT (port "
                         f"1..65535), such as tcp://127.0.0.1:8786, got {shorten(str(address))}")

    async def identity() -> object:
        comm = await connect(address, timeout=timeout_s)
        try:
            await comm.write({"op": "identity", "reply": True})
            return await comm.read()
        finally:
            comm.abort()

    try:
        reply = asyncio.run(asyncio.wait_for(identity(), timeout_s))
    except Exception as err:  # refused, timed out, or a server speaking another protocol (any error)
        reply = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
    if not (isinstance(reply, dict) and reply.get("type") == "Scheduler"):
        raise ValueError(f"--scheduler {shorten(address)}: no Dask scheduler answered within {timeout_s:g} s "
                         f"({shorten(str(reply), 120)})")


def run(profile: str = "paper", only: list[str] | None = None, force: bool = False, workers: int = 0,
        scheduler: str | None = None, allow_dirty: bool = False, progress: bool = True) -> list[Task]:
    """Compute and store the shards of ``plan``; returns the tasks done. Failures are collected and
    raised together after every other shard has been stored."""
    from tqdm.auto import tqdm

    validate.integer(workers, "workers (--workers)", 0, MAX_WORKERS)
    if scheduler is not None:  # before any work: a bad address fails now, in seconds
        check_scheduler(scheduler)
    tasks = plan(profile, only, force, allow_dirty)
    if tasks and not allow_dirty and results.source_state()[1]:
        raise registry.DirtyTree("src/ has uncommitted changes: commit first, or pass --allow-dirty "
                                 "(entries computed so are marked dirty and must never be committed)")
    results.clean_tmp()
    done, failures = [], []
    bar = tqdm(total=len(tasks), desc=f"results ({profile})", unit="shard", disable=not progress or not tasks)

    def finish(task: Task, result: dict, prov: dict) -> None:
        registry.store(task.entry, task.params, result, prov, allow_dirty)
        done.append(task)
        bar.set_postfix_str(str(task.entry), refresh=False)
        bar.update()

    if tasks and (workers or scheduler):
        from dask.distributed import Client, as_completed

        cluster = None if scheduler else local_cluster(workers)
        with Client(scheduler or cluster) as client:
            futures = {client.submit(registry.compute, t.name, t.params, t.entry.shard, pure=False): t for t in tasks}
            for fut in as_completed(futures):
                task = futures[fut]
                try:
                    finish(task, *fut.result())
                except Exception as err:  # keep the other shards; report all failures at the end
                    failures.append((task, err))
        if cluster is not None:
            cluster.close()
    else:
        for task in tasks:
            try:
                finish(task, *registry.compute(task.name, task.params, task.entry.shard))
            except (registry.DirtyTree, KeyboardInterrupt):
                raise
            except Exception as err:  # keep the other shards; report all failures at the end
                failures.append((task, err))
    bar.close()
    if failures:
        lines = [f"{t.entry}: {type(e).__name__}: {e}" for t, e in failures]
        raise RuntimeError(f"{len(failures)} of {len(tasks)} shards failed:\n" + "\n".join(lines))
    return done


__all__ = [
    "MAX_WORKERS", "select", "keys", "status", "book_profile", "prune", "plan", "local_cluster", "check_scheduler",
    "run",
]
