"""Open every page of the built book in headless Chromium and fail on anything a reader would see broken.

    python scripts/check_site.py _build/html [--screenshots DIR] [--chromium /usr/bin/chromium]

Per page: JavaScript exceptions and console errors; requests that fail, answer >= 400, or leave
localhost (the site must work offline); images that did not load; math that MathJax did not render
(an error node, a math element left as raw TeX, or ``$$`` left in the text); internal links whose file
or ``#anchor`` does not exist. A screenshot of each page goes to ``--screenshots``. The pages are served
from a local HTTP server, as a reader's browser would get them. Exit status 1 lists every problem.
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


def check(root: Path, shots: Path, chromium: str) -> list[str]:
    problems: list[str] = []
    shots.mkdir(parents=True, exist_ok=True)
    server, base = serve(root)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=FLAGS, headless=True)
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            for path in pages(root):
                rel = path.relative_to(root).as_posix()
                redirect = REDIRECT.search(path.read_text(errors="replace")[:2000])
                if redirect:  # index.html: check where it points, there is nothing to render
                    why = dead_link(root, base, urljoin(base + rel, redirect.group(1)))
                    if why:
                        problems.append(f"{rel}: redirect to a {why}")
                    continue
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
                found += [f"dead link {h}: {why}" for h in sorted(set(state["links"]))
                          if (why := dead_link(root, base, h))]
                page.screenshot(path=str(shots / (rel.replace("/", "__").removesuffix(".html") + ".png")),
                                full_page=True)
                page.close()
                real = [f for f in found if not any(b.search(f) for b in BENIGN)]
                problems += [f"{rel}: {f}" for f in real]
                print(f"{'ok  ' if not real else 'FAIL'} {rel}", flush=True)
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
    return problems


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
    args = ap.parse_args(argv)
    if not (args.site / "index.html").exists():
        ap.error(f"{args.site} has no index.html: build the book first (make book)")
    if not Path(args.chromium).exists():
        ap.error(f"no Chromium at {args.chromium} (apt-get install chromium, or pass --chromium)")
    problems = check(args.site.resolve(), args.screenshots, args.chromium)
    n = len(pages(args.site.resolve()))
    for p in problems:
        print(p, file=sys.stderr)
    print(f"check-site: {n} page(s), {len(problems)} problem(s); screenshots in {args.screenshots}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
