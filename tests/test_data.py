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


def test_missing_dataset_names_where_it_looked(monkeypatch, tmp_path):
    monkeypatch.setenv("CONVLIB_DATA", str(tmp_path))
    monkeypatch.setattr(data, "ROOT", tmp_path)
    monkeypatch.setattr(data, "_fetch_mnist", lambda: (_ for _ in ()).throw(OSError("offline")))
    with pytest.raises(FileNotFoundError) as err:
        data.load("mnist")
    msg = str(err.value)
    assert str(tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz") in msg and "CONVLIB_DATA" in msg and "offline" in msg
