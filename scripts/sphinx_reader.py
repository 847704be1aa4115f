"""Sphinx extension: two things a reader of the rendered book should not stumble on.

* A figure's image without alt text gets its caption as alt text. A glued notebook figure
  (``{glue:figure}``) has no ``:alt:``, and Sphinx then writes the image's file path as its alt
  text, which a screen reader reads out. An explicit ``:alt:`` is kept.
* A paper's result carries the paper's own number and no second one. sphinx-proof renders an
  unnumbered block (``:nonumber:``) titled ``Lemma 3.2 of Chen et al. (one linear edge)`` as
  "Lemma (Lemma 3.2 of Chen et al. (one linear edge))"; when the title starts with the block's own
  kind, it is shown as written: "Lemma 3.2 of Chen et al. (one linear edge)".
* Punctuation stays with the inline math it touches. A browser may break a line between a typeset formula
  (an inline block) and the full stop after it, which then starts a line of its own on a phone; a formula
  and the punctuation written against it (``($K$).``) are wrapped in one ``convlib-nowrap`` span
  (``book/_static/book.css``: no break inside).
* A glued value that reads as prose is set in the text's weight. myst-nb prints every ``{glue:text}``
  value in bold, which marks a computed number well but turns a glued clause ("the first 100 of the
  release's 1,000 epochs, on a smaller training set, ...") into a shouted one: a value of five or more
  words, at least half of them words without digits, gets the class ``convlib-prose``.
"""
from __future__ import annotations

import re

from docutils import nodes


def caption_alt(doctree: nodes.Node) -> None:
    """Set ``alt`` of every image in a captioned figure that has none, to the caption's text."""
    for figure in doctree.findall(nodes.figure):
        caption = next(iter(figure.findall(nodes.caption)), None)
        if caption is None:
            continue
        text = re.sub(r"\s+", " ", caption.astext()).strip()
        for image in figure.findall(nodes.image):
            if not image.get("alt"):
                image["alt"] = text


def paper_titles(doctree: nodes.Node) -> None:
    """An unnumbered proof block whose title starts with its kind (``Theorem 1 of Zhou et al. ...``):
    drop the parentheses sphinx-proof puts around the title and the kind it writes before it."""
    from sphinx_proof.nodes import unenumerable_node

    for block in doctree.findall(unenumerable_node):
        kind = block.get("realtype", "").title()
        title = next(iter(block.findall(nodes.title)), None)
        if not kind or title is None or len(title.children) == 0:
            continue
        first, last = title.children[0], title.children[-1]
        if not (isinstance(first, nodes.Text) and isinstance(last, nodes.Text)):
            continue
        if not (first.lstrip().startswith("(" + kind + " ") and last.endswith(")")):
            continue
        title.replace(first, nodes.Text(first.lstrip()[1:]))
        last = title.children[-1]
        title.replace(last, nodes.Text(str(last)[:-1]))
        block["realtype"] = ""  # sphinx-proof's HTML writer then prefixes nothing


OPENING, CLOSING = "([{\u201c\u2018", ".,;:!?)]}\u2019\u201d%"


def math_punctuation(doctree: nodes.Node) -> None:
    """Wrap each inline formula, with the opening brackets written right before it and the punctuation
    right after it (no space between), in one ``inline`` node of class ``convlib-nowrap``."""
    for math in list(doctree.findall(nodes.math)):
        parent = math.parent
        i = parent.index(math)
        before = parent[i - 1] if i > 0 and isinstance(parent[i - 1], nodes.Text) else None
        after = parent[i + 1] if i + 1 < len(parent) and isinstance(parent[i + 1], nodes.Text) else None
        head = re.search(f"[{re.escape(OPENING)}]+$", str(before)) if before is not None else None
        tail = re.match(f"[{re.escape(CLOSING)}]+", str(after)) if after is not None else None
        if not head and not tail:
            continue
        group = nodes.inline(classes=["convlib-nowrap"])
        parent.replace(math, group)
        if head:
            _shorten(parent, before, str(before)[:head.start()])
            group += nodes.Text(head.group())
        group += math
        if tail:
            _shorten(parent, after, str(after)[tail.end():])
            group += nodes.Text(tail.group())


def _shorten(parent: nodes.Element, text: nodes.Text, rest: str) -> None:
    if rest:
        parent.replace(text, nodes.Text(rest))
    else:
        parent.remove(text)


def is_prose(text: str) -> bool:
    """Five or more words, at least half of them with a letter and no digit."""
    words = text.split()
    plain = [w for w in words if re.search(r"[^\W\d_]", w) and not re.search(r"\d", w)]
    return len(words) >= 5 and 2 * len(plain) >= len(words)


def prose_glue(doctree: nodes.Node) -> None:
    """Mark each glued text value (myst-nb's ``pasted-text``) that :func:`is_prose` as ``convlib-prose``."""
    for node in doctree.findall(nodes.inline):
        if "pasted-text" in node["classes"] and is_prose(node.astext()):
            node["classes"].append("convlib-prose")


def _resolved(app, doctree, docname) -> None:
    caption_alt(doctree)
    paper_titles(doctree)
    math_punctuation(doctree)
    prose_glue(doctree)


def setup(app):
    app.connect("doctree-resolved", _resolved)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
