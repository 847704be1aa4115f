"""Datasets with an offline search path: ``$CONVLIB_DATA``, then the repository's ``data/``.

``load`` returns flattened, standardised inputs (one sample a row) for the DAG-MLPs and the kernels;
``load_images`` keeps the (C, H, W) layout for the NAS-Bench-201 networks. Standardisation uses the
usual per-dataset constants: MNIST mean 0.1307 and std 0.3081 of pixels in [0, 1]; CIFAR-10 the
per-channel mean (0.4914, 0.4822, 0.4465) and std (0.2470, 0.2435, 0.2616); digits (scikit-learn,
always present) pixels /16 standardised by the mean and std over all 1,797 images.

Where the files come from: MNIST as the official IDX files (``mnist/t10k-images-idx3-ubyte.gz`` ...),
CIFAR-10 as ``cifar10/cifar10_{train,test}.npz`` (arrays ``images`` (N, 32, 32, 3) uint8 and
``labels``). When a file is on no search path, the official files are downloaded into ``data/`` (the
real loading path, for machines with internet); if that fails, a FileNotFoundError says where we
looked and what to put there. Offline copies may be partial: without MNIST's training files, the
10,000 official test images are split once (seed 2022) into 8,000 "train" and 2,000 "test" images;
without the full CIFAR-10 training set, ``cifar10_train_10k.npz`` (1,000 images a class) serves.
A file may also be stored compressed as ``<name>.xz`` (the committed NAS-Bench-201 table).

Provenance: ``sources(request)`` names the files the loader reads *now* for a request (``"mnist/train"``,
``"cifar10/test"``, ``"digits/train"``, ``"nasbench201"``); ``recording()`` collects the requests made
inside it; ``fingerprint(requests)`` maps each file read to the sha256 of its content (decompressed for
``.xz``), so a cached result can say which data made it and notice when the search path now gives others.
A truncated or unreadable file is a ValueError that names it.
"""
from __future__ import annotations

import gzip
import hashlib
import lzma
import os
import pickle
import tarfile
import urllib.request
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
NAMES = ("digits", "mnist", "cifar10")
SPLITS = ("train", "test")
MNIST_URLS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
NB201_FILE = "nasbench201/nb201_test_accuracy_200ep.csv"
MNIST_SPLIT_SEED, MNIST_SPLIT_TRAIN = 2022, 8000
MNIST_NORM = (0.1307, 0.3081)
CIFAR10_NORM = ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))


def search_path() -> list[Path]:
    """Folders searched for data, in order: ``$CONVLIB_DATA`` (if set), then ``data/``."""
    env = os.environ.get("CONVLIB_DATA")
    return ([Path(env)] if env else []) + [ROOT / "data"]


def find(*candidates: str) -> Path:
    """The first of the relative paths ``candidates`` (or its ``.xz`` copy) found on the search path."""
    for folder in search_path():
        for rel in candidates:
            for path in (folder / rel, folder / f"{rel}.xz"):
                if path.is_file():
                    return path
    looked = [str(f / c) for f in search_path() for c in candidates]
    raise FileNotFoundError(f"none of {list(candidates)} found; looked in: {looked}. Set CONVLIB_DATA to a "
                            "folder holding them (see ../shared/data/README.md) or run on a machine with internet.")


def _download(url: str, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(dest.suffix + ".part")
    with urllib.request.urlopen(url, timeout=30) as r, open(tmp, "wb") as f:
        f.write(r.read())
    os.replace(tmp, dest)


def read_bytes(path: Path) -> bytes:
    """The content of a data file (decompressed when it is an ``.xz`` copy); a broken copy is a ValueError."""
    try:
        return lzma.decompress(path.read_bytes()) if path.suffix == ".xz" else path.read_bytes()
    except lzma.LZMAError as err:
        raise ValueError(corrupt(path, err)) from None


def corrupt(path: Path, err: Exception) -> str:
    """The message for an unreadable data file: which file, what went wrong, what to do."""
    return (f"data file {path} is corrupt or truncated ({type(err).__name__}: {err}); delete it and put a good "
            "copy on the search path (see ../shared/data/README.md) or fetch it again")


_SHA: dict[tuple, str] = {}


def content_sha256(path: Path) -> str:
    """sha256 of a file's content (``read_bytes``), cached per (path, size, mtime)."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _SHA:
        _SHA[key] = hashlib.sha256(read_bytes(path)).hexdigest()
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


def fingerprint(requests) -> dict[str, str]:
    """Relative name -> content sha256 of every file the loader reads now for ``requests``."""
    out: dict[str, str] = {}
    for request in sorted(requests):
        for rel, path in sources(request).items():
            out[rel] = content_sha256(path)
    return out


def _find_or_fetch(candidates: tuple[str, ...], fetch) -> Path:
    try:
        return find(*candidates)
    except FileNotFoundError as missing:
        try:
            fetch()
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
    except (OSError, EOFError, ValueError) as err:
        raise ValueError(corrupt(path, err)) from None


def _fetch_mnist() -> None:
    err = None
    for base in MNIST_URLS:
        try:
            for stem in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
                _download(base + stem + ".gz", ROOT / "data" / "mnist" / f"{stem}.gz")
            return
        except Exception as e:  # try the next mirror
            err = e
    raise err


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
    archive = ROOT / "data" / "cifar10" / "cifar-10-python.tar.gz"
    _download(CIFAR10_URL, archive)
    with tarfile.open(archive) as tar:
        def batch(name):
            d = pickle.load(tar.extractfile(f"cifar-10-batches-py/{name}"), encoding="bytes")
            return d[b"data"].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), np.array(d[b"labels"], np.uint8)
        meta = pickle.load(tar.extractfile("cifar-10-batches-py/batches.meta"), encoding="bytes")
        classes = np.array([c.decode() for c in meta[b"label_names"]])
        parts = [batch(f"data_batch_{i}") for i in range(1, 6)]
        for name, (imgs, labels) in (("train", (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))),
                                     ("test", batch("test_batch"))):
            np.savez_compressed(archive.parent / f"cifar10_{name}.npz", images=imgs, labels=labels, classes=classes)
    archive.unlink()


def _cifar10_files(split: str) -> dict[str, Path]:
    names = ("cifar10/cifar10_train.npz", "cifar10/cifar10_train_10k.npz") if split == "train" else ("cifar10/cifar10_test.npz",)
    path = _find_or_fetch(names, _fetch_cifar10)
    return {f"cifar10/{path.name}": path}


def _cifar10(split: str) -> tuple[np.ndarray, np.ndarray]:
    (path,) = sources(f"cifar10/{split}").values()
    try:
        with np.load(path, allow_pickle=False) as z:
            x, y = z["images"], z["labels"]
        if x.ndim != 4 or x.shape[1:] != (32, 32, 3) or x.dtype != np.uint8 or y.shape != (len(x),):
            raise ValueError(f"expected images (N, 32, 32, 3) uint8 and N labels, got {x.shape} {x.dtype}, {y.shape}")
    except (OSError, EOFError, KeyError, ValueError, zipfile.BadZipFile) as err:
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


def load_images(name: str, split: str = "train", n: int | None = None, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
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
