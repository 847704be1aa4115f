"""Command line: ``python -m convlib score ARCH``, ``python -m convlib results``.

Bad input prints one line on stderr and exits with status 2."""
from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from typing import NoReturn

import torch

HEAD, TAIL = 200, 100  # characters kept from the start and the end of a long error message


def one_line(message: str) -> str:
    """``message`` on one line (its line breaks become spaces); a long one keeps its start and its end
    (which says what was expected) around a note of how much of the echoed input was cut."""
    message = " ".join(message.splitlines())
    if len(message) <= HEAD + TAIL + 40:
        return message
    return f"{message[:HEAD]} [... {len(message) - HEAD - TAIL:,} characters cut ...] {message[-TAIL:]}"


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr (no usage block), exit status 2."""

    def error(self, message: str) -> NoReturn:
        if "required: arch" in message:  # an ARCH such as -2_21_112 was read as an option
            message += " (an architecture string never starts with '-': MLP form such as 2_21_112, or '|op~0|+...')"
        self.exit(2, f"{self.prog}: error: {one_line(message)}\n")


def natural(low: int) -> Callable[[str], int]:
    """An argparse type: an integer >= ``low`` written in 1 to 18 ASCII digits (no sign, no ``_``,
    no other script's digits); argparse names the option in the error."""
    def parse(text: str) -> int:
        if not re.fullmatch(r"[0-9]{1,18}", text) or int(text) < low:
            from .dag import shorten
            raise argparse.ArgumentTypeError(f"expected an integer >= {low} written in 1 to 18 ASCII digits, "
                                             f"got {shorten(text)}")
        return int(text)
    return parse


def score(arch: str, data: str = "mnist", n: int = 64, seed: int = 0, split: str = "train") -> dict:
    """Effective depth/width, lambda_min of the exact NNGP, the paper's recursion and the NTK on n
    inputs, and the GD bound's rate at the largest step ``step_size_ok`` allows for the NTK."""
    from . import dag as _dag
    from . import data as _data
    from . import kernels, theory

    d = _dag.parse(arch)
    X, _ = _data.load(data, split, n=n, seed=seed)
    for kernel in ("exact", "paper", "ntk"):  # the whole command's memory, before any kernel runs
        kernels.check_memory(d.n_nodes, n, kernel)
    depth, width = theory.effective_depth_width(d)
    lam = {k: theory.lambda_min(d, X, k) for k in ("exact", "paper")}
    ev = torch.linalg.eigvalsh(theory.gram(d, X, "ntk"))   # once: its extremes give lambda_min and the step
    lam["ntk"] = max(float(ev[0]), 0.0)
    eta = float(theory.largest_step(ev)) if float(ev[-1] + ev[0]) > 0 else None
    return {
        "arch": d.to_string(), "data": data, "split": split, "n": n, "seed": seed,
        "effective_depth": depth, "effective_width": width,
        "lambda_min_exact": lam["exact"], "lambda_min_paper": lam["paper"], "lambda_min_ntk": lam["ntk"],
        "eta": eta, "rate": theory.gd_rate(eta, lam["exact"]) if eta else 1.0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m convlib", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("score", help="theory scores of one architecture, as one JSON object")
    p.add_argument("arch", help='MLP form such as "2_21_112" or a NAS-Bench-201 arch string')
    p.add_argument("--data", default="mnist", help="digits, mnist or cifar10 (default mnist)")
    p.add_argument("--n", type=natural(1), default=64, help="number of inputs (default 64)")
    p.add_argument("--seed", type=natural(0), default=0, help="seed of the input sample (default 0)")
    r = sub.add_parser("results", help="compute the cached results of a profile that are missing or stale "
                                       "(resuming), or report their state with --status")
    r.add_argument("--profile", default="paper", help="book/params/<PROFILE>.yaml, or a path to a .yaml file")
    r.add_argument("--only", nargs="+", metavar="NAME", help="experiments named NAME or under it (ch06 = ch06.*)")
    r.add_argument("--force", action="store_true", help="recompute even the fresh shards")
    r.add_argument("--workers", type=natural(0), default=0, metavar="N",
                   help="run shards on a local Dask cluster of N one-thread worker processes")
    r.add_argument("--scheduler", metavar="ADDRESS", help="run shards on an existing Dask scheduler")
    r.add_argument("--allow-dirty", action="store_true",
                   help="store results computed from uncommitted code (marked dirty; never commit them)")
    r.add_argument("--status", action="store_true", help="one line per entry; exit 1 unless all are fresh")
    r.add_argument("--prune", action="store_true", help="delete stored entries no experiment asks for")
    r.add_argument("--recheck", nargs="*", metavar="NAME",
                   help="entries stale by a code change alone (these, or all): recompute a sample, compare with "
                        "the stored numbers, restamp them if equal; exit 1 if any differs")
    args = parser.parse_args(argv)
    try:
        if args.command == "score":
            print(json.dumps(score(args.arch, args.data, args.n, args.seed)))
            return 0
        return results_command(args)
    except (ValueError, FileNotFoundError) as err:
        print(f"python -m convlib {args.command}: error: {one_line(str(err))}", file=sys.stderr)
        return 2


def results_command(args) -> int:
    """``results``: --status (exit 1 unless all fresh), --prune, or compute what is not fresh."""
    import time

    from . import runner

    if args.status:
        rows = runner.status(args.profile, args.only)
        for row in rows:
            print(row)
        return 0 if all(r.state == "fresh" for r in rows) else 1
    if args.recheck is not None:
        from . import recheck

        outcomes = []
        for outcome in recheck.recheck(args.profile, (args.recheck or None) or args.only):
            outcomes.append(outcome)
            if outcome.state != "fresh":
                print(outcome, flush=True)
        print(f"{sum(o.state == 'rechecked' for o in outcomes)} rechecked, "
              f"{sum(o.state == 'differs' for o in outcomes)} differ, {sum(o.state == 'skipped' for o in outcomes)} "
              f"skipped, {sum(o.state == 'fresh' for o in outcomes)} already fresh")
        return 1 if any(o.state == "differs" for o in outcomes) else 0
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
