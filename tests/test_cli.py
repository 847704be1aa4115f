import json
import os
import subprocess
import sys

import pytest

from convlib import data
from convlib.__main__ import main, one_line


def test_score_prints_one_json_object(capsys):
    assert main(["score", "2_21_112", "--data", "digits", "--n", "16", "--seed", "1"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["effective_depth"] == 1.25 and out["effective_width"] == 2.4
    assert out["lambda_min_ntk"] >= out["lambda_min_exact"] > 0
    assert 0 < out["rate"] < 1 and out["rate"] == pytest.approx(1 - out["eta"] * out["lambda_min_exact"] / 2)


def test_score_of_a_cell_no_path_reaches(capsys):
    code = main(["score", "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|", "--data", "digits", "--n", "8"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["effective_depth"] == 0.0 and out["effective_width"] == 0.0
    assert out["lambda_min_exact"] == 0.0 and out["lambda_min_paper"] == 0.0  # the output ignores the input


@pytest.mark.parametrize("argv, why", [(["score", "2_21_11", "--data", "digits"], "group 3 must have 3 digits"),
                                       (["score", "2", "--data", "svhn"], "unknown dataset"),
                                       (["score", "2", "--data", "digits", "--n", "0"], "argument --n: expected an integer >= 1")])
def test_bad_input_is_one_line_on_stderr_and_status_2(argv, why):
    proc = subprocess.run([sys.executable, "-m", "convlib", *argv], capture_output=True, text=True, env={**os.environ})
    assert proc.returncode == 2 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and why in lines[0]


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    """``main(argv)`` in this process: (exit status, stdout, stderr); argparse errors exit via SystemExit."""
    try:
        code = main(argv)
    except SystemExit as stop:
        code = stop.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_issues_ten_node_repro_is_scored_in_seconds():
    argv = ["score", "1_10_100_1000_10000_100000_1000000_10000000_100000000_2222222222", "--data", "digits", "--n", "8"]
    proc = subprocess.run([sys.executable, "-m", "convlib", *argv], capture_output=True, text=True, timeout=20)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    # ten paths 0 -> t -> 10, each with one linear edge: d = 1, m = 10 / 1
    assert out["effective_depth"] == 1.0 and out["effective_width"] == 10.0 and out["lambda_min_exact"] > 0


def test_an_all_skip_28_node_dag_is_scored(capsys):
    code, out, err = run(["score", "_".join("1" * t for t in range(1, 29)), "--data", "digits", "--n", "4"], capsys)
    assert code == 0, err
    assert json.loads(out)["effective_depth"] == 0.0


def mnist_available() -> bool:
    try:
        data.load("mnist", n=1)
    except FileNotFoundError:
        return False
    return True


@pytest.mark.skipif(not mnist_available(), reason="needs MNIST under $CONVLIB_DATA")
def test_the_issues_memory_repro_is_refused_in_one_line(capsys):
    code, out, err = run(["score", "2_21_112", "--data", "mnist", "--n", "8000"], capsys)
    assert code == 2 and out == "" and len(err.splitlines()) == 1
    assert "n=8000" in err and "N=3 nodes" in err and "GB" in err and "CONVLIB_MAX_GB" in err


def test_the_memory_limit_applies_to_the_cli(capsys, monkeypatch):
    monkeypatch.setenv("CONVLIB_MAX_GB", "0.01")
    code, out, err = run(["score", "2_21_112", "--data", "digits", "--n", "200"], capsys)
    assert code == 2 and out == "" and "n=200" in err and "CONVLIB_MAX_GB" in err


def test_memory_of_the_whole_score_is_checked_before_any_kernel_runs(capsys, monkeypatch):
    """The issue's ``score 2_21_112 --n 2283`` computed the exact and paper kernels (17 s) before the NTK's refusal."""
    from convlib import theory

    monkeypatch.setenv("CONVLIB_MAX_GB", "0.06")  # on n=300, 3 nodes: the exact NNGP needs 52 MB, the NTK 69 MB
    monkeypatch.setattr(theory, "gram_many", lambda *a, **k: pytest.fail("a kernel ran before the memory check"))
    code, out, err = run(["score", "2_21_112", "--data", "digits", "--n", "300"], capsys)
    assert code == 2 and out == "" and "the NTK of a DAG with N=3 nodes after the stem on n=300" in err


def test_an_arch_read_as_an_option_says_so(capsys):
    code, out, err = run(["score", "-2_21_112", "--data", "digits"], capsys)
    assert code == 2 and len(err.splitlines()) == 1 and "never starts with '-'" in err


LONG = "2_" + "0" * 100_000
CELL = "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|"


@pytest.mark.parametrize("argv, why", [
    (["--seed", "-1"], "argument --seed: expected an integer >= 0"),
    (["--seed", "1_0"], "argument --seed: expected an integer >= 0"),
    (["--seed", "\u0663"], "argument --seed: expected an integer >= 0"),
    (["--seed", "9" * 5000], "argument --seed: expected an integer >= 0"),
    (["--n", "8_0"], "argument --n: expected an integer >= 1"),
    (["--n", "\uff18"], "argument --n: expected an integer >= 1"),
    (["--n", "+8"], "argument --n: expected an integer >= 1"),
    (["--n", " 8"], "argument --n: expected an integer >= 1"),
    (["--n", "99999"], "n must be an integer in 1..1437 for digits/train"),
    (["--n"], "argument --n: expected one argument"),
    (["--bogus"], "unrecognized arguments: --bogus"),
])
def test_bad_numbers_name_their_option(argv, why, capsys):
    code, out, err = run(["score", "2", "--data", "digits", *argv], capsys)
    assert code == 2 and out == "" and len(err.splitlines()) == 1
    assert err.startswith("python -m convlib") and why in err and len(err) < 500


@pytest.mark.parametrize("arch, why", [
    (CELL.replace("none~1|+", "none~" + "1" * 5000 + "|+"), "the index in ASCII digits without leading zeros"),
    (CELL.replace("none~1|+", "none~01|+"), "the index in ASCII digits without leading zeros"),
    (CELL.replace("none~1|+", "none~\u0661|+"), "the index in ASCII digits without leading zeros"),
    (LONG, "(100,002 characters): group 2 must have 2 digits"),
    ("|" + "a" * 100_000, "expected 3 '+'-separated node groups"),
    ("2_21\n112", "group 2"),
])
def test_bad_arch_strings_are_one_short_line(arch, why, capsys):
    code, out, err = run(["score", arch, "--data", "digits", "--n", "4"], capsys)
    assert code == 2 and out == "" and len(err.splitlines()) == 1
    assert why in err and len(err) < 500


def test_one_line_keeps_the_start_and_the_end_of_long_messages():
    assert one_line("short\nmessage") == "short message"
    long = "unknown dataset '" + "x" * 10_000 + "'; expected one of ('digits', 'mnist', 'cifar10')"
    cut = one_line(long)
    assert cut.startswith("unknown dataset 'xxx") and cut.endswith("expected one of ('digits', 'mnist', 'cifar10')")
    assert f"[... {len(long) - 300:,} characters cut ...]" in cut and len(cut) < 400
