"""convlib.status: the appendix's tables read the results store (not the machine building the book)."""
import json

from convlib import runner, status


def test_tables_describe_the_stored_results_and_their_state(toy_store):
    store, profile = toy_store
    runner.run(profile=profile, only=["toy"], allow_dirty=True, progress=False)
    for path in store.glob("toy.*/**/*.json"):
        doc = json.loads(path.read_text())
        doc["provenance"].update(dirty=False, device="cpu (test)", python="3.11.0")
        path.write_text(json.dumps(doc))
    env = status.environment()
    assert env.loc["results: device", "version"] == "cpu (test)" and env.loc["results: python", "version"] == "3.11.0"
    assert "platform" not in env.index and "commit" not in env.index  # nothing of the building machine
    rows = status.entries(profile).set_index("experiment")
    assert rows.loc["toy.shards", "shards"] == 3 and rows.loc["toy.sum", "state"] == "fresh"
    assert rows.loc["toy.sum", "parameters"] == "n=12, seed=3"
    chapters = status.chapters(profile)
    assert chapters.loc["00_toy", "experiments"] == 3 and chapters.loc["00_toy", "fresh"] == 3
    (store / "toy.sum" / "0123456789ab.json").write_text(next(store.glob("toy.sum/*.json")).read_text())
    assert status.entries(profile).set_index("key").loc["0123456789ab", "state"] == "orphan"
    for path in store.glob("toy.digits/**/*.json"):  # an experiment without parameters says so, not a blank
        doc = json.loads(path.read_text())
        path.write_text(json.dumps({**doc, "params": {}}))
    assert status.entries(profile).set_index("experiment").loc["toy.digits", "parameters"] == "none"


def test_page_tables_show_every_entry_whole(toy_store):
    store, profile = toy_store
    runner.run(profile=profile, only=["toy"], allow_dirty=True, progress=False)
    entries = status.entries(profile)
    t = status.entries_table(profile)
    assert t.columns == ("experiment", "state", "shards", "device", "CPU time (s)", "GPU time (s)", "date (UTC)")
    assert [r[0] for r in t.cells] == list(entries["experiment"]) and "NaN" not in t._repr_html_()
    assert set(entries["GPU time (s)"].isna()) == {True}  # nothing ran on a GPU: a dash, not 0
    # a shard computed on a GPU counts in the GPU column only: CPU and GPU seconds are not summed
    shards = sorted(store.glob("toy.shards/**/*.json"))
    walls = [json.loads(path.read_text())["provenance"]["wall_s"] for path in shards]
    doc = json.loads(shards[0].read_text())
    doc["provenance"].update(device="NVIDIA H200", wall_s=5.0)
    shards[0].write_text(json.dumps(doc))
    row = status.entries(profile).set_index("experiment").loc["toy.shards"]
    assert row["GPU time (s)"] == 5.0 and row["CPU time (s)"] == round(sum(walls[1:]), 1)
    chapter = status.chapters(profile).loc["00_toy"]
    devices = chapter["devices"].split("; ")  # each device once, though two entries ran on this CPU
    assert chapter["GPU time (s)"] == 5.0 and devices[0] == "NVIDIA H200" and len(devices) == len(set(devices)) == 2
    assert chapter["CPU time (s)"] == round(status.entries(profile)["CPU time (s)"].sum(), 1)
    # a CPU name that holds "; " (device_name on a GPU machine whose GPU a computation left unused) stays whole
    doc = json.loads(shards[1].read_text())
    doc["provenance"].update(device="cpu (x86_64, 16 cores; NVIDIA H200 unused)")
    shards[1].write_text(json.dumps(doc))
    assert "cpu (x86_64, 16 cores; NVIDIA H200 unused)" in status.chapters(profile).loc["00_toy", "devices"]
    assert status.entries(profile).set_index("experiment").loc["toy.shards", "CPU time (s)"] == round(sum(walls[1:]), 1)
    p = status.parameters_table(profile)
    assert p.columns == ("experiment", "key", "commit", "parameters")
    assert [r[3] for r in p.cells] == list(entries["parameters"])  # never cut
    assert status.chapters_table(profile).columns[0] == "chapter"
    assert status.environment_table().columns == ("what", "version")


def test_provenance_versions_names_the_experiments_of_a_minority_value():
    from convlib.results import Entry

    def doc(torch):
        return {"provenance": {"torch": torch}}

    same = [(Entry("a", "k1"), doc("2.13.0+cpu")), (Entry("b", "k2"), doc("2.13.0+cpu"))]
    assert status.provenance_versions(same, "torch") == "2.13.0+cpu"
    mixed = same + [(Entry("c", "k3"), doc("2.13.0+cpu")), (Entry("c", "k3", "s1"), doc("2.13.0+cpu")),
                    (Entry("ch08.networks", "k4"), doc("2.14.1+cu130"))]
    assert status.provenance_versions(mixed, "torch") == "2.13.0+cpu (3 experiments), 2.14.1+cu130 (ch08.networks)"
    assert status.provenance_versions([], "torch") == "-"
