"""convlib.recheck and ``python -m convlib results --recheck``: a refactor restamps, a behaviour change does not."""
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from convlib import recheck, registry, results, runner, status
from convlib.__main__ import main

TOY = ["toy"]
SRC = Path(__file__).resolve().parents[1] / "src" / "convlib"


# ---------------------------------------------------------------------- compare
def test_compare_is_exact_by_default_and_uses_the_declared_tolerance():
    stored = {"x": np.array([1.0, 2.0, np.nan]), "n": 3, "label": "a", "secs": np.array([0.5]), "_provenance": {}}
    same = {"x": np.array([1.0, 2.0, np.nan]), "n": 3, "label": "a", "secs": np.array([9.0])}
    diff = recheck.compare(stored, same, volatile=("secs",))
    assert diff.where == () and diff.compared == 5 and diff.max_abs == 0.0
    assert recheck.compare(stored, same).where[0].startswith("secs: 1 of 1 values differ")
    near = {**same, "x": np.array([1.0, 2.0 + 1e-12, np.nan])}
    exact = recheck.compare(stored, near, volatile=("secs",))
    assert len(exact.where) == 1 and exact.where[0].startswith("x: 1 of 3 values differ, first at [1]")
    assert exact.max_abs == pytest.approx(1e-12, rel=1e-3) and exact.max_rel == pytest.approx(5e-13, rel=1e-3)
    assert recheck.compare(stored, near, rtol=1e-9, volatile=("secs",)).where == ()
    assert recheck.compare(stored, near, atol=1e-13, volatile=("secs",)).where != ()
    nan_moved = {**same, "x": np.array([1.0, np.nan, np.nan])}
    assert recheck.compare(stored, nan_moved, rtol=1.0, volatile=("secs",)).where[0].startswith("x: 1 of 3")
    other = recheck.compare(stored, {**same, "label": "b", "x": np.zeros(2)}, volatile=("secs",))
    assert [w.split(":")[0] for w in other.where] == ["label", "x"] and "shape (3,) stored, (2,) now" in other.where[1]
    assert recheck.compare(stored, {"n": 3}, volatile=("secs",)).where[0] == "label: not recomputed"


# ---------------------------------------------------------------------- in-process, on the toy store
@pytest.fixture
def committed(toy_store, monkeypatch):
    """The toy store, as if the checkout were clean (this one may hold uncommitted work)."""
    monkeypatch.setattr(results, "source_state", lambda: ("abc", False))
    return toy_store


def _refactor(store: Path, name: str, function: str) -> None:
    """As if ``function``'s source had changed since ``name`` was stored: its recorded hash no longer matches."""
    for path in store.glob(f"{name}/**/*.json"):
        doc = json.loads(path.read_text())
        assert function in doc["provenance"]["code"], doc["provenance"]["code"]
        doc["provenance"]["code"][function] = "0" * 16
        path.write_text(json.dumps(doc))


def _rows(profile):
    return {r.name: r for r in runner.status(profile, TOY)}


def test_a_refactor_is_rechecked_on_a_sample_and_restamped(committed):
    store, profile = committed
    runner.run(profile=profile, only=TOY, progress=False)
    _refactor(store, "toy.shards", "convlib.registry:span")
    _refactor(store, "toy.digits", "convlib.data:load")
    assert _rows(profile)["toy.shards"].state == "stale" and _rows(profile)["toy.digits"].state == "stale"
    out = {o.name: o for o in recheck.recheck(profile, TOY)}
    assert out["toy.sum"].state == "fresh"
    assert out["toy.shards"].state == "rechecked" and out["toy.digits"].state == "rechecked"
    assert "3 probe(s)" in out["toy.shards"].detail  # 25 % of 12 items, each recomputed alone
    rows = _rows(profile)
    assert {r.state for r in rows.values()} == {"fresh"}
    assert rows["toy.shards"].rechecked and rows["toy.digits"].rechecked and not rows["toy.sum"].rechecked
    assert "fresh (rechecked)" in str(rows["toy.shards"])
    prov = json.loads(next(store.glob("toy.shards/*/00-05.json")).read_text())["provenance"]
    block = prov["recheck"]
    assert block["changed"] == ["convlib.registry:span"] and len(block["recomputed"]) == 3
    assert all(w.startswith("item ") for w in block["recomputed"]) and block["max_abs_diff"] == 0.0
    assert prov["code"]["convlib.registry:span"] != "0" * 16  # the hash of now
    assert list(recheck.recheck(profile, TOY))[1].state == "fresh"  # nothing left to do
    table = status.rechecks().set_index("experiment")  # what the appendix shows
    assert sorted(table.index) == ["toy.digits", "toy.shards"]
    assert table.loc["toy.shards", "recomputed"].startswith("3 items, e.g. item ")
    assert table.loc["toy.digits", "recomputed"] == "the whole entry" and table.loc["toy.digits", "numbers compared"] == 1
    assert table.loc["toy.shards", "tolerance"] == "rtol 0, atol 0" and "NaN" not in status.rechecks_table()._repr_html_()


