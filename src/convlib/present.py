"""How the book shows numbers: one table formatter and one rounding ``glue``.

``table`` turns a DataFrame into HTML a reader can take in at a glance: fixed decimals per column,
thousands separators, an en dash where there is no value (never ``NaN``), every cell whole (long text
wraps, also inside arch strings; it is never cut to "..."), no index unless it is a label. ``glue``
stores a float rounded to the precision it is printed at, so that a last-bit difference between
machines does not rewrite a committed notebook.
"""
from __future__ import annotations

import html
import math
import numbers
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import pandas as pd

DASH = "\u2013"
"""What a missing value prints as (an en dash)."""

_TABLE_STYLE = ("border-collapse:collapse;margin:0.5em 0 1em 0;max-width:100%;width:auto;"
                "table-layout:auto;font-size:0.9em;line-height:1.35")
_CAPTION_STYLE = "text-align:left;font-weight:600;font-size:0.9em;margin:0.5em 0 0 0;padding:0 0 0.3em 0"
_TH_STYLE = "border-bottom:1px solid #444;padding:0.25em 0.4em;vertical-align:bottom"
# numbers never break; text wraps at spaces and after the characters of _BREAK_AFTER (arch strings have no
# spaces), so no cell is cut or pushes the table wider than the column
_NUM_STYLE = "padding:0.2em 0.4em;text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums"
_TEXT_STYLE = "padding:0.2em 0.4em;text-align:left;white-space:normal;overflow-wrap:break-word"
_SIGNED_ZERO = re.compile(r"[-+]0*(\.0*)?(e[-+]?\d+)?%?")  # a signed number that prints as zero
# where a long token (an arch string, a parameter list) may break: after these characters, unless a word
# joiner (U+2060) follows, as in ``cell_code``; never inside a number (+0.725, 1e+06, 15,625)
_BREAK_AFTER = re.compile("([|_/=~]|[+,](?![0-9.]))(?!\u2060)")
# a word (between spaces) this short never breaks inside (a DAG string 2_02_002, 8.9e-16, [-6.33,): browsers
# otherwise break after its '_' or '-' when a column is squeezed; only longer words get break points
_SHORT_WORD = 16
_NOWRAP = '<span style="white-space:nowrap">{}</span>'
# a text column with a cell longer than _PROSE characters (a claim, a note) is never narrower than _PROSE_WIDTH
# (14em, or less on a phone, where several such columns must still fit)
_PROSE, _PROSE_WIDTH = 60, "min(14em,30vw)"


def _text_word(word: str) -> str:
    """One word of a text cell as HTML: kept whole when short (in a no-wrap span where a browser would break
    it, after a '-', '/', '|', '+', '~' or en dash), else with a break point after each of ``_BREAK_AFTER``'s
    characters."""
    text = html.escape(word)
    if len(word) > _SHORT_WORD:
        return _BREAK_AFTER.sub(r"\1<wbr>", text)
    return _NOWRAP.format(text) if len(word) > 1 and re.search("[-/|+~\u2013]", word) else text


def is_missing(value: object) -> bool:
    """None, NaN, NaT and pandas' NA."""
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # lists, arrays: not a missing scalar
        return False


def _is_float(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (numbers.Integral, bool))


def default_format(values: pd.Series) -> str:
    """A format for a numeric column without one: ``{:,d}`` when every value is whole, else fixed
    decimals showing three significant digits of the smallest non-zero magnitude (at most 5
    decimals), or ``{:.2e}`` when the column spans magnitudes that fixed decimals cannot show."""
    nums = [float(v) for v in values if not is_missing(v)]
    if all(float(v).is_integer() for v in nums):
        return "{:,.0f}"
    mags = [abs(v) for v in nums if v != 0 and math.isfinite(v)]
    if not mags:
        return "{:,.2f}"
    small, large = min(mags), max(mags)
    decimals = max(0, 2 - math.floor(math.log10(small)))
    if decimals > 5 or large >= 1e7:
        return "{:.2e}"
    return "{:,." + str(decimals) + "f}"


def format_cell(value: object, fmt: str | None = None) -> str:
    """One cell as text: a dash when missing, ``fmt`` (``"{:,.2f}"``, ``"{:.1%}"``, ``"{:,d}"``) for
    numbers, ``str`` otherwise. A whole float given a ``d`` format is printed as an integer; a number that
    prints as zero prints without a sign (``-0.001`` at ``"{:+.2f}"`` is ``0.00``, not ``-0.00``)."""
    if is_missing(value):
        return DASH
    if fmt is None or isinstance(value, (str, bool)):
        return str(value)
    if fmt.rstrip("}").endswith("d") and _is_float(value) and float(value).is_integer():
        value = int(value)
    try:
        text = fmt.format(value)
    except (ValueError, TypeError) as err:
        raise ValueError(f"format {fmt!r} cannot print {value!r} ({type(value).__name__}): {err}") from None
    return text[1:] if _SIGNED_ZERO.fullmatch(text) else text


