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
    # a table a reader sees goes through present.table (fixed decimals, no index, no NaN, nothing cut), never
    # pandas' own HTML
    raw = [i for i, c in enumerate(cells) if c["cell_type"] == "code" for o in c["outputs"]
           if 'class="dataframe' in "".join(o.get("data", {}).get("text/html", ""))]
    assert not raw, f"{nb.name}: cells {raw} show a raw DataFrame; wrap it in present.table"


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


PNG = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9"
       "awAAAABJRU5ErkJggg==")


def _check_site():
    import importlib.util

    spec = importlib.util.spec_from_file_location("check_site", ROOT / "scripts" / "check_site.py")
    check_site = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check_site)
    return check_site


def _sphinx_reader():
    import importlib.util

    spec = importlib.util.spec_from_file_location("sphinx_reader", ROOT / "scripts" / "sphinx_reader.py")
    sphinx_reader = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sphinx_reader)
    return sphinx_reader


def _article(body: str) -> str:
    return f'<html><body><main><article class="bd-article"><section style="max-width:600px">{body}</section>' \
           '</article></main></body></html>'


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed")
def test_site_check_finds_each_kind_of_fault(tmp_path):
    check_site = _check_site()
    site = tmp_path / "html"
    site.mkdir()
    (site / "index.html").write_text('<meta http-equiv="Refresh" content="0; url=good.html" />')
    twelve = "\n".join(f"x{i} = {i}" for i in range(12))
    hidden = "\n".join(f'glue("g{i}", {i})' for i in range(20))
    (site / "good.html").write_text(_article(
        '<h1 id="top">ok</h1><a href="bad.html#here">next</a><a href="#top">up</a>'
        f'<div class="cell"><div class="cell_input"><pre>{twelve}</pre></div></div>'
        f'<details class="hide above-input"><summary>Show code</summary><div class="cell_input"><pre>{hidden}</pre>'
        '</div></details>'
        f'<img src="{PNG}" alt="Relative error against width, one line per DAG.">'
        '<table><tr><th>acc</th></tr><tr><td>\u2013</td></tr></table>'
        '<mjx-container display="true" style="display:block;max-width:500px;overflow-x:auto"><mjx-math style="display:inline-block;'
        'width:300px">x</mjx-math></mjx-container>'))
    thirteen = "\n".join(f"y{i} = {i}" for i in range(13))
    (site / "bad.html").write_text(_article(
        '<p id="here">$$x^2$$ and \\(y\\)</p><img src="missing.png">'
        '<a href="gone.html">dead</a><a href="good.html#nowhere">dead anchor</a>'
        '<script>undefinedFunction()</script>'
        f'<div class="cell"><div class="cell_input"><pre>{thirteen}</pre></div></div>'
        '<div class="cell"><div class="cell_input"><pre>glue("r", 0.5)</pre></div></div>'
        f'<img src="{PNG}" alt="../_images/abc123.png"><img src="{PNG}" alt="">'
        f'<img src="{PNG}" alt="A figure squeezed to half its size." style="width:0.5px">'
        '<div style="overflow-x:auto"><table><caption>Wide one</caption><tr><td style="min-width:900px">a</td>'
        '</tr></table></div>'
        '<table><caption>Holes</caption><tr><th>acc</th></tr><tr><td>NaN</td></tr></table>'
        '<mjx-container display="true" style="display:block;max-width:500px;overflow-x:auto"><mjx-math '
        'style="display:inline-block;width:800px">K = \\sum</mjx-math></mjx-container>'
        '<mjx-container display="true" style="display:block"><mjx-math style="display:inline-block"><mjx-linestack>'
        'E = mc^2</mjx-linestack></mjx-math></mjx-container>'
        '<div style="width:1500px">a banner</div>'))
    problems = check_site.check(site, tmp_path / "shots", CHROMIUM)
    text = "\n".join(problems)
    assert not [p for p in problems if p.startswith("good.html")], text
    for fault in ("raw TeX in text", "broken image", "missing file gone.html", "missing anchor #nowhere",
                  "JavaScript exception", "HTTP 404", "equation 'K = \\\\sum' is 800 px wide in a 500 px container",
                  "table 'Wide one' is", "visible code cell of 13 lines (max 12) starting 'y0 = 0'",
                  "visible code cell calls glue( starting 'glue(\"r\", 0.5)'",
                  "alt text '../_images/abc123.png' (empty or a path)", "alt text '' (empty or a path)",
                  "NaN in table 'Holes' (1 cell(s))", "equation 'E = mc^2' was broken into lines by MathJax", "is shown at 50% of its size: its 10 pt text prints at 5.0 pt", "page is 1508 px wide in a 420 px viewport: div \"a banner\" reaches 1508 px"):
        assert fault in text, f"{fault!r} not reported:\n{text}"
    # tables and figure sizes count at 1280 px only; equations (MathJax 4 breaks them), the page width, code and
    # alt texts at both widths
    assert "bad.html @420px: table" not in text and "bad.html @420px: equation 'K = \\\\sum' is 800 px" in text
    assert "bad.html @420px: figure" not in text
    assert "bad.html @420px: visible code cell of 13 lines" in text and "bad.html @1280px: page is" in text
    assert sorted(p.name for p in (tmp_path / "shots").iterdir()) == [
        "bad-1280.png", "bad-420.png", "good-1280.png", "good-420.png"]
    shutil.rmtree(tmp_path / "shots")
    # --pages: only the pages named, by file name or path; an unknown name is an error
    assert [p.name for p in check_site.select(site, ["good.html"])] == ["good.html"]
    assert check_site.check(site, tmp_path / "shots", CHROMIUM, ["good.html"]) == []
    with pytest.raises(ValueError, match="no page 'nope.html'"):
        check_site.select(site, ["nope.html"])


