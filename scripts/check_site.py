"""Open every page of the built book in headless Chromium and fail on anything a reader would see broken.

    python scripts/check_site.py _build/html [--screenshots DIR] [--chromium /usr/bin/chromium]
                                             [--pages 02_nngp_propagation.html ...]

Each page is loaded at two widths, 1280 px (a laptop) and 420 px (a phone), from a local HTTP server,
as a reader's browser would get it, and a full-page screenshot of each goes to ``--screenshots``
(``NAME-1280.png``, ``NAME-420.png``).

Broken: JavaScript exceptions and console errors; requests that fail, answer >= 400, or leave
localhost (the site must work offline); images that did not load; math that MathJax did not render
(an error node, a math element left as raw TeX, or ``$$`` left in the text); internal links whose file
or ``#anchor`` does not exist.

Layout (a reader stumbles): a display equation wider than its container (readable only through a scroll
bar), or one MathJax had to break into lines itself (it breaks inside an aligned row or a fraction as
readily as at a relation: the book writes its equations' breaks); a table wider than the text column (or
its full-width cell) at 1280 px; a figure shown below 60 % of its size at 1280 px (its labels print below
6 pt); a visible code cell of more than 12 lines; a visible code cell that calls ``glue(``; an image whose
alt text is empty or a file path; ``NaN`` in a rendered table; a page wider than the viewport (at either width). Every finding names
the page, the width and the element. ``--pages`` checks only the pages named (file name or path
under the site). Exit status 1 lists every problem.
"""
from __future__ import annotations

import argparse
import functools
import http.server
import re
import sys
import threading
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

from playwright.sync_api import sync_playwright

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
# Not failures (see DESIGN.md): the book theme's first-visit message and a browser's favicon probe.
# Chromium's console line "Failed to load resource" names no URL; the response and requestfailed
# handlers report the same resource with its URL, so the console line is left to them.
BENIGN = (re.compile(r"Got invalid theme mode"), re.compile(r"favicon\.ico"),
          re.compile(r"console error: Failed to load resource"))
REDIRECT = re.compile(r'<meta http-equiv="Refresh" content="0; url=([^"]+)"', re.I)

PAGE_STATE = r"""async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; }
  const inCode = el => el.closest('pre, code, .highlight, script, style');
  const broken = Array.from(document.images)
    .filter(i => !i.complete || i.naturalWidth === 0).map(i => i.getAttribute('src'));
  const merror = document.querySelectorAll('mjx-merror, [data-mjx-error]').length;
  const raw = Array.from(document.querySelectorAll('.math'))
    .filter(el => !el.querySelector('mjx-container')).map(el => el.textContent.slice(0, 60));
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const dollars = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    // $$, a $ before a TeX command, or \( \[ left in the text: math that was never typeset
    if (/\$\$|\$[^$\n]{0,80}\\[A-Za-z]+|\\[A-Za-z]+[^$\n]{0,80}\$|\\\(|\\\[/.test(n.textContent) && !inCode(n.parentElement)
        && !n.parentElement.closest('mjx-container, .math')) dollars.push(n.textContent.slice(0, 60));
  }
  const links = Array.from(document.querySelectorAll('a[href]')).map(a => a.href);
  return {broken, merror, raw, dollars, links, mathjax: !!window.MathJax};
}"""

