"""convlib.registry: profiles validated, results served only when fresh, shards joined, dirty code refused."""
import json

import numpy as np
import pytest

from convlib import bookrun, registry, results

P = {"n": 12, "seed": 3, "delay": 0.0}


def test_get_computes_once_then_serves_the_stored_result(toy_store, monkeypatch):
    store, _ = toy_store
    monkeypatch.setenv("CONVLIB_ALLOW_DIRTY", "1")
    calls = []
    exp = registry.lookup("toy.sum")
    monkeypatch.setitem(registry.REGISTRY, "toy.sum", registry.Experiment(
        "toy.sum", exp.chapter, lambda n, seed: calls.append(1) or exp.fn(n, seed)))
    first = registry.get("toy.sum", {**P, "unused": True})
    second = registry.get("toy.sum", P)
    assert len(calls) == 1 and second["total"] == first["total"] and second["label"] == "toy"
    np.testing.assert_array_equal(second["x"], first["x"])
    doc = json.loads(next(store.glob("toy.sum/*.json")).read_text())
    assert doc["params"] == {"n": 12, "seed": 3} and doc["arrays"] == ["x"]


def test_parameters_are_picked_and_checked(toy_store):
    exp = registry.lookup("toy.sum")
    assert exp.keys == ("n", "seed") and exp.key(P) == exp.key({"n": 12, "seed": 3})
    with pytest.raises(ValueError, match=r"needs parameters \['seed'\]"):
        exp.params({"n": 3})
    with pytest.raises(ValueError, match="unknown experiment 'toy.nope'"):
        registry.lookup("toy.nope")


def test_sharded_results_are_joined_in_shard_order(toy_store, monkeypatch):
    monkeypatch.setenv("CONVLIB_ALLOW_DIRTY", "1")
    R = registry.get("toy.shards", P)
    np.testing.assert_array_equal(R["index"], np.arange(12))
    assert R["n"] == 12 and R["_provenance"]["shards"] == 3
    assert results.stored_shards("toy.shards", registry.lookup("toy.shards").key(P)) == ["00-05", "05-10", "10-12"]
    assert registry.ranges(10, 4) == ["00-04", "04-08", "08-10"] and list(registry.span("04-08")) == [4, 5, 6, 7]
    with pytest.raises(ValueError, match="shards disagree on 'n'"):
        registry.concat([{"n": 1}, {"n": 2}])


def test_a_stale_or_corrupt_entry_is_never_served(toy_store, monkeypatch):
    store, _ = toy_store
    monkeypatch.setenv("CONVLIB_ALLOW_DIRTY", "1")
    registry.get("toy.digits", {"n": 5, "seed": 0})
    path = next(store.glob("toy.digits/*.json"))
    doc = json.loads(path.read_text())
    doc["provenance"]["data"]["sklearn/digits.csv.gz"] = "0" * 64
    path.write_text(json.dumps(doc))
    with pytest.raises(registry.StaleResult, match="data differ: sklearn/digits.csv.gz.*--only toy.digits"):
        registry.get("toy.digits", {"n": 5, "seed": 0})
    path.write_text("{")
    with pytest.raises(results.CorruptEntry, match=str(path)):
        registry.get("toy.digits", {"n": 5, "seed": 0})


def test_results_from_uncommitted_code_are_refused_unless_allowed(toy_store, monkeypatch):
    store, _ = toy_store
    monkeypatch.delenv("CONVLIB_ALLOW_DIRTY", raising=False)
    monkeypatch.setattr(results, "source_state", lambda: ("abc", True))
    with pytest.raises(registry.DirtyTree, match="uncommitted changes"):
        registry.get("toy.sum", P)
    assert not list(store.glob("toy.sum/*"))
    monkeypatch.setenv("CONVLIB_ALLOW_DIRTY", "1")
    assert registry.get("toy.sum", P)["_provenance"]["dirty"] is True


def test_cache_off_computes_once_per_process_and_writes_nothing(toy_store, monkeypatch):
    """A smoke run (cache off) read each result in a chapter and again in its claims table: computing it
    twice is what made CI's smoke step compute paper-size results for hours."""
    store, _ = toy_store
    monkeypatch.setenv("CONVLIB_CACHE", "0")
    calls = []
    exp = registry.lookup("toy.sum")
    monkeypatch.setitem(registry.REGISTRY, "toy.sum", registry.Experiment(
        "toy.sum", exp.chapter, lambda n, seed: calls.append(1) or exp.fn(n, seed)))
    a, b = registry.get("toy.sum", P), registry.get("toy.sum", P)
    assert len(calls) == 1 and a["total"] == b["total"] and {"code", "data"} <= set(a["_provenance"])
    registry.get("toy.sum", {**P, "n": 5})
    assert len(calls) == 2 and not store.exists()
    R = registry.get("toy.shards", P)  # assembling pops each shard's provenance: the memory must keep it
    assert registry.get("toy.shards", P)["_provenance"]["shards"] == R["_provenance"]["shards"] == 3


def test_profiles_reject_unknown_parameters_sections_and_bad_yaml(toy_store, tmp_path):
    _, good = toy_store
    assert registry.profile(good) == {"00_toy": P}
    bad = tmp_path / "bad.yaml"
    for text, why in [("00_toy: {n: 1, seed: 0, delay: 0, typo: 3}\n", r"unknown parameters \['typo'\]"),
                      ("99_nowhere: {n: 1}\n", "names no chapter"),
                      ("00_toy: [1, 2]\n", "must map chapter names"),
                      ("00_toy: {n: [1\n", "not valid YAML")]:
        bad.write_text(text)
        with pytest.raises(ValueError, match=why):
            registry.profile(str(bad))
    with pytest.raises(FileNotFoundError, match="profiles: .*paper"):
        registry.profile("nope")
    with pytest.raises(ValueError, match="profile must be a name"):
        registry.profile("../etc/passwd")


