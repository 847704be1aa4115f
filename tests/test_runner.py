"""convlib.runner and ``python -m convlib results``: status, resume, force, Dask workers, SIGKILL."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from convlib import registry, results, runner
from convlib.__main__ import main

TOY = ["toy"]


def _states(profile):
    return {r.name: r.state for r in runner.status(profile, TOY)}


def test_status_walks_from_missing_to_fresh_and_names_what_went_wrong(toy_store, monkeypatch):
    store, profile = toy_store
    assert set(_states(profile).values()) == {"missing"}
    with monkeypatch.context() as m:
        m.setattr(results, "source_state", lambda: ("abc", True))  # as if src/ had uncommitted changes
        runner.run(profile=profile, only=TOY, allow_dirty=True, progress=False)
    assert set(_states(profile).values()) == {"dirty"}
    for path in store.glob("toy.*/**/*.json"):  # as if computed from committed code
        doc = json.loads(path.read_text())
        doc["provenance"]["dirty"] = False
        path.write_text(json.dumps(doc))
    assert set(_states(profile).values()) == {"fresh"}
    shard = sorted(store.glob("toy.shards/*/05-10.npz"))[0]
    shard.write_bytes(shard.read_bytes()[:50])
    digits = next(store.glob("toy.digits/*.json"))
    doc = json.loads(digits.read_text())
    doc["provenance"]["data"]["sklearn/digits.csv.gz"] = "0" * 64
    digits.write_text(json.dumps(doc))
    rows = {r.name: r for r in runner.status(profile, TOY)}
    assert rows["toy.shards"].state == "corrupt" and str(shard) in rows["toy.shards"].detail
    assert rows["toy.digits"].state == "stale" and "sklearn/digits.csv.gz" in rows["toy.digits"].detail
    assert rows["toy.sum"].state == "fresh"
    (store / "toy.sum" / "0123456789ab.json").write_text(digits.read_text())
    orphans = [r for r in runner.status(profile) if r.state == "orphan"]
    assert [(r.name, r.key) for r in orphans] == [("toy.sum", "0123456789ab")]
    assert runner.prune(profile) == [str(store / "toy.sum" / "0123456789ab.json")]


def test_a_run_computes_only_what_is_not_fresh_and_force_recomputes(toy_store):
    store, profile = toy_store
    runner.run(profile=profile, only=["toy.shards"], allow_dirty=True, progress=False)
    key = registry.lookup("toy.shards").key(registry.profile(profile)["00_toy"])
    (store / "toy.shards" / key / "05-10.json").unlink()
    todo = runner.plan(profile, ["toy.shards"], allow_dirty=True)
    assert [t.entry.shard for t in todo] == ["05-10"]
    done = runner.run(profile=profile, only=["toy.shards"], allow_dirty=True, progress=False)
    assert [t.entry.shard for t in done] == ["05-10"]
    assert len(runner.plan(profile, ["toy.shards"], force=True)) == 3
    dirty = results.source_state()[1]  # without --allow-dirty, shards stored from uncommitted code are redone
    assert len(runner.plan(profile, ["toy.shards"])) == (3 if dirty else 0)


def test_a_dirty_checkout_refuses_to_run(toy_store, monkeypatch):
    _, profile = toy_store
    monkeypatch.setattr(results, "source_state", lambda: ("abc", True))
    with pytest.raises(registry.DirtyTree, match="--allow-dirty"):
        runner.run(profile=profile, only=TOY, progress=False)


def test_dask_workers_give_the_same_numbers_as_one_process(toy_store, tmp_path, monkeypatch):
    store, profile = toy_store
    runner.run(profile=profile, only=["toy.shards"], allow_dirty=True, progress=False)
    serial = registry.get("toy.shards", registry.profile(profile)["00_toy"])
    monkeypatch.setenv("CONVLIB_RESULTS", str(tmp_path / "parallel"))
    done = runner.run(profile=profile, only=["toy.shards"], workers=2, allow_dirty=True, progress=False)
    assert len(done) == 3
    parallel = registry.get("toy.shards", registry.profile(profile)["00_toy"])
    np.testing.assert_array_equal(parallel["value"], serial["value"])
    np.testing.assert_array_equal(parallel["index"], serial["index"])
    assert os.getpid() not in set(parallel["pid"])  # computed in the worker processes


def test_sigkill_during_a_forced_run_loses_only_shards_in_flight(toy_store):
    store, profile = toy_store
    slow = store.parent / "slow.yaml"
    slow.write_text("00_toy: {n: 40, seed: 3, delay: 0.4}\n")  # 8 shards of 0.4 s
    cmd = [sys.executable, "-m", "convlib", "results", "--profile", str(slow), "--only", "toy.shards", "--allow-dirty"]
    proc = subprocess.Popen(cmd + ["--force"], env={**os.environ}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    key = registry.lookup("toy.shards").key(registry.profile(str(slow))["00_toy"])
    deadline = time.time() + 60
    while len(results.stored_shards("toy.shards", key)) < 3 and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    kept = results.stored_shards("toy.shards", key)
    assert 3 <= len(kept) < 8
    files = {p.relative_to(store) for p in store.rglob("*") if p.is_file()}
    assert all(p.parts[0] == results.TMP or p.suffix in (".json", ".npz") for p in files)
    for shard in kept:  # every stored shard is whole
        assert results.read(results.Entry("toy.shards", key, shard)) is not None
    rest = subprocess.run(cmd, env={**os.environ}, capture_output=True, text=True)
    assert rest.returncode == 0, rest.stderr
    assert f"{8 - len(kept)} shards computed" in rest.stdout
    assert not list((store / results.TMP).iterdir())


def test_cli_status_exit_codes_and_bad_arguments(toy_store, capsys):
    store, profile = toy_store
    assert main(["results", "--profile", profile, "--only", "toy.sum", "--status"]) == 1
    assert "toy.sum" in capsys.readouterr().out
    assert main(["results", "--profile", profile, "--only", "toy.nothing"]) == 2
    assert "matches no experiment" in capsys.readouterr().err
    bad = store.parent / "bad.yaml"
    bad.write_text("00_toy: {n: 1, seed: 0, delay: 0, typo: 1}\n")
    assert main(["results", "--profile", str(bad)]) == 2
    assert "unknown parameters ['typo']" in capsys.readouterr().err


# ---------------------------------------------------------------------- --scheduler and --workers, before any work
def _server(payload: bytes | None):
    """A TCP server on 127.0.0.1 that accepts and sends ``payload`` (or nothing); returns (socket, port)."""
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)

    def serve():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            if payload:
                conn.sendall(payload)

    threading.Thread(target=serve, daemon=True).start()
    return server, server.getsockname()[1]


def results_cli(argv: list[str]) -> tuple[int, str, str]:
    import contextlib
    import io

    from convlib.__main__ import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(["results", *argv])
        except SystemExit as stop:
            code = stop.code
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("address, why", [
    ("garbage", "--scheduler expects a Dask scheduler address"),
    ("tcp://localhost:notaport", "--scheduler expects a Dask scheduler address"),
    ("tcp://localhost:70000", "port 1..65535"),
    ("", "--scheduler expects"),
    ("tcp://127.0.0.1:1", "--scheduler 'tcp://127.0.0.1:1': no Dask scheduler answered"),
    ("HTTP", "no Dask scheduler answered"),       # accepts TCP, speaks another protocol (was: 3.07 EiB)
    ("SILENT", "no Dask scheduler answered within 0.5 s"),   # accepts TCP, says nothing
])
def test_a_bad_scheduler_is_one_line_status_2_before_any_work(monkeypatch, address, why):
    import time

    monkeypatch.setattr(runner, "CONNECT_TIMEOUT_S", 0.5)
    monkeypatch.setattr(runner, "plan", lambda *a, **k: pytest.fail("planned work before checking --scheduler"))
    server = None
    if address in ("HTTP", "SILENT"):
        server, port = _server(b"HTTP/1.1 200 OK\r\n\r\nhello" * 20 if address == "HTTP" else None)
        address = f"tcp://127.0.0.1:{port}"
    start = time.perf_counter()
    try:
        code, out, err = results_cli(["--scheduler", address])
    finally:
        if server:
            server.close()
    assert code == 2 and out == "" and len(err.splitlines()) == 1 and why in err, err
    assert time.perf_counter() - start < 5


def test_a_dask_scheduler_passes_the_check():
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=0, processes=False, protocol="tcp://", dashboard_address=":0") as cluster:
        runner.check_scheduler(cluster.scheduler_address)


@pytest.mark.parametrize("workers", [str(runner.MAX_WORKERS + 1), "10" * 9])
def test_too_many_workers_is_refused(monkeypatch, workers):
    monkeypatch.setattr(runner, "plan", lambda *a, **k: pytest.fail("planned work before checking --workers"))
    code, out, err = results_cli(["--workers", workers])
    assert code == 2 and f"workers (--workers) must be an integer in 0..{runner.MAX_WORKERS}" in err


def _committed(store):
    for path in store.glob("toy.*/**/*.json"):  # as if computed from committed code
        doc = json.loads(path.read_text())
        doc["provenance"]["dirty"] = False
        path.write_text(json.dumps(doc))


def test_a_committed_gpu_profile_is_no_orphan_is_checked_and_is_what_the_book_reads(toy_store, monkeypatch, tmp_path):
    store, paper = toy_store
    gpu = tmp_path / "gpu.yaml"
    gpu.write_text("00_toy: {n: 20, seed: 3, delay: 0.0}\n")  # the same chapter at a larger size
    monkeypatch.setattr(registry, "COMMITTED_PROFILES", (str(gpu), paper))
    from convlib import status as status_page

    runner.run(profile=paper, only=TOY, allow_dirty=True, progress=False)
    _committed(store)
    assert runner.book_profile() == paper  # nothing of the gpu profile is stored yet
    note = status_page.profile_note("00_toy", paper)
    assert "`n` 20 (here 12)" in note and "not committed yet" in note
    other = tmp_path / "mine.yaml"  # a profile of one's own: computed when run, compared with nothing
    other.write_text("00_toy: {n: 5, seed: 3, delay: 0.0}\n")
    assert status_page.profile_note("00_toy", str(other)).endswith("not read from the committed results.")
    runner.run(profile=str(gpu), only=["toy.sum"], allow_dirty=True, progress=False)
    _committed(store)
    rows = runner.status(paper)
    gpu_key = registry.lookup("toy.sum").key(registry.profile(str(gpu))["00_toy"])
    extra = [r for r in rows if r.key == gpu_key]
    assert [(r.name, r.state) for r in extra] == [("toy.sum", "fresh")] and str(gpu) in extra[0].detail
    assert not [r for r in rows if r.state == "orphan"] and runner.prune(paper) == []
    assert runner.book_profile() == paper  # toy.shards and toy.digits of the gpu profile are still missing
    runner.run(profile=str(gpu), only=["toy.shards"], allow_dirty=True, progress=False)
    _committed(store)
    shards_key = registry.lookup("toy.shards").key(registry.profile(str(gpu))["00_toy"])
    next(store.glob(f"toy.shards/{shards_key}/15-20.json")).unlink()  # as if the run was cut off
    row = next(r for r in runner.status(paper) if r.key == shards_key)
    assert (row.state, row.shards) == ("partial", (3, 4)) and "1 of 4 shards missing" in row.detail
    assert results_cli(["--status", "--profile", paper])[0] == 0  # a partly computed gpu entry does not fail make test
    assert ("not all committed yet (so far toy.sum: all of it; toy.shards: 3 of 4 shards)."
            in status_page.profile_note("00_toy", paper))
    assert runner.book_profile() == paper
    runner.run(profile=str(gpu), only=TOY, allow_dirty=True, progress=False)
    _committed(store)
    assert runner.book_profile() == str(gpu)
    assert "are committed: `make book` builds this page" in status_page.profile_note("00_toy", paper)
    doc_path = next(store.glob(f"toy.sum/{gpu_key}.json"))
    doc = json.loads(doc_path.read_text())
    doc["provenance"]["data"]["made/up.csv"] = "0" * 64  # a committed gpu entry gone stale fails --status
    doc_path.write_text(json.dumps(doc))
    assert [r.state for r in runner.status(paper) if r.key == gpu_key] == ["stale"]
    assert runner.book_profile() == paper