@dataclass(frozen=True)
class Table:
    """A formatted table: ``cells`` are the printed strings; Jupyter shows it as HTML."""

    columns: tuple[str, ...]
    cells: tuple[tuple[str, ...], ...]
    numeric: tuple[bool, ...]
    caption: str | None = None

    def frame(self) -> pd.DataFrame:
        """The printed strings as a DataFrame (for tests and plain-text output)."""
        return pd.DataFrame(list(self.cells), columns=list(self.columns))

    def _repr_html_(self) -> str:
        # a column of sentences keeps a readable measure when the table is squeezed, and a table with one (the
        # scorecard) reads as one card per row on a phone (book/_static/book.css), each cell labelled and the
        # empty ones left out
        prose = [not n and max((len(r[i]) for r in self.cells), default=0) > _PROSE
                 for i, n in enumerate(self.numeric)]
        cards = any(prose)

        def td(text: str, numeric: bool, tag: str = "td", extra: str = "", label: str | None = None) -> str:
            style = _NUM_STYLE if numeric and tag == "td" else _TEXT_STYLE if tag == "td" else _TH_STYLE
            align = ";text-align:right" if numeric and tag == "th" else ";text-align:left" if tag == "th" else ""
            body = html.escape(text) if numeric else " ".join(map(_text_word, text.split(" ")))
            attr = f' data-label="{html.escape(label)}"' if label is not None else ""
            if label is not None and text in ("", DASH):  # a card leaves out the lines that say nothing
                attr += ' class="convlib-empty"'
            return f'<{tag}{attr} style="{style}{align}{extra}">{body}</{tag}>'

        head = "".join(td(c, n, "th", f";min-width:{_PROSE_WIDTH}" if wide else "")
                       for c, n, wide in zip(self.columns, self.numeric, prose))
        body = "".join("<tr>" + "".join(td(v, n, label=c if cards else None)
                                        for v, n, c in zip(row, self.numeric, self.columns)) + "</tr>\n"
                       for row in self.cells)
        # the caption is a block before the table, not a <caption>: a <caption> is as wide as its table, so on a
        # phone, where a wide table scrolls sideways, the caption was cut off at the screen's edge
        cap = (f'<div class="convlib-caption" style="{_CAPTION_STYLE}">{html.escape(self.caption)}</div>'
               if self.caption else "")
        kind = "convlib-table convlib-cards" if cards else "convlib-table"
        return (f'{cap}<table class="{kind}" style="{_TABLE_STYLE}">'
                f"<thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody></table>")

    def __repr__(self) -> str:
        text = self.frame().to_string(index=False) if self.cells else ", ".join(self.columns)
        return f"{self.caption}\n{text}" if self.caption else text


# the papers' symbols for the names code spells out: a whole word, not inside an identifier or a parameter
# string (ch06.lambda_min, gd_eta=0.15 and lambda_inputs stay as they are)
_SYMBOLS = tuple((re.compile(rf"(?<![\w.=]){word}(?![\w=])"), symbol) for word, symbol in (
    ("lambda_min", "λmin"), ("lambda_max", "λmax"), ("lambda_PR", "λPR"), (r"lambda_(\d)", r"λ\1"),
    ("tau", "τ"), ("rho", "ρ"), ("eta", "η"), ("beta", "β"), ("alpha", "α"), ("->", "→")))


def notation(text: str) -> str:
    """``text`` with the papers' symbols for spelled-out names: ``lambda_min`` -> λmin, ``lambda_3`` -> λ3,
    ``Kendall tau`` -> Kendall τ, ``rho``, ``eta``, ``beta``, ``alpha`` and ``->`` likewise."""
    for pattern, symbol in _SYMBOLS:
        text = pattern.sub(symbol, text)
    return text


