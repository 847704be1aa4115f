"""convlib.validate and the public edges that use it: every bad input of issue 19 (an obscure error, a
silent NaN/inf, a silently accepted value, an unbounded size, an unclear message, a hang) now gives a
correct result or one clear ValueError/TypeError naming the argument, within a second or two."""
import math
import time

import numpy as np
import pytest
import torch

from convlib import dag, kernels, mlp, theory, validate
from convlib.nas import scores

X = torch.randn(6, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
H = X @ X.T + torch.eye(6, dtype=torch.float64)
Y = torch.randn(6, generator=torch.Generator().manual_seed(3))
IMAGES = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(1))
PATCHES = torch.randn(20, 1, 3, 3, generator=torch.Generator().manual_seed(2))
CELL = "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_3x3~0|skip_connect~1|nor_conv_1x1~2|"


def small_mlp(**kw):
    return mlp.DAGMLP("2_21_112", d_in=5, width=8, **kw)


def train(**kw):
    args = dict(steps=3, lr=0.01, batch_size=None) | kw
    x = args.pop("X", X.float())
    return mlp.train(small_mlp(), x, Y, **args)


REPROS = [  # (what, call, exception, message)
    # obscure errors
    ("largest_step(empty)", lambda: theory.largest_step(torch.tensor([])), ValueError, "eigenvalues is empty"),
    ("step_size_ok(non-square)", lambda: theory.step_size_ok(0.1, H[:, :4], 0.0), ValueError, "H must be a square"),
    ("step_size_ok(NaN)", lambda: theory.step_size_ok(0.1, H * math.nan, 0.0), ValueError, "H holds 36 NaN"),
    ("linearised_loss(steps=-1)", lambda: theory.linearised_loss(H, X[:, 0], 0.1, -1), ValueError,
     "steps must be an integer in 0..10,000,000, got -1"),
    ("linearised_loss(short r0)", lambda: theory.linearised_loss(H, X[:5, 0], 0.1, 3), ValueError,
     r"r0 must hold one residual per row of H \(6\), got 5"),
    ("naswot(1 channel)", lambda: scores.naswot(CELL, IMAGES[:, :1]), ValueError, "x must have 3 channels"),
    ("ntk_cond(empty)", lambda: scores.ntk_cond(CELL, IMAGES[:0]), ValueError, "x is empty"),
    ("ntk_cond(NaN)", lambda: scores.ntk_cond(CELL, IMAGES * math.nan), ValueError, "x holds .* NaN"),
    ("DAGMLP(dtype=int64)", lambda: small_mlp(dtype=torch.int64), ValueError, "dtype must be a real floating-point"),
    ("DAGMLP(width=10**6)", lambda: mlp.DAGMLP("2_21_112", 5, 10 ** 6), ValueError,
     r"width=1,000,000 .* needs about 24,000.\d GB, above the limit"),
    ("propagation_bytes(which='bogus')", lambda: kernels.propagation_bytes(3, 10, "bogus"), ValueError,
     "which must be one of"),
    ("kernels(X 1-D)", lambda: kernels.nngp("2", X[0]), ValueError, r"X must be a 2-D tensor .*got shape \(5,\)"),
    # silent NaN / inf
    ("largest_step([-1, 1])", lambda: theory.largest_step([-1.0, 1.0]), ValueError, "lambda_max \\+ lambda_min > 0"),
    ("largest_step([nan, 1])", lambda: theory.largest_step([math.nan, 1.0]), ValueError, "NaN or infinite"),
    ("linearised_loss(r0=0)", lambda: theory.linearised_loss(H, torch.zeros(6), 0.1, 3), ValueError, "r0 is all zeros"),
    ("linearised_loss(eta=nan)", lambda: theory.linearised_loss(H, X[:, 0], math.nan, 3), ValueError,
     "eta must be a finite number"),
    ("train(lr=nan)", lambda: train(lr=math.nan), ValueError, "lr must be a finite number"),
    ("train(lr=inf)", lambda: train(lr=math.inf), ValueError, "lr must be a finite number"),
    ("train(lr=1e10)", lambda: train(lr=1e10, steps=20), ValueError, "training diverged: .* lr=1e\\+10"),
    ("train(weight_decay=nan)", lambda: train(weight_decay=math.nan), ValueError, "weight_decay must be a finite"),
    ("train(X with NaN)", lambda: train(X=X.float().masked_fill(X > 1, math.nan)), ValueError, "X holds .* NaN"),
    ("lemma33_bound(NaN)", lambda: theory.lemma33_bound(H * math.nan), ValueError, "G holds .* NaN"),
    ("correlation_map(NaN)", lambda: theory.correlation_map(np.array([0.5, math.nan])), ValueError, "C holds 1 NaN"),
    ("naswot(NaN)", lambda: scores.naswot(CELL, IMAGES * math.nan), ValueError, "x holds .* NaN"),
    ("naswot(x 1e30)", lambda: scores.naswot(CELL, IMAGES * 1e30), ValueError, "x has entries up to .*e\\+30"),
    # silently accepted
    *[(f"{f.__name__}(complex X)", lambda f=f: f("2_21_112", X.to(torch.complex128)), TypeError, "X must hold real")
      for f in (kernels.nngp, kernels.nngp_paper, kernels.ntk, kernels.nngp_remark33)],
    ("DAGMLP forward(complex X)", lambda: small_mlp()(X.to(torch.complex64)), TypeError, "X must hold real"),
    ("DAG.from_edges(True)", lambda: dag.DAG.from_edges(True, []), TypeError, "n_nodes .* must be an integer"),
    ("mlp_dags(True)", lambda: dag.mlp_dags(True), TypeError, "n_nodes must be an integer"),
    ("propagation_bytes(-5)", lambda: kernels.propagation_bytes(-5, 10, "exact"), ValueError, "n_nodes must be"),
    ("naswot(empty)", lambda: scores.naswot(CELL, IMAGES[:0]), ValueError, "x is empty"),
    ("linear_regions(NaN)", lambda: scores.linear_regions(CELL, PATCHES * math.nan), ValueError, "inputs holds"),
    # unbounded sizes
    ("gd_bound(steps=10**9)", lambda: theory.gd_bound(0.1, 1, 10 ** 9), ValueError, "steps must be an integer in"),
    ("mlp_dags(6)", lambda: dag.mlp_dags(6), ValueError, "n_nodes must be an integer in 1..5, got 6"),
    ("DAG.from_edges(20000, [])", lambda: dag.DAG.from_edges(20000, []), ValueError, "in 1..2,000, got 20,000"),
    # unclear messages
    ("parse(' |nb201...')", lambda: dag.parse(" " + CELL), ValueError, "NAS-Bench-201 .* leading or trailing white"),
    ("parse(nb201 with '/')", lambda: dag.parse(CELL.replace("|", "/")), ValueError, "separated by '|', not '/'"),
    ("parse(nb201 with inner '/')", lambda: dag.parse(CELL.replace("~1|n", "~1/n")), ValueError,
     "separated by '|', not '/'"),
    ("nngp_many('2_21_112', X)", lambda: kernels.nngp_many("2_21_112", X), TypeError,
     "dags must be a list, got '2_21_112': wrap a single item"),
    ("lambda_min_many('2_21_112', X)", lambda: theory.lambda_min_many("2_21_112", X), TypeError, "dags must be a list"),
    ("train(lr='0.1')", lambda: train(lr="0.1"), TypeError, "lr must be a real number, got '0.1'"),
    # hangs
    ("train(batch_size=-1)", lambda: train(batch_size=-1), ValueError, "batch_size .* must be an integer >= 1"),
    ("train(batch_size=0)", lambda: train(batch_size=0), ValueError, "batch_size .* must be an integer >= 1"),
]


