"""``@pytest.mark.requires_data("mnist", ...)``: a test that reads these datasets is skipped where they are
not on the data search path, except under ``CI=true``, where it fails and says to run ``make data``."""
import os

import pytest

from convlib import data, fetch


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