WIDTHS = (1280, 420)
MAX_CODE_LINES = 12
# a figure shown below this fraction of its size (110 dpi) prints its 10 pt labels below 6 pt on the page
MIN_SCALE = 0.6
# What a reader stumbles on, measured in the laid-out page (see the module docstring). Lengths in CSS px.
LAYOUT = r"""(MIN_SCALE) => {
  const vw = document.documentElement.clientWidth, tol = 1;
  const article = document.querySelector('article.bd-article') || document.querySelector('main') || document.body;
  const column = (article.querySelector(':scope > section') || article).getBoundingClientRect().width;  // the text
  // laid out and not inside a collapsed <details> (hide-input) or an invisible box
  const shown = el => el.getClientRects().length > 0 && !el.closest('details:not([open])')
    && (!el.checkVisibility || el.checkVisibility({visibilityProperty: true, contentVisibilityAuto: true}));
  const short = t => t.replace(/\s+/g, ' ').trim().slice(0, 70);
  const tex = el => {
    try { const item = MathJax.startup.document.getMathItemsWithin(el)[0]; if (item) return short(item.math); }
    catch (e) {}
    return short(el.textContent);
  };
  const name = el => {
    const tag = el.tagName.toLowerCase(), id = el.id ? '#' + el.id : '';
    const cls = el.classList.length ? '.' + Array.from(el.classList).slice(0, 2).join('.') : '';
    return tag + id + cls;
  };
  const eqs = [], eqbreaks = [];
  for (const c of article.querySelectorAll('mjx-container[display="true"]')) {
    const math = c.querySelector('mjx-math') || c;
    const need = math.getBoundingClientRect().width, box = c.getBoundingClientRect().width;
    const holder = c.closest('[id]'), what = (holder && holder.id ? '#' + holder.id + ' ' : '') + tex(c);
    if (need > box + tol) eqs.push({what, need: Math.round(need), have: Math.round(box)});
    // MathJax 4 broke a line itself (its line boxes): inside an aligned row or a fraction it breaks anywhere
    else if (shown(c) && c.querySelector('mjx-linestack, mjx-linebox')) eqbreaks.push(what);
  }
  const tables = [], nans = [];
  for (const t of article.querySelectorAll('table')) {
    if (!shown(t)) continue;
    const prev = t.previousElementSibling;
    const cap = t.querySelector('caption') || (prev && prev.classList.contains('convlib-caption') ? prev : null);
    const head = Array.from(t.querySelectorAll('th')).map(th => th.textContent.trim()).filter(Boolean).slice(0, 3).join(' | ');
    const what = short(cap ? cap.textContent : head || t.textContent);
    const w = t.getBoundingClientRect().width;
    // a cell tagged full-width (the scorecard) may use the margin too: its own box is the limit there
    const wide = t.closest('.tag_full-width');
    const have = wide ? wide.getBoundingClientRect().width : column;
    if (w > have + tol) tables.push({what, need: Math.round(w), have: Math.round(have)});
    const cells = Array.from(t.querySelectorAll('td, th')).filter(td => /^\s*(NaN|nan|<NA>|NaT)\s*$/.test(td.textContent));
    if (cells.length) nans.push({what, n: cells.length});
  }
  const code = [];
  for (const pre of article.querySelectorAll('.cell_input pre, div.highlight-ipython3 pre, div.highlight-python pre')) {
    if (!shown(pre)) continue;
    const text = pre.textContent.replace(/\n+$/, '');
    code.push({first: short(text.split('\n')[0]), lines: text.split('\n').length, glue: /\bglue\(/.test(text)});
  }
  const images = [], shrunk = [];
  for (const img of article.querySelectorAll('img')) {
    const alt = (img.getAttribute('alt') || '').trim();
    const src = img.getAttribute('src') || '';
    if (!alt || /^[^\s]*\.(png|jpe?g|svg|gif|webp)$/i.test(alt) || alt === src || /^(\.\.\/|\/)?_images\//.test(alt))
      images.push({src: src.split('/').pop().slice(0, 40), alt});
    const scale = img.naturalWidth ? img.getBoundingClientRect().width / img.naturalWidth : 1;
    if (shown(img) && scale < MIN_SCALE) shrunk.push({src: src.split('/').pop().slice(0, 40), scale});
  }
  // wider than the viewport: the outermost elements that stick out to the right with nothing clipping them
  const wide = [];
  if (document.documentElement.scrollWidth > vw + tol) {
    const clips = el => { for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      if (getComputedStyle(a).overflowX !== 'visible') return true; } return false; };
    for (const el of document.body.querySelectorAll('*')) {
      if (wide.length >= 3) break;
      const r = el.getBoundingClientRect();
      if (r.right > vw + tol && r.width > 0 && shown(el) && !clips(el) && !wide.some(w => w.el.contains(el)))
        wide.push({el, what: name(el) + ' "' + short(el.textContent).slice(0, 40) + '"', right: Math.round(r.right)});
    }
  }
  return {vw, column: Math.round(column), page: document.documentElement.scrollWidth, eqs, eqbreaks, tables, nans, code, images, shrunk,
          wide: wide.map(w => ({what: w.what, right: w.right}))};
}"""