@pytest.mark.parametrize("what, call, exc, message", REPROS, ids=[r[0] for r in REPROS])
def test_each_repro_is_one_clear_error_within_seconds(what, call, exc, message):
    start = time.perf_counter()
    with pytest.raises(exc, match=message) as err:
        call()
    took = time.perf_counter() - start
    assert len(str(err.value).splitlines()) == 1 and len(str(err.value)) < 400
    assert isinstance(err.value, ValueError)  # ArgumentTypeError is both: callers catching ValueError still do
    print(f"\n{what}: {type(err.value).__name__} in {took:.3f} s: {err.value}")
    assert took < 5


def test_numpy_arrays_give_the_same_numbers_as_tensors():
    """numpy arrays were refused with "'numpy.ndarray' object has no attribute 'to'" (or called not 2-D)."""
    Xn, Hn = X.numpy(), H.numpy()
    assert torch.equal(kernels.nngp("2_21_112", Xn), kernels.nngp("2_21_112", X))
    assert torch.equal(kernels.ntk("2_21_112", Xn), kernels.ntk("2_21_112", X))
    assert theory.step_size_ok(0.01, Hn, 0.5) == theory.step_size_ok(0.01, H, 0.5)
    np.testing.assert_array_equal(theory.lemma33_bound(Hn), theory.lemma33_bound(H))
    np.testing.assert_array_equal(theory.linearised_loss(Hn, Xn[:, 0], 0.01, 4), theory.linearised_loss(H, X[:, 0], 0.01, 4))
    assert scores.naswot(CELL, IMAGES.numpy()) == scores.naswot(CELL, IMAGES)
    assert scores.ntk_cond(CELL, IMAGES.numpy()) == scores.ntk_cond(CELL, IMAGES)
    assert scores.linear_regions(CELL, PATCHES.numpy()) == scores.linear_regions(CELL, PATCHES)


