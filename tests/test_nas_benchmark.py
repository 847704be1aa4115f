import pytest

from convlib.dag import nb201_cells
from convlib.nas import benchmark


@pytest.mark.requires_data("nasbench201")
def test_table_is_the_benchmark():
    t = benchmark.load()
    assert len(t) == 15625 and set(t["arch"]) == set(nb201_cells())
    assert t["unique"].nunique() == 6466
    assert round(t["cifar10"].max(), 2) == 94.37 and round(t["cifar100"].max(), 2) == 73.51
    assert round(t["imagenet16"].max(), 2) == 47.31


@pytest.mark.requires_data("nasbench201")
def test_accuracy_lookup():
    t = benchmark.load()
    a = t["arch"].iloc[7]
    assert benchmark.index_of(a) == 7
    assert benchmark.accuracy([a, 7], "cifar100").tolist() == [t["cifar100"].iloc[7]] * 2
    with pytest.raises(ValueError, match="unknown dataset"):
        benchmark.accuracy([0], "svhn")


def test_missing_file_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("CONVLIB_DATA", str(tmp_path))
    monkeypatch.setattr(benchmark.data, "ROOT", tmp_path)
    with pytest.raises(FileNotFoundError, match="nb201_test_accuracy_200ep.csv.*Put the CSV"):
        benchmark.load()


@pytest.mark.parametrize("damage", [b"", b"CIFAR10TestAccuracy200Epochs\n1\n", b"\x00\xff\xfe garbage"])
def test_a_damaged_table_names_the_file(monkeypatch, tmp_path, damage):
    (tmp_path / "nasbench201").mkdir()
    bad = tmp_path / "nasbench201" / "nb201_test_accuracy_200ep.csv"
    bad.write_bytes(damage)
    monkeypatch.setenv("CONVLIB_DATA", str(tmp_path))
    with pytest.raises(ValueError, match=str(bad)):
        benchmark.load()
