"""The built HTML book works with the network unplugged: math, figures, explorations, navigation."""

from __future__ import annotations

import json
import re

import pytest

from conftest import HTML, SCREENSHOTS

PAGES = sorted(p.relative_to(HTML).as_posix() for p in (HTML / "chapters").glob("*.html"))


def _figures_in_executed_notebook(path: str) -> int:
    """Count the image outputs of the notebook myst-nb executed for this page."""
    notebook = HTML.parent / "jupyter_execute" / path.replace(".html", ".ipynb")
    cells = json.loads(notebook.read_text())["cells"]
    return sum(
        1 for c in cells for o in c.get("outputs", []) if any(k.startswith("image/") for k in o.get("data", {}))
    )


def _open(page, url):
    page.goto(url, wait_until="load")
    # MathJax 3 resolves startup.promise once the page is typeset.
    page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=20000)
    page.evaluate("() => MathJax.startup.promise")


def test_chapters_were_built():
    assert "chapters/01_gradient_descent.html" in PAGES


@pytest.mark.parametrize("path", ["index.html", *PAGES])
def test_page_works_offline(offline_page, book_url, path):
    page = offline_page
    _open(page, f"{book_url}/{path}")

    assert page.external_requests == [], f"requests left localhost: {page.external_requests}"
    assert page.console_errors == [], f"console errors: {page.console_errors}"

    # Every image (matplotlib figures, logos) loaded.
    broken = page.evaluate(
        "() => Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)"
    )
    assert broken == [], f"images that did not load: {broken}"

    # Every figure the executed notebook produced is on the page.
    if path in PAGES:
        expected = _figures_in_executed_notebook(path)
        shown = page.locator("article img").count()
        assert expected > 0 and shown == expected, f"{shown} images on the page, {expected} in the notebook"

    # Navigation: every link in the sidebar and the previous/next footer leads to a page.
    links = page.evaluate(
        "() => Array.from(document.querySelectorAll('nav.bd-links a, .prev-next-area a'))"
        ".map(a => a.href).filter(h => h.startsWith(location.origin))"
    )
    assert links, "no navigation links"
    for href in set(links):
        status = page.request.get(href.split("#")[0]).status
        assert status == 200, f"navigation link {href} answered {status}"

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / (path.replace("/", "_") + ".png")), full_page=False)


@pytest.mark.parametrize("path", PAGES)
def test_math_is_typeset(offline_page, book_url, path):
    page = offline_page
    _open(page, f"{book_url}/{path}")
    typeset = page.locator("mjx-container").count()
    assert typeset > 10, f"only {typeset} typeset formulas"
    # The prose, without code cells (whose Python source may hold TeX strings for matplotlib).
    text = page.evaluate(
        "() => { const a = document.querySelector('article').cloneNode(true);"
        " a.querySelectorAll('pre, code, .cell_input, .highlight, mjx-container').forEach(e => e.remove());"
        " return a.textContent; }"
    )
    raw = re.findall(r"\$\$|\\frac|\\eta|\\nabla", text)
    assert raw == [], f"raw TeX left in the page: {raw[:5]}"


@pytest.mark.parametrize("path", PAGES)
def test_static_explorations_respond(offline_page, book_url, path):
    """Each precomputed Plotly figure renders, and moving its slider changes what is plotted."""
    page = offline_page
    _open(page, f"{book_url}/{path}")
    figures = page.locator(".gradbook-explorer .js-plotly-plot")
    count = figures.count()
    assert count >= 1, "no interactive figure on the page"
    for i in range(count):
        fig = figures.nth(i)
        fig.scroll_into_view_if_needed()
        assert fig.locator(".main-svg").count() >= 1, f"figure {i} did not render"
        before = fig.evaluate("gd => JSON.stringify([gd.data.map(t => t.visible), gd.layout.title.text])")
        rail = fig.locator(".slider-rail-touch-rect").first
        box = rail.bounding_box()
        assert box is not None, f"figure {i} has no slider"
        # Click at the far left and the far right of the rail: at least one is a different step.
        after = []
        for x in (box["x"] + 2, box["x"] + box["width"] - 2):
            page.mouse.click(x, box["y"] + box["height"] / 2)
            page.wait_for_timeout(300)
            after.append(fig.evaluate("gd => JSON.stringify([gd.data.map(t => t.visible), gd.layout.title.text])"))
        assert any(a != before for a in after), f"moving the slider of figure {i} changed nothing"
        assert after[0] != after[1], f"the two ends of figure {i}'s slider show the same thing"
    assert page.console_errors == [], f"console errors: {page.console_errors}"
