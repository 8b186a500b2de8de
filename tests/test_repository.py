"""The repository stands on its own: no tracked file names a path outside it.

A clone must build and pass its tests with nothing beside it, so no tracked file may name an
absolute path of a build machine (a home or work folder, a temporary folder) or a folder beside
the repository. System paths that a Debian package provides (``/usr/share/datasets/...``,
``/usr/bin/chromium``) are part of the documented setup and are allowed.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Written in pieces so that this file does not name the paths it looks for.
_SLASH = "/"
MACHINE_PATHS = re.compile(
    "|".join([
        r"(?<![\w.~-])" + _SLASH + r"(?:work|home|root|Users|mnt|opt|tmp|private)" + _SLASH,
        r"(?<![\w.-])" + _SLASH + r"var" + _SLASH + r"folders" + _SLASH,
        r"\b[A-Za-z]:\\\\?(?:Users|Documents and Settings)\b",
        r"\.\." + _SLASH + r"shared\b",
        r"file:" + _SLASH * 3,
    ])
)


def tracked_text_files() -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as err:
        pytest.fail(f"This test lists the tracked files with git; run it in a git clone ({err}).")
    files = [ROOT / name for name in out.decode().split("\0") if name]
    return [f for f in files if f.is_file() and b"\0" not in f.read_bytes()[:4096]]


@pytest.mark.parametrize("text", [
    "SEEDS = Path('" + _SLASH + "work" + _SLASH + "shared" + _SLASH + "seeds')",
    "open('" + _SLASH + "home" + _SLASH + "ada" + _SLASH + "notes.txt')",
    "cache in " + _SLASH + "tmp" + _SLASH + "gradbook",
    "see .." + _SLASH + "shared" + _SLASH + "notes",
    "C:" + "\\" + "Users" + "\\" + "ada",
    "file:" + _SLASH * 3 + "opt" + _SLASH + "pypi",
])
def test_the_check_catches_machine_paths(text):
    assert MACHINE_PATHS.search(text), text


@pytest.mark.parametrize("text", [
    _SLASH + "usr" + _SLASH + "share" + _SLASH + "datasets" + _SLASH + "fashion-mnist",
    "executable_path='" + _SLASH + "usr" + _SLASH + "bin" + _SLASH + "chromium'",
    "tests" + _SLASH + "data" + _SLASH + "source_listings.json",
    "http://localhost:8000" + _SLASH + "lab" + _SLASH + "tree",
    "_build" + _SLASH + "html" + _SLASH + "index.html",
])
def test_the_check_allows_repository_and_system_package_paths(text):
    assert not MACHINE_PATHS.search(text), text


def test_no_tracked_file_names_a_path_outside_the_repository():
    offenders = []
    for path in tracked_text_files():
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            match = MACHINE_PATHS.search(line)
            if match:
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {match.group(0)!r} in {line.strip()[:120]!r}")
    assert not offenders, "Tracked files name paths outside the repository:\n" + "\n".join(offenders)


# -- the package's layout (ARCHITECTURE.md) ------------------------------------------------------
PACKAGE = ROOT / "src" / "gradbook"


def module_files() -> dict[str, Path]:
    """Every module of the package by its name below ``gradbook`` (``"conv"``, ``"widgets.panel"``)."""
    names = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts == ("__init__",):
            continue
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def gradbook_imports(name: str, path: Path) -> tuple[set[str], list[str]]:
    """The gradbook modules ``name`` imports, and every private name it takes from another one."""
    import ast

    tree = ast.parse(path.read_text())
    modules = module_files()
    package = name.split(".")[:-1] if path.name != "__init__.py" else name.split(".")
    imported, private = set(), []
    aliases = {}  # local name -> gradbook module
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            elif node.module and (node.module == "gradbook" or node.module.startswith("gradbook.")):
                base = node.module.removeprefix("gradbook").lstrip(".")
            else:
                continue
            for alias in node.names:
                target = f"{base}.{alias.name}".lstrip(".")
                if target in modules:
                    imported.add(target)
                    aliases[alias.asname or alias.name] = target
                else:
                    imported.add(base)
                    if alias.name.startswith("_") and base != name:
                        private.append(f"from {base} import {alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("gradbook."):
                    imported.add(alias.name.removeprefix("gradbook."))
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                and node.attr.startswith("_") and not node.attr.startswith("__")):
            private.append(f"{node.value.id}.{node.attr}")
    imported.discard(name)
    imported.discard("")
    return imported, private


def architecture_table() -> dict[str, set[str]]:
    rows = {}
    for line in (ROOT / "ARCHITECTURE.md").read_text().splitlines():
        match = re.match(r"\| `([\w.]+)` \|([^|]*)\|", line)
        if match:
            rows[match.group(1)] = {d.strip() for d in match.group(2).split(",") if d.strip()}
    return rows


def test_architecture_table_lists_every_module_and_exactly_what_it_imports():
    table = architecture_table()
    modules = module_files()
    assert sorted(table) == sorted(modules), "ARCHITECTURE.md's table and the package's modules differ"
    wrong = {name: (sorted(gradbook_imports(name, path)[0]), sorted(table[name]))
             for name, path in modules.items() if gradbook_imports(name, path)[0] != table[name]}
    assert not wrong, f"(imports in the code, imports in ARCHITECTURE.md) differ for: {wrong}"


def test_the_import_scan_sees_private_names_and_relative_imports(tmp_path):
    path = tmp_path / "example.py"
    path.write_text("from gradbook import conv\nfrom gradbook.models import _block\nfrom . import static\n"
                    "x = conv._pair(3)\n")
    imported, private = gradbook_imports("widgets.example", path)
    assert imported == {"conv", "models", "widgets.static"}
    assert private == ["from models import _block", "conv._pair"]


def test_no_module_uses_another_modules_private_names():
    offenders = {name: gradbook_imports(name, path)[1] for name, path in module_files().items()}
    assert not {k: v for k, v in offenders.items() if v}


def test_every_module_has_its_test_file_and_every_test_file_its_module():
    expected = {"test_" + name.replace(".", "_") + ".py" for name in module_files()}
    expected.discard("test_widgets.py")  # the package's own __init__ only re-exports its modules
    present = {p.name for p in (ROOT / "tests").glob("test_*.py")} - {"test_repository.py"}
    assert expected - present == set(), "modules without a test file"
    assert present - expected == set(), "test files that name no module"


# -- the classroom edition (make book SOLUTIONS=0) -------------------------------------------------
def test_classroom_config_hides_the_solutions_and_otherwise_equals_the_book_config(tmp_path):
    """The Makefile's step (tools/classroom_config.py) that writes the classroom edition's configuration sets
    hide_solutions (sphinx-exercise) and stops copying the pages' sources (which hold the
    solutions); everything else is _config.yml, with the local extensions' folders still
    pointing at the same folders from the copy's place."""
    import os
    import shutil
    import sys

    import yaml

    make = shutil.which("make")
    if make is None:
        pytest.fail("This test runs the Makefile's config step; install make (the README requires it).")
    target = tmp_path / "build" / "_config_classroom.yml"
    subprocess.run([make, "--no-print-directory", "-s", "classroom-config", f"CONFIG_PYTHON={sys.executable}",
                    f"CLASSROOM_CONFIG={target}"], cwd=ROOT, check=True)
    book = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    classroom = yaml.safe_load(target.read_text(encoding="utf-8"))

    options = classroom["sphinx"]["config"]
    assert options.pop("hide_solutions") is True
    assert options.pop("html_copy_source") is False
    assert "sphinx_exercise" in book["sphinx"]["extra_extensions"]
    # Jupyter Book resolves a local extension's folder from the configuration file's folder.
    folders = classroom["sphinx"].pop("local_extensions")
    expected = book["sphinx"].pop("local_extensions")
    assert folders.keys() == expected.keys()
    for name, folder in folders.items():
        assert (target.parent / folder).resolve() == (ROOT / expected[name]).resolve(), name
        assert os.path.isdir(target.parent / folder), name
    assert classroom == book