def test_float64_and_integer_images_are_scored_as_float32():
    """float64 and integer images hit a dtype error inside the convolution."""
    assert scores.naswot(CELL, IMAGES.double()) == scores.naswot(CELL, IMAGES)
    pixels = (IMAGES * 40).round()
    assert scores.naswot(CELL, pixels.to(torch.int64)) == scores.naswot(CELL, pixels)


def test_a_200_node_dag_is_scored_or_refused_within_seconds_and_a_1200_node_one_has_no_recursion_limit():
    chain = "_".join("0" * (t - 1) + "2" for t in range(1, 201))
    start = time.perf_counter()
    with pytest.raises(ValueError, match="NTK of a DAG with N=200 nodes .* needs about 5.3 GB"):
        from convlib.__main__ import score
        score(chain, "digits", 64)
    assert time.perf_counter() - start < 10
    parallel = "_".join("0" * (t - 1) + "1" if t < 1200 else "2" * 1200 for t in range(1, 1201))
    start = time.perf_counter()
    assert dag.canonical(parallel).count(";") == 1200
    assert len(theory.paths(parallel)) == 1200 and theory.path_depths(parallel) == [1] * 1200
    assert time.perf_counter() - start < 10


def test_lambda_min_of_one_dag_computes_no_canonical_form(monkeypatch):
    monkeypatch.setattr(dag, "canonical", lambda *a, **k: pytest.fail("canonical called for one DAG"))
    assert theory.lambda_min("2_21_112", X) == float(theory.lambda_min_many(["2_21_112"], X, dedupe=False)[0])


def test_validate_helpers_accept_valid_values_unchanged():
    t = torch.ones(2, 3)
    assert validate.real_tensor(t, "t", ndim=2) is t
    assert validate.integer(np.int64(3), "k", 1, 5) == 3 and validate.real(np.float32(0.5), "x", 0) == 0.5
    assert validate.real(torch.tensor(2.0), "x") == 2.0
    assert validate.sequence(("2", "1_11"), "dags") == ["2", "1_11"]
    for bad, exc in ((True, TypeError), (2.0, TypeError), ("3", TypeError), (0, ValueError), (6, ValueError)):
        with pytest.raises(exc, match="k must be an integer"):
            validate.integer(bad, "k", 1, 5)
