"""Analytic kernels against hand-worked cases, quadrature, the standard chain recursion, and Monte
Carlo estimates from finite networks (``convlib.mlp.DAGMLP``), with tolerances from the samples."""
import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate

from convlib import dag, kernels, mlp, validate
from convlib.dag import FIGURE3

FIG3 = list(FIGURE3.values())
RANDOM5 = ["2_12_021_1202_20112", "1_21_102_2011_12202"]  # 5 nodes after the stem


def inputs(n=6, d=10, seed=0):
    return torch.randn(n, d, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------------- closed forms, by hand (numpy)
def arccos1(S):
    """E[ReLU(u) ReLU(v)] for covariance S (Cho and Saul 2009, degree 1), written out again in numpy."""
    d = np.sqrt(np.diag(S))
    c = np.clip(S / np.outer(d, d), -1, 1)
    th = np.arccos(c)
    return np.outer(d, d) * (np.sin(th) + (np.pi - th) * np.cos(th)) / (2 * np.pi)


def arccos0(S):
    d = np.sqrt(np.diag(S))
    return (np.pi - np.arccos(np.clip(S / np.outer(d, d), -1, 1))) / (2 * np.pi)


def sigma_in(X):
    X = X.numpy()
    return 2 * X @ X.T / X.shape[1]


@pytest.mark.parametrize("rho", [-0.9, -0.3, 0.0, 0.5, 0.99])
def test_relu_second_moment_equals_quadrature(rho):
    S = np.array([[1.7, rho * math.sqrt(1.7 * 0.6)], [rho * math.sqrt(1.7 * 0.6), 0.6]])
    P = np.linalg.inv(S)
    dens = lambda v, u: math.exp(-0.5 * (P[0, 0] * u * u + 2 * P[0, 1] * u * v + P[1, 1] * v * v)) / (2 * math.pi * math.sqrt(np.linalg.det(S)))  # noqa: E731
    quad, _ = integrate.dblquad(lambda v, u: u * v * dens(v, u), 0, 12, 0, 12, epsabs=1e-11)
    got = kernels.relu_second_moment(torch.tensor(S))[0, 1].item()
    assert got == pytest.approx(quad, rel=1e-6, abs=1e-9)
    mean, _ = integrate.quad(lambda u: u * math.exp(-u * u / (2 * 1.7)) / math.sqrt(2 * math.pi * 1.7), 0, 20)
    assert kernels.relu_mean(torch.tensor(1.7)).item() == pytest.approx(mean, rel=1e-8)


def test_one_linear_edge_is_the_arc_cosine_kernel():
    X = inputs()
    stem = arccos1(sigma_in(X))
    np.testing.assert_allclose(kernels.nngp("2", X).numpy(), arccos1(2 * stem), rtol=1e-12)
    np.testing.assert_allclose(kernels.nngp_paper("2", X).numpy(), arccos1(2 * stem), rtol=1e-12)


def test_skip_only_path_preserves_the_kernel_and_two_skips_give_4k():
    X = inputs()
    stem = arccos1(sigma_in(X))
    for skips in ("1", "1_01", "1_01_001", "0_00_100"):
        np.testing.assert_allclose(kernels.nngp(skips, X).numpy(), stem, rtol=1e-12)
    np.testing.assert_allclose(kernels.nngp("1_11", X).numpy(), 4 * stem, rtol=1e-12)
    np.testing.assert_allclose(kernels.nngp_paper("1_11", X).numpy(), 2 * stem, rtol=1e-12)  # the paper drops the cross term


def test_first_moments_enter_sums_of_skip_and_linear_edges():
    """Node 2 = h_0 + ReLU(W h_0): K = K_0 + M mu^T + mu M^T + V(2 K_0), worked by hand."""
    X = inputs()
    S = sigma_in(X)
    K0 = arccos1(S)
    M0 = np.sqrt(np.diag(S) / (2 * np.pi))          # mean of the stem's units
    mu = np.sqrt(2 * np.diag(K0) / (2 * np.pi))     # mean of a linear edge's units
    want = K0 + np.outer(M0, mu) + np.outer(mu, M0) + arccos1(2 * K0)
    np.testing.assert_allclose(kernels.nngp("1_12", X).numpy(), want, rtol=1e-12)
    # two independent linear edges from the stem, summed by skips: 2 V(2 K_0) + 2 mu mu^T
    np.testing.assert_allclose(kernels.nngp("2_20_011", X).numpy(), 2 * arccos1(2 * K0) + 2 * np.outer(mu, mu), rtol=1e-12)


def test_chain_equals_the_standard_nngp_and_ntk_recursion():
    """Lee et al. (2018) / Jacot et al. (2018) in pre-activation form: q_{l+1} = 2 E[phi phi](q_l),
    Theta_{l+1} = q_{l+1} + 2 E[phi' phi'](q_l) Theta_l, with q_0 = Theta_0 = 2 x.y / d; the
    readout adds E[phi phi](q_L) and E[phi' phi'](q_L) Theta_L (weights of variance 1, not 2)."""
    X = inputs()
    for depth, text in enumerate(["", "2", "2_02", "2_02_002", "2_02_002_0002"]):
        q = th = sigma_in(X)
        for _ in range(depth):
            q, th = 2 * arccos1(q), 2 * arccos1(q) + 2 * arccos0(q) * th
        if not text:
            continue
        # numpy's arccos of a rounded cosine near 1 is off by ~1e-8 (our rule uses atan2): rtol 1e-7
        np.testing.assert_allclose(kernels.nngp(text, X).numpy(), arccos1(q), rtol=1e-7)
        np.testing.assert_allclose(kernels.ntk(text, X).numpy(), arccos1(q) + arccos0(q) * th, rtol=1e-7)


def test_unreachable_output_gives_zero_kernels():
    X = inputs()
    for text in ("2_20_000", "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|none~0|none~1|none~2|"):
        for fn in (kernels.nngp, kernels.nngp_paper, kernels.ntk):
            assert torch.count_nonzero(fn(text, X)) == 0


def test_many_equals_one_at_a_time_across_node_counts_and_chunks():
    X = inputs(n=5)
    dags = FIG3 + RANDOM5 + ["2", "1_12"] + dag.nb201_cells()[::2000]
    G = kernels.nngp_many(dags, X)
    assert G.shape == (len(dags), 5, 5) and G.dtype == torch.float64
    for i, d in enumerate(dags):
        assert torch.allclose(G[i], kernels.nngp(d, X), rtol=1e-13, atol=0)
    chunks = list(kernels._batches(dags * 50, 5, "exact", budget_bytes=2e5))
    assert len(chunks) > 3 and sorted(i for idx, _ in chunks for i in idx) == list(range(len(dags) * 50))


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="2-D tensor"):
        kernels.nngp("2", torch.randn(4))
    with pytest.raises(ValueError, match="NaN"):
        kernels.nngp("2", torch.full((2, 3), float("nan")))
    with pytest.raises(ValueError, match="empty"):
        kernels.nngp_many([], inputs())


