"""The gpu profile: it differs from the paper profile only where the CPU shrinks the paper, and a tiny
copy of it runs every experiment it computes, through scripts/gpu_run.sh, on the CPU."""
import os
import subprocess
import sys
import tarfile

import pytest
import yaml

from convlib import ROOT, registry, runner

GPU_COMPUTES = {"ch05.figure4", "ch06.tenas", "ch07.search", "ch07.skip_fraction"}
TINY = {"05_dag_experiments": {"fig4_width": 8, "fig4_epochs": 1, "fig4_seeds": 2, "fig4_datasets": ["mnist"]},
        "06_nas_speedup": {"tenas_seeds": [0], "tenas_batch": 6, "tenas_repeat": 1},
        "07_pr_darts": {"search_images": 128, "search_epochs": 1, "search_C": 2, "search_seeds": [0],
                        "variants": ["darts"], "image_size": 8, "fig2_images": 32, "fig2_epochs": 1, "fig2_C": 2,
                        "fig2_fractions": [0.0], "fig2_seeds": [0]}}


def _changed(profile: dict, base: dict) -> set[str]:
    return {e.name for e in registry.load_all().values()
            if e.chapter in profile and e.key(profile[e.chapter]) != e.key(base[e.chapter])}


def test_gpu_profile_differs_from_paper_only_where_the_cpu_shrinks():
    paper, gpu = registry.profile("paper"), registry.profile("gpu")
    assert set(gpu) == set(paper)  # every chapter runs with it (make book PROFILE=gpu)
    assert _changed(gpu, paper) == GPU_COMPUTES
    assert gpu["05_dag_experiments"]["fig4_epochs"] == 1000
    assert gpu["06_nas_speedup"]["ntk_cells"] == 15625 and len(gpu["06_nas_speedup"]["tenas_seeds"]) >= 10
    for chapter, values in gpu.items():  # nothing smaller than the paper profile
        for k, v in values.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in ("seed", "data_seed", "search_seed"):
                assert v >= paper[chapter][k] or k.endswith("lr"), (chapter, k)


def test_the_gpu_script_gives_each_experiment_to_one_of_its_two_processes():
    """Two processes computing the same shards would race: GPU_ONLY's and GPU_CPU_PART's defaults are
    disjoint and together hold every experiment but chapter 08's (torchvision, not on that machine)."""
    import re

    text = (ROOT / "scripts" / "gpu_run.sh").read_text()
    parts = [re.search(r"\$\{" + var + r":?-([^}]*)\}", text).group(1).split() for var in ("GPU_ONLY", "GPU_CPU_PART")]
    names = sorted(registry.load_all())
    chosen = [[e.name for e in runner.select(part)] for part in parts]  # what `results --only` runs
    assert not set(chosen[0]) & set(chosen[1])
    assert sorted(chosen[0] + chosen[1]) == [n for n in names if not n.startswith("ch08.")]
    assert "ch07.search" in chosen[0]  # convlib.darts runs on the GPU


@pytest.mark.requires_data("mnist", "cifar10")
def test_a_tiny_gpu_profile_runs_through_the_gpu_script(tmp_path):
    """scripts/gpu_run.sh with the gpu profile shrunk (same experiments, tiny sizes), no Dask, no
    benchmarks, the CPU part in its own process beside the rest: every experiment the gpu profile
    computes is stored and packed into results.tar.gz."""
    gpu = registry.profile("gpu")
    tiny = {chapter: {**values, **TINY.get(chapter, {})} for chapter, values in gpu.items()}
    path = tmp_path / "gpu_tiny.yaml"
    path.write_text(yaml.safe_dump(tiny))
    assert _changed(tiny, gpu) == GPU_COMPUTES  # the tiny run computes exactly what the gpu run computes
    env = {**os.environ, "GPU_PROFILE": str(path), "GPU_WORKERS": "0", "GPU_BENCH": "0", "PYTHON": sys.executable,
           "GPU_ONLY": "ch05.figure4 ch06.ntk ch06.tenas", "GPU_CPU_PART": "ch07.search ch07.skip_fraction",
           "GPU_ALLOW_DIRTY": "1"}
    out = tmp_path / "out"
    run = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_run.sh"), str(out)], env=env, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == ["env.txt", "results.tar.gz", "run.log"]
    with tarfile.open(out / "results.tar.gz") as tar:
        names = tar.getnames()
    stored = {n.split("/")[1] for n in names if n.endswith(".json")}
    assert stored == GPU_COMPUTES, names
    keys = {e: registry.lookup(e).key(tiny[registry.lookup(e).chapter]) for e in GPU_COMPUTES}
    assert all(any(f"/{e}/{keys[e]}" in n for n in names) for e in GPU_COMPUTES)
