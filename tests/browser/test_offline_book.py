"""The built HTML book works with the network unplugged: math, figures, explorations, navigation.

Both editions: the English one at the root and the Simplified Chinese one under ``zh_CN/``, built
from the same notebooks (its sentences from ``locales/zh_CN``)."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from conftest import HTML, SCREENSHOTS

PAGES = sorted(p.relative_to(HTML).as_posix() for p in (HTML / "chapters").glob("*.html"))
CHAPTERS = [p for p in PAGES if re.match(r"chapters/\d", p)]  # numbered chapters: each has explorations
ZH = "zh_CN/"  # the Chinese edition's folder
ZH_PAGES = sorted(p.relative_to(HTML).as_posix() for p in (HTML / ZH / "chapters").glob("*.html"))
TOP = ["index.html", "instructors.html", "glossary.html"]
BOTH_PAGES = PAGES + ZH_PAGES
BOTH_CHAPTERS = CHAPTERS + [ZH + p for p in CHAPTERS]


def _english(path: str) -> str:
    """The English page a page of either edition translates."""
    return path.removeprefix(ZH)


def _figures_in_executed_notebook(path: str) -> int:
    """Count the image outputs of the notebook myst-nb executed for this page."""
    notebook = HTML.parent / "jupyter_execute" / _english(path).replace(".html", ".ipynb")
    cells = json.loads(notebook.read_text())["cells"]
    return sum(
        1 for c in cells for o in c.get("outputs", []) if any(k.startswith("image/") for k in o.get("data", {}))
    )


def _open(page, url):
    page.goto(url, wait_until="load")
    if url.endswith("/index.html"):  # Jupyter Book's index.html forwards to the first page
        page.wait_for_url(re.compile(r".*/intro\.html$"), timeout=20000)
        page.wait_for_load_state("load")
    has_math = page.evaluate("() => !!document.querySelector('script[src*=\"mathjax\"]')")
    if not has_math:
        return  # a page without formulas does not load MathJax
    # MathJax 3 resolves startup.promise once the page is typeset.
    page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=20000)
    page.evaluate("() => MathJax.startup.promise")


def test_chapters_were_built():
    assert "chapters/01_gradient_descent.html" in PAGES
    assert len(CHAPTERS) >= 6 and "chapters/appendix_errata.html" in PAGES


def test_the_chinese_edition_has_every_page():
    assert ZH_PAGES == [ZH + p for p in PAGES]
    for path in TOP + ["intro.html"]:
        assert (HTML / ZH / path).is_file(), f"the Chinese edition lacks {path}"


@pytest.mark.parametrize("path", [*TOP, *PAGES, *(ZH + p for p in TOP), *ZH_PAGES])
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
    if path in BOTH_PAGES:
        expected = _figures_in_executed_notebook(path)
        shown = page.locator("article img").count()
        assert shown == expected, f"{shown} images on the page, {expected} in the notebook"

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


@pytest.mark.parametrize("path", BOTH_PAGES)
def test_math_is_typeset(offline_page, book_url, path):
    page = offline_page
    _open(page, f"{book_url}/{path}")
    typeset = page.locator("mjx-container").count()
    if path in BOTH_CHAPTERS:  # the chapters are full of formulas; the appendix quotes them as text
        assert typeset >= 5, f"only {typeset} typeset formulas"  # every chapter page has at least 5
    # The prose, without code cells (whose Python source may hold TeX strings for matplotlib).
    text = page.evaluate(
        "() => { const a = document.querySelector('article').cloneNode(true);"
        " a.querySelectorAll('pre, code, .cell_input, .highlight, mjx-container').forEach(e => e.remove());"
        " return a.textContent; }"
    )
    raw = re.findall(r"\$\$|\\frac|\\eta|\\nabla", text)
    assert raw == [], f"raw TeX left in the page: {raw[:5]}"


@pytest.mark.parametrize("path", BOTH_CHAPTERS)
def test_static_explorations_respond(offline_page, book_url, path):
    """Each precomputed figure renders, and moving each of its controls changes what is plotted."""
    page = offline_page
    _open(page, f"{book_url}/{path}")
    explorers = page.locator(".gradbook-explorer")
    count = explorers.count()
    assert count >= 1, "no interactive figure on the page"
    state = "gd => JSON.stringify([gd.data.map(t => t.visible), gd.layout.title.text])"
    for i in range(count):
        explorer = explorers.nth(i)
        explorer.scroll_into_view_if_needed()
        fig = explorer.locator(".js-plotly-plot")
        assert fig.locator(".main-svg").count() >= 1, f"figure {i} did not render"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        explorer.screenshot(path=str(SCREENSHOTS / f"{path.replace('/', '_')}-exploration-{i + 1}.png"))
        controls = explorer.locator("[data-gb-dim]")
        assert controls.count() >= 1, f"figure {i} has no control"
        for c in range(controls.count()):
            control = controls.nth(c)
            before = fig.evaluate(state)
            if control.evaluate("el => el.tagName") == "SELECT":
                n = control.locator("option").count()
                current = int(control.input_value())
                control.select_option(str((current + 1) % n))
            else:
                label = explorer.locator(f"[data-gb-value='{control.get_attribute('data-gb-dim')}']")
                shown_before = label.inner_text()
                at_end = control.input_value() == control.get_attribute("max")
                control.focus()
                page.keyboard.press("Home" if at_end else "End")
                try:
                    page.wait_for_function("([el, before]) => el.textContent !== before",
                                           arg=[label.element_handle(), shown_before], timeout=10_000)
                except PlaywrightTimeoutError:
                    pytest.fail(f"figure {i}: the value label did not follow the slider")
            try:
                page.wait_for_function(f"([gd, before]) => ({state})(gd) !== before",
                                       arg=[fig.element_handle(), before], timeout=10_000)
            except PlaywrightTimeoutError:
                pytest.fail(f"figure {i}: moving control {c} changed nothing")
    assert page.console_errors == [], f"console errors: {page.console_errors}"


@pytest.mark.parametrize("path", BOTH_PAGES)
def test_page_weight_stays_under_5_mb(path):
    """A chapter's HTML with its own data (inline Plotly figures and the images it shows) stays
    at most 5 MB. Shared files under _static/ (plotly.js, MathJax, the theme) are loaded once for
    the whole book and not counted."""
    from urllib.parse import unquote

    page = HTML / path
    text = page.read_text(encoding="utf-8")
    own = set()
    for src in re.findall(r"""<img[^>]+src=["']([^"']+)["']""", text):
        if src.startswith(("data:", "http:", "https:")) or "_static/" in src:
            continue
        target = (page.parent / unquote(src.split("#")[0])).resolve()
        assert target.is_file(), f"{path} shows a missing image {src}"
        own.add(target)
    total = page.stat().st_size + sum(f.stat().st_size for f in own)
    print(f"{path}: {total / 1e6:.2f} MB ({len(own)} images)")
    assert total <= 5_000_000, f"{path} weighs {total / 1e6:.2f} MB with its images (budget 5 MB)"


def test_every_erratum_is_linked_from_a_chapter():
    """Each entry of the errata appendix carries an anchor, every chapter link into the appendix
    lands on an entry, and every entry is linked from the chapter that teaches its topic."""
    from html.parser import HTMLParser

    void = {"br", "img", "hr", "input", "meta", "link", "source", "wbr"}  # elements without an end tag

    class Anchors(HTMLParser):
        def __init__(self):
            super().__init__()
            self.stack: list[str | None] = []  # the erratum id each open element belongs to
            self.ids: set[str] = set()
            self.entries_in: dict[str, int] = {}
            self.entries = 0

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            current = self.stack[-1] if self.stack else None
            if (attrs.get("id") or "").startswith("erratum-"):
                current = attrs["id"]
                self.ids.add(current)
            if "gradbook-erratum" in (attrs.get("class") or "").split():
                self.entries += 1
                if current:
                    self.entries_in[current] = self.entries_in.get(current, 0) + 1
            if tag not in void:
                self.stack.append(current)

        def handle_endtag(self, tag):
            if tag not in void and self.stack:
                self.stack.pop()

    appendix = Anchors()
    appendix.feed((HTML / "chapters/appendix_errata.html").read_text(encoding="utf-8"))
    assert appendix.entries >= 50, f"only {appendix.entries} entries on the appendix page"
    # Each anchor wraps exactly one entry, and every entry has an anchor.
    assert all(n == 1 for n in appendix.entries_in.values()), appendix.entries_in
    assert set(appendix.entries_in) == appendix.ids
    assert len(appendix.ids) == appendix.entries, "an entry without an anchor"

    linked: set[str] = set()
    for path in CHAPTERS:
        text = (HTML / path).read_text(encoding="utf-8")
        targets = set(re.findall(r'href="appendix_errata\.html#(erratum-[^"]+)"', text))
        assert targets, f"{path} links to no erratum"
        assert targets <= appendix.ids, f"{path} links to missing entries {targets - appendix.ids}"
        linked |= targets
    assert linked == appendix.ids, f"entries no chapter links to: {sorted(appendix.ids - linked)}"


def test_checks_are_folded_away_from_the_reader():
    """The chapters keep their checks (nbval runs them) but show the reader at most 10 assert
    lines in cells that are not folded (hide-input, remove-input, hide-cell)."""
    from bs4 import BeautifulSoup

    folded = {"tag_hide-input", "tag_remove-input", "tag_hide-cell"}
    visible = {}
    for path in CHAPTERS:
        soup = BeautifulSoup((HTML / path).read_text(encoding="utf-8"), "html.parser")
        lines = [line for cell in soup.select("div.cell") if not folded & set(cell.get("class", []))
                 for source in cell.select("div.cell_input") for line in source.get_text().splitlines()
                 if re.match(r"\s*(assert|np\.testing\.assert)", line)]
        if lines:
            visible[path] = lines
    assert sum(map(len, visible.values())) <= 10, f"visible checks: {visible}"
    # The folded cells still hold the checks.
    assert sum((HTML / p).read_text(encoding="utf-8").count("assert") for p in CHAPTERS) > 100


# -- exercises and the glossary ------------------------------------------------------------------
def _exercises(path: str):
    """The (exercise, solution) admonitions of a built page, each exercise with the solution
    blocks that name it."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup((HTML / path).read_text(encoding="utf-8"), "html.parser")
    exercises = soup.select("div.exercise.admonition")
    solutions = soup.select("div.solution.admonition")
    return exercises, solutions


