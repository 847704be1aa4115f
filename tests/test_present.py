"""present.table prints every cell whole with fixed decimals and no NaN; present.glue stores floats at
the precision they are printed, so a last-bit difference glues the same value."""
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from convlib import present


def _cells(t: present.Table) -> list[list[str]]:
    return [list(r) for r in t.cells]


def test_missing_values_print_as_a_dash_never_nan():
    df = pd.DataFrame({"acc": [91.5, np.nan, None], "name": ["a", None, pd.NA], "n": [1, 2, pd.NA]})
    t = present.table(df, {"acc": "{:.2f}"})
    assert _cells(t) == [["91.50", "a", "1"], ["\u2013", "\u2013", "2"], ["\u2013", "\u2013", "\u2013"]]
    html = t._repr_html_()
    assert "NaN" not in html and ">nan<" not in html.lower()
    assert "NaN" not in repr(t)


def test_fixed_decimals_per_column_and_percent():
    df = pd.DataFrame({"x": [1, 2.5, 3.14159], "p": [0.1234, 0.5, 1.0]})
    t = present.table(df, {"x": "{:.2f}", "p": "{:.1%}"})
    assert [r[0] for r in _cells(t)] == ["1.00", "2.50", "3.14"]
    assert [r[1] for r in _cells(t)] == ["12.3%", "50.0%", "100.0%"]


def test_thousands_separators_and_whole_floats_print_as_integers():
    df = pd.DataFrame({"cells": [15284.0, 15625.0, np.nan], "steps": [1234567, 12, 3]})
    t = present.table(df, {"cells": "{:,d}"})
    assert [r[0] for r in _cells(t)] == ["15,284", "15,625", "\u2013"]
    assert [r[1] for r in _cells(t)] == ["1,234,567", "12", "3"]  # default for integers


def test_default_float_format_is_one_fixed_format_per_column():
    same = present.table(pd.DataFrame({"v": [0.0072, 0.0131, 0.5]}))
    assert [r[0] for r in _cells(same)] == ["0.00720", "0.01310", "0.50000"]
    # magnitudes fixed decimals cannot show together: one scientific format, no float tails
    wide = present.table(pd.DataFrame({"v": [3.0297e-05, 0.0072]}))
    assert [r[0] for r in _cells(wide)] == ["3.03e-05", "7.20e-03"]


def test_a_300_character_cell_is_never_truncated():
    long = "|nor_conv_3x3~0|+|" * 17  # 306 characters, no spaces
    assert len(long) >= 300
    df = pd.DataFrame({"arch": [long], "acc": [93.1]})
    with pd.option_context("display.max_colwidth", 20):
        t = present.table(df)
        assert long in t._repr_html_().replace("<wbr>", "") and "..." not in t._repr_html_()
        assert long in repr(t)
    assert t._repr_html_().count("|<wbr>") == long.count("|")  # it may wrap inside the column instead


def test_no_index_unless_asked():
    df = pd.DataFrame({"a": [1.5, 2.5]}, index=pd.Index(["row-x", "row-y"], name="label"))
    assert "row-x" not in present.table(df)._repr_html_()
    shown = present.table(df, index=True)
    assert shown.columns == ("label", "a") and _cells(shown)[0] == ["row-x", "1.50"]
    assert "<th" in shown._repr_html_() and ">label</th>" in shown._repr_html_()


def test_html_escapes_text_and_carries_the_caption():
    t = present.table(pd.DataFrame({"op": ["<skip> & conv"]}), caption="Ops & kinds")
    html = t._repr_html_()
    assert "&lt;skip&gt; &amp; conv" in html and html.startswith('<div class="convlib-caption"') and "Ops &amp; kinds" in html
    assert repr(t).startswith("Ops & kinds\n")


def test_bad_input_is_one_clear_error():
    with pytest.raises(TypeError, match="expects a pandas DataFrame, got list"):
        present.table([[1, 2]])
    with pytest.raises(ValueError, match=r"formats name columns \['b'\]"):
        present.table(pd.DataFrame({"a": [1]}), {"b": "{:.2f}"})
    with pytest.raises(ValueError, match="cannot print 2.5"):
        present.table(pd.DataFrame({"a": [1, 2.5]}), {"a": "{:,d}"})
    with pytest.raises(ValueError, match="must print only a number"):
        present.rounded(0.5, "{:.2f} s")


# ------------------------------------------------------------------ glue
def test_rounded_reads_back_what_the_format_prints():
    assert present.rounded(0.7090133213896753) == 0.709
    assert present.rounded(12345.678, "{:,.1f}") == 12345.7
    assert present.rounded(0.12345, "{:.1%}") == 0.123
    assert present.rounded(3.0297e-05, "{:.2e}") == 3.03e-05
    assert math.isnan(present.rounded(float("nan")))


