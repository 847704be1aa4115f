"""Batched DAG-MLP training against one model at a time: models x steps per second.

Trains B four-node MLP-DAGs (evenly spaced in ``mlp_dags(3)``) on synthetic inputs with full-batch
GD and cross-entropy, once as one ``DAGMLP`` holding all B (stacked weights) and once as B separate
models trained in turn, and prints a markdown table. Targets: 4x on the CPU, 20x on a GPU. Two
sizes: digits-sized models (d_in 64, width 32, n 64), where one model alone is dominated by
per-step overhead, and MNIST-sized ones (d_in 784, width 64, n 128), where one model alone already
keeps a CPU core busy with its stem GEMM, so batching gains little there on a CPU.
Usage: ``python benchmarks/bench_mlp.py [--models B] [--steps S] [--device all|cpu|cuda]`` (all: the
CPU, then the GPU when there is one).
"""
from __future__ import annotations

import argparse
import time

import torch

from convlib.dag import mlp_dags
from convlib.mlp import DAGMLP, train


def _rate(dags, X, y, width, steps, device, groups) -> float:
    """Models x steps per second when the DAGs are trained in ``groups`` (lists of indices)."""
    models = [DAGMLP([dags[i] for i in g], X.shape[1], width, 10, seeds=g, device=device) for g in groups]
    train(models[0], X, y, steps=1, lr=1e-3, loss="ce")  # warm-up (allocator, kernels)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for m in models:
        train(m, X, y, steps=steps, lr=1e-3, loss="ce")
    if device.type == "cuda":
        torch.cuda.synchronize()
    return len(dags) * steps / (time.perf_counter() - start)


SIZES = (("digits-sized", 64, 32, 64), ("MNIST-sized", 784, 64, 128))  # (label, d_in, width, n)


def bench(device: torch.device, models: int, steps: int, d_in: int, width: int, n: int) -> dict:
    every = mlp_dags(3)
    dags = every[:: len(every) // models][:models]
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(n, d_in, generator=gen).to(device)
    y = torch.randint(0, 10, (n,), generator=gen)
    batched = _rate(dags, X, y, width, steps, device, [list(range(models))])
    alone = _rate(dags, X, y, width, steps, device, [[i] for i in range(models)])
    return {"device": device.type, "B": models, "steps": steps,
            "batched": batched, "alone": alone, "speedup": batched / alone,
            "target": 20.0 if device.type == "cuda" else 4.0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=64)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--device", choices=("all", "cpu", "cuda"), default="all")
    args = ap.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: CUDA is not available on this machine")
    devices = [torch.device(d) for d in ("cpu", "cuda") if args.device in (d, "all")
               and (d == "cpu" or torch.cuda.is_available())]
    print(f"DAG-MLP training, {torch.get_num_threads()} CPU threads\n")
    print("| device | size | B | d_in | width | n | steps | batched (models x steps / s) | one at a time | speedup "
          "| target |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for dev in devices:
        models = args.models if dev.type == "cpu" else max(args.models, 729)
        for label, d_in, width, n in SIZES:
            r = bench(dev, models, args.steps, d_in, width, n)
            ok = "met" if r["speedup"] >= r["target"] else "NOT met"
            print(f"| {r['device']} | {label} | {r['B']} | {d_in} | {width} | {n} | {r['steps']} "
                  f"| {r['batched']:.1f} | {r['alone']:.1f} | {r['speedup']:.1f}x | >= {r['target']:.0f}x ({ok}) |")


if __name__ == "__main__":
    main()