def test_chapter_exercises_are_numbered_blocks_each_with_a_folded_solution():
    """Every chapter page numbers its exercises 1, 2, ... (per page, as its own list does), and
    follows each with one solution that names it and folds away (a dropdown)."""
    pages = {p: _exercises(p) for p in CHAPTERS}
    assert not [p for p, (exercises, _) in pages.items() if not exercises], "chapter pages without exercise blocks"
    for path, (exercises, solutions) in pages.items():
        numbers = []
        for exercise in exercises:
            title = exercise.select_one(".admonition-title").get_text(" ", strip=True)
            match = re.fullmatch(r"Exercise (\d+)", title)
            assert match, f"{path}: exercise title {title!r} carries no number"
            numbers.append(int(match.group(1)))
            assert (exercise.get("id") or "").startswith("ex-"), f"{path}: exercise {title} has no ex-... label"
        assert numbers == list(range(1, len(numbers) + 1)), f"{path}: numbers {numbers}"
        titles = [s.select_one(".admonition-title").get_text(" ", strip=True) for s in solutions]
        assert titles == [f"Solution to Exercise {n}" for n in numbers], f"{path}: solutions {titles}"
        for solution in solutions:
            assert "dropdown" in solution.get("class", []), f"{path}: a solution that is not folded away"
            assert solution.select_one(".admonition-title a[href]"), f"{path}: a solution without a link to its exercise"