def test_glue_rounds_so_that_a_last_bit_difference_glues_identically(monkeypatch):
    import myst_nb

    stored = []
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display=True: stored.append((name, value, display)))
    a = 0.7090133213896753
    b = float(np.nextafter(a, 1.0))  # the same fit on another machine: one bit apart
    assert a != b
    present.glue("r", a)
    present.glue("r", b)
    assert stored[0] == stored[1] == ("r", 0.709, False)
    assert repr(stored[0][1]) == "0.709"  # what the notebook records as text/plain


def test_glue_passes_strings_and_integers_as_they_are(monkeypatch):
    import myst_nb

    stored = []
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display=True: stored.append(value))
    present.glue("s", "holds")
    present.glue("n", np.int64(15625))
    present.glue("t", True)
    assert stored == ["holds", 15625, True] and type(stored[1]) is int


@given(x=st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False),
       fmt=st.sampled_from(["{:.3g}", "{:.6g}", "{:.10g}", "{:,.2f}", "{:.4f}", "{:.1%}", "{:.2e}", "{:,.0f}"]))
def test_rounding_keeps_the_printed_text(x, fmt):
    assert fmt.format(present.rounded(x, fmt)) == fmt.format(x)
    assert present.rounded(present.rounded(x, fmt), fmt) == present.rounded(x, fmt)


def test_glue_all_uses_each_names_format(monkeypatch):
    import myst_nb

    stored = {}
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display=True: stored.__setitem__(name, value))
    present.glue_all({"rate": 0.123456, "share": 0.98765, "n": 7, "word": "holds"}, {"rate": "{:.4f}"})
    assert stored == {"rate": 0.1235, "share": 0.988, "n": 7, "word": "holds"}


def test_glue_stores_a_figure_as_png(monkeypatch):
    import myst_nb
    from matplotlib.figure import Figure

    stored = {}
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display=True: stored.__setitem__(name, value))
    fig = Figure(figsize=(2, 1), dpi=50)
    fig.subplots().plot([0, 1], [1, 0])
    present.glue("fig", fig)
    png = stored["fig"].data
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_cell_code_by_hand_and_one_code_per_cell():
    arch = "|nor_conv_3x3~0|+|skip_connect~0|none~1|+|avg_pool_3x3~0|nor_conv_1x1~1|nor_conv_3x3~2|"
    assert present.cell_code(arch).replace("\u00a0", " ").replace("\u2060", "") == "3 | s - | p 1 3"
    from convlib import dag

    codes = {present.cell_code(c) for c in dag.nb201_cells()}
    assert len(codes) == 15625  # no two cells of the space share a code
    with pytest.raises(ValueError):
        present.cell_code("|conv~0|")


def test_a_cell_code_never_wraps_in_a_table_while_an_arch_string_may():
    arch = "|nor_conv_3x3~0|+|skip_connect~0|none~1|+|avg_pool_3x3~0|nor_conv_1x1~1|nor_conv_3x3~2|"
    html = present.table(pd.DataFrame({"cell": [present.cell_code(arch)], "arch": [arch]}))._repr_html_()
    code_td, arch_td = html.split("<tbody>")[1].split("</td>")[:2]
    assert "<wbr>" not in code_td and " " not in code_td.split(">")[-1]  # no break opportunity at all
    assert arch_td.count("<wbr>") > 5


def test_a_number_in_a_text_cell_never_breaks_after_its_sign_or_thousands_comma():
    html = present.table(pd.DataFrame({"ours": ["+0.725"], "interval": ["[-6.33, +8.27]"], "e": ["0.0e+00"],
                                       "n": ["15,625 cells"], "arch": ["|skip_connect~0|+|none~0|"]}))._repr_html_()
    assert "+<wbr>0" not in html and "+<wbr>8" not in html and "e+<wbr>" not in html and "15,<wbr>" not in html
    assert "+<wbr>|" in html  # an arch string's node separator still may


def test_a_number_that_prints_as_zero_has_no_sign():
    assert [present.format_cell(v, f) for v, f in [(-0.001, "{:.2f}"), (-0.001, "{:+.2f}"), (0.001, "{:+.2f}"),
                                                   (-1e-9, "{:.1e}"), (-0.00001, "{:.1%}"), (-0.01, "{:.2f}"),
                                                   (0.0, "{:+.2f}"), (-0.004, "{:+.3f}")]] == \
        ["0.00", "0.00", "0.00", "-1.0e-09", "0.0%", "-0.01", "0.00", "-0.004"]