def table(df: pd.DataFrame, formats: dict[str, str] | None = None, index: bool = False,
          caption: str | None = None) -> Table:
    """``df`` as a publication table: ``formats`` maps a column to its format (others get
    :func:`default_format` when numeric), missing values print as an en dash, no cell is truncated,
    the index is shown (as leading columns) only with ``index=True``, and headers, text cells and the
    caption print names in the papers' symbols (:func:`notation`)."""
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"present.table expects a pandas DataFrame, got {type(df).__name__}")
    formats = dict(formats or {})
    if index:
        df = df.reset_index()
    names = [str(c) for c in df.columns]
    if len(set(names)) != len(names):
        raise ValueError(f"present.table: duplicate column names {names}")
    unknown = set(formats) - set(names)
    if unknown:
        raise ValueError(f"present.table: formats name columns {sorted(unknown)} that the table does not have "
                         f"(columns: {names})")
    fmts, numeric = [], []
    for name, col in zip(names, df.columns):
        values = df[col]
        is_num = all(isinstance(v, numbers.Real) and not isinstance(v, bool)
                     for v in values if not is_missing(v)) and not values.map(is_missing).all()
        numeric.append(is_num)
        fmts.append(formats.get(name, default_format(values) if is_num else None))
    cells = tuple(tuple(format_cell(v, f) if n else notation(format_cell(v, f)) for v, f, n in zip(row, fmts, numeric))
                  for row in df.itertuples(index=False))
    return Table(tuple(map(notation, names)), cells, tuple(numeric), caption and notation(caption))


def rounded(value: float, fmt: str = "{:.3g}") -> float:
    """``value`` rounded to what ``fmt`` prints: the float that the printed text reads back as
    (thousands separators dropped, a percent divided by 100). Infinite and NaN values pass through."""
    value = float(value)
    if not math.isfinite(value):
        return value
    text = fmt.format(value).strip().replace(",", "").replace("_", "")
    percent = text.endswith("%")
    try:
        number = Decimal(text.rstrip("%").strip())
    except InvalidOperation:
        raise ValueError(f"glue format {fmt!r} must print only a number, printed {fmt.format(value)!r}") from None
    return float(number / 100 if percent else number)


def figure_png(fig) -> object:
    """A matplotlib figure as an IPython PNG image (what a notebook shows), drawn at the figure's
    size and dpi; works for a ``Figure`` made without pyplot, which Jupyter would show only as text."""
    import io

    from IPython.display import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return Image(data=buf.getvalue(), format="png")


def glue(name: str, value: object, fmt: str = "{:.3g}", display: bool = False) -> None:
    """``myst_nb.glue`` of ``value``, floats rounded by :func:`rounded` to the precision ``fmt`` prints;
    integers become plain ``int``, a matplotlib figure its PNG (:func:`figure_png`); strings, tables
    and images are glued as they are."""
    from matplotlib.figure import Figure
    from myst_nb import glue as _glue  # the book's environment only; importing convlib needs no myst-nb

    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = int(value)
    elif _is_float(value):
        value = rounded(value, fmt)
    elif isinstance(value, Figure):
        value = figure_png(value)
    _glue(name, value, display=display)


def glue_all(values: dict[str, object], formats: dict[str, str] | None = None, fmt: str = "{:.3g}") -> None:
    """:func:`glue` every ``name: value``, each float at ``formats[name]`` (the precision the page prints
    it at), else at ``fmt``."""
    formats = formats or {}
    for name, value in values.items():
        glue(name, value, formats.get(name, fmt))


CELL_CODE = {"nor_conv_3x3": "3", "nor_conv_1x1": "1", "skip_connect": "s", "avg_pool_3x3": "p", "none": "-"}
CELL_KEY = ("a cell is written node by node, each node's incoming operations from nodes 0, 1, ... "
            "(3: conv 3x3, 1: conv 1x1, s: skip, p: avg pool 3x3, -: none)")


def cell_code(arch: str) -> str:
    """A NAS-Bench-201 cell at table width (``CELL_KEY``): ``|nor_conv_3x3~0|+|skip_connect~0|none~1|+...``
    -> ``3 | s - | ...``, written so that a table never wraps it (no-break spaces, a word joiner after
    each '|', which would otherwise allow a break)."""
    from convlib import dag

    code = " | ".join(" ".join(CELL_CODE[op] for op in group) for group in dag.parse(arch).ops)
    return code.replace(" ", "\u00a0").replace("|", "|\u2060")


def count(n: int, noun: str) -> str:
    """``n`` with its noun in the number it takes: ``count(1, "cell")`` is "1 cell", ``count(2, "cell")`` "2 cells"."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def of_them(k: int, n: int) -> str:
    """How many of ``n`` things already named: "all of them", "none of them" or "3 of them" (``n`` > 0)."""
    if not 0 <= k <= n or n == 0:
        raise ValueError(f"need 0 <= k <= n and n > 0, got k={k}, n={n}")
    return "all of them" if k == n else "none of them" if k == 0 else f"{k:,} of them"


__all__ = ["DASH", "is_missing", "format_cell", "Table", "table", "notation", "rounded", "glue", "glue_all", "count",
           "of_them", "CELL_CODE", "CELL_KEY", "cell_code"]
