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


def run_main(fn, argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = fn(argv)
        except SystemExit as stop:
            code = stop.code
    return code, out.getvalue(), err.getvalue()


def score(argv: list[str]) -> tuple[int, str, str]:
    return run_main(main, argv)


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


# ---------------------------------------------------------------------- the API: arrays, numbers and sizes
def one_line_error(err: Exception) -> bool:
    text = str(err)
    return isinstance(err, ValueError) and len(text.splitlines()) == 1 and 0 < len(text) < 500


DTYPES = ["float64", "float32", "float16", "int64", "uint8", "bool", "complex128"]


def _array(shape, values, special, where, dtype, kind):
    import numpy as np
    import torch

    a = np.array(values, dtype=np.float64).reshape(shape)
    if a.size and special is not None:
        a.flat[where % a.size] = special
    with np.errstate(all="ignore"):
        a = a.astype(dtype)
    return torch.from_numpy(a.copy()) if kind == "tensor" else a.tolist() if kind == "list" else a


def arrays(max_rank: int = 3, max_side: int = 5):
    """A numpy array, tensor or nested list of any small shape and dtype, with NaN/inf/huge entries sometimes."""
    def fill(shape):
        size = math.prod(shape)
        return st.tuples(st.just(shape), st.lists(st.floats(-3, 3), min_size=size, max_size=size),
                         st.sampled_from([None, None, math.nan, math.inf, -math.inf, 1e300]), st.integers(0, 99),
                         st.sampled_from(DTYPES), st.sampled_from(["numpy", "tensor", "list"]))
    shapes = st.lists(st.integers(0, max_side), max_size=max_rank).map(tuple)
    return shapes.flatmap(fill).map(lambda args: _array(*args))


def test_kernels_and_theory_take_any_array_to_a_finite_result_or_a_one_line_error():
    import numpy as np
    import torch

    from convlib import kernels

    tally = Counter()
    calls = {
        "nngp": lambda a: kernels.nngp("2_21_112", a),
        "ntk": lambda a: kernels.ntk("1_01_222", a),
        "largest_step": lambda a: theory.largest_step(a),
        "lemma33_bound": lambda a: theory.lemma33_bound(a),
        "correlation_map": lambda a: theory.correlation_map(a),
        "step_size_ok": lambda a: theory.step_size_ok(0.1, a, 0.0),
        "linearised_loss": lambda a: theory.linearised_loss(a, np.ones(np.shape(a)[0] if np.ndim(a) else 1), 0.1, 3),
    }

    @settings(max_examples=300, **FUZZ)
    @given(st.sampled_from(sorted(calls)), arrays())
    def check(name, a):
        try:
            out = calls[name](a)
        except (ValueError, TypeError) as err:
            assert one_line_error(err), (name, err)
            tally["clean error"] += 1
            return
        values = np.asarray(out.cpu() if isinstance(out, torch.Tensor) else out, dtype=np.float64)
        if name == "largest_step":  # inf where the spectrum is all zero (no step moves the network), as documented
            ev = np.asarray(a, dtype=np.float64)
            zero = (ev[..., 0] == 0) & (ev[..., -1] == 0)
            assert np.array_equal(np.isinf(values), zero) and not np.isnan(values).any(), (name, a, out)
            values = values[~zero]
        assert np.isfinite(values).all(), (name, a, out)   # no silent NaN or inf
        tally["result"] += 1

    check()
    print(f"\nfuzz arrays through the API: {sum(tally.values())} inputs tried, {dict(tally)}, 0 failures")
    assert tally["result"] > 20 and tally["clean error"] > 100


anything = st.one_of(st.integers(-10, 10 ** 12), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
                     st.none(), st.text(max_size=4), st.sampled_from([2.0, "3", [1], 10 ** 18]))


def test_sizes_and_counts_are_bounded_or_refused_quickly(monkeypatch):
    """Sizes that used to run for minutes or exhaust memory (mlp_dags(6), from_edges(20000), gd_bound(1e9),
    DAGMLP(width=1e6)) and values of the wrong kind: a result or a one-line error, each within seconds."""
    import time

    monkeypatch.setenv("CONVLIB_MAX_GB", "0.01")  # a DAGMLP wider than about 1,500 units is refused

    from convlib import kernels, mlp

    tally = Counter()
    calls = {
        "mlp_dags": lambda v: dag.mlp_dags(v) if v not in (4, 5) else [],   # 4, 5 are valid and merely long lists
        "from_edges": lambda v: dag.DAG.from_edges(v, []),
        "gd_bound": lambda v: theory.gd_bound(0.1, 1.0, v),
        "propagation_bytes": lambda v: kernels.propagation_bytes(v, v, "exact"),
        "DAGMLP width": lambda v: mlp.DAGMLP("2", 3, v),
    }

    @settings(max_examples=250, **FUZZ)
    @given(st.sampled_from(sorted(calls)), anything)
    def check(name, value):
        start = time.perf_counter()
        try:
            calls[name](value)
            tally["result"] += 1
        except (ValueError, TypeError) as err:
            assert one_line_error(err), (name, value, err)
            tally["clean error"] += 1
        assert time.perf_counter() - start < 5, (name, value)

    check()
    print(f"\nfuzz sizes: {sum(tally.values())} inputs tried, {dict(tally)}, 0 failures")
    assert tally["result"] > 10 and tally["clean error"] > 100


def test_training_options_give_finite_losses_or_a_one_line_error():
    import numpy as np
    import torch

    from convlib import mlp

    X = torch.randn(8, 3, generator=torch.Generator().manual_seed(0))
    y = torch.randn(8, generator=torch.Generator().manual_seed(1))
    rates = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([1e-3, 0.1, 1e10, "0.1", None]))
    tally = Counter()

    @settings(max_examples=120, **FUZZ)
    @given(rates, st.one_of(st.none(), st.integers(-2, 10), st.just(2.5)), rates, st.sampled_from(["sgd", "adam"]))
    def check(lr, batch_size, weight_decay, optimizer):
        model = mlp.DAGMLP("2_21_112", 3, 8)
        try:
            out = mlp.train(model, X, y, steps=4, lr=lr, batch_size=batch_size, weight_decay=weight_decay,
                            optimizer=optimizer)
        except (ValueError, TypeError) as err:
            assert one_line_error(err), (lr, batch_size, weight_decay, err)
            tally["clean error"] += 1
            return
        assert np.isfinite(out["loss"]).all() and np.isfinite(out["final_loss"]).all()
        tally["trained"] += 1

    check()
    print(f"\nfuzz mlp.train options: {sum(tally.values())} inputs tried, {dict(tally)}, 0 failures")
    assert tally["trained"] > 5 and tally["clean error"] > 50


