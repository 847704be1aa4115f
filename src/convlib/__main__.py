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
        if "required: arch" in message or re.search(r"unrecognized arguments: -[0-9]", message):
            # an ARCH such as -2_21_112 was read as an option
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


def model_score(spec: str, kwargs: dict | None = None, input_shape: list[int] | None = None,
                data: str | None = None, n: int = 64, seed: int = 0) -> dict:
    """Effective depth and width of the module ``spec`` builds (``convlib.netgraph``), whether it lies in
    the NAS-Bench-201 and DARTS boxes of the released code, and with ``data`` the NASWOT score at
    initialisation (weights drawn from ``seed``) on ``n`` training images of that dataset."""
    import time

    from . import data as _data
    from . import netgraph
    from .nas import DARTS_DEPTH_RANGE, DARTS_WIDTH_RANGE, DEPTH_RANGE, WIDTH_RANGE, in_box
    from .nas.scores import naswot_of

    start = time.perf_counter()
    x = _data.load_images(data, "train", n=n, seed=seed)[0] if data else None
    shape = input_shape or (list(x.shape) if x is not None else None)
    c = netgraph.score(netgraph.build(spec, kwargs), shape)
    dm = (c.effective_depth, c.effective_width)
    out = {"model": spec, "kwargs": kwargs or {}, "effective_depth": dm[0], "effective_width": dm[1],
           "paths": c.paths, "parameterised_layers": c.layers, "shortest_path_depth": c.shortest,
           "longest_path_depth": c.longest, "rule": netgraph.RULE,
           "in_nb201_box": bool(in_box(dm)[0]),
           "in_darts_box": bool(in_box(dm, DARTS_DEPTH_RANGE, DARTS_WIDTH_RANGE)[0]),
           "boxes": {"nb201": {"depth": DEPTH_RANGE, "width": WIDTH_RANGE},
                     "darts": {"depth": DARTS_DEPTH_RANGE, "width": DARTS_WIDTH_RANGE}},
           "box_caveat": "a box is the centre of one search space's (d, m) range (Chen et al. 2022, Sec. 5.3, "
                         "released code), not a range that holds for every network"}
    if x is not None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = netgraph.build(spec, kwargs, device="cpu").train()
        try:
            out["naswot"] = naswot_of(net, x)
        except RuntimeError as err:
            raise ValueError(f"model {spec!r} fails on {data} inputs of shape {list(x.shape)}: {err}") from err
        out.update(data=data, n=n, seed=seed)
    return {**out, "input_shape": shape, "seconds": round(time.perf_counter() - start, 3)}


def json_object(text: str) -> dict:
    """An argparse type: a JSON object (keyword arguments)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r} ({err})") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object such as '{{\"num_classes\": 10}}', got {text!r}")
    return value


def shape(text: str) -> list[int]:
    """An argparse type: an input shape such as ``1,3,224,224``."""
    parts = text.split(",")
    if not all(re.fullmatch(r"[0-9]{1,6}", p) and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(f"expected positive integers separated by commas such as 1,3,224,224, "
                                         f"got {text!r}")
    return [int(p) for p in parts]


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m convlib", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("score", help="theory scores of one architecture, as one JSON object")
    p.add_argument("arch", nargs="?", help='MLP form such as "2_21_112" or a NAS-Bench-201 arch string')
    p.add_argument("--model", help="instead of ARCH, a callable returning a torch module: "
                                   "torchvision.models.resnet50 or path/to/file.py:factory")
    p.add_argument("--model-kwargs", type=json_object, help="keyword arguments of --model, as a JSON object")
    p.add_argument("--input-shape", type=shape, help="with --model: the input's shape (1,3,224,224) for "
                                                    "shape-dependent code (default: the data's, else none)")
    p.add_argument("--data", default=None, help="digits, mnist or cifar10 (default mnist; with --model: "
                                                "the NASWOT score on these images, none by default)")
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
    r.add_argument("--status", action="store_true", help="one line per entry; exit 1 unless all are fresh (or, "
                   "for another committed profile, partly computed)")
    r.add_argument("--prune", action="store_true", help="delete stored entries no experiment asks for")
    r.add_argument("--recheck", nargs="*", metavar="NAME",
                   help="entries stale by a code change alone (these, or all): recompute a sample, compare with "
                        "the stored numbers, restamp them if equal; exit 1 if any differs")
    args = parser.parse_args(argv)
    try:
        if args.command == "score" and (args.arch is None) == (args.model is None):
            parser.error("score takes one of ARCH and --model")
        if args.command == "score" and args.model:
            print(json.dumps(model_score(args.model, args.model_kwargs, args.input_shape, args.data, args.n,
                                         args.seed)))
            return 0
        if args.command == "score":
            print(json.dumps(score(args.arch, args.data or "mnist", args.n, args.seed)))
            return 0
        return results_command(args)
    except (ValueError, FileNotFoundError) as err:
        print(f"python -m convlib {args.command}: error: {one_line(str(err))}", file=sys.stderr)
        return 2


def results_command(args) -> int:
    """``results``: --status (exit 1 unless all fresh or ``partial``), --prune, or compute what is not fresh."""
    import time

    from . import runner

    if args.status:
        rows = runner.status(args.profile, args.only)
        for row in rows:
            print(row)
        return 0 if all(r.state in ("fresh", "partial") for r in rows) else 1
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


__all__ = ["one_line", "OneLineParser", "score", "main"]
