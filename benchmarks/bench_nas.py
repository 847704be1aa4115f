"""Scoring throughput of the training-free NAS measures on NAS-Bench-201 cells: cells per second.

For each measure (NASWOT on the benchmark network with 128 CIFAR-10 images; TENAS' NTK condition
number on its proxy network with 72 images; TENAS' linear-region count on 3,000 patches) scores K
random connected cells (seed 0) with ``convlib.nas.scores.score_cells`` and prints a markdown table,
on the CPU and, when present, the GPU. This rate is what a full ``make results`` run over all
15,625 cells costs per measure.
Usage: ``python benchmarks/bench_nas.py [--cells K]`` (default 4).
"""
from __future__ import annotations

import argparse
import random
import time

import torch

from convlib.dag import nb201_cells
from convlib.nas import scores
from convlib.theory import n_paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=4)
    args = ap.parse_args()
    cells = [a for a in random.Random(0).sample(nb201_cells(), 4 * args.cells) if n_paths(a)][:args.cells]
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print("| measure | device | cells | seconds | cells/s |")
    print("| --- | --- | ---: | ---: | ---: |")
    for device in devices:
        for measure in scores.MEASURES:
            scores.score_cells(cells[:1], 0, (measure,), device)  # warm-up: data loading, kernels
            start = time.perf_counter()
            scores.score_cells(cells, 0, (measure,), device)
            secs = time.perf_counter() - start
            print(f"| {measure} | {device} | {len(cells)} | {secs:.2f} | {len(cells) / secs:.2f} |")


if __name__ == "__main__":
    main()
