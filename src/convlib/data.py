"""Datasets with an offline search path: ``$CONVLIB_DATA`` (by default the offline copies in
``../shared/data`` beside the checkout, when that folder exists), then the repository's ``data/``.

``load`` returns flattened, standardised inputs (one sample a row) for the DAG-MLPs and the kernels;
``load_images`` keeps the (C, H, W) layout for the NAS-Bench-201 networks. Standardisation uses the
usual per-dataset constants: MNIST mean 0.1307 and std 0.3081 of pixels in [0, 1]; CIFAR-10 the
per-channel mean (0.4914, 0.4822, 0.4465) and std (0.2470, 0.2435, 0.2616); digits (scikit-learn,
always present) pixels /16 standardised by the mean and std over all 1,797 images.

Where the files come from: MNIST as the official IDX files (``mnist/t10k-images-idx3-ubyte.gz`` ...),
CIFAR-10 as ``cifar10/cifar10_{train,test}.npz`` (arrays ``images`` (N, 32, 32, 3) uint8 and
``labels``). When a file is on no search path it is fetched into ``data/`` from its public source and
checked against ``data/checksums.json`` (``convlib.fetch``, ``make data``: the real loading path, for
machines with internet); if that fails, a FileNotFoundError says where we looked and what to put there.
Offline copies may be partial: without MNIST's training files, the
10,000 official test images are split once (seed 2022) into 8,000 "train" and 2,000 "test" images;
without the full CIFAR-10 training set, ``cifar10_train_10k.npz`` (1,000 images a class) serves.
A file may also be stored compressed as ``<name>.xz`` (the committed NAS-Bench-201 table).

Provenance: ``sources(request)`` names the files the loader reads *now* for a request (``"mnist/train"``,
``"cifar10/test"``, ``"digits/train"``, ``"nasbench201"``); ``recording()`` collects the requests made
inside it; ``fingerprint(requests)`` maps each file read to the sha256 of its content (``content_sha256``),
so a cached result can say which data made it and notice when the search path now gives others.
A truncated or unreadable file is a ValueError that names it.
"""
from __future__ import annotations

import gzip
import lzma
import os
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from convlib import ROOT, fetch, fingerprint

NAMES = ("digits", "mnist", "cifar10")
SPLITS = ("train", "test")
NB201_FILE = "nasbench201/nb201_test_accuracy_200ep.csv"
MNIST_SPLIT_SEED, MNIST_SPLIT_TRAIN = 2022, 8000
MNIST_NORM = (0.1307, 0.3081)
CIFAR10_NORM = ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))


@fingerprint.locator
def search_path() -> list[Path]:
    """Folders searched for data, in order: ``$CONVLIB_DATA`` if set, else ``../shared/data`` beside the
    checkout if it exists; then ``data/``."""
    env = os.environ.get("CONVLIB_DATA")
    shared = ROOT.parent / "shared" / "data"
    return ([Path(env)] if env else [shared] if shared.is_dir() else []) + [ROOT / "data"]


def find(*candidates: str) -> Path:
    """The first of the relative paths ``candidates`` (or its ``.xz`` copy) found on the search path."""
    for rel in candidates:
        path = fetch.locate(rel, search_path())
        if path is not None:
            return path
    looked = [str(f / c) for f in search_path() for c in candidates]
    raise FileNotFoundError(f"none of {list(candidates)} found; looked in: {looked}. Set CONVLIB_DATA to a "
                            "folder holding them (see ../shared/data/README.md) or run on a machine with internet.")


def read_bytes(path: Path) -> bytes:
    """The content of a data file (decompressed when it is an ``.xz`` copy); a broken copy is a ValueError."""
    try:
        return lzma.decompress(path.read_bytes()) if path.suffix == ".xz" else path.read_bytes()
    except lzma.LZMAError as err:
        raise ValueError(corrupt(path, err)) from None


