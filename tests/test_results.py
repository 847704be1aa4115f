"""convlib.results: stable keys, atomic 0644 writes, temporary files cleaned, unreadable entries named,
and freshness against code and data fingerprints; committed entries still equal a fresh computation."""
import json
import math
import os
import stat
import subprocess
import sys

import numpy as np
import pytest

from convlib import data, fingerprint, registry, results

PROVENANCE = {"commit", "dirty", "device", "torch", "numpy", "python", "wall_s", "date", "code", "data", "datasets"}


def test_hash_is_stable_and_order_free():
    # a fixed value: a change of the hashing scheme would orphan every committed entry
    assert results.param_hash("toy", {"a": 1, "b": [1.5, 2], "c": "x"}) == "4833b52a7a4b"
    assert results.param_hash("toy", {"c": "x", "b": [1.5, 2], "a": 1}) == "4833b52a7a4b"
    assert results.param_hash("toy", {"a": np.int64(1), "b": (1.5, 2), "c": "x"}) == "4833b52a7a4b"
    assert results.param_hash("toy", {"a": 2, "b": [1.5, 2], "c": "x"}) != "4833b52a7a4b"
    assert results.param_hash("other", {"a": 1, "b": [1.5, 2], "c": "x"}) != "4833b52a7a4b"


def _prov(**kw) -> dict:
    return {**results.provenance(0.1, [], []), **kw}


