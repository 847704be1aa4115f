"""Tables for the reproducibility appendix: what made the cached results, and whether each is fresh.

Everything here is read from the results store and the pinned environment, not from the machine that
builds the book, so rebuilding the book on a clean checkout leaves the appendix unchanged."""
from __future__ import annotations

import importlib.metadata as md
import json

import pandas as pd

from convlib import present, registry, results, runner

PACKAGES = ("torch", "numpy", "scipy", "pandas", "networkx", "matplotlib", "dask", "distributed",
            "jupyter-book", "sphinx", "myst-nb", "papermill", "nbval")


def _docs() -> list[tuple[results.Entry, dict]]:
    """Every stored entry (where it lives says what it is) with its JSON."""
    return [(e, doc) for e in results.stored() if (doc := results.read_doc(e)) is not None]


def environment() -> pd.DataFrame:
    """The versions the cached results were computed with (from their provenance) and the pinned
    packages of the book's environment."""
    docs = _docs()
    rows = [(f"results: {k}", provenance_versions(docs, k)) for k in ("python", "torch", "numpy", "device")]
    rows.append(("results: commits", str(len({doc["provenance"].get("commit") for _, doc in docs}))))
    for name in PACKAGES:
        try:
            rows.append((name, md.version(name)))
        except md.PackageNotFoundError:
            rows.append((name, "not installed"))
    return pd.DataFrame(rows, columns=["what", "version"]).set_index("what")


def provenance_versions(docs: list[tuple[results.Entry, dict]], key: str) -> str:
    """The values of provenance ``key`` over stored entries: the one value when all agree, else each with
    the experiments it holds for (named when two or fewer, else counted), so that a minority stands out."""
    by: dict[str, set[str]] = {}
    for entry, doc in docs:
        by.setdefault(str(doc["provenance"].get(key, "?")), set()).add(entry.name)
    if len(by) <= 1:
        return next(iter(by), "-")
    return ", ".join(f"{value} ({', '.join(sorted(names)) if len(names) <= 2 else f'{len(names)} experiments'})"
                     for value, names in sorted(by.items(), key=lambda item: -len(item[1])))


def entries(profile: str = "paper") -> pd.DataFrame:
    """One row per experiment of the profile: its key, state (``runner.status``), parameters, shards,
    devices (a tuple of names), commits, the compute time of its shards on a CPU and on a GPU (each shard's
    wall seconds, summed per kind of device: a CPU second and a GPU second do not add up; NaN where none ran
    there) and the date of its newest shard."""
    state = {(r.name, r.key): r.state for r in runner.status(profile)}
    groups: dict[tuple[str, str], list[dict]] = {}
    for entry, doc in _docs():
        groups.setdefault((entry.name, entry.key), []).append(doc)
    rows = []
    for (name, key), docs in sorted(groups.items()):
        provs = [d["provenance"] for d in docs]
        rows.append((name, key, state.get((name, key), "orphan"),
                     ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(docs[0]["params"].items())) or "none",
                     len(docs), tuple(sorted({p.get("device", "?") for p in provs})),
                     ", ".join(sorted({p.get("commit", "?")[:12] for p in provs})),
                     *(_seconds([p for p in provs if results.is_cpu(p.get("device", "cpu")) == cpu])
                       for cpu in (True, False)),
                     max(p.get("date", "?") for p in provs).replace("T", " ").replace("+00:00", "")))
    return pd.DataFrame(rows, columns=["experiment", "key", "state", "parameters", "shards", "device", "commit",
                                       "CPU time (s)", "GPU time (s)", "date (UTC)"])


def _seconds(provs: list[dict]) -> float:
    """Summed wall seconds of shards (NaN for none)."""
    return round(sum(p.get("wall_s", 0.0) for p in provs), 1) if provs else float("nan")


def rechecks() -> pd.DataFrame:
    """One row per stored experiment entry made fresh by ``results --recheck`` (``convlib.recheck``) rather
    than by a recomputation: the commit it was rechecked at, what was recomputed, how many numbers were
    compared, the largest absolute difference and the tolerance declared."""
    rows = {}
    for entry, doc in _docs():
        block = doc["provenance"].get("recheck")
        if block is None:
            continue
        what = block["recomputed"]
        rows[(entry.name, entry.key)] = (
            entry.name, block["commit"][:12], what[0] if len(what) == 1 else f"{len(what):,} items, e.g. {what[0]}",
            block["compared"], block["max_abs_diff"], f"rtol {block['rtol']:g}, atol {block['atol']:g}",
            block["date"].replace("T", " ").replace("+00:00", ""))
    return pd.DataFrame(sorted(rows.values()), columns=["experiment", "rechecked at", "recomputed", "numbers compared",
                                                        "largest difference", "tolerance", "date (UTC)"])


