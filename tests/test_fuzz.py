"""Fuzzing the parsers and the ``score`` command line: no input ends in anything but a result or a
clean one-line error (``ValueError`` in the API, exit status 2 in the CLI). Deterministic
(``derandomize``); each test prints how many inputs it tried, all of which passed."""
import contextlib
import io
import json
import math
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convlib import dag, theory
from convlib.__main__ import main

FUZZ = dict(deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow])

# pieces of both string forms, digits of other scripts, separators, and anything at all
TOKENS = ["0", "1", "2", "3", "_", "__", "|", "||", "+", "~", "~0", "~1", "~2", "~00", "~01", "~-1", "~+1",
          "\u0660", "\u0661", "\uff10", "\uff18", "\u0967", "8_0", "\n", " ", "\t", "-", "é", "\u2028",
          *dag.NB201_OPS, *dag.MLP_OPS, "none~0", "|none~0|", "|skip_connect~0|+"]
junk = st.lists(st.sampled_from(TOKENS) | st.characters(), max_size=30).map("".join)
mlp = st.integers(1, 14).flatmap(lambda n: st.tuples(*[st.text("012", min_size=t, max_size=t) for t in range(1, n + 1)])).map("_".join)
cell = st.sampled_from(dag.nb201_cells())


def mutate(text: str, edits: list[tuple[int, int, str]]) -> str:
    """Apply (position, kind, token) edits: 0 inserts the token, 1 deletes a character, 2 replaces one."""
    for pos, kind, token in edits:
        i = pos % (len(text) + 1)
        text = text[:i] + (token if kind != 1 else "") + text[i + (kind != 0):]
    return text


mutated = st.builds(mutate, mlp | cell, st.lists(st.tuples(st.integers(0, 10 ** 4), st.integers(0, 2), st.sampled_from(TOKENS)),
                                                 min_size=1, max_size=3))
arch_texts = st.one_of(mlp, cell, mutated, junk)


def test_parse_gives_a_dag_that_round_trips_or_a_one_line_value_error():
    tally = Counter()

    @settings(max_examples=3000, **FUZZ)
    @given(arch_texts)
    def check(text):
        try:
            d = dag.parse(text)
        except ValueError as err:
            assert len(str(err).splitlines()) == 1 and len(str(err)) < 1000
            tally["clean error"] += 1
            return
        assert d.to_string() == text
        dag.canonical(d, by="kind")                  # the valid ones go through the rest of the API
        depth, width = theory.effective_depth_width(d)
        assert math.isfinite(depth) and math.isfinite(width)
        tally["parsed"] += 1

    check()
    print(f"\nfuzz dag.parse: {sum(tally.values())} inputs tried, {dict(tally)}, 0 failures")
    assert tally["parsed"] > 100 and tally["clean error"] > 100


number = st.integers(0, 12).map(str) | junk
option = st.tuples(st.sampled_from(["--n", "--seed", "--data", "--bogus", "-n", "--"]), number | st.sampled_from(["digits", "svhn"]))


def score(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as stop:
            code = stop.code
    return code, out.getvalue(), err.getvalue()


def test_score_cli_prints_json_or_one_line_and_status_2(monkeypatch):
    monkeypatch.setenv("CONVLIB_MAX_GB", "0.05")  # large valid requests end in the memory error, fast
    tally = Counter()

    @settings(max_examples=250, **FUZZ)
    @given(arch_texts, st.lists(option, max_size=3))
    def check(arch, options):
        argv = ["score", arch, "--data", "digits", "--n", "4", *(x for pair in options for x in pair)]
        code, out, err = score(argv)
        if code == 0 and out.startswith("usage:"):  # --help reached through an abbreviation
            tally["help"] += 1
        elif code == 0:
            result = json.loads(out)
            assert err == "" and all(math.isfinite(v) for v in result.values() if isinstance(v, float))
            tally["scored"] += 1
        else:
            assert code == 2 and out == "" and len(err.splitlines()) == 1, (argv, err)
            assert err.startswith("python -m convlib") and "Traceback" not in err and len(err) < 500
            tally["clean error"] += 1

    check()
    print(f"\nfuzz score CLI: {sum(tally.values())} inputs tried, {dict(tally)}, 0 failures")
    assert tally["scored"] > 20 and tally["clean error"] > 20
