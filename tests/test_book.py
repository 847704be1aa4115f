"""The book's structure: profiles match the notebooks, committed notebooks are executed and listed in
the table of contents, the runner's helpers, the nbval sanitiser, and the site check catching faults."""
import configparser
import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from convlib import bookrun, registry

ROOT = bookrun.ROOT
CHAPTERS = bookrun.chapters()
PAPER = registry.profile("paper")
SMOKE = registry.profile("smoke")
ids = [nb.stem for nb in CHAPTERS]


def test_there_are_chapters():
    assert CHAPTERS, "no book/NN_*.ipynb chapter notebooks"


@pytest.mark.parametrize("nb", CHAPTERS, ids=ids)
def test_parameters_cell_is_the_paper_profile_and_smoke_has_the_same_keys(nb):
    cell = bookrun.parameters_cell(nb)
    assert nb.stem in PAPER, f"book/params/paper.yaml has no section {nb.stem}"
    assert cell == PAPER[nb.stem], f"{nb.name}: parameters cell differs from book/params/paper.yaml"
    assert nb.stem in SMOKE, f"book/params/smoke.yaml has no section {nb.stem}"
    assert set(SMOKE[nb.stem]) == set(cell), f"{nb.name}: smoke.yaml keys differ from the parameters cell"


@pytest.mark.parametrize("nb", bookrun.notebooks(), ids=[p.stem for p in bookrun.notebooks()])
def test_committed_notebook_is_executed_without_errors(nb):
    """nbval passes trivially on a notebook saved without outputs, so check that each is executed."""
    cells = json.loads(nb.read_text())["cells"]
    assert cells[0]["cell_type"] == "markdown" and "".join(cells[0]["source"]).startswith("# ")
    code = [c for c in cells if c["cell_type"] == "code"]
    assert code and all(c["execution_count"] is not None for c in code), f"{nb.name} is not executed"
    errors = [o.get("ename") for c in code for o in c["outputs"] if o["output_type"] == "error"]
    assert not errors, f"{nb.name} has error outputs {errors}"
    # stderr (warnings, progress bars) names this machine's paths and timings, which nbval then compares
    streams = [o["name"] for c in code for o in c["outputs"] if o["output_type"] == "stream"]
    assert "stderr" not in streams, f"{nb.name} recorded stderr output"
    assert str(ROOT) not in nb.read_text(), f"{nb.name} records the checkout's path {ROOT}"


def test_table_of_contents_lists_every_notebook_and_only_existing_files():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + [c["file"] for part in toc["parts"] for c in part["chapters"]]
    for f in files:
        assert any((ROOT / f).with_suffix(s).exists() for s in (".md", ".ipynb")), f"_toc.yml lists missing {f}"
    for nb in bookrun.notebooks():
        assert nb.relative_to(ROOT).with_suffix("").as_posix() in files, f"{nb.name} is not in _toc.yml"


# ------------------------------------------------------------------ runner helpers
def test_parameters_for_needs_a_section_except_for_the_appendix(tmp_path):
    assert bookrun.parameters_for(tmp_path / "01_x.ipynb", {"01_x": {"a": 1}}, "paper") == {"a": 1}
    assert bookrun.parameters_for(tmp_path / f"{bookrun.APPENDIX}.ipynb", {}, "paper") == {}
    with pytest.raises(ValueError, match="has no section '02_y'"):
        bookrun.parameters_for(tmp_path / "02_y.ipynb", {}, "smoke")


def _notebook(tmp_path, source, tags=("parameters",)):
    nb = {"cells": [{"cell_type": "code", "metadata": {"tags": list(tags)}, "source": source,
                     "outputs": [], "execution_count": None}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "01_t.ipynb"
    path.write_text(json.dumps(nb))
    return path


def test_tidy_drops_run_timestamps_and_hides_injected_parameters(tmp_path):
    path = _notebook(tmp_path, "n = 3\n", tags=("injected-parameters",))
    nb = json.loads(path.read_text())
    nb["metadata"]["papermill"] = {"start_time": "2026-01-01T00:00:00"}
    nb["cells"][0]["metadata"]["papermill"] = {"duration": 1.0}
    nb["cells"][0]["metadata"]["execution"] = {"iopub.status.busy": "2026-01-01T00:00:00"}
    path.write_text(json.dumps(nb))
    bookrun.tidy(path)
    out = json.loads(path.read_text())
    assert "papermill" not in out["metadata"]
    assert out["cells"][0]["metadata"] == {"tags": ["injected-parameters", "remove-cell"]}
    assert out["cells"][0]["id"] == "injected-parameters"


def test_runner_rejects_a_missing_notebook(capsys):
    with pytest.raises(SystemExit):
        bookrun.main(["--profile", "smoke", "book/99_missing.ipynb"])
    assert "no such notebook" in capsys.readouterr().err


# ------------------------------------------------------------------ nbval sanitiser
def _sanitize(text: str) -> str:
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(ROOT / "tests" / "nbval_sanitize.cfg")
    for section in cfg.sections():
        text = re.sub(cfg[section]["regex"], cfg[section]["replace"], text)
    return text


def test_sanitiser_hides_volatile_text_and_keeps_numbers():
    assert _sanitize("at 2026-11-23T17:38:02+00:00") == _sanitize("at 2025-01-01T00:00:00+00:00")
    assert _sanitize("<object at 0x7f3a2b1c0d90>") == _sanitize("<object at 0x7f00deadbeef>")
    assert _sanitize("0.33333333333333331") == _sanitize("0.33333333333333337") == "0.333333"
    assert _sanitize("took 12.3 s") == _sanitize("took 7 s")
    assert _sanitize("15625 cells, 5425 classes, 0.25") == "15625 cells, 5425 classes, 0.25"


# ------------------------------------------------------------------ site check
CHROMIUM = "/usr/bin/chromium"


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed")
def test_site_check_finds_each_kind_of_fault(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("check_site", ROOT / "scripts" / "check_site.py")
    check_site = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check_site)
    site = tmp_path / "html"
    site.mkdir()
    (site / "index.html").write_text('<meta http-equiv="Refresh" content="0; url=good.html" />')
    (site / "good.html").write_text('<html><body><h1 id="top">ok</h1><a href="bad.html#here">next</a>'
                                    '<a href="#top">up</a></body></html>')
    (site / "bad.html").write_text(
        '<html><body><p id="here">$$x^2$$ and \\(y\\)</p><img src="missing.png">'
        '<a href="gone.html">dead</a><a href="good.html#nowhere">dead anchor</a>'
        '<script>undefinedFunction()</script></body></html>')
    problems = check_site.check(site, tmp_path / "shots", CHROMIUM)
    text = "\n".join(problems)
    assert not [p for p in problems if p.startswith("good.html")], text
    for fault in ("raw TeX in text", "broken image", "missing file gone.html", "missing anchor #nowhere",
                  "JavaScript exception", "HTTP 404"):
        assert fault in text, f"{fault!r} not reported:\n{text}"
    assert sorted(p.name for p in (tmp_path / "shots").iterdir()) == ["bad.png", "good.png"]
    shutil.rmtree(tmp_path / "shots")