def corrupt(path: Path, err: Exception) -> str:
    """The message for an unreadable data file: which file, what went wrong, how it differs from the
    checksum table of the data step (``convlib.fetch``), and what to do."""
    rel = "/".join(path.parts[-2:]).removesuffix(".xz")
    try:
        differs = fetch.mismatch(path, rel)
    except (ValueError, OSError, EOFError, lzma.LZMAError, zlib.error, zipfile.BadZipFile):
        differs = None
    return (f"data file {path} is corrupt or truncated ({type(err).__name__}: {err})"
            + (f"; its {differs}" if differs else "")
            + "; delete it and put a good copy on the search path (see ../shared/data/README.md) or run `make data`")


_SHA: dict[tuple, str] = {}


def content_sha256(path: Path) -> str:
    """sha256 of a file's content, cached per (path, size, mtime): of its arrays for an ``.npz``
    (``fetch.sha256_arrays``: the zip container may differ where the arrays do not), else of its bytes,
    decompressed for ``.xz`` (``fetch.sha256_file``)."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _SHA:
        try:
            _SHA[key] = fetch.sha256_arrays(path) if path.suffix == ".npz" else fetch.sha256_file(path)
        except (OSError, EOFError, ValueError, zipfile.BadZipFile, lzma.LZMAError, zlib.error) as err:
            raise ValueError(corrupt(path, err)) from None
    return _SHA[key]


_REQUESTS: list[set[str]] = []


@contextmanager
def recording() -> Iterator[set[str]]:
    """Collect the data requests (``sources`` arguments) made inside the block."""
    seen: set[str] = set()
    _REQUESTS.append(seen)
    try:
        yield seen
    finally:
        _REQUESTS.remove(seen)


def sources(request: str) -> dict[str, Path]:
    """The files the loader reads now for ``request`` (``"<dataset>/<split>"`` or ``"nasbench201"``),
    as relative name -> path; the request is noted for an active ``recording()``."""
    name, _, split = request.partition("/")
    if request == "nasbench201":
        found = {NB201_FILE: find(NB201_FILE)}
    elif name in NAMES and split in SPLITS:
        found = {"digits": _digits_files, "mnist": _mnist_files, "cifar10": _cifar10_files}[name](split)
    else:
        raise ValueError(f"unknown data request {request!r}; expected 'nasbench201' or '<dataset>/<split>' "
                         f"with a dataset in {NAMES} and a split in {SPLITS}")
    for seen in _REQUESTS:
        seen.add(request)
    return found


def content_hashes(requests) -> dict[str, str]:
    """Relative name -> content sha256 of every file the loader reads now for ``requests``."""
    out: dict[str, str] = {}
    for request in sorted(requests):
        for rel, path in sources(request).items():
            out[rel] = content_sha256(path)
    return out


def _find_or_fetch(candidates: tuple[str, ...], download) -> Path:
    try:
        return find(*candidates)
    except FileNotFoundError as missing:
        try:
            download()
        except Exception as err:  # no network, server down: report the offline search instead
            raise FileNotFoundError(f"{missing} Download failed too: {err}") from None
        return find(*candidates)


def _read_idx(path: Path) -> np.ndarray:
    """An IDX file of unsigned bytes (magic ``0 0 8 ndim``, big-endian sizes, then the data)."""
    try:
        raw = gzip.decompress(read_bytes(path))
        if len(raw) < 4 or raw[:3] != b"\x00\x00\x08":
            raise ValueError("not an IDX file of unsigned bytes")
        ndim = raw[3]
        shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
        if len(raw) != 4 + 4 * ndim + int(np.prod(shape)):
            raise ValueError(f"header says {shape}, file holds {len(raw) - 4 - 4 * ndim} bytes of data")
        return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)
    except (OSError, EOFError, ValueError, zlib.error) as err:  # a garbled gzip stream is a zlib.error
        raise ValueError(corrupt(path, err)) from None


def _fetch_mnist() -> None:
    fetch.fetch("mnist", ROOT / "data")


def _mnist_files(split: str) -> dict[str, Path]:
    """The official training files for "train" when present; otherwise the test files (split by ``_mnist``)."""
    images, labels = "mnist/t10k-images-idx3-ubyte.gz", "mnist/t10k-labels-idx1-ubyte.gz"
    test = {images: _find_or_fetch((images,), _fetch_mnist), labels: find(labels)}
    try:
        train = {f"mnist/{s}.gz": find(f"mnist/{s}.gz") for s in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")}
    except FileNotFoundError:
        return test
    return train if split == "train" else test


def _mnist(split: str) -> tuple[np.ndarray, np.ndarray]:
    images, labels = sources(f"mnist/{split}").values()
    x, y = _read_idx(images), _read_idx(labels)
    if len(x) != len(y):
        raise ValueError(corrupt(labels, ValueError(f"{len(x)} images but {len(y)} labels")))
    if _mnist_files("train") == _mnist_files("test"):  # no training files: split the test set
        order = np.random.default_rng(MNIST_SPLIT_SEED).permutation(len(y))
        pick = np.sort(order[:MNIST_SPLIT_TRAIN] if split == "train" else order[MNIST_SPLIT_TRAIN:])
        x, y = x[pick], y[pick]
    return (x.astype(np.float32) / 255.0 - MNIST_NORM[0]) / MNIST_NORM[1], y


def _fetch_cifar10() -> None:
    fetch.fetch("cifar10", ROOT / "data")


def _cifar10_files(split: str) -> dict[str, Path]:
    names = (("cifar10/cifar10_train.npz", "cifar10/cifar10_train_10k.npz") if split == "train"
             else ("cifar10/cifar10_test.npz",))
    path = _find_or_fetch(names, _fetch_cifar10)
    return {f"cifar10/{path.name}": path}


def _cifar10(split: str) -> tuple[np.ndarray, np.ndarray]:
    (path,) = sources(f"cifar10/{split}").values()
    try:
        with np.load(path, allow_pickle=False) as z:
            x, y = z["images"], z["labels"]
        if x.ndim != 4 or x.shape[1:] != (32, 32, 3) or x.dtype != np.uint8 or y.shape != (len(x),):
            raise ValueError(f"expected images (N, 32, 32, 3) uint8 and N labels, got {x.shape} {x.dtype}, {y.shape}")
    except (OSError, EOFError, KeyError, ValueError, zipfile.BadZipFile, zlib.error) as err:
        raise ValueError(corrupt(path, err)) from None
    mean, std = (np.array(v, np.float32)[:, None, None] for v in CIFAR10_NORM)
    return (x.transpose(0, 3, 1, 2).astype(np.float32) / 255.0 - mean) / std, y


def _digits_files(split: str) -> dict[str, Path]:
    """scikit-learn's bundled copy (both splits come from it)."""
    import sklearn.datasets

    return {"sklearn/digits.csv.gz": Path(sklearn.datasets.__file__).parent / "data" / "digits.csv.gz"}