# -- the Simplified Chinese edition (tools/translations.py, locales/zh_CN) -------------------------
def _translations():
    import importlib.util

    spec = importlib.util.spec_from_file_location("translations", ROOT / "tools" / "translations.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("english, chinese, lost", [
    ("At $\\eta = 0.1$ the ratio is {glue:text}`r`.", "在 $\\eta = 0.1$ 时，比值为 {glue:text}`r`。", []),
    ("At $\\eta = 0.1$ the ratio is {glue:text}`r`.", "在 $\\eta = 0.2$ 时，比值为 {glue:text}`r`。", ["math $\\eta = 0.1$"]),
    ("the ratio is {glue:text}`r`", "比值为 r", ["{glue:text}`r`"]),
    ("Verdict: {glue:text}`relu_verdict`.", "结论：{glue:text}`relu_verdict_zh`。", []),
    ("Verdict: {glue:text}`relu_verdict`.", "结论：{glue:text}`tanh_verdict_zh`。", ["{glue:text}`relu_verdict`"]),
    ("see {term}`learning rate`", "见 {term}`学习率 <learning rate>`", []),
    ("see {term}`learning rate`", "见 {term}`学习率`", ["{term} -> learning rate"]),
    ("the {ref}`bowl <sec-bowl>` and [part two](05b.ipynb)", "{ref}`碗 <sec-bowl>` 与[第二部分](05b.ipynb)", []),
    ("[part two](05b.ipynb)", "[第二部分](05c.ipynb)", ["link (05b.ipynb)"]),
    ("call `model.fit`", "调用 `模型.fit`", ["code `model.fit`"]),
    ("$$\nL(w)\n$$", "$$\nL(w)\n$$", []),
])
def test_a_translation_must_keep_the_markup_of_its_message(english, chinese, lost):
    problems = _translations().check_markup(english, chinese)
    assert [p for p in problems if p.startswith("lost")] == [f"lost {k!r}" for k in lost]