def test_a_changed_number_is_reported_and_left_stale(committed):
    store, profile = committed
    runner.run(profile=profile, only=TOY, progress=False)
    for npz in store.glob("toy.shards/*/*.npz"):  # every stored value off by one: any sample sees it
        with np.load(npz) as z:
            arrays = dict(z)
        arrays["value"] = arrays["value"] + 1.0
        np.savez_compressed(npz, **arrays)
    _refactor(store, "toy.shards", "convlib.registry:span")
    out = {o.name: o for o in recheck.recheck(profile, TOY)}
    assert out["toy.shards"].state == "differs"
    assert out["toy.shards"].detail.startswith("item ") and "value: 1 of 1 values differ" in out["toy.shards"].detail
    assert _rows(profile)["toy.shards"].state == "stale"
    assert main(["results", "--profile", profile, "--recheck", "toy.shards"]) == 1


def test_a_recheck_never_freshens_other_data_missing_shards_or_a_dirty_checkout(committed, monkeypatch):
    store, profile = committed
    runner.run(profile=profile, only=TOY, progress=False)
    digits = next(store.glob("toy.digits/*.json"))
    doc = json.loads(digits.read_text())
    doc["provenance"]["code"]["convlib.data:load"] = "0" * 16
    doc["provenance"]["data"]["sklearn/digits.csv.gz"] = "0" * 64
    digits.write_text(json.dumps(doc))
    next(store.glob("toy.shards/*/05-10.json")).unlink()
    out = {o.name: o for o in recheck.recheck(profile, TOY)}
    assert out["toy.digits"].state == "skipped" and "data differ: sklearn/digits.csv.gz" in out["toy.digits"].detail
    assert out["toy.shards"].state == "skipped" and "1 of 3 shards missing" in out["toy.shards"].detail
    assert _rows(profile)["toy.digits"].state == "stale"
    monkeypatch.setattr(results, "source_state", lambda: ("abc", True))
    with pytest.raises(registry.DirtyTree, match="commit first"):
        list(recheck.recheck(profile, TOY))


def test_item_probes_sample_a_seeded_fraction_of_every_item():
    probes = registry.item_probes(0.01)
    walls = {s: 1.0 for s in registry.ranges(15625, 1000)}
    a = probes({}, walls, np.random.default_rng(7))
    assert len(a) == 157 and [p.what for p in a] == [p.what for p in probes({}, walls, np.random.default_rng(7))]
    items = [int(p.what.split()[1]) for p in a]
    assert len(set(items)) == 157 and items == sorted(items)
    for p in a[:20]:
        i = int(p.what.split()[1])
        assert p.run_shard == f"{i}-{i + 1}" and i in registry.span(p.shard)
        assert p.take("v", np.arange(20000)[registry.span(p.shard).start:registry.span(p.shard).stop]).tolist() == [i]


# ---------------------------------------------------------------------- end to end: a rename in dag.py
EXPERIMENT = '''
"""A small experiment of a copied package, for tests/test_recheck.py."""
import numpy as np

from convlib import dag, registry, theory


@registry.experiment("toyrename.depths", chapter="00_toyrename")
def depths(nodes: int) -> dict:
    return {"depth_width": np.array([theory.effective_depth_width(s) for s in dag.mlp_dags(nodes)])}
'''


def _cli(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(tmp / "src"), "CONVLIB_RESULTS": str(tmp / "results"),
           "CONVLIB_EXPERIMENTS": "convlib.toyrename", "CONVLIB_CACHE": "1"}
    return subprocess.run([sys.executable, "-m", "convlib", "results", "--profile", str(tmp / "toy.yaml"),
                           "--only", "toyrename", *args], env=env, capture_output=True, text=True, timeout=300)


def test_a_rename_in_dag_py_then_recheck_leaves_status_clean(tmp_path):
    shutil.copytree(SRC, tmp_path / "src" / "convlib", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "src" / "convlib" / "toyrename.py").write_text(textwrap.dedent(EXPERIMENT))
    (tmp_path / "toy.yaml").write_text("00_toyrename: {nodes: 2}\n")
    assert _cli(tmp_path).returncode == 0
    assert _cli(tmp_path, "--status").returncode == 0
    dag_py = tmp_path / "src" / "convlib" / "dag.py"
    text = dag_py.read_text()
    assert text.count("_MLP_GROUP") >= 2
    dag_py.write_text(text.replace("_MLP_GROUP", "_MLP_DIGITS"))  # a pure rename of what parse() reads
    stale = _cli(tmp_path, "--status")
    assert stale.returncode == 1 and "stale" in stale.stdout and "convlib.dag:parse" in stale.stdout
    done = _cli(tmp_path, "--recheck")
    assert done.returncode == 0, done.stderr
    assert "rechecked" in done.stdout and "1 rechecked, 0 differ" in done.stdout
    clean = _cli(tmp_path, "--status")
    assert clean.returncode == 0 and "fresh (rechecked)" in clean.stdout
    theory_py = tmp_path / "src" / "convlib" / "theory.py"  # now a change of behaviour: caught
    text = theory_py.read_text()
    assert "def effective_depth_width(" in text
    theory_py.write_text(text.replace("def effective_depth_width(dag: DAGLike) -> tuple[float, float]:\n",
                                      "def effective_depth_width(dag: DAGLike) -> tuple[float, float]:\n"
                                      "    return (0.5, 0.5)\n", 1))
    assert theory_py.read_text() != text
    differs = _cli(tmp_path, "--recheck")
    assert differs.returncode == 1 and "differs" in differs.stdout and "depth_width" in differs.stdout
    assert _cli(tmp_path, "--status").returncode == 1
