"""Seeds derived from a run's seed, in one place: ``derive(seed, role, *index)``.

A computation has one seed (a parameter). Where it needs more than one stream (the weights of draw k
at width j, the minibatch order of epoch e, the proxy network of pruning round r, ...) each stream's
seed is ``derive(seed, role, *index)`` for a role listed in ``ROLES``:

* ``SPAWN``: an independent stream from numpy's ``SeedSequence`` with entropy ``seed`` and spawn key
  ``(crc32(role), *index)``: the first 64-bit word of its state. Streams of different roles or indices
  never coincide by construction, whatever the sizes.
* ``Affine(a, strides)``: ``a seed + sum_k strides[k] index[k]``, each index below the stride before
  it (``a`` before the first), so two indices never give one seed. These roles predate this module:
  the results drawn with them (Figure 4's 2.4 CPU-hours of training, TENAS' 3, the 729-DAG space's
  seeds) keep their formula, so ``results --recheck`` can hold them bit for bit.
* ``CONSECUTIVE``: ``seed + index``, for a batch of networks whose member b must equal the same network
  built alone from ``seed + b`` (the PR-DARTS toy networks; ``mlp.DAGMLP`` takes such lists of seeds).

Not derived here, so that the cached scores hold: chapter 06's one ``seed`` seeds its images, weights,
crops and NTK sample directly (``nas.scores``, ``experiments.ch06_nas``), so the weights and TENAS' crops
draw from the same torch stream; separating them means rescoring all 15,625 cells (about 2.5 CPU-hours).
"""
from __future__ import annotations

import zlib
from typing import NamedTuple

import numpy as np


class Affine(NamedTuple):
    """``a seed + sum_k strides[k] index[k]``, ``0 <= index[k] < strides[k - 1] / strides[k]`` (``a`` for k = 0)."""
    a: int
    strides: tuple[int, ...]


SPAWN, CONSECUTIVE = "spawn", "consecutive"

ROLES: dict[str, str | Affine] = {
    "nngp.draw": SPAWN,  # ch02: the network of draw k at width j, index (j, k)
    "gd.init": SPAWN,  # ch03: the initialisation of run s (every DAG shares it), index (s,)
    "figure4.init": Affine(1000, (1,)),  # ch05: the initialisation of run s
    "figure4.epoch": Affine(100_003, (1,)),  # ch05: the minibatch order of epoch e
    "tenas.draw": Affine(1000, (10, 1)),  # TENAS: round r's proxy network (index (r, 0)), repeat i's batch (r, i)
    "space.init": Affine(1000, (1,)),  # ch05: the initialisation of DAG i in the space's seed s (derive(s, ., i))
    "toy.net": CONSECUTIVE,  # PR-DARTS toy: net b of a batch
}


def derive(seed: int, role: str, *index: int) -> int:
    """The seed of stream ``role`` at ``index`` of a run seeded ``seed`` (module docstring)."""
    if role not in ROLES:
        raise ValueError(f"unknown seed role {role!r}; roles: {sorted(ROLES)}")
    values = (seed, *index)
    if any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0 for v in values):
        raise ValueError(f"seed and index of role {role!r} must be integers >= 0, got seed={seed!r}, index={index!r}")
    rule = ROLES[role]
    if rule == SPAWN:
        sequence = np.random.SeedSequence(int(seed), spawn_key=(zlib.crc32(role.encode()), *map(int, index)))
        return int(sequence.generate_state(1, np.uint64)[0])
    if rule == CONSECUTIVE:
        if len(index) != 1:
            raise ValueError(f"seed role {role!r} takes one index value, got {index!r}")
        return int(seed) + int(index[0])
    if len(index) != len(rule.strides):
        raise ValueError(f"seed role {role!r} takes {len(rule.strides)} index value(s), got {index!r}")
    bounds = (rule.a, *rule.strides[:-1])
    for i, (value, stride, bound) in enumerate(zip(index, rule.strides, bounds)):
        if value * stride >= bound:
            terms = " + ".join(f"{s} i{k}" for k, s in enumerate(rule.strides))
            raise ValueError(f"index {i} of seed role {role!r} must be below {bound // stride} (its formula "
                             f"{rule.a} seed + {terms} would repeat a seed), got {value}")
    return rule.a * int(seed) + sum(s * int(v) for s, v in zip(rule.strides, index))


__all__ = ["derive", "ROLES", "SPAWN", "CONSECUTIVE", "Affine"]