def chapters(profile: str = "paper") -> pd.DataFrame:
    """Per chapter: registered experiments, how many are fresh, devices and compute time on a CPU and on a
    GPU (NaN where none ran there), over the entries this profile asks for (not another committed profile's)."""
    table, own = entries(profile), runner.keys(profile)
    table = table[[(n, k) in own for n, k in zip(table["experiment"], table["key"])]]
    rows = []
    for chapter in sorted({e.chapter for e in registry.load_all().values()}):
        names = sorted(n for n, e in registry.REGISTRY.items() if e.chapter == chapter)
        mine = table[table["experiment"].isin(names)]
        rows.append((chapter, len(names), int((mine["state"] == "fresh").sum()),
                     "; ".join(sorted({d for devices in mine["device"] for d in devices})) or "-",
                     *(round(float(mine[c].sum(min_count=1)), 1) for c in ("CPU time (s)", "GPU time (s)"))))
    return pd.DataFrame(rows, columns=["chapter", "experiments", "fresh", "devices",
                                       "CPU time (s)", "GPU time (s)"]).set_index("chapter")


PURPOSE = {"gpu": "larger sizes for one GPU command, the paper's where they fit", "paper": "sized for a two-core CPU"}


def _value(v) -> str:
    return f"{len(v):,d} values" if isinstance(v, list) else f"{v:,}" if isinstance(v, int) else str(v)


def profile_note(chapter: str, profile: str | None = None) -> str:
    """What a chapter says about where its numbers come from (markdown): the profile it was executed with
    (``registry.active_profile``) and, for a committed profile, where another committed profile's section
    differs, its values beside this one's and whether its results for the chapter are committed."""
    name = profile or registry.active_profile()
    here = registry.profile(name).get(chapter, {})
    text = [f"The numbers on this page come from the **{name}** profile (`book/params/{name}.yaml`"
            + (f", {PURPOSE[name]})." if name in PURPOSE else ").")]
    if name not in registry.COMMITTED_PROFILES:
        return text[0] + " They were computed when the page was run, not read from the committed results."
    for other in (o for o in registry.COMMITTED_PROFILES if o != name):
        there = registry.profile(other).get(chapter, {})
        diff = [f"`{k}` {_value(there.get(k))} (here {_value(here.get(k))})" for k in sorted(set(here) | set(there))
                if here.get(k) != there.get(k)]
        if not diff:
            continue
        mine = [n for n, e in registry.load_all().items() if e.chapter == chapter]
        rows = runner.status(other, mine) if mine else []
        done = bool(rows) and all(r.state == "fresh" for r in rows)
        here_keys = runner.keys(name, mine) if mine else set()
        part = "; ".join([f"{r.name}: all of it" for r in rows
                          if r.state == "fresh" and (r.name, r.key) not in here_keys]
                         + [f"{r.name}: {r.shards[0]:,} of {r.shards[1]:,} shards" for r in rows
                            if r.state == "missing" and r.shards[0]])
        if done:
            state = ("Its results for this chapter are committed: `make book` builds this page from them."
                     if registry.COMMITTED_PROFILES.index(other) < registry.COMMITTED_PROFILES.index(name) else
                     f"Its results for this chapter are committed too: `make book PROFILE={other}` builds the page "
                     "from them.")
        else:
            state = (f"Its results for this chapter are not {'all ' if part else ''}committed yet"
                     + (f" (so far {part})." if part else "."))
            if other == "gpu":
                state += (" One command on a GPU machine computes them (README, \"The prepared GPU run\"); once "
                          "they are committed, `make book` builds this page from them.")
        text.append(f"The **{other}** profile ({PURPOSE.get(other, f'book/params/{other}.yaml')}) has "
                    + "; ".join(diff) + ". " + state)
    return " ".join(text)


# ---------------------------------------------------------------- the appendix's tables, formatted for the page
def environment_table() -> present.Table:
    """:func:`environment` as a table."""
    return present.table(environment(), index=True)


def chapters_table(profile: str = "paper") -> present.Table:
    """:func:`chapters` as a table."""
    return present.table(chapters(profile), dict.fromkeys(("CPU time (s)", "GPU time (s)"), "{:,.1f}"), index=True)


def entries_table(profile: str = "paper") -> present.Table:
    """Every cached result: its state, shards, device, CPU and GPU time and date (:func:`entries`)."""
    cols = ["experiment", "state", "shards", "device", "CPU time (s)", "GPU time (s)", "date (UTC)"]
    table = entries(profile)[cols].assign(device=lambda t: t["device"].map("; ".join))
    return present.table(table, {"shards": "{:,d}", **dict.fromkeys(cols[4:6], "{:,.1f}")})


def rechecks_table() -> present.Table:
    """:func:`rechecks` as a table."""
    cols = ["experiment", "rechecked at", "recomputed", "numbers compared", "largest difference", "tolerance"]
    return present.table(rechecks()[cols], {"numbers compared": "{:,d}", "largest difference": "{:.1e}"})


def parameters_table(profile: str = "paper") -> present.Table:
    """Every cached result: its cache key, the commit(s) that computed it and its parameters (:func:`entries`)."""
    return present.table(entries(profile)[["experiment", "key", "commit", "parameters"]])


__all__ = [
    "PURPOSE", "profile_note", "environment", "provenance_versions", "entries", "rechecks", "chapters",
    "environment_table", "chapters_table", "entries_table", "rechecks_table", "parameters_table",
]
