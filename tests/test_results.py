"""convlib.results: stable keys, atomic writes, provenance, the off switch, and committed entries that
still match what their code computes today."""
import json
import math
import os

import numpy as np
import pytest

from convlib import results

PROVENANCE = {"commit", "dirty", "device", "torch", "numpy", "python", "wall_s", "date"}


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache folder, the cache on, and a toy experiment that counts its calls."""
    monkeypatch.setenv("CONVLIB_RESULTS", str(tmp_path))
    monkeypatch.setenv("CONVLIB_CACHE", "1")
    calls = []

    def toy(n: int, seed: int) -> dict:
        calls.append((n, seed))
        rng = np.random.default_rng(seed)
        return {"mean": float(rng.normal(size=n).mean()), "x": rng.normal(size=(n, 2)), "label": "toy"}

    results.REGISTRY.pop("test.toy", None)
    results.experiment("test.toy", chapter="00_test")(toy)
    yield tmp_path, calls
    results.REGISTRY.pop("test.toy", None)


def test_hash_is_stable_and_order_free():
    # a fixed value: a change of the hashing scheme would orphan every committed entry
    assert results.param_hash("toy", {"a": 1, "b": [1.5, 2], "c": "x"}) == "4833b52a7a4b"
    assert results.param_hash("toy", {"c": "x", "b": [1.5, 2], "a": 1}) == "4833b52a7a4b"
    assert results.param_hash("toy", {"a": np.int64(1), "b": (1.5, 2), "c": "x"}) == "4833b52a7a4b"
    assert results.param_hash("toy", {"a": 2, "b": [1.5, 2], "c": "x"}) != "4833b52a7a4b"
    assert results.param_hash("other", {"a": 1, "b": [1.5, 2], "c": "x"}) != "4833b52a7a4b"


def test_only_the_functions_keys_are_hashed(cache):
    assert results.paths("test.toy", {"n": 3, "seed": 0}) == results.paths("test.toy", {"n": 3, "seed": 0, "other": 9})
    with pytest.raises(ValueError, match=r"needs parameters \['seed'\]"):
        results.paths("test.toy", {"n": 3})
    with pytest.raises(ValueError, match="unknown experiment"):
        results.get("test.nope", {})


def test_get_stores_once_then_loads_with_provenance(cache):
    folder, calls = cache
    first = results.get("test.toy", {"n": 4, "seed": 1, "unused": True})
    second = results.get("test.toy", {"n": 4, "seed": 1})
    assert len(calls) == 1
    assert second["mean"] == first["mean"] and second["label"] == "toy"
    np.testing.assert_array_equal(second["x"], first["x"])
    assert PROVENANCE <= set(second["_provenance"])
    assert second["_provenance"]["wall_s"] >= 0
    entry = json.loads(next(folder.glob("test.toy/*.json")).read_text())
    assert entry["params"] == {"n": 4, "seed": 1} and entry["arrays"] == ["x"]
    assert [e["name"] for e in results.entries()] == ["test.toy"]


def test_interrupted_write_leaves_no_entry_and_next_call_recomputes(cache, monkeypatch):
    folder, calls = cache
    real_replace = os.replace

    def interrupted(src, dst):
        if str(dst).endswith(".json"):  # the index file is written last: die right before it lands
            raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr(results.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        results.get("test.toy", {"n": 5, "seed": 2})
    assert results.load("test.toy", {"n": 5, "seed": 2}) is None
    assert not list(folder.rglob("*.json")) and not list(folder.rglob("*.tmp"))
    monkeypatch.setattr(results.os, "replace", real_replace)
    results.get("test.toy", {"n": 5, "seed": 2})
    assert len(calls) == 2
    assert results.load("test.toy", {"n": 5, "seed": 2}) is not None


def test_cache_off_computes_every_time_and_writes_nothing(cache, monkeypatch):
    folder, calls = cache
    monkeypatch.setenv("CONVLIB_CACHE", "0")
    a = results.get("test.toy", {"n": 3, "seed": 0})
    b = results.get("test.toy", {"n": 3, "seed": 0})
    assert len(calls) == 2 and a["mean"] == b["mean"]
    assert PROVENANCE <= set(a["_provenance"])
    assert not any(folder.iterdir())


# ------------------------------------------------------------------ committed entries
MAX_WALL_S = 30.0  # recompute only entries that took at most this long when they were made
SAMPLE = 3


def _cheap_committed_entries() -> list[dict]:
    """The cheapest committed entry of each experiment that a CPU can redo, up to SAMPLE of them."""
    results._load_registry()
    best: dict[str, dict] = {}
    for e in results.entries():
        p = e["provenance"]
        if e["name"] not in results.REGISTRY or not p.get("device", "").startswith("cpu"):
            continue  # GPU results are not expected to agree with a CPU re-run to float precision
        if p.get("wall_s", math.inf) <= MAX_WALL_S and (e["name"] not in best or p["wall_s"] < best[e["name"]]["provenance"]["wall_s"]):
            best[e["name"]] = e
    return sorted(best.values(), key=lambda e: e["provenance"]["wall_s"])[:SAMPLE]


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
@pytest.mark.parametrize("entry", _cheap_committed_entries(), ids=lambda e: f"{e['name']}:{e['key']}")
def test_committed_entry_matches_a_fresh_computation(entry):
    cached = results.load(entry["name"], entry["params"])
    assert cached is not None, f"{entry['name']} at {entry['key']}: the key of its stored parameters changed"
    fresh = results.compute(entry["name"], entry["params"])
    fresh = json.loads(json.dumps({k: results._jsonable(v) for k, v in fresh.items() if not isinstance(v, np.ndarray)})) \
        | {k: v for k, v in fresh.items() if isinstance(v, np.ndarray)}
    cached.pop("_provenance"), fresh.pop("_provenance")
    _assert_same(entry["name"], cached, fresh)


def test_there_are_committed_entries_to_check():
    assert _cheap_committed_entries(), "no committed entry under data/results/ is cheap enough to recompute"
