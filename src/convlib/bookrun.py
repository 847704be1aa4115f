"""Execute the book's notebooks with papermill under a parameter profile.

    python -m convlib.bookrun [--profile gpu|paper|smoke] [--no-cache] [--out DIR] [NOTEBOOK ...]

Each chapter ``book/NN_name.ipynb`` runs with the section ``NN_name`` of
``book/params/<profile>.yaml`` as its papermill parameters; the reproducibility appendix runs last,
without parameters (it reports on the cache the chapters filled). A profile whose results are committed
(``registry.COMMITTED_PROFILES``: ``gpu``, ``paper``) writes the executed notebooks back in place, served
from the results cache; without ``--profile`` that is ``gpu`` once every gpu result is committed and
fresh, else ``paper`` (``runner.book_profile``). Any other profile writes to ``--out`` (default: a fresh
temporary folder) and turns the cache off (``CONVLIB_CACHE=0``), so that every compute path really runs.
``--no-cache`` turns it off for a committed profile too. The profile's name is exported as
``CONVLIB_PROFILE``: each chapter says which profile its numbers come from, and the claims tables and the
scorecard evaluate the results of that profile. Every notebook is run even when one fails; the exit
status is 1 if any failed.
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from convlib import ROOT, registry, runner
from convlib.registry import profile

BOOK = ROOT / "book"
APPENDIX = "appendix_reproducibility"
INTRO = "intro"


def parameters_cell(nb: Path) -> dict:
    """The variables assigned in a notebook's cell tagged ``parameters`` (plain literals only)."""
    cells = [c for c in json.loads(nb.read_text())["cells"]
             if c["cell_type"] == "code" and "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise ValueError(f"{nb} must have exactly one code cell tagged 'parameters', found {len(cells)}")
    out = {}
    for node in ast.parse("".join(cells[0]["source"])).body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            raise ValueError(f"{nb}: the parameters cell may only assign plain variables, got {ast.unparse(node)!r}")
        out[node.targets[0].id] = ast.literal_eval(node.value)
    return out


def chapters(book: Path = BOOK) -> list[Path]:
    """The chapter notebooks ``book/NN_*.ipynb`` in file-name order."""
    return sorted(book.glob("[0-9][0-9]_*.ipynb"))


def notebooks(book: Path = BOOK) -> list[Path]:
    """Every notebook ``make book`` executes: the chapters, then the intro (its scorecard reads their
    results) and the appendix (each when present)."""
    last = [book / f"{name}.ipynb" for name in (INTRO, APPENDIX)]
    return chapters(book) + [nb for nb in last if nb.exists()]


def parameters_for(nb: Path, sections: dict[str, dict], profile_name: str) -> dict:
    """The parameters of notebook ``nb`` in a profile; a chapter without a section is an error."""
    if nb.stem in sections:
        return sections[nb.stem]
    if nb.stem == APPENDIX:
        return {}
    raise ValueError(f"book/params/{profile_name}.yaml has no section {nb.stem!r} for {nb}")


def tidy(path: Path) -> None:
    """Drop papermill's per-run timestamps, give its injected-parameters cell a fixed id and hide it
    on the site, so that re-running an unchanged chapter leaves its committed notebook unchanged."""
    nb = json.loads(path.read_text())
    nb.get("metadata", {}).pop("papermill", None)
    for cell in nb["cells"]:
        meta = cell.setdefault("metadata", {})
        meta.pop("papermill", None)
        meta.pop("execution", None)
        tags = meta.get("tags", [])
        if "injected-parameters" in tags:
            cell["id"] = "injected-parameters"  # papermill draws a random id on every run
            if "remove-cell" not in tags:
                meta["tags"] = tags + ["remove-cell"]
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def quiet_kernel_manager() -> type:
    """The kernel manager papermill starts each notebook's kernel with: jupyter_client's, except that it
    does not interrupt a kernel it is shutting down. jupyter_client sends SIGINT before every shutdown
    request; a kernel still inside a message handler then logs ``KeyboardInterrupt caught in kernel`` on
    the build's stderr, an error line in the log of a successful run. Here every cell has finished when
    the kernel is shut down, and one that does not exit on the request is still terminated."""
    from jupyter_client.manager import AsyncKernelManager

    class QuietShutdownKernelManager(AsyncKernelManager):
        async def _async_interrupt_kernel(self) -> None:
            if not self.shutting_down:
                await super()._async_interrupt_kernel()

        interrupt_kernel = _async_interrupt_kernel

    return QuietShutdownKernelManager


def run(profile_name: str, paths: list[Path], out: Path | None, cache: bool) -> list[tuple[Path, str]]:
    """Execute ``paths``; return the failures as (notebook, message)."""
    import papermill as pm

    sections = profile(profile_name)
    os.environ["CONVLIB_PROFILE"] = profile_name  # claims and scorecards read the results of this profile
    if not cache:
        os.environ["CONVLIB_CACHE"] = "0"
    # kernels inherit the environment: a non-interactive MPLBACKEND (the Makefile sets Agg) would
    # keep IPython's inline backend off, and figures would be saved as text instead of PNG
    os.environ.pop("MPLBACKEND", None)
    failures = []
    for i, nb in enumerate(paths, start=1):
        nb = nb.resolve()
        target = nb if out is None else out / nb.relative_to(ROOT) if nb.is_relative_to(ROOT) else out / nb.name
        target.parent.mkdir(parents=True, exist_ok=True)
        params = parameters_for(nb, sections, profile_name)
        print(f"[{i}/{len(paths)}] {nb.relative_to(ROOT) if nb.is_relative_to(ROOT) else nb} "
              f"({profile_name}, cache {'on' if cache else 'off'}) -> {target}", flush=True)
        start = time.perf_counter()
        # papermill saves after every cell: run into a side file, so that a failed run never
        # leaves a half-executed notebook in place of the committed one
        partial = target.with_name(f".{target.stem}.running.ipynb")
        try:
            pm.execute_notebook(str(nb), str(partial), parameters=params, kernel_name="python3",
                                cwd=str(nb.parent), progress_bar=True, language="python",
                                kernel_manager_class=quiet_kernel_manager())
        except Exception as exc:  # papermill's execution error carries the cell's traceback
            partial.unlink(missing_ok=True)
            failures.append((nb, f"{type(exc).__name__}: {exc}"))
            print(f"    FAILED after {time.perf_counter() - start:.1f} s", flush=True)
            continue
        tidy(partial)
        os.replace(partial, target)
        print(f"    done in {time.perf_counter() - start:.1f} s", flush=True)
    return failures


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m convlib.bookrun", description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", help="book/params/<profile>.yaml (gpu, paper, smoke); default: gpu when every "
                                      "gpu result is committed and fresh, else paper (runner.book_profile)")
    ap.add_argument("--no-cache", action="store_true", help="compute every result (CONVLIB_CACHE=0)")
    ap.add_argument("--out", type=Path, help="write executed notebooks here (default: in place for a "
                                             "committed profile, gpu or paper; a temporary folder otherwise)")
    ap.add_argument("notebooks", nargs="*", type=Path, help="default: every chapter, then the appendix")
    args = ap.parse_args(argv)
    paths = args.notebooks or notebooks()
    missing = [p for p in paths if not p.exists()]
    if missing:
        ap.error(f"no such notebook: {', '.join(map(str, missing))}")
    if not paths:
        print("no notebooks under book/ to run", flush=True)
        return 0
    name = args.profile or runner.book_profile()
    committed = name in registry.COMMITTED_PROFILES
    out = args.out.resolve() if args.out else None
    if out is None and not committed:
        out = Path(tempfile.mkdtemp(prefix=f"convlib-{name}-"))
    cache = not args.no_cache and committed
    start = time.perf_counter()
    failures = run(name, paths, out, cache)
    print(f"{len(paths) - len(failures)} of {len(paths)} notebooks ran in {time.perf_counter() - start:.1f} s"
          + (f" (outputs in {out})" if out else ""), flush=True)
    for nb, msg in failures:
        print(f"FAILED {nb}:\n{msg}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = [
    "APPENDIX", "parameters_cell", "chapters", "notebooks", "parameters_for", "tidy", "quiet_kernel_manager", "main",
]
