"""Shared fixtures: a private results store with the toy experiments registered."""
import os
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent


@pytest.fixture
def toy_store(tmp_path, monkeypatch):
    """An empty results store, the cache on, the toy experiments registered (also for subprocesses and
    Dask workers, through CONVLIB_EXPERIMENTS and PYTHONPATH), and a profile file for them."""
    from convlib import registry

    store = tmp_path / "results"
    monkeypatch.setenv("CONVLIB_RESULTS", str(store))
    monkeypatch.setenv("CONVLIB_CACHE", "1")
    monkeypatch.setenv("CONVLIB_EXPERIMENTS", "toy_experiments")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]))
    registry.load_all()
    profile = tmp_path / "toy.yaml"
    profile.write_text("00_toy: {n: 12, seed: 3, delay: 0.0}\n")
    return store, str(profile)