def layout_findings(state: dict, width: int) -> list[str]:
    """What :data:`LAYOUT` measured, as findings; tables only count at the widest width (on a phone they
    may scroll, and the theme lets them); equations at every width (too wide, or broken into lines by MathJax 4)."""
    found = [f"equation {e['what']!r} is {e['need']} px wide in a {e['have']} px container" for e in state["eqs"]]
    found += [f"equation {what!r} was broken into lines by MathJax: write its line breaks (aligned rows) so that "
              "it fits" for what in state["eqbreaks"]]
    if width == max(WIDTHS):
        found += [f"table {t['what']!r} is {t['need']} px wide in a {t['have']} px column" for t in state["tables"]]
        found += [f"figure {i['src']} is shown at {i['scale']:.0%} of its size: its 10 pt text prints at "
                  f"{10 * i['scale']:.1f} pt" for i in state["shrunk"]]
    found += [f"NaN in table {t['what']!r} ({t['n']} cell(s))" for t in state["nans"]]
    found += [f"visible code cell of {c['lines']} lines (max {MAX_CODE_LINES}) starting {c['first']!r}"
              for c in state["code"] if c["lines"] > MAX_CODE_LINES]
    found += [f"visible code cell calls glue( starting {c['first']!r}" for c in state["code"] if c["glue"]]
    found += [f"image {i['src']} has alt text {i['alt']!r} (empty or a path)" for i in state["images"]]
    if state["page"] > state["vw"] + 1:
        found.append(f"page is {state['page']} px wide in a {state['vw']} px viewport: "
                     + "; ".join(f"{w['what']} reaches {w['right']} px" for w in state["wide"]))
    return found



def pages(root: Path) -> list[Path]:
    """Every HTML page of the site (not the copied sources or static assets)."""
    skip = {"_static", "_sources", "_images"}
    return sorted(p for p in root.rglob("*.html") if not skip & set(p.relative_to(root).parts))


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def serve(root: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


@functools.cache
def anchors(path: Path) -> frozenset[str]:
    return frozenset(re.findall(r'\sid="([^"]+)"', path.read_text(errors="replace")))


def dead_link(root: Path, base: str, href: str) -> str | None:
    """Why an internal link is dead, or None when its file (and anchor) exist; external links pass."""
    url = urlparse(href)
    if not href.startswith(base):
        return None
    rel = unquote(url.path[len(urlparse(base).path):]) or "index.html"
    target = root / rel
    if target.is_dir():
        target = target / "index.html"
    if not target.exists():
        return f"missing file {rel}"
    if url.fragment and target.suffix == ".html" and unquote(url.fragment) not in anchors(target):
        return f"missing anchor #{url.fragment} in {rel}"
    return None


def select(root: Path, names: list[str] | None) -> list[Path]:
    """The pages named (a file name such as ``02_nngp_propagation.html`` or a path under the site),
    or every page; a name that matches no page is an error."""
    every = pages(root)
    if not names:
        return every
    chosen = []
    for name in names:
        hits = [p for p in every if p.relative_to(root).as_posix() == name or p.name == name]
        if not hits:
            raise ValueError(f"--pages: no page {name!r} in {root} (pages: {', '.join(p.name for p in every)})")
        chosen += [p for p in hits if p not in chosen]
    return chosen


def check(root: Path, shots: Path, chromium: str, names: list[str] | None = None) -> list[str]:
    problems: list[str] = []
    shots.mkdir(parents=True, exist_ok=True)
    chosen = select(root, names)
    server, base = serve(root)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=FLAGS, headless=True)
            for width in WIDTHS:
                context = browser.new_context(viewport={"width": width, "height": 900})
                for path in chosen:
                    problems += check_page(context, root, base, path, width, shots)
                context.close()
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
    return problems