@pytest.mark.parametrize("text, why", [
    ("00_toy: {n: abc, seed: 0, delay: 0}\n", "parameter 'n' = 'abc': expected an integer >= 0"),
    ("00_toy: {n: -5, seed: 0, delay: 0}\n", "parameter 'n' = '-5': expected an integer >= 0"),
    ("00_toy: {n: 2.5, seed: 0, delay: 0}\n", "parameter 'n' = '2.5': expected an integer >= 0"),
    ("00_toy: {n: true, seed: 0, delay: 0}\n", "parameter 'n' = 'True': expected an integer >= 0"),
    ("00_toy: {n: 3, seed: 0, delay: .nan}\n", "parameter 'delay' = 'nan': expected a finite number >= 0"),
    ("00_toy: {n: 3, seed: 0}\n", r"lacks parameters \['delay'\] of experiment 'toy.shards'"),
    ("00_toy: " + "[" * 5000 + "]" * 5000 + "\n", "nests too deeply|must map chapter names"),
])
def test_profiles_reject_wrong_types_missing_keys_and_deep_nesting_naming_the_file(toy_store, tmp_path, text, why):
    """A wrongly typed parameter was reported 'missing' by --status; a missing one named no file; a
    5,000-level nesting raised RecursionError."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    with pytest.raises(ValueError, match=why) as err:
        registry.profile(str(bad))
    assert str(bad) in str(err.value)


def test_a_deeply_nested_or_overlong_profile_is_a_clear_error(toy_store, tmp_path):
    deep = tmp_path / "deep.yaml"
    deep.write_text("00_toy: {n: " + "{a: " * 5000 + "1" + "}" * 5000 + ", seed: 0, delay: 0}\n")
    with pytest.raises(ValueError, match=f"{deep} nests too deeply|parameter 'n'"):
        registry.profile(str(deep))
    with pytest.raises(ValueError, match=r"profile must be a name \(1 to 64 letters.*\.\.\. \(300 characters\)"):
        registry.profile("p" * 300)
    with pytest.raises(ValueError, match="cannot read the profile .*File name too long"):
        registry.profile(str(tmp_path / ("p" * 300 + ".yaml")))


def test_the_book_profiles_are_valid():
    for name in ("paper", "smoke"):
        sections = registry.profile(name)
        for exp in registry.load_all().values():
            if exp.chapter in sections:
                exp.params(sections[exp.chapter])  # every experiment finds all its parameters


def test_parameters_cell_reads_literals_and_rejects_code(tmp_path):
    def notebook(src, tags=("parameters",)):
        path = tmp_path / "nb.ipynb"
        path.write_text(json.dumps({"cells": [{"cell_type": "code", "metadata": {"tags": list(tags)}, "source": src}]}))
        return path

    assert bookrun.parameters_cell(notebook("n = 3\nxs = [1, 2.5]\nname = 'a'\n")) == {"n": 3, "xs": [1, 2.5], "name": "a"}
    with pytest.raises(ValueError, match="may only assign plain variables"):
        bookrun.parameters_cell(notebook("import os\n"))
    with pytest.raises(ValueError, match="exactly one code cell tagged 'parameters'"):
        bookrun.parameters_cell(notebook("n = 3\n", tags=()))


def test_scratch_state_is_per_commit_and_cleared_once_stored(toy_store, monkeypatch):
    store, _ = toy_store
    entry = results.Entry("toy.shards", "k", "00-05")
    monkeypatch.setattr(results, "source_state", lambda: ("a" * 40, False))
    old = results.scratch(entry)
    monkeypatch.setattr(results, "source_state", lambda: ("b" * 40, True))
    new = results.scratch(entry)
    assert old != new and new.parent.name == "b" * 12 + "+" and new.name == "00-05"
    for folder in (old, new, results.scratch(results.Entry("toy.shards", "k", "05-10"))):
        folder.mkdir(parents=True)
    registry.store(entry, {}, {"x": np.ones(2)}, {"dirty": False})
    assert not old.exists() and not new.exists()
    assert results.scratch(results.Entry("toy.shards", "k", "05-10")).exists()  # other shards keep theirs


def test_assemble_records_the_device_of_each_shard_in_order():
    exp = registry.lookup("ch06.ntk")
    prov = {"wall_s": 1.0, "commit": "c" * 40, "date": "2026-12-04", "dirty": False}
    parts = [{"index": np.array([0]), "_provenance": {**prov, "device": "gpu"}},
             {"index": np.array([1]), "_provenance": {**prov, "device": "cpu"}}]
    out = registry.assemble(exp, parts)
    assert out["_provenance"]["shard_devices"] == ["gpu", "cpu"] and out["_provenance"]["device"] == "cpu, gpu"
    assert list(out["index"]) == [0, 1]


def test_the_provenance_names_the_gpu_only_when_the_computation_allocated_on_it(monkeypatch):
    """On a GPU machine a shard that never touched the GPU (a CPU-only experiment) is recorded on the CPU."""
    import torch

    allocated = iter([5, 5, 5, 9])  # the count before and after each of two computations
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=0: "Fake GPU")
    monkeypatch.setattr(torch.cuda, "memory_stats", lambda: {"allocation.all.allocated": next(allocated)})
    on_cpu = registry.compute("toy.sum", P)[1]["device"]
    assert on_cpu.startswith("cpu (") and on_cpu.endswith("; Fake GPU unused)")
    assert registry.compute("toy.sum", P)[1]["device"] == "Fake GPU"
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: False)
    assert results.cuda_allocations() == 0