@pytest.mark.parametrize("fn, name", [(kernels.nngp, "exact NNGP"), (kernels.nngp_paper, "paper's NNGP recursion"),
                                      (kernels.ntk, "NTK")])
def test_huge_finite_inputs_raise_instead_of_returning_nan(fn, name):
    X = inputs() * 1e200
    with pytest.raises(ValueError, match=f"the {name} overflowed to NaN/inf: the inputs are too large .* standardised"):
        fn("2_21_112", X)
    assert torch.isfinite(fn("2_21_112", inputs() * 1e50)).all()  # large but representable: still a kernel


def test_a_bogus_device_is_a_clear_error():
    for fn in (kernels.nngp, kernels.nngp_paper, kernels.ntk):
        with pytest.raises(ValueError, match="unknown device 'bogus'; expected 'auto', 'cpu'"):
            fn("2", inputs(), device="bogus")


def test_inputs_that_require_grad_give_the_same_kernel():
    X = inputs().requires_grad_()
    assert torch.equal(kernels.nngp("2_21_112", X).detach(), kernels.nngp("2_21_112", inputs()))


def test_memory_estimate_covers_the_state_the_propagation_holds():
    """The estimate is at least the bytes of the moments each propagation keeps (an independent count of
    its tensors) and not wildly more (at most 5x: the einsums' temporaries come on top)."""
    X = inputs(n=12)
    for arch in ("2_21_112", "2_12_021_1202_20112"):
        d = dag.parse(arch)
        N1, n = d.n_nodes + 1, 12
        m = kernels.propagate([d], X, tangent=True)
        moments = sum(t.numel() for t in (m.M, m.K, m.T)) * 8
        assert moments <= kernels.propagation_bytes(d.n_nodes, n, "ntk") <= 5 * moments
        e = kernels.propagate([d], X)
        exact = (e.M.numel() + e.K.numel()) * 8
        assert exact <= kernels.propagation_bytes(d.n_nodes, n, "exact") <= 5 * exact
        for name in ("paper", "remark33"):
            # keeps (N+1) per-node (n, n) kernels; the arc-cosine map of all earlier nodes at once makes about
            # ten temporaries of that size
            assert kernels.KERNELS[name].output([d], X, "cpu").shape == (1, n, n)
            assert N1 * n * n * 8 <= kernels.propagation_bytes(d.n_nodes, n, name) <= 16 * N1 * n * n * 8


