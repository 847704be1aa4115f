"""The ``requires_data`` marker of conftest.py, run in an inner pytest session on an empty search path."""
from pathlib import Path

import pytest

from convlib import data

pytest_plugins = ["pytester"]


@pytest.fixture
def inner(pytester, monkeypatch, tmp_path):
    """An inner session with this conftest and one test needing MNIST; the search path is
    ``tmp_path/offline`` (CONVLIB_DATA), then ``tmp_path/data``, both empty."""
    monkeypatch.setenv("CONVLIB_DATA", str(tmp_path / "offline"))
    monkeypatch.setattr(data, "ROOT", tmp_path)   # data/ of the repository is off the path too
    pytester.makeconftest((Path(__file__).parent / "conftest.py").read_text())
    pytester.makepyfile(test_inner="""
        import pytest

        @pytest.mark.requires_data("mnist")
        def test_reads_mnist():
            pass
    """)
    return pytester


@pytest.mark.parametrize("ci", [None, "false"])
def test_missing_data_skips_outside_ci(inner, monkeypatch, ci):
    monkeypatch.delenv("CI", raising=False) if ci is None else monkeypatch.setenv("CI", ci)
    result = inner.runpytest_inprocess("-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*datasets *mnist* not found in*offline*run `make data`*"])


def test_missing_data_fails_under_ci(inner, monkeypatch):
    monkeypatch.setenv("CI", "true")
    result = inner.runpytest_inprocess()
    result.assert_outcomes(errors=1)   # failed in setup: the run fails
    result.stdout.fnmatch_lines(["*datasets *mnist* not found in*offline*run `make data`*"])


def test_present_data_runs_the_test(inner, monkeypatch, tmp_path):
    monkeypatch.setenv("CI", "true")
    for rel in ("mnist/t10k-images-idx3-ubyte.gz", "mnist/t10k-labels-idx1-ubyte.gz"):
        (tmp_path / "offline" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "offline" / rel).write_bytes(b"")
    inner.runpytest_inprocess().assert_outcomes(passed=1)
