import pytest
import torch

from convlib import data


def test_digits_is_always_there_standardised_and_split():
    Xtr, ytr = data.load("digits", "train")
    Xte, yte = data.load("digits", "test")
    assert Xtr.shape == (1437, 64) and Xte.shape == (360, 64) and Xtr.dtype == torch.float32
    assert ytr.dtype == torch.int64 and set(ytr.tolist()) == set(range(10))
    both = torch.cat([Xtr, Xte])
    assert abs(both.mean().item()) < 1e-5 and abs(both.std().item() - 1) < 1e-3


def test_subsample_is_seeded_and_without_replacement():
    a, ya = data.load("digits", n=50, seed=3)
    b, yb = data.load("digits", n=50, seed=3)
    c, _ = data.load("digits", n=50, seed=4)
    assert torch.equal(a, b) and torch.equal(ya, yb) and not torch.equal(a, c)
    assert len({tuple(r.tolist()) for r in a}) == 50


@pytest.mark.requires_data("mnist", "cifar10")
def test_mnist_and_cifar10_from_the_offline_path():
    X, y = data.load("mnist", "train")
    Xt, _ = data.load("mnist", "test")
    assert X.shape == (8000, 784) and Xt.shape == (2000, 784)   # the seeded split of the 10,000 test images
    assert abs(X.mean().item()) < 0.05 and abs(X.std().item() - 1) < 0.05
    imgs, labels = data.load_images("cifar10", "test", n=20, seed=1)
    assert imgs.shape == (20, 3, 32, 32) and labels.max() <= 9
    Xc, yc = data.load("cifar10", "train")
    assert Xc.shape == (10000, 3072) and torch.bincount(yc).tolist() == [1000] * 10


@pytest.mark.parametrize("args, why", [
    (("svhn",), "unknown dataset 'svhn'"), (("digits", "val"), "unknown split 'val'"),
    (("digits", "train", 0), "n must be an integer in 1..1437"), (("digits", "test", 10_000), "n must be"),
])
def test_bad_arguments(args, why):
    with pytest.raises(ValueError, match=why):
        data.load(*args)


def test_search_path_defaults_to_the_shared_copies_beside_the_checkout(monkeypatch, tmp_path):
    checkout, shared = tmp_path / "repo", tmp_path / "shared" / "data"
    monkeypatch.setattr(data, "ROOT", checkout)
    monkeypatch.delenv("CONVLIB_DATA", raising=False)
    assert data.search_path() == [checkout / "data"]  # no ../shared/data here
    shared.mkdir(parents=True)
    assert data.search_path() == [shared, checkout / "data"]
    monkeypatch.setenv("CONVLIB_DATA", str(tmp_path / "mine"))  # the variable wins
    assert data.search_path() == [tmp_path / "mine", checkout / "data"]


def test_missing_dataset_names_where_it_looked(monkeypatch, tmp_path):
    monkeypatch.setenv("CONVLIB_DATA", str(tmp_path))
    monkeypatch.setattr(data, "ROOT", tmp_path)
    monkeypatch.setattr(data, "_fetch_mnist", lambda: (_ for _ in ()).throw(OSError("offline")))
    with pytest.raises(FileNotFoundError) as err:
        data.load("mnist")
    msg = str(err.value)
    assert str(tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz") in msg and "CONVLIB_DATA" in msg and "offline" in msg


def _offline_copy(tmp_path, *rels):
    """A private search path holding copies of some offline files (to damage them)."""
    import shutil

    src = next(p for p in data.search_path() if (p / rels[0]).is_file())
    for rel in rels:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src / rel, tmp_path / rel)
    return tmp_path


MNIST = ("mnist/t10k-images-idx3-ubyte.gz", "mnist/t10k-labels-idx1-ubyte.gz")


@pytest.mark.requires_data("mnist", "cifar10")
@pytest.mark.parametrize("rel, damage", [(MNIST[0], "truncate"), (MNIST[0], "empty"), (MNIST[1], "garbage"),
                                         (MNIST[0], "garble"), ("cifar10/cifar10_test.npz", "garble"),
                                         ("cifar10/cifar10_test.npz", "truncate"), ("cifar10/cifar10_test.npz", "empty")])
def test_a_damaged_data_file_is_named(tmp_path, monkeypatch, rel, damage):
    """Also "garble": 256 bytes overwritten in the middle of the file (a gzip stream then fails with
    zlib.error, which was a traceback); the content hash names the file too."""
    root = _offline_copy(tmp_path, rel, *(MNIST if rel.startswith("mnist") else ()))
    bad = root / rel
    raw = bad.read_bytes()
    mid = len(raw) // 2
    bad.write_bytes({"truncate": raw[:mid], "empty": b"", "garbage": b"\x1f\x8b not gzip",
                     "garble": raw[:mid] + bytes(range(256)) + raw[mid + 256:]}[damage])
    monkeypatch.setenv("CONVLIB_DATA", str(root))
    monkeypatch.setattr(data, "ROOT", tmp_path / "nowhere")
    name = rel.split("/")[0]
    with pytest.raises(ValueError, match=f"data file {bad} is corrupt or truncated.*delete it"):
        data.load(name, "test")
    if damage == "garble" and bad.suffix == ".npz":
        with pytest.raises(ValueError, match=f"data file {bad} is corrupt or truncated"):
            data.content_sha256(bad)


@pytest.mark.requires_data("mnist", "cifar10")
def test_sources_fingerprint_and_recording(tmp_path, monkeypatch):
    import hashlib
    import lzma

    with data.recording() as seen:
        data.load("mnist", "train", n=4)
    assert seen == {"mnist/train"}
    fp = data.content_hashes(seen)
    assert set(fp) == set(MNIST)  # no training files offline: the test files are split
    assert fp[MNIST[1]] == hashlib.sha256(data.find(MNIST[1]).read_bytes()).hexdigest()
    # an .xz copy is found under the plain name and fingerprinted by its content
    root = _offline_copy(tmp_path, *MNIST)
    (root / (MNIST[1] + ".xz")).write_bytes(lzma.compress((root / MNIST[1]).read_bytes()))
    (root / MNIST[1]).unlink()
    monkeypatch.setenv("CONVLIB_DATA", str(root))
    assert data.find(MNIST[1]).name.endswith(".xz") and data.content_hashes(seen) == fp
    with pytest.raises(ValueError, match="unknown data request 'svhn/train'"):
        data.sources("svhn/train")