def test_a_dag_above_the_memory_limit_is_refused_before_allocating(monkeypatch):
    monkeypatch.setenv("CONVLIB_MAX_GB", "0.001")  # 1 MB
    X = inputs(n=100)  # exact NNGP, 3 nodes: 8e4 x 72 B = 5.8 MB
    with pytest.raises(ValueError) as err:
        kernels.nngp("2_21_112", X)
    message = str(err.value)
    for part in ("exact NNGP", "N=3 nodes after the stem", "n=100", "about 0.0 GB", "limit of 0.001 GB", "CONVLIB_MAX_GB"):
        assert part in message
    monkeypatch.setenv("CONVLIB_MAX_GB", "0.005")  # the paper's recursion: 8e4 x 52 B = 4.2 MB fits
    assert kernels.nngp_paper("2_21_112", X).shape == (100, 100)
    with pytest.raises(ValueError, match="NTK of a DAG with N=3 nodes"):
        kernels.ntk_many(["2", "2_21_112"], X)
    monkeypatch.delenv("CONVLIB_MAX_GB")
    assert validate.max_bytes() == 4e9


@pytest.mark.parametrize("value", ["abc", "-1", "0", "nan", ""])
def test_a_bad_memory_limit_is_a_clear_error(monkeypatch, value):
    monkeypatch.setenv("CONVLIB_MAX_GB", value)
    with pytest.raises(ValueError, match="CONVLIB_MAX_GB must be a positive number of gigabytes"):
        kernels.nngp("2", inputs())


# The peak is sampled from /proc/self/statm while the call runs: ru_maxrss would also count a peak reached
# before it (CI measured 1.39 GB for every case, tiny ones included), and resetting VmHWM is not allowed everywhere.
MEASURE = """
import os, sys, threading, time, torch
from convlib import kernels
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
arch, n, which = sys.argv[1], int(sys.argv[2]), sys.argv[3]
X = torch.randn(n, 10, dtype=torch.float64)
kernels.gram_many([arch], X[:4], which)  # load what the first call loads
resident, peak, done = rss(), [0], threading.Event()
def watch():
    while not done.is_set():
        peak[0] = max(peak[0], rss())
        time.sleep(2e-4)
watcher = threading.Thread(target=watch)
watcher.start()
kernels.gram_many([arch], X, which)
done.set()
watcher.join()
print(max(peak[0], rss()) - resident)
"""
SIZES = {"2": 1500, "2_21_112": 1000, "2_21_112_2121_11212_212121": 600}  # n: estimates of 0.2 to 0.7 GB


@pytest.mark.slow
@pytest.mark.parametrize("arch", SIZES)
@pytest.mark.parametrize("which", ["exact", "ntk", "paper"])
def test_memory_estimate_bounds_the_measured_peak(arch, which):
    """The estimate covers the peak resident memory of a fresh process above what it held before,
    and is not far above it."""
    n = SIZES[arch]
    proc = subprocess.run([sys.executable, "-c", MEASURE, arch, str(n), which], capture_output=True, text=True, check=True)
    measured = int(proc.stdout)
    assert measured <= kernels.propagation_bytes(dag.parse(arch).n_nodes, n, which) <= 3 * measured


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("arch", SIZES)
@pytest.mark.parametrize("which", ["exact", "ntk", "paper"])
def test_memory_estimate_bounds_the_cuda_peak(arch, which):
    n = SIZES[arch]
    X = inputs(n=n).cuda()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    kernels.gram_many([arch], X, which, device="cuda")
    measured = torch.cuda.max_memory_allocated() - before
    assert measured <= kernels.propagation_bytes(dag.parse(arch).n_nodes, n, which) <= 3 * measured


