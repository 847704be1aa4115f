"""Scoring throughput of the training-free NAS measures on NAS-Bench-201 cells, and how much of the
machine it uses.

For each measure (NASWOT on the benchmark network with 128 CIFAR-10 images; TENAS' NTK condition
number on its proxy network with 72 images; TENAS' linear-region count on 3,000 patches), K random
connected cells (seed 0) are scored

* on one intra-op thread in one process (``scores.score_cells``: how every cached score is timed),
* by one process with two intra-op threads (the scorers called directly under ``torch.set_num_threads(2)``),
* by a Dask LocalCluster of ``--workers`` one-thread processes, each scoring its share of the cells,
* on the GPU when there is one,

and the table gives cells/s, the measure's FLOPs per cell (``torch.utils.flop_counter``) and the
achieved GFLOP/s as a fraction of the measured float32 matmul GFLOP/s of the same threads (a 1024 x
1024 GEMM). Run it on an otherwise idle machine: timings of shared cores say little.
On the GPU the fraction is given of the measured float32 GEMM rate and of the TF32 one (a 4096 x 4096
GEMM with ``allow_tf32``; the scorers run in float32 with PyTorch's defaults: TF32 off for matrix products, allowed
for cuDNN convolutions).
Usage: ``python benchmarks/bench_nas.py [--cells K] [--workers N] [--device all|cpu|cuda]`` (defaults 8,
2 and all: the CPU rows, then the GPU row when there is one).
"""
from __future__ import annotations

import argparse
import random
import time

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from convlib import runner
from convlib.dag import nb201_cells
from convlib.device import one_thread
from convlib.nas import scores
from convlib.theory import n_paths

FNS = {"naswot": scores.naswot, "ntk": scores.ntk_cond, "regions": scores.linear_regions}


def inputs(measure: str) -> torch.Tensor:
    return {"naswot": lambda: scores.minibatch(scores.NASWOT_BATCH, 0),
            "ntk": lambda: scores.minibatch(scores.NTK_BATCH, 0), "regions": lambda: scores.patches(0)}[measure]()


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def matmul_gflops(threads: int, device: str = "cpu", n: int = 1024, reps: int = 20, tf32: bool = False) -> float:
    """float32 GEMM rate of ``threads`` intra-op threads (or of the GPU: 4096 x 4096, TF32 if ``tf32``)."""
    before, tf32_before = torch.get_num_threads(), torch.backends.cuda.matmul.allow_tf32
    torch.set_num_threads(threads)
    n = 4096 if device == "cuda" else n
    torch.backends.cuda.matmul.allow_tf32 = tf32
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    a @ b
    sync(device)
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    sync(device)
    secs = time.perf_counter() - start
    torch.set_num_threads(before)
    torch.backends.cuda.matmul.allow_tf32 = tf32_before
    return 2 * n ** 3 * reps / secs / 1e9


def flops_per_cell(measure: str, cells: list[str]) -> float:
    """Mean FLOPs of scoring one cell (forward and, for the NTK, backward passes)."""
    x = inputs(measure)
    total = 0
    for arch in cells:
        with FlopCounterMode(display=False) as counter:
            FNS[measure](arch, x, 0, "cpu")
        total += counter.get_total_flops()
    return total / len(cells)


def rate(measure: str, cells: list[str], threads: int, device: str = "cpu") -> float:
    """Cells per second of one process with ``threads`` intra-op threads."""
    x = inputs(measure)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    FNS[measure](cells[0], x, 0, device)  # warm-up
    sync(device)
    start = time.perf_counter()
    for arch in cells:
        FNS[measure](arch, x, 0, device)
    sync(device)
    secs = time.perf_counter() - start
    torch.set_num_threads(before)
    return len(cells) / secs


def _score_chunk(measure: str, chunk: list[str]) -> float:
    with one_thread():
        return float(scores.score_cells(chunk, 0, (measure,), "cpu")[measure + "_s"].sum())


def rate_workers(measure: str, cells: list[str], workers: int) -> float:
    """Cells per second of a Dask LocalCluster of ``workers`` one-thread processes (started before the clock)."""
    from dask.distributed import Client

    with runner.local_cluster(workers) as cluster, Client(cluster) as client:
        client.gather(client.map(_score_chunk, [measure] * workers, [cells[:1]] * workers, pure=False))  # warm-up
        start = time.perf_counter()
        client.gather(client.map(_score_chunk, [measure] * workers,
                                 [list(c) for c in np.array_split(cells, workers)], pure=False))
        return len(cells) / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--device", choices=("all", "cpu", "cuda"), default="all")
    args = ap.parse_args()
    cpu = args.device in ("all", "cpu")
    gpu = args.device == "cuda" or (args.device == "all" and torch.cuda.is_available())
    if gpu and not torch.cuda.is_available():
        ap.error("--device cuda: CUDA is not available on this machine")
    cells = [a for a in random.Random(0).sample(nb201_cells(), 4 * args.cells) if n_paths(a)][:args.cells]
    peak = {1: matmul_gflops(1), 2: matmul_gflops(2)}
    print(f"float32 GEMM: {peak[1]:.1f} GFLOP/s on one thread, {peak[2]:.1f} on two")
    if gpu:
        peak["gpu"], peak["tf32"] = matmul_gflops(1, "cuda"), matmul_gflops(1, "cuda", tf32=True)
        print(f"{torch.cuda.get_device_name(0)}: float32 GEMM {peak['gpu']:.0f} GFLOP/s, TF32 {peak['tf32']:.0f}")
    print("\n| measure | how | cells/s | GFLOP per cell | achieved GFLOP/s | fraction of GEMM |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for measure in FNS:
        gflop = flops_per_cell(measure, cells[:2]) / 1e9
        runs = []
        if cpu:
            runs += [("1 process, 1 thread", rate(measure, cells, 1), peak[1]),
                     ("1 process, 2 threads", rate(measure, cells, 2), peak[2]),
                     (f"{args.workers} Dask workers, 1 thread each", rate_workers(measure, cells, args.workers),
                      args.workers * peak[1])]
        for how, r, top in runs:
            print(f"| {measure} | {how} | {r:.2f} | {gflop:.3f} | {r * gflop:.1f} | {r * gflop / top:.1%} |")
        if gpu:
            r = rate(measure, cells, 1, "cuda")
            print(f"| {measure} | GPU | {r:.2f} | {gflop:.3f} | {r * gflop:.1f} | {r * gflop / peak['gpu']:.1%} "
                  f"(TF32: {r * gflop / peak['tf32']:.1%}) |")


if __name__ == "__main__":
    main()