def test_a_short_word_in_a_text_cell_never_breaks_while_a_long_one_may():
    arch = "|nor_conv_3x3~0|+|skip_connect~0|none~1|+|avg_pool_3x3~0|nor_conv_1x1~1|nor_conv_3x3~2|"
    html = present.table(pd.DataFrame({"DAG": ["2_02_002"], "ours": ["8.9e-16"], "interval": ["[-6.33, +8.27]"],
                                       "arch": [arch]}))._repr_html_()
    dag_td, ours_td, interval_td, arch_td = html.split("<tbody>")[1].split("</td>")[:4]
    assert dag_td.endswith(">2_02_002") and "<wbr>" not in dag_td           # no break point inside
    assert '<span style="white-space:nowrap">8.9e-16</span>' in ours_td     # nor at its '-'
    assert interval_td.count("white-space:nowrap\">") == 2 and " " in interval_td  # it breaks at the space only
    assert arch_td.count("<wbr>") > 5


def test_a_column_of_sentences_keeps_a_minimum_width_and_short_columns_do_not():
    claim = "Deeper DAGs have a smaller λmin: Kendall τ of effective depth with λmin, NAS-Bench-201 (Sec. 4)"
    html = present.table(pd.DataFrame({"claim": [claim], "ours": [-0.136], "verdict": ["reproduced"]}))._repr_html_()
    heads = html.split("<thead>")[1].split("</thead>")[0].split("</th>")
    assert "min-width:min(14em,30vw)" in heads[0] and not any("min-width" in h for h in heads[1:])


@pytest.mark.parametrize("text, shown", [
    ("Kendall tau", "Kendall τ"), ("lambda_min / mean diagonal", "λmin / mean diagonal"),
    ("GD rate vs lambda_min(G) (not lambda_PR)", "GD rate vs λmin(G) (not λPR)"), ("lambda_3 = 0", "λ3 = 0"),
    ("initial beta of every gate", "initial β of every gate"), ("eta = 0.5 x largest", "η = 0.5 x largest"),
    ("paper's tau 10 -> 0.1", "paper's τ 10 → 0.1"), ("tau cifar10", "τ cifar10"),
    # identifiers and parameter strings stay as they are
    ("ch06.lambda_min", "ch06.lambda_min"), ("gd_eta=0.15, seed=0", "gd_eta=0.15, seed=0"),
    ("lambda_inputs=64", "lambda_inputs=64"), ("alpha_scale=2.0", "alpha_scale=2.0"), ("metadata", "metadata"),
    ("beta=0.5", "beta=0.5")])
def test_notation_writes_the_papers_symbols_but_leaves_identifiers(text, shown):
    assert present.notation(text) == shown


def test_a_table_prints_headers_text_cells_and_caption_in_notation_but_keeps_formats_by_the_code_name():
    t = present.table(pd.DataFrame({"Kendall tau": [0.5], "vs": ["lambda_min(G)"], "entry": ["ch06.lambda_min"]}),
                      {"Kendall tau": "{:+.2f}"}, caption="tau by lambda_min")
    assert t.columns == ("Kendall τ", "vs", "entry") and t.cells == (("+0.50", "λmin(G)", "ch06.lambda_min"),)
    assert t.caption == "τ by λmin"


def test_a_table_with_a_column_of_sentences_labels_its_cells_for_the_phone_layout_and_others_do_not():
    claim = "Deeper DAGs have a smaller λmin: Kendall τ of effective depth with λmin, NAS-Bench-201 (Sec. 4)"
    cards = present.table(pd.DataFrame({"claim": [claim], "ours": [-0.136]}))._repr_html_()
    assert 'class="convlib-table convlib-cards"' in cards
    assert '<td data-label="claim"' in cards and '<td data-label="ours"' in cards
    plain = present.table(pd.DataFrame({"DAG": ["2_02_002"], "ours": [-0.136]}))._repr_html_()
    assert 'class="convlib-table"' in plain and "data-label" not in plain
    # a card leaves out its empty lines (book.css hides cells of class convlib-empty on a phone)
    gaps = present.table(pd.DataFrame({"claim": [claim], "ours": [None], "note": [""]}))._repr_html_()
    assert '<td data-label="ours" class="convlib-empty"' in gaps and '<td data-label="note" class="convlib-empty"' in gaps
    assert '<td data-label="claim" class="' not in gaps and "convlib-empty" not in plain


def test_of_them_says_all_or_none_instead_of_n_of_n():
    assert [present.of_them(k, 85) for k in (85, 0, 3, 1)] == ["all of them", "none of them", "3 of them", "1 of them"]
    with pytest.raises(ValueError, match="0 <= k <= n"):
        present.of_them(4, 3)


def test_count_puts_the_noun_in_its_number():
    assert present.count(1, "cell") == "1 cell"
    assert present.count(2, "seed") == "2 seeds"
    assert present.count(0, "cell") == "0 cells"
    assert present.count(15625, "cell") == "15,625 cells"