def random_mlp(digits: list[int]) -> str:
    n = int((math.isqrt(8 * len(digits) + 1) - 1) // 2)
    return "_".join("".join(map(str, digits[k * (k - 1) // 2: k * (k + 1) // 2])) for k in range(1, n + 1))


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 5).flatmap(lambda n: st.lists(st.integers(0, 2), min_size=n * (n + 1) // 2, max_size=n * (n + 1) // 2)),
       st.integers(0, 10_000))
def test_kernels_are_symmetric_and_psd(digits, seed):
    text = random_mlp(digits)
    X = inputs(n=7, d=5, seed=seed)
    for fn in (kernels.nngp, kernels.nngp_paper, kernels.ntk):
        G = fn(text, X)
        assert torch.equal(G, G.T) or torch.allclose(G, G.T, rtol=1e-13, atol=1e-13)
        ev = torch.linalg.eigvalsh(G)
        assert ev[0] >= -1e-10 * max(1.0, ev[-1].item())
    assert torch.linalg.eigvalsh(kernels.ntk(text, X) - kernels.nngp(text, X))[0] >= -1e-9  # tangent part is PSD


# ---------------------------------------------------------------------- Monte Carlo of finite networks
def monte_carlo(text, X, width, draws, ntk=False, seed0=0, chunk=4):
    """Per-draw estimates of (1/m) h_N h_N^T (or the empirical NTK), each draw one finite network."""
    out = []
    for start in range(0, draws, chunk):
        seeds = list(range(seed0 + start, seed0 + min(draws, start + chunk)))
        model = mlp.DAGMLP([text] * len(seeds), X.shape[1], width, seeds=seeds,
                           parametrization="ntk" if ntk else "standard", device="cpu")
        with torch.no_grad() if not ntk else torch.enable_grad():
            if ntk:
                out.append(mlp.empirical_ntk(model, X).detach())
            else:
                h = model.features(X).double()
                out.append(h @ h.mT / width)
    return torch.cat(out)


def assert_within_standard_errors(samples, want, z=5.0, width=None):
    """|mean - want| <= z SE + 2 |want| / width, entrywise: SE from the spread over independent draws,
    plus an allowance for the O(1/width) bias of a finite network."""
    mean, se = samples.mean(0), samples.std(0) / math.sqrt(len(samples))
    excess = (mean - want).abs() - z * se - 2 * want.abs() / width
    assert excess.max() <= 0, f"worst entry off by {excess.max():.3g} beyond {z} standard errors"
    return ((mean - want).abs() / se.clamp_min(1e-12)).max().item()


@pytest.mark.parametrize("text", FIG3 + RANDOM5)
def test_nngp_matches_finite_networks(text):
    X = inputs(n=5, d=12, seed=3)
    samples = monte_carlo(text, X, width=2048, draws=8)
    assert_within_standard_errors(samples, kernels.nngp(text, X), width=2048)


def test_monte_carlo_rejects_the_paper_recursion_on_a_dag_with_sums():
    X = inputs(n=5, d=12, seed=3)
    samples = monte_carlo("2_21_112", X, width=2048, draws=8)
    with pytest.raises(AssertionError, match="standard errors"):
        assert_within_standard_errors(samples, kernels.nngp_paper("2_21_112", X), width=2048)


@pytest.mark.parametrize("text", ["2_21_112", "1_12", RANDOM5[0]])
def test_ntk_matches_the_empirical_ntk_of_wide_networks(text):
    X = inputs(n=4, d=12, seed=5)
    samples = monte_carlo(text, X, width=1024, draws=12, ntk=True)
    assert_within_standard_errors(samples, kernels.ntk(text, X), width=1024)


@pytest.mark.slow
def test_monte_carlo_error_shrinks_like_one_over_sqrt_width():
    X = inputs(n=4, d=12, seed=7)
    want = kernels.nngp("2_21_112", X)
    widths = [64, 128, 256, 512, 1024]
    errs = []
    for w in widths:
        samples = monte_carlo("2_21_112", X, width=w, draws=32, seed0=1000 * w)
        errs.append((samples - want).pow(2).mean().sqrt().item())  # RMS error of one network's estimate
    slope = np.polyfit(np.log(widths), np.log(errs), 1)[0]
    assert -0.65 < slope < -0.35, f"slope {slope:.3f}, errors {errs}"


# ---------------------------------------------------------------------- the paper's K^(0), Eqs. 7, 9, 11 and Remark 3.3
def h(C):
    """Lemma 3.2's map of a correlation (Chen et al. 2022), written out from the text."""
    return (2 * C * np.arcsin(C) + 2 * np.sqrt(1 - C ** 2) + np.pi * C) / (2 * np.pi)


def test_unit_diagonal_inputs_give_the_stem_kernel_unit_diagonal():
    X = inputs(n=7, d=9, seed=11) * torch.arange(1, 8, dtype=torch.float64)[:, None]
    Xn = kernels.unit_diagonal(X)
    np.testing.assert_allclose(np.linalg.norm(Xn.numpy(), axis=1) ** 2, 9.0, rtol=1e-13)
    np.testing.assert_allclose(kernels.stem_kernel(X).numpy(), arccos1(sigma_in(X)), rtol=1e-12)
    np.testing.assert_allclose(np.diag(kernels.stem_kernel(Xn).numpy()), 1.0, rtol=1e-13)
    with pytest.raises(ValueError, match="all-zero rows"):
        kernels.unit_diagonal(torch.zeros(2, 3))


def test_nngp_paper_equals_the_closed_forms_of_eqs_7_9_11():
    """K^(0) = the stem kernel on unit-diagonal inputs, K_ij^(0) = h(cos(x_i, x_j)); then by the text
    DAG#1: K^(3) = f(f(f(K^(0)))); DAG#2: 3 f(K^(0)); DAG#3: f(K^(2)) + K^(1) + K^(0) with
    K^(2) = 2 f(K^(0)), whose diagonal is 2, so f(K^(2))_ij = 2 h(K^(2)_ij / 2) = 2 h(h(K_ij^(0)))."""
    X = inputs(n=8, d=12, seed=12)
    Xn = X.numpy() / np.linalg.norm(X.numpy(), axis=1, keepdims=True)
    K0 = h(np.clip(Xn @ Xn.T, -1, 1))
    off = ~np.eye(8, dtype=bool)
    want = {"2_02_002": (1.0, h(h(h(K0)))), "1_01_222": (3.0, 3 * h(K0)),
            "2_21_112": (4.0, K0 + h(K0) + 2 * h(h(K0)))}
    lam = {"2_02_002": 1 - h(h(h(K0))), "1_01_222": 3 * (1 - h(K0)), "2_21_112": 4 - (K0 + h(K0) + 2 * h(h(K0)))}
    for text, (diag, offdiag) in want.items():
        got = kernels.nngp_paper(text, kernels.unit_diagonal(X)).numpy()
        np.testing.assert_allclose(np.diag(got), diag, rtol=1e-13)
        np.testing.assert_allclose(got[off], offdiag[off], rtol=1e-12)
        # Eqs. 7, 9, 11: the 2x2 bound of Lemma 3.3 for each pair is diag - off-diagonal
        pairs = np.array([np.linalg.eigvalsh(got[np.ix_([i, j], [i, j])])[0] for i in range(8) for j in range(8) if i != j])
        np.testing.assert_allclose(np.sort(pairs), np.sort(lam[text][off]), rtol=1e-10)


def test_skip_routes_by_hand():
    C = kernels.skip_routes([dag.parse(t) for t in ("1_11_111", "2_21_112", "1_01_001")], device="cpu")
    assert C[0, 0, 3] == 4 and C[0, 1, 3] == 2 and C[0, 0, 2] == 2      # 0-3, 0-1-3, 0-2-3, 0-1-2-3
    assert C[1, 0, 3] == 1 and C[1, 1, 3] == 1 and C[1, 2, 3] == 0 and C[1, 0, 1] == 0
    assert C[2, 0, 3] == 1 and torch.equal(torch.diagonal(C[2]), torch.ones(4, dtype=torch.float64))


def test_remark33_drops_the_mean_terms_and_keeps_repeated_skip_routes():
    X = inputs()
    K0 = arccos1(sigma_in(X))
    V = arccos1(2 * K0)
    mu = np.sqrt(np.diag(K0) / np.pi)
    np.testing.assert_allclose(kernels.nngp_remark33("1_12", X).numpy(), K0 + V, rtol=1e-12)
    np.testing.assert_allclose(kernels.nngp_remark33("1_01_222", X).numpy(), 3 * V, rtol=1e-12)
    np.testing.assert_allclose(kernels.nngp("1_01_222", X).numpy(), 3 * V + 6 * np.outer(mu, mu), rtol=1e-12)
    np.testing.assert_allclose(kernels.nngp_remark33("1_11", X).numpy(), 4 * K0, rtol=1e-12)   # h + h: no mean in it
    np.testing.assert_allclose(kernels.nngp_remark33("2_02_002", X).numpy(), kernels.nngp("2_02_002", X).numpy(), rtol=1e-12)


def test_remark33_equals_the_paper_recursion_exactly_when_no_skip_route_repeats():
    X = inputs(n=5)
    space = dag.mlp_dags(3)
    R, Pp = kernels.nngp_remark33_many(space, X), kernels.nngp_paper_many(space, X)
    same = [bool(torch.allclose(R[i], Pp[i], rtol=1e-12, atol=1e-15)) for i in range(len(space))]
    repeated = ["*" in dag.canonical(a, by="kind") for a in space]
    assert same == [not r for r in repeated]
    assert sum(repeated) > 50
    mixed = ["1_11", "2_21_112", RANDOM5[0]]
    G = kernels.nngp_remark33_many(mixed, X)
    for i, d in enumerate(mixed):
        assert torch.allclose(G[i], kernels.nngp_remark33(d, X), rtol=1e-13, atol=0)
