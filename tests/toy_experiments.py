"""Toy experiments for the tests of the registry and the runner (``CONVLIB_EXPERIMENTS=toy_experiments``)."""
import os
import time

import numpy as np

from convlib import data, registry

CHAPTER = "00_toy"


@registry.experiment("toy.sum", chapter=CHAPTER)
def toy_sum(n: int, seed: int) -> dict:
    x = np.random.default_rng(seed).normal(size=n)
    return {"x": x, "total": float(x.sum()), "label": "toy"}


@registry.experiment("toy.shards", chapter=CHAPTER, shards=lambda n, seed, delay: registry.ranges(n, 5),
                     probes=registry.item_probes(0.25), volatile=("pid",))
def toy_shards(n: int, seed: int, delay: float, shard: str) -> dict:
    """A row per index of the shard, each drawn from its own seed (so placement cannot matter)."""
    span = registry.span(shard)
    time.sleep(delay)
    return {"index": np.arange(span.start, span.stop), "pid": np.full(len(span), os.getpid()),
            "value": np.array([np.random.default_rng([seed, i]).normal() for i in span]), "n": n}


@registry.experiment("toy.digits", chapter=CHAPTER)
def toy_digits(n: int, seed: int) -> dict:
    X, _ = data.load("digits", "train", n=n, seed=seed)
    return {"mean": float(X.mean())}
