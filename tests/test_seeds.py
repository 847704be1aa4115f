"""convlib.seeds: the formulas cached results were drawn with, independent streams, refusals."""
import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from convlib import seeds
from convlib.seeds import derive


def test_affine_roles_give_the_seeds_the_cached_results_were_drawn_with():
    # the formulas typed in the chapters before convlib.seeds (Figure 4, TENAS, the 729-DAG space)
    assert derive(3, "figure4.init", 2) == 3002
    assert derive(3, "figure4.epoch", 7) == 300_016
    assert derive(4, "tenas.draw", 2, 0) == 4020 and derive(4, "tenas.draw", 2, 1) == 4021
    assert derive(2, "space.init", 728) == 2728
    assert derive(5, "toy.net", 3) == 8


def test_spawned_streams_are_distinct_over_roles_seeds_and_indices():
    got = [derive(s, role, j, k) for role in ("nngp.draw",) for s in range(5) for j in range(8) for k in range(25)]
    got += [derive(s, "gd.init", k) for s in range(5) for k in range(200)]
    assert len(set(got)) == len(got)
    assert all(0 <= v < 2 ** 64 for v in got)
    # usable by both generators the package seeds
    torch.Generator().manual_seed(max(got))
    np.random.default_rng(max(got))


def test_spawned_seed_is_the_same_in_a_fresh_process():
    code = "from convlib.seeds import derive; print(derive(7, 'nngp.draw', 3, 11))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert int(out) == derive(7, "nngp.draw", 3, 11)


@given(st.sampled_from([r for r, rule in seeds.ROLES.items() if isinstance(rule, seeds.Affine)]), st.data())
def test_affine_roles_never_repeat_a_seed_within_their_bounds(role, data):
    rule = seeds.ROLES[role]
    bounds = [b // s for b, s in zip((rule.a, *rule.strides[:-1]), rule.strides)]
    draw = st.tuples(st.integers(0, 50), *[st.integers(0, b - 1) for b in bounds])
    a, b = data.draw(draw), data.draw(draw)
    assert (derive(a[0], role, *a[1:]) == derive(b[0], role, *b[1:])) == (a == b)


@pytest.mark.parametrize("seed, role, index, match", [
    (0, "figure4.weights", (1,), "unknown seed role 'figure4.weights'"),
    (0, "tenas.draw", (1, 10), "index 1 of seed role 'tenas.draw' must be below 10"),
    (0, "figure4.init", (1000,), "must be below 1000"),
    (0, "figure4.init", (1, 2), "takes 1 index value"),
    (-1, "gd.init", (0,), "integers >= 0"),
    (0, "gd.init", (1.5,), "integers >= 0"),
    (True, "toy.net", (0,), "integers >= 0"),
])
def test_bad_roles_and_indices_are_refused(seed, role, index, match):
    with pytest.raises(ValueError, match=match):
        derive(seed, role, *index)
