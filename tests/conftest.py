"""Shared test machinery.

* ``@pytest.mark.requires_data("mnist", ...)``: a test that reads these datasets is skipped where they are
  not on the data search path, except under ``CI=true``, where it fails and says to run ``make data``.
* ``toy_store``: a private results store with the toy experiments of ``toy_experiments.py`` registered.
"""
import os
from pathlib import Path

import pytest

from convlib import data, fetch

TESTS = Path(__file__).resolve().parent


def pytest_configure(config):
    config.addinivalue_line("markers", "requires_data(*names): needs these datasets of data/checksums.json "
                                       "(skipped without them; fails under CI=true)")


def pytest_runtest_setup(item):
    names = [n for mark in item.iter_markers("requires_data") for n in mark.args]
    folders = data.search_path()
    missing = [n for n in names if not fetch.present(n, folders)]
    if missing:
        why = f"datasets {missing} not found in {[str(f) for f in folders]}: run `make data` (or set CONVLIB_DATA)"
        if os.environ.get("CI") == "true":
            pytest.fail(why, pytrace=False)
        pytest.skip(why)


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
    monkeypatch.setattr(registry, "_COMPUTED", {})
    profile = tmp_path / "toy.yaml"
    profile.write_text("00_toy: {n: 12, seed: 3, delay: 0.0}\n")
    return store, str(profile)