def test_solutions_are_collapsed_until_opened(offline_page, book_url):
    """In the browser every solution of chapter 6 starts folded (its body hidden) and opens when
    its title is clicked."""
    page = offline_page
    _open(page, f"{book_url}/chapters/06_training_cnns.html")
    solutions = page.locator("div.solution.admonition")
    count = solutions.count()
    assert count >= 6, f"only {count} solutions on the page"
    for i in range(count):
        solution = solutions.nth(i)
        body = solution.locator(".admonition-title ~ *").first
        assert "toggle-hidden" in (solution.get_attribute("class") or ""), f"solution {i + 1} is not collapsed"
        assert not body.is_visible(), f"solution {i + 1} shows its body before it is opened"
    first = solutions.first
    first.scroll_into_view_if_needed()
    first.locator(".admonition-title").click()
    page.wait_for_function("el => !el.classList.contains('toggle-hidden')", arg=first.element_handle(), timeout=10_000)
    assert first.locator(".admonition-title ~ *").first.is_visible(), "the first solution did not open"
    assert page.console_errors == [], f"console errors: {page.console_errors}"


GLOSSARY_TERMS = {  # a sample of the core terms, as the glossary spells them
    "gradient descent", "learning rate", "epoch", "mini-batch", "convolution", "cross-correlation",
    "stride", "padding", "receptive field", "pooling", "feature map", "backpropagation",
    "computational graph", "vanishing gradient", "exploding gradient", "saturation",
    "batch normalisation", "residual connection", "Glorot initialisation", "He initialisation",
    "gradient clipping", "momentum", "Adam", "learning-rate schedule", "warm-up", "logits", "softmax",
    "cross-entropy", "overfitting", "validation set",
}