# ---------------------------------------------------------------------- results and fetch options
def test_results_options_end_in_one_line_and_no_work(monkeypatch):
    """--scheduler, --workers, --profile and --only of any text: exit 0 (nothing to do), or 2 with one line,
    before any work is planned on a bad scheduler or worker count."""
    from convlib import runner

    monkeypatch.setattr(runner, "CONNECT_TIMEOUT_S", 0.2)
    monkeypatch.setattr(runner, "plan", lambda *a, **k: [])   # nothing to compute: no work, whatever passes
    addresses = st.one_of(junk, st.builds("tcp://{}:{}".format, st.sampled_from(["127.0.0.1", "localhost", "", "[::1]"]),
                                          st.one_of(st.integers(0, 70000).map(str), junk)))
    options = st.one_of(st.tuples(st.just("--scheduler"), addresses),
                        st.tuples(st.just("--workers"), st.one_of(st.integers(0, 10 ** 19).map(str), junk)),
                        st.tuples(st.just("--profile"), junk.filter(lambda t: t not in ("paper", "smoke"))),
                        st.tuples(st.just("--only"), junk))
    tally = Counter()

    @settings(max_examples=120, **FUZZ)
    @given(st.lists(options, min_size=1, max_size=2))
    def check(opts):
        argv = ["results", *(x for pair in opts for x in pair)]
        code, out, err = run_main(main, argv)
        if code == 0:
            tally["nothing to do"] += 1
        else:
            assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, (argv, code, err)
            tally["clean error"] += 1

    check()
    print(f"\nfuzz results options: {sum(tally.values())} inputs tried, {dict(tally)}, 0 failures")
    assert tally["clean error"] > 50


def test_fetch_options_end_in_one_line_or_a_checked_request(monkeypatch):
    from convlib import fetch

    asked = []
    monkeypatch.setattr(fetch, "fetch", lambda name, dest, url=None, log=print: asked.append((name, dest, url)) or [])
    names = list(fetch.table())
    options = st.one_of(st.tuples(st.just("--dest"), junk), st.tuples(st.just("--only"), st.sampled_from(names) | junk),
                        st.tuples(st.just("--url"), st.builds("{}={}".format, st.sampled_from(names) | junk, junk)),
                        st.tuples(st.sampled_from(["--bogus", "-x", "--url"]), junk))
    tally = Counter()

    @settings(max_examples=200, **FUZZ)
    @given(st.lists(options, max_size=3))
    def check(opts):
        asked.clear()
        code, out, err = run_main(fetch.main, [x for pair in opts for x in pair])
        if code == 0:
            assert asked and all(str(dest).strip() and (url is None or url.strip()) for _, dest, url in asked)
            tally["fetched"] += 1
        else:
            assert code == 2 and len(err.splitlines()) == 1 and "usage" not in err and not asked, (opts, err)
            tally["clean error"] += 1

    check()
    print(f"\nfuzz fetch options: {sum(tally.values())} inputs tried, {dict(tally)}, 0 failures")
    assert tally["fetched"] > 10 and tally["clean error"] > 50
