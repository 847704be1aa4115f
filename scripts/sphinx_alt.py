"""Sphinx extension: a figure's image without alt text gets its caption as alt text.

A glued notebook figure (``{glue:figure}``) has no ``:alt:``, and Sphinx then writes the image's file
path as its alt text, which a screen reader reads out. The caption is what the figure shows, so it is
the alt text; an explicit ``:alt:`` is kept.
"""
from __future__ import annotations

import re

from docutils import nodes


def caption_alt(doctree: nodes.document) -> None:
    """Set ``alt`` of every image in a captioned figure that has none, to the caption's text."""
    for figure in doctree.findall(nodes.figure):
        caption = next(iter(figure.findall(nodes.caption)), None)
        if caption is None:
            continue
        text = re.sub(r"\s+", " ", caption.astext()).strip()
        for image in figure.findall(nodes.image):
            if not image.get("alt"):
                image["alt"] = text


def _resolved(app, doctree, docname) -> None:
    caption_alt(doctree)


def setup(app):
    app.connect("doctree-resolved", _resolved)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