def test_glossary_defines_the_core_terms_and_chapter_6_links_to_it():
    """The glossary page defines the core terms, and the term links of chapter 6 and the front
    page land on entries that exist."""
    from bs4 import BeautifulSoup

    glossary = BeautifulSoup((HTML / "glossary.html").read_text(encoding="utf-8"), "html.parser")
    entries = {dt.get_text(" ", strip=True).rstrip("#\uf0c1 ").strip(): dt.get("id") for dt in glossary.select("dl.glossary dt")}
    missing = GLOSSARY_TERMS - set(entries)
    assert not missing, f"terms the glossary does not define: {sorted(missing)}"
    for dt in glossary.select("dl.glossary dt"):
        definition = dt.find_next_sibling("dd")
        assert definition and len(definition.get_text(" ", strip=True)) > 40, f"{dt.get_text()!r} has no definition"
    ids = set(entries.values())
    for path in ("chapters/06_training_cnns.html", "intro.html"):
        text = (HTML / path).read_text(encoding="utf-8")
        targets = re.findall(r'href="(?:\.\./)?glossary\.html#(term-[^"]+)"', text)
        assert len(set(targets)) >= 5, f"{path} links to only {sorted(set(targets))} in the glossary"
        assert set(targets) <= ids, f"{path} links to missing glossary entries {set(targets) - ids}"


# -- the two editions ------------------------------------------------------------------------------
_CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.mark.parametrize("path", ["intro.html", "glossary.html", "instructors.html", *PAGES])
def test_the_chinese_page_is_in_chinese_and_drawn_with_a_cjk_font(offline_page, book_url, path):
    """The Chinese page says so (``lang``), its headings and prose are in Chinese, and Chromium
    draws its Chinese text with a CJK font (Debian's fonts-noto-cjk), not with empty boxes."""
    page = offline_page
    _open(page, f"{book_url}/{ZH}{path}")
    assert page.evaluate("() => document.documentElement.lang") == "zh-CN"
    heading = page.locator("article h1").first.inner_text()
    assert _CJK.search(heading), f"the title {heading!r} is not translated"
    prose = page.evaluate(
        "() => Array.from(document.querySelectorAll('article p'))"  # shown prose: no output, code or reference list
        ".filter(p => !p.closest('.cell_output, pre, .citation') && p.getClientRects().length)"
        ".map(p => p.innerText).join(' ')"
    )
    letters = re.findall(r"[A-Za-z]", re.sub(r"\S*[_./]\S*", " ", prose))
    assert len(_CJK.findall(prose)) > len(letters) / 2, "the prose is mostly not in Chinese"
    # Which fonts Chromium drew the title with (DevTools protocol).
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument")["root"]["nodeId"]
    node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": "article h1"})["nodeId"]
    fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
    cjk = [f["familyName"] for f in fonts if "CJK" in f["familyName"]]
    assert cjk, f"the Chinese title was drawn with {fonts}, no CJK font: install fonts-noto-cjk"


@pytest.mark.parametrize("path", [*TOP[1:], "intro.html", *PAGES])
def test_each_page_links_to_the_same_page_in_the_other_language(offline_page, book_url, path):
    page = offline_page
    for here, there in ((path, ZH + path), (ZH + path, path)):
        page.goto(f"{book_url}/{here}", wait_until="load")
        link = page.locator(".gradbook-language-switch a")
        assert link.count() == 1, f"{here} has no link to the other language"
        link.click()
        page.wait_for_load_state("load")
        assert page.url == f"{book_url}/{there}", f"{here}'s language link leads to {page.url}"


@pytest.mark.parametrize("path", CHAPTERS)
def test_the_chinese_page_pastes_no_english_phrase_into_its_sentences(path):
    """A computed value pasted into a Chinese sentence is a number, a name, or the Chinese twin the
    notebook glues beside an English phrase (``<name>_zh``), never an English phrase."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup((HTML / ZH / path).read_text(encoding="utf-8"), "html.parser")
    pasted = [s.get_text() for s in soup.select("article .pasted-text")]
    english = [t for t in pasted if re.search(r"[A-Za-z]{3,}[ ,;]+(?:and |or |to |of )?[A-Za-z]{3,}", t)]
    assert english == [], f"English pasted into the Chinese page: {english[:5]}"