def _digits(split: str) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    sources(f"digits/{split}")
    d = load_digits()
    x = d.images.astype(np.float32) / 16.0
    x = (x - x.mean()) / x.std()
    order = np.random.default_rng(MNIST_SPLIT_SEED).permutation(len(d.target))
    cut = int(0.8 * len(order))
    pick = np.sort(order[:cut] if split == "train" else order[cut:])
    return x[pick][:, None], d.target[pick]


def load_images(name: str, split: str = "train", n: int | None = None,
                seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (n, C, H, W) float32, standardised, and labels (n,) int64.

    ``n`` samples are drawn without replacement by a permutation seeded with ``seed``;
    ``n=None`` returns the whole split in file order."""
    if name not in NAMES:
        raise ValueError(f"unknown dataset {name!r}; expected one of {NAMES}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    x, y = {"digits": _digits, "mnist": _mnist, "cifar10": _cifar10}[name](split)
    if n is not None:
        if not isinstance(n, int) or not 1 <= n <= len(y):
            raise ValueError(f"n must be an integer in 1..{len(y)} for {name}/{split}, got {n!r}")
        pick = np.random.default_rng(seed).permutation(len(y))[:n]
        x, y = x[pick], y[pick]
    return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y.astype(np.int64))


def load(name: str, split: str = "train", n: int | None = None, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs (n, d) float32, one flattened standardised sample a row, and labels (n,) int64."""
    x, y = load_images(name, split, n, seed)
    return x.reshape(len(x), -1), y


__all__ = [
    "NB201_FILE", "CIFAR10_NORM", "search_path", "find", "read_bytes", "corrupt", "content_sha256", "recording",
    "sources", "content_hashes", "load_images", "load",
]