def test_sphinx_reader_gives_a_captioned_figure_its_caption_as_alt_text():
    from docutils import nodes
    from docutils.utils import new_document

    sphinx_reader = _sphinx_reader()
    doc = new_document("page")
    glued = nodes.figure("", nodes.image(uri="_images/a.png"), nodes.caption("", "Relative error\n  against width."))
    kept = nodes.figure("", nodes.image(uri="_images/b.png", alt="Set by hand."), nodes.caption("", "Caption."))
    bare = nodes.image(uri="_images/c.png")
    doc += [glued, kept, bare]
    sphinx_reader.caption_alt(doc)
    assert [img.get("alt") for img in doc.findall(nodes.image)] == [
        "Relative error against width.", "Set by hand.", None]


def test_sphinx_reader_titles_a_papers_result_by_its_own_number_only():
    from docutils import nodes
    from sphinx_proof.nodes import unenumerable_node

    sphinx_reader = _sphinx_reader()

    def block(kind, *title):
        node = unenumerable_node(realtype=kind)
        node += nodes.title("", "", *title)
        return node

    doc = nodes.section()
    paper = block("lemma", nodes.Text(" (Lemma 3.2 of Chen et al. (one linear edge))"))
    with_math = block("theorem", nodes.Text(" (Theorem 1 of Zhou et al.: the rate "), nodes.math("", "c"), nodes.Text(")"))
    own = block("theorem", nodes.Text(" (Linear edge)"))
    doc += [paper, with_math, own]
    sphinx_reader.paper_titles(doc)
    assert paper.children[0].astext() == "Lemma 3.2 of Chen et al. (one linear edge)" and paper["realtype"] == ""
    assert with_math.children[0].astext() == "Theorem 1 of Zhou et al.: the rate c" and with_math["realtype"] == ""
    assert own.children[0].astext() == " (Linear edge)" and own["realtype"] == "theorem"  # the book's own: unchanged


def test_bookrun_does_not_interrupt_a_kernel_it_shuts_down():
    """jupyter_client interrupts (SIGINT) before every shutdown; a kernel inside a handler then logs
    'KeyboardInterrupt caught in kernel'. The runner's manager interrupts a running kernel, not one it
    shuts down (a real kernel, its signals recorded)."""
    import asyncio
    import signal

    async def signals_sent() -> tuple[list, list]:
        km = bookrun.quiet_kernel_manager()(kernel_name="python3")
        await km.start_kernel()
        sent = []
        real = km._async_signal_kernel

        async def record(signum):
            sent.append(signum)
            await real(signum)

        km._async_signal_kernel = record
        try:
            await km.interrupt_kernel()
            while_running = list(sent)
        finally:
            await km.shutdown_kernel()
        return while_running, sent[len(while_running):]

    while_running, at_shutdown = asyncio.run(signals_sent())
    assert while_running == [signal.SIGINT] and signal.SIGINT not in at_shutdown


def test_sphinx_reader_keeps_punctuation_with_its_inline_formula():
    from docutils import nodes

    sphinx_reader = _sphinx_reader()
    para = nodes.paragraph("", "", nodes.Text("moments ("), nodes.math("", "M_s"), nodes.Text("), then "),
                           nodes.math("", "K"), nodes.Text("."), nodes.Text(" Alone "), nodes.math("", "x"),
                           nodes.Text(" and spaced "), nodes.math("", "y"), nodes.Text(" ."))
    text = para.astext()
    sphinx_reader.math_punctuation(para)
    assert para.astext() == text  # the words are unchanged, only grouped
    groups = [g for g in para.children if isinstance(g, nodes.inline)]
    assert [g.astext() for g in groups] == ["(M_s),", "K."] and all(g["classes"] == ["convlib-nowrap"] for g in groups)
    assert [type(c).__name__ for c in para.children] == ["Text", "inline", "Text", "inline", "Text", "math", "Text",
                                                          "math", "Text"]
    assert str(para.children[0]) == "moments " and str(para.children[2]) == " then "


def test_sphinx_reader_sets_glued_prose_in_the_texts_weight():
    from docutils import nodes

    sphinx_reader = _sphinx_reader()
    glued = ["the first 100 of the release's 1,000 epochs, on a smaller training set", "0.0549 / 0.194 / 0.254",
             "41.4 [40.8, 41.9]", "DAG#1 < DAG#2 < DAG#3", "not reproduced / reproduced", "Zhou et al. 2020, Figure 2"]
    para = nodes.paragraph("", "", *(nodes.inline(t, t, classes=["pasted-text"]) for t in glued),
                           nodes.inline("a plain span of many words here", "a plain span of many words here"))
    sphinx_reader.prose_glue(para)
    assert ["convlib-prose" in n["classes"] for n in para.children] == [True, False, False, False, False, True, False]