def test_the_translation_check_finds_untranslated_fuzzy_obsolete_and_stale_messages(tmp_path):
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import write_po

    tr = _translations()
    pot, locales = tmp_path / "pot", tmp_path / "locales"
    english = Catalog()
    for m in ("One", "Two $x$", "Three", "Four"):
        english.add(m)
    (pot / "chapters").mkdir(parents=True)
    with open(pot / "chapters" / "a.pot", "wb") as f:
        write_po(f, english)
    (pot / "b.pot").write_bytes((pot / "chapters" / "a.pot").read_bytes())
    po = locales / tr.LANGUAGE / "LC_MESSAGES"
    (po / "chapters").mkdir(parents=True)
    catalogue = Catalog(locale="zh_CN")
    catalogue.add("One", "一")
    catalogue.add("Two $x$", "二 $y$")
    catalogue.add("Three", "三", flags=["fuzzy"])
    catalogue.add("Gone", "旧")
    catalogue.obsolete["Older"] = catalogue["Gone"]
    with open(po / "chapters" / "a.po", "wb") as f:
        write_po(f, catalogue)
    problems = tr.check(fresh=False, pot_dir=pot, locales=locales)
    text = "\n".join(problems)
    assert "b: no catalogue b.po" in text
    assert "lost 'math $x$'" in text
    assert "fuzzy" in text and "'Three'" in text
    assert "obsolete" in text
    assert "lacks the English message 'Four'" in text
    assert "no longer has 'Gone'" in text
    assert not any("'One'" in p for p in problems)

    complete = Catalog(locale="zh_CN")
    for m, t in (("One", "一"), ("Two $x$", "二 $x$"), ("Three", "三"), ("Four", "四")):
        complete.add(m, t)
    for name in ("chapters/a.po", "b.po"):
        with open(po / name, "wb") as f:
            write_po(f, complete)
    assert tr.check(fresh=False, pot_dir=pot, locales=locales) == []


def test_the_chinese_edition_config_sets_the_language_and_otherwise_equals_the_book_config(tmp_path):
    import yaml

    target = tmp_path / "build" / "_config_zh_CN.yml"
    subprocess.run([sys.executable, str(ROOT / "tools" / "translations.py"), "config", str(ROOT / "_config.yml"),
                    str(target)], check=True)
    book = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    chinese = yaml.safe_load(target.read_text(encoding="utf-8"))
    assert chinese["sphinx"]["config"].pop("language") == "zh_CN"
    assert chinese["sphinx"]["config"].pop("nb_code_prompt_show") == "显示代码"
    assert chinese["sphinx"]["config"].pop("nb_code_prompt_hide") == "隐藏代码"
    assert chinese.pop("title") == "gradbook：卷积网络是如何学习的"
    book.pop("title")
    folders = chinese["sphinx"].pop("local_extensions")
    for name, folder in book["sphinx"].pop("local_extensions").items():
        assert (target.parent / folders[name]).resolve() == (ROOT / folder).resolve(), name
    assert chinese == book


@pytest.mark.slow
def test_every_message_of_the_book_is_translated_and_the_catalogues_are_current():
    """The Chinese edition keeps up with the English one: extract today's English messages and
    compare them with locales/zh_CN (after changing an English sentence, run
    `python tools/translations.py update` and translate what it marks)."""
    problems = _translations().check()
    assert problems == [], f"{len(problems)} problem(s) in the Chinese catalogues, e.g.:\n" + "\n".join(problems[:25])


def test_the_terms_page_lists_every_glossary_term_with_the_chinese_the_glossary_uses():
    """中英术语表 (terms.md) and the Chinese glossary cannot drift apart: each glossary term has a
    row, and the row's Chinese is the Chinese glossary's own term."""
    from babel.messages.pofile import read_po

    glossary = (ROOT / "glossary.md").read_text(encoding="utf-8")
    terms = re.findall(r"^([^\s#`:][^\n]*)\n  ", glossary.split("```{glossary}", 1)[1], re.M)
    assert len(terms) >= 30
    rows = dict(re.findall(r"^\| \{term\}`([^`]+)` \| ([^|]+?) \|", (ROOT / "terms.md").read_text(encoding="utf-8"), re.M))
    assert sorted(rows) == sorted(terms)
    with open(ROOT / "locales" / "zh_CN" / "LC_MESSAGES" / "glossary.po", "rb") as f:
        chinese = read_po(f)
    for term in terms:
        assert rows[term] == chinese[term].string, f"{term}: terms.md says {rows[term]!r}, the glossary {chinese[term].string!r}"
    assert "批量归一化" in rows.values()
