"""Command line: ``python -m convlib score ARCH``, ``python -m convlib results``.

Bad input prints one line on stderr and exits with status 2."""
from __future__ import annotations

import argparse
import json
import sys

import torch


def score(arch: str, data: str = "mnist", n: int = 64, seed: int = 0, split: str = "train") -> dict:
    """Effective depth/width, lambda_min of the exact NNGP, the paper's recursion and the NTK on n
    inputs, and the GD bound's rate at the largest step ``step_size_ok`` allows for the NTK."""
    from . import dag as _dag, data as _data, theory

    d = _dag.parse(arch)
    X, _ = _data.load(data, split, n=n, seed=seed)
    depth, width = theory.effective_depth_width(d)
    lam = {k: theory.lambda_min(d, X, k) for k in ("exact", "paper")}
    ev = torch.linalg.eigvalsh(theory.gram(d, X, "ntk"))   # once: its extremes give lambda_min and the step
    lam["ntk"] = max(float(ev[0]), 0.0)
    top = float(ev[-1] + ev[0])
    eta = 2.0 / top if top > 0 else None
    return {
        "arch": d.to_string(), "data": data, "split": split, "n": n, "seed": seed,
        "effective_depth": depth, "effective_width": width,
        "lambda_min_exact": lam["exact"], "lambda_min_paper": lam["paper"], "lambda_min_ntk": lam["ntk"],
        "eta": eta, "rate": theory.gd_rate(eta, lam["exact"]) if eta else 1.0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m convlib", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("score", help="theory scores of one architecture, as one JSON object")
    p.add_argument("arch", help='MLP form such as "2_21_112" or a NAS-Bench-201 arch string')
    p.add_argument("--data", default="mnist", help="digits, mnist or cifar10 (default mnist)")
    p.add_argument("--n", type=int, default=64, help="number of inputs (default 64)")
    p.add_argument("--seed", type=int, default=0, help="seed of the input sample (default 0)")
    r = sub.add_parser("results", help="compute the cached results of a profile that are missing or stale "
                                       "(resuming), or report their state with --status")
    r.add_argument("--profile", default="paper", help="book/params/<PROFILE>.yaml, or a path to a .yaml file")
    r.add_argument("--only", nargs="+", metavar="NAME", help="experiments named NAME or under it (ch06 = ch06.*)")
    r.add_argument("--force", action="store_true", help="recompute even the fresh shards")
    r.add_argument("--workers", type=_count, default=0, metavar="N",
                   help="run shards on a local Dask cluster of N one-thread worker processes")
    r.add_argument("--scheduler", metavar="ADDRESS", help="run shards on an existing Dask scheduler")
    r.add_argument("--allow-dirty", action="store_true",
                   help="store results computed from uncommitted code (marked dirty; never commit them)")
    r.add_argument("--status", action="store_true", help="one line per entry; exit 1 unless all are fresh")
    r.add_argument("--prune", action="store_true", help="delete stored entries no experiment asks for")
    args = parser.parse_args(argv)
    try:
        if args.command == "score":
            print(json.dumps(score(args.arch, args.data, args.n, args.seed)))
            return 0
        return results_command(args)
    except (ValueError, FileNotFoundError) as err:
        print(f"python -m convlib {args.command}: error: {err}".replace("\n", " | "), file=sys.stderr)
        return 2


def _count(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text[:40]!r}")
    return int(text)


def results_command(args) -> int:
    """``results``: --status (exit 1 unless all fresh), --prune, or compute what is not fresh."""
    import time

    from . import runner

    if args.status:
        rows = runner.status(args.profile, args.only)
        for row in rows:
            print(row)
        return 0 if all(r.state == "fresh" for r in rows) else 1
    if args.prune:
        for path in runner.prune(args.profile):
            print(f"removed {path}")
        return 0
    start = time.perf_counter()
    try:
        done = runner.run(profile=args.profile, only=args.only, force=args.force, workers=args.workers,
                          scheduler=args.scheduler, allow_dirty=args.allow_dirty)
    except RuntimeError as err:
        print(f"python -m convlib results: {err}", file=sys.stderr)
        return 1
    print(f"{len(done)} shards computed and stored in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