def test_write_then_read_round_trips_with_readable_files(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVLIB_RESULTS", str(tmp_path))
    entry = results.Entry("toy.x", "abc123", "00-05")
    results.write(entry, {"n": 3}, {"x": np.arange(3.0), "label": "toy", "k": np.int64(4)}, _prov())
    back = results.read(entry)
    np.testing.assert_array_equal(back["x"], np.arange(3.0))
    assert back["label"] == "toy" and back["k"] == 4 and PROVENANCE <= set(back["_provenance"])
    assert entry.json == tmp_path / "toy.x" / "abc123" / "00-05.json"
    for path in (entry.json, entry.npz):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert list(results.stored()) == [entry] and results.stored_shards("toy.x", "abc123") == ["00-05"]
    assert not list((tmp_path / results.TMP).iterdir())


def test_a_killed_writer_leaves_only_a_temporary_file_that_the_next_run_removes(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVLIB_RESULTS", str(tmp_path))
    # a child process that dies (SIGKILL) in the middle of a write, after its temporary file exists
    code = ("import os, signal, numpy as np; from convlib import results\n"
            "real = os.replace\n"
            "def die(src, dst): os.kill(os.getpid(), signal.SIGKILL)\n"
            "results.os.replace = die\n"
            "results.write(results.Entry('toy.x', 'k1'), {}, {'x': np.ones(3)}, {'dirty': False})\n")
    proc = subprocess.run([sys.executable, "-c", code], env={**os.environ}, capture_output=True)
    assert proc.returncode == -9
    leftovers = list((tmp_path / results.TMP).iterdir())
    assert len(leftovers) == 1 and not list(tmp_path.glob("toy.x/*"))
    mine = tmp_path / results.TMP / f"{os.getpid()}.live.tmp"
    mine.write_bytes(b"")  # a temporary file of a live process (this one) is left alone
    assert results.clean_tmp() == leftovers and list((tmp_path / results.TMP).iterdir()) == [mine]


@pytest.mark.parametrize("damage", ["truncate_json", "truncate_npz", "remove_npz", "not_an_entry", "garble_npz"])
def test_unreadable_entries_name_the_file_and_how_to_recompute(tmp_path, monkeypatch, damage):
    monkeypatch.setenv("CONVLIB_RESULTS", str(tmp_path))
    entry = results.Entry("toy.x", "k2")
    results.write(entry, {}, {"x": np.random.default_rng(0).normal(size=4000).round(2)}, _prov())
    bad = entry.json if damage in ("truncate_json", "not_an_entry") else entry.npz
    if damage == "garble_npz":  # 256 bytes overwritten inside the deflate stream: a zlib.error
        raw = bad.read_bytes()
        bad.write_bytes(raw[:1000] + bytes(range(256)) + raw[1256:])
    elif damage.startswith("truncate"):
        bad.write_bytes(bad.read_bytes()[: len(bad.read_bytes()) // 2])
    elif damage == "remove_npz":
        bad.unlink()
    else:
        bad.write_text("[1, 2]")
    with pytest.raises(results.CorruptEntry) as err:
        results.read(entry)
    assert str(bad) in str(err.value) and "python -m convlib results --only toy.x" in str(err.value)


def test_fresh_until_the_code_or_the_data_changes(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVLIB_RESULTS", str(tmp_path))
    with data.recording() as requests, fingerprint.trace() as functions:
        data.load("digits", "train", n=5)
    prov = results.provenance(0.1, functions, requests)
    assert prov["datasets"] == ["digits/train"] and list(prov["data"]) == ["sklearn/digits.csv.gz"]
    assert "convlib.data:load_images" in prov["code"]
    assert results.check(prov) is None
    edited = {**prov, "code": {**prov["code"], "convlib.data:load_images": "0" * 16}}
    assert "code changed: convlib.data:load_images" in results.check(edited)
    gone = {**prov, "code": {**prov["code"], "convlib.data:renamed_away": "0" * 16}}
    assert "convlib.data:renamed_away" in results.check(gone)
    other = {**prov, "data": {"sklearn/digits.csv.gz": "f" * 64}}
    assert "data differ: sklearn/digits.csv.gz (stored ffffffffffff" in results.check(other)
    assert "no code or data fingerprint" in results.check({"commit": "x"})


def test_source_state_reads_git(monkeypatch):
    commit, dirty = results.source_state()
    assert commit == "unknown" or len(commit) == 40
    monkeypatch.setattr(results, "_git", lambda *a: None)
    assert results.source_state() == ("unknown", False)


# ------------------------------------------------------------------ committed entries
MAX_WALL_S = 30.0  # recompute only shards that took at most this long when they were made
SAMPLE = 3


def _cheap_committed_shards() -> list[results.Entry]:
    """The cheapest committed shard of each experiment that a CPU can redo, up to SAMPLE of them."""
    registry.load_all()
    best: dict[str, tuple[float, results.Entry]] = {}
    for entry in results.stored():
        doc = results.read_doc(entry)
        p = doc["provenance"]
        if entry.name not in registry.REGISTRY or not p.get("device", "").startswith("cpu"):
            continue  # GPU results are not expected to agree with a CPU re-run to float precision
        wall = p.get("wall_s", math.inf)
        if wall <= MAX_WALL_S and (entry.name not in best or wall < best[entry.name][0]):
            best[entry.name] = (wall, entry)
    return [e for _, e in sorted(best.values(), key=lambda t: t[0])[:SAMPLE]]


def _assert_same(name: str, cached, fresh) -> None:
    if isinstance(cached, np.ndarray) or isinstance(fresh, np.ndarray):
        cached, fresh = np.asarray(cached), np.asarray(fresh)
        assert cached.shape == fresh.shape, name
        if cached.dtype.kind in "fc":
            np.testing.assert_allclose(fresh, cached, rtol=1e-6, atol=1e-9, err_msg=name)
        else:
            np.testing.assert_array_equal(fresh, cached, err_msg=name)
    elif isinstance(cached, dict):
        assert set(cached) == set(fresh), name
        for k in cached:
            _assert_same(f"{name}.{k}", cached[k], fresh[k])
    elif isinstance(cached, (list, tuple)):
        assert len(cached) == len(fresh), name
        for i, (a, b) in enumerate(zip(cached, fresh)):
            _assert_same(f"{name}[{i}]", a, b)
    elif isinstance(cached, float) or isinstance(fresh, float):
        assert math.isclose(fresh, cached, rel_tol=1e-6, abs_tol=1e-9) or (math.isnan(cached) and math.isnan(fresh)), name
    else:
        assert fresh == cached, name


@pytest.mark.requires_data("mnist", "cifar10", "nasbench201")  # the experiments read them
@pytest.mark.parametrize("entry", _cheap_committed_shards(), ids=str)
def test_committed_entry_matches_a_fresh_computation(entry):
    doc = results.read_doc(entry)
    assert registry.lookup(entry.name).key(doc["params"]) == entry.key, f"{entry}: its key scheme changed"
    cached = results.read(entry)
    fresh, _ = registry.compute(entry.name, doc["params"], entry.shard)
    fresh = json.loads(json.dumps({k: results.jsonable(v) for k, v in fresh.items() if not isinstance(v, np.ndarray)})) \
        | {k: v for k, v in fresh.items() if isinstance(v, np.ndarray)}
    cached.pop("_provenance")
    _assert_same(str(entry), cached, fresh)


def test_there_are_committed_entries_to_check():
    assert _cheap_committed_shards(), "no committed entry under data/results/ is cheap enough to recompute"
