"""lambda_min of all 15,625 NAS-Bench-201 cells as MLP-DAGs (conv -> linear, pooling -> skip) on 64
MNIST inputs: batched against a per-cell loop. Prints a markdown table.

Rows: the per-cell loop (one ``lambda_min_many([cell], dedupe=False)`` call a cell: kernel then
eigenvalue); the batched kernel over every cell (chunked ``propagate`` + one batched ``eigvalsh``);
and the batched path as the library runs it, which also computes the kernel once per canonical
class (``canonical(cell, by="kind")``: 99 classes among 15,625 cells, labelled once per distinct MLP
analogue, 729) and shares it. Targets for the library's path: under 10 s on the 2-core CI machine and
at least 100x the loop.
Usage: ``python benchmarks/bench_lambda_min.py [--loop-cells K] [--device auto|cpu|cuda]``
(``--loop-cells`` times the loop on the first K cells and scales it; default all 15,625).
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from convlib import dag, data, theory
from convlib.device import device_of


def timed(fn):
    start = time.perf_counter()
    out = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return out, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--loop-cells", type=int, default=15625)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    dev = device_of(args.device)
    X, _ = data.load("mnist", "train", n=64, seed=0)
    cells = dag.nb201_cells()
    theory.lambda_min_many(cells[:8], X, device=dev, dedupe=False)  # warm-up
    k = min(args.loop_cells, len(cells))
    loop, t_loop = timed(lambda: np.array([theory.lambda_min_many([c], X, device=dev, dedupe=False)[0]
                                           for c in cells[:k]]))
    t_loop *= len(cells) / k
    flat, t_flat = timed(lambda: theory.lambda_min_many(cells, X, device=dev, dedupe=False))
    lib, t_lib = timed(lambda: theory.lambda_min_many(cells, X, device=dev))
    assert np.allclose(flat[:k], loop, rtol=1e-9, atol=1e-12) and np.allclose(lib, flat, rtol=1e-9, atol=1e-12)
    name = torch.cuda.get_device_name(0) if dev.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    print(f"\nlambda_min of 15,625 NAS-Bench-201 cells (MLP analogues), 64 MNIST inputs, float64, {name}\n")
    print("| path | wall s | cells/s | speed-up vs loop | target |")
    print("| --- | ---: | ---: | ---: | --- |")
    scaled = "" if k == len(cells) else f" (timed on {k}, scaled)"
    print(f"| per-cell loop{scaled} | {t_loop:.2f} | {len(cells) / t_loop:,.0f} | 1.0x | |")
    print(f"| batched, every cell | {t_flat:.2f} | {len(cells) / t_flat:,.0f} | {t_loop / t_flat:.1f}x | |")
    ok = t_lib < 10 and t_loop / t_lib >= 100
    print(f"| batched + one kernel per canonical class (library) | {t_lib:.2f} | {len(cells) / t_lib:,.0f} | "
          f"{t_loop / t_lib:.1f}x | < 10 s and >= 100x: {'met' if ok else 'MISSED'} |")


if __name__ == "__main__":
    main()