def check_page(context, root: Path, base: str, path: Path, width: int, shots: Path) -> list[str]:
    """Everything wrong with one page at one width, each line starting with the page and the width."""
    rel = path.relative_to(root).as_posix()
    redirect = REDIRECT.search(path.read_text(errors="replace")[:2000])
    if redirect:  # index.html: check where it points, there is nothing to render
        why = dead_link(root, base, urljoin(base + rel, redirect.group(1)))
        return [f"{rel}: redirect to a {why}"] if why and width == max(WIDTHS) else []
    page = context.new_page()
    found = watch(page, base)
    page.goto(base + rel, wait_until="load", timeout=60_000)
    state = page.evaluate(PAGE_STATE)
    page.wait_for_timeout(200)
    found += [f"broken image: {src}" for src in state["broken"]]
    if state["merror"]:
        found.append(f"{state['merror']} MathJax error node(s)")
    if state["raw"] and not state["mathjax"]:
        found.append(f"math not rendered (MathJax not loaded): {state['raw'][:3]}")
    elif state["raw"]:
        found.append(f"math left as raw TeX: {state['raw'][:3]}")
    found += [f"raw TeX in text: {t!r}" for t in state["dollars"]]
    found += [f"dead link {h}: {why}" for h in sorted(set(state["links"])) if (why := dead_link(root, base, h))]
    found += layout_findings(page.evaluate(LAYOUT, MIN_SCALE), width)
    stem = rel.replace("/", "__").removesuffix(".html")
    page.screenshot(path=str(shots / f"{stem}-{width}.png"), full_page=True)
    page.close()
    real = [f for f in found if not any(b.search(f) for b in BENIGN)]
    print(f"{'ok  ' if not real else 'FAIL'} {rel} @{width}px" + (f" ({len(real)})" if real else ""), flush=True)
    return [f"{rel} @{width}px: {f}" for f in real]


def watch(page, base: str) -> list[str]:
    """Record on ``page`` what a reader would notice: console errors, JavaScript exceptions, failed or
    erroring requests, and requests that leave the site; returns the list they are appended to."""
    found: list[str] = []
    page.on("console", lambda m: m.type == "error" and found.append(f"console error: {m.text}"))
    page.on("pageerror", lambda e: found.append(f"JavaScript exception: {e}"))
    page.on("requestfailed", lambda r: found.append(f"request failed: {r.url} ({r.failure})"))
    page.on("response", lambda r: r.status >= 400 and found.append(f"HTTP {r.status}: {r.url}"))
    page.on("request", lambda r: not r.url.startswith((base, "data:", "blob:"))
            and found.append(f"leaves the site: {r.url}"))
    return found


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("site", type=Path, help="the built site, e.g. _build/html")
    ap.add_argument("--screenshots", type=Path, default=Path("_build/screenshots"))
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--pages", nargs="+", metavar="PAGE", help="check only these pages (file name or path)")
    args = ap.parse_args(argv)
    if not (args.site / "index.html").exists():
        ap.error(f"{args.site} has no index.html: build the book first (make book)")
    if not Path(args.chromium).exists():
        ap.error(f"no Chromium at {args.chromium} (apt-get install chromium, or pass --chromium)")
    try:
        n = len(select(args.site.resolve(), args.pages))
    except ValueError as err:
        ap.error(str(err))
    problems = check(args.site.resolve(), args.screenshots, args.chromium, args.pages)
    for p in problems:
        print(p, file=sys.stderr)
    print(f"check-site: {n} page(s) at {WIDTHS} px, {len(problems)} problem(s); screenshots in {args.screenshots}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
