"""The Simplified Chinese edition's catalogues: extract, update and check them.

Usage::

    python tools/translations.py pot              # the English messages, into _build/i18n/_build/gettext/
    python tools/translations.py update           # pot, then merge into locales/zh_CN/ (sphinx-intl)
    python tools/translations.py check [PO ...]   # fail on anything untranslated, fuzzy, stale or broken
    python tools/translations.py config SOURCE TARGET   # the Chinese edition's _config.yml

The messages come from Sphinx's own gettext builder, run through Jupyter Book with notebook
execution off (a page's outputs hold no prose, so the messages are the same as an executed build's,
in seconds). One catalogue per page, ``locales/zh_CN/LC_MESSAGES/<page>.po``.

``check`` fails (exit 1, one line per problem) when a message of a catalogue is untranslated or
fuzzy, when a catalogue holds an obsolete message or lacks one of today's English messages (it is
stale: run ``update`` and translate what it marks), and when a translation breaks the markup it
must keep: each formula, code span, glued value, label and cross-reference target of the English
message must appear in its translation unchanged (a glued value that is words may be replaced by its
Chinese twin, glued by the notebook as ``<name>_zh``). A ``{term}`` role keeps its target, the English
glossary term: ``{term}`learning rate``` becomes ``{term}`学习率 <learning rate>```.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # its sibling tools/edition_config.py, also when imported
from edition_config import edition_config as _write_edition_config  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LANGUAGE = "zh_CN"
#: The book's title in each edition (``title`` of ``_config.yml`` is the English one).
TITLES = {"zh_CN": "gradbook：卷积网络是如何学习的"}
#: Words myst-nb writes into the pages from its configuration, not from a page: the button that
#: unfolds a folded code cell (the book folds only cells' sources).
SPHINX_CONFIG = {"zh_CN": {"nb_code_prompt_show": "显示代码", "nb_code_prompt_hide": "隐藏代码"}}
LOCALES = ROOT / "locales"
# A build folder of its own, so that extracting never touches an HTML build's files (make test runs both at once).
GETTEXT_OUT = ROOT / "_build" / "i18n"
POT_DIR = GETTEXT_OUT / "_build" / "gettext"
GETTEXT_CONFIG = ROOT / "_build" / "_config_gettext.yml"

_ROLE = re.compile(r"\{([a-z:]+)\}`([^`]*)`")
_DISPLAY_MATH = re.compile(r"\$\$.+?\$\$", re.S)
_INLINE_MATH = re.compile(r"(?<![\\$])\$(?!\$)(?:\\\$|[^$])+?\$")
_CODE = re.compile(r"(?<![`}])`([^`]+)`")
_LABEL = re.compile(r"^\(([^()\s]+)\)=\s*$", re.M)
_FENCE = re.compile(r"^(`{3,}|:{3,})\{([^}]+)\}", re.M)
_TARGET = re.compile(r"<([^<>]+)>\s*$")
_LINK = re.compile(r"\]\(([^()\s]+)\)")


def edition_config(source: str | os.PathLike, target: str | os.PathLike, *, language: str | None = None,
                   execute: bool = True) -> None:
    """Write a copy of the book's configuration for another edition (``tools/edition_config.py``).

    Parameters
    ----------
    source, target :
        The book's ``_config.yml`` and the copy to write.
    language : str, optional
        Sphinx's ``language`` (``"zh_CN"``): the edition reads its messages from the catalogues,
        and takes its title from :data:`TITLES` and myst-nb's words from :data:`SPHINX_CONFIG`.
    execute : bool, default True
        ``False`` turns notebook execution off (for extracting messages).
    """
    sphinx_config = {"language": language, **SPHINX_CONFIG.get(language, {})} if language else None
    changes = {"title": TITLES[language]} if language in TITLES else None
    _write_edition_config(source, target, writer="tools/translations.py", sphinx_config=sphinx_config, changes=changes, execute=execute)


def _bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def build_pot() -> Path:
    """Extract the English messages (one ``.pot`` per page); returns their folder, :data:`POT_DIR`."""
    edition_config(ROOT / "_config.yml", GETTEXT_CONFIG, execute=False)
    log = subprocess.run([_bin("jupyter-book"), "build", str(ROOT), "--builder", "custom", "--custom-builder",
                          "gettext", "--config", str(GETTEXT_CONFIG), "--path-output", str(GETTEXT_OUT)],
                         capture_output=True, text=True)
    if log.returncode:
        sys.stderr.write(log.stdout[-4000:] + log.stderr[-4000:])
        raise SystemExit("Extracting the English messages failed (the Jupyter Book gettext build, above).")
    return POT_DIR


def update() -> None:
    """Extract the messages and merge them into the catalogues: new ones empty, changed ones fuzzy."""
    build_pot()
    subprocess.run([_bin("sphinx-intl"), "update", "-p", str(POT_DIR), "-l", LANGUAGE, "-d", str(LOCALES),
                    "-w", "0"], check=True)
    for path in _catalogues(LOCALES / LANGUAGE / "LC_MESSAGES", ".po").values():
        _drop_format_flags(path)


def _drop_format_flags(path: Path) -> None:
    """Remove the Python format flags Babel guesses from "10 % of" or "{glue}": the messages are
    Markdown, not format strings, and with the flag ``msgfmt --check`` rejects a correct "10 %，"."""
    from babel.messages.pofile import write_po

    catalogue = _read(path)
    for m in catalogue:
        m.flags -= {"python-format", "python-brace-format", "no-python-format"}
    with open(path, "wb") as f:
        write_po(f, catalogue, width=0)


def _catalogues(folder: Path, suffix: str) -> dict[str, Path]:
    return {p.relative_to(folder).with_suffix("").as_posix(): p for p in sorted(folder.rglob(f"*{suffix}"))}


def _read(path: Path):
    from babel.messages.pofile import read_po

    with open(path, "rb") as f:
        return read_po(f, abort_invalid=True)


def _kept(text: str, *, translation: bool = False) -> collections.Counter:
    """What a translation must keep: formulas, code spans, glued values, labels, directives, targets.

    A glued value that is words rather than a number has a Chinese twin that the notebook glues as
    ``<name>_zh``; a translation may paste the twin in its place.
    """
    kept: collections.Counter = collections.Counter()
    for m in _DISPLAY_MATH.finditer(text):
        kept["math " + m.group(0)] += 1
    rest = _DISPLAY_MATH.sub(" ", text)
    for m in _ROLE.finditer(rest):
        role, body = m.groups()
        if role.startswith("glue") or role in ("math", "eq"):
            if translation and role.startswith("glue"):
                body = re.sub(r"_zh(?=$|:)", "", body)
            kept[f"{{{role}}}`{body}`"] += 1
        else:
            target = _TARGET.search(body)
            kept[f"{{{role}}} -> {(target.group(1) if target else body).strip()}"] += 1
    rest = _ROLE.sub(" ", rest)
    for m in _INLINE_MATH.finditer(rest):
        kept["math " + m.group(0)] += 1
    rest = _INLINE_MATH.sub(" ", rest)
    for m in _CODE.finditer(rest):
        kept["code `" + m.group(1) + "`"] += 1
    for m in _LABEL.finditer(text):
        kept[f"label ({m.group(1)})="] += 1
    for m in _LINK.finditer(rest):
        kept[f"link ({m.group(1)})"] += 1
    for m in _FENCE.finditer(text):
        kept[f"directive {{{m.group(2)}}}"] += 1
    return kept


def check_markup(msgid: str, msgstr: str) -> list[str]:
    """The markup of ``msgid`` that ``msgstr`` lost or added (empty when it kept all of it)."""
    want, got = _kept(msgid), _kept(msgstr, translation=True)
    problems = [f"lost {k!r}" for k in sorted(want - got)]
    problems += [f"added {k!r}" for k in sorted(got - want)]
    return problems


def check(paths: list[Path] | None = None, *, fresh: bool = True, pot_dir: Path = POT_DIR,
          locales: Path = LOCALES) -> list[str]:
    """Every problem of the catalogues, one line each (empty when they are complete and current).

    Parameters
    ----------
    paths : list of Path, optional
        Catalogues to check (all of ``locales/zh_CN`` when omitted; then missing and surplus
        catalogues count too).
    fresh : bool, default True
        Extract today's English messages first and compare with them (otherwise with ``pot_dir``).
    pot_dir, locales : Path
        The English messages (:data:`POT_DIR`) and the catalogues' root (``locales``).
    """
    if fresh:
        pot_dir = build_pot()
    pots = _catalogues(pot_dir, ".pot")
    folder = locales / LANGUAGE / "LC_MESSAGES"
    pos = _catalogues(folder, ".po")
    problems: list[str] = []
    if paths is None:
        problems += [f"{name}: no catalogue {name}.po; run `python tools/translations.py update`"
                     for name in sorted(set(pots) - set(pos))]
        problems += [f"{name}.po: no English page has this catalogue any more; delete it"
                     for name in sorted(set(pos) - set(pots))]
        chosen = {name: pos[name] for name in sorted(set(pos) & set(pots))}
    else:
        chosen = {Path(p).resolve().relative_to(folder.resolve()).with_suffix("").as_posix(): Path(p) for p in paths}
    for name, path in chosen.items():
        where = f"{name}.po"
        catalogue = _read(path)
        english = {m.id for m in _read(pots[name]) if m.id} if name in pots else set()
        ids = set()
        for m in catalogue:
            if not m.id:
                continue
            ids.add(m.id)
            first = m.id.strip().splitlines()[0][:60]
            if m.fuzzy:
                problems.append(f"{where}: fuzzy (check the translation, then remove the fuzzy flag): {first!r}")
            if not m.string or not str(m.string).strip():
                problems.append(f"{where}: untranslated: {first!r}")
                continue
            if re.match(r"\d+[.)]\s", m.string):
                problems.append(f"{where}: the translation of {first!r} starts like a numbered list, which Sphinx "
                                "rejects (the English stays): escape the dot, as in `1\\. ...`")
            for p in check_markup(m.id, m.string):
                problems.append(f"{where}: {p} in the translation of {first!r}")
        if catalogue.obsolete:
            problems.append(f"{where}: {len(catalogue.obsolete)} obsolete message(s) (#~): run `python tools/translations.py update`, "
                            "reuse what still fits, and delete them")
        for missing in sorted(english - ids):
            problems.append(f"{where}: stale, lacks the English message {missing.strip().splitlines()[0][:60]!r}: "
                            "run `python tools/translations.py update`")
        for extra in sorted(ids - english):
            problems.append(f"{where}: stale, the English page no longer has {extra.strip().splitlines()[0][:60]!r}: "
                            "run `python tools/translations.py update`")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("pot", help="extract the English messages into _build/i18n/_build/gettext/")
    sub.add_parser("update", help="extract, then merge into locales/zh_CN/")
    c = sub.add_parser("check", help="fail on untranslated, fuzzy, stale or broken messages")
    c.add_argument("po", nargs="*", type=Path, help="catalogues to check (default: all)")
    c.add_argument("--no-extract", action="store_true", help="compare with the last extracted messages")
    g = sub.add_parser("config", help="write the Chinese edition's configuration")
    g.add_argument("source")
    g.add_argument("target")
    args = parser.parse_args(argv)
    if args.command == "pot":
        print(build_pot())
    elif args.command == "update":
        update()
    elif args.command == "config":
        edition_config(args.source, args.target, language=LANGUAGE)
    else:
        problems = check(args.po or None, fresh=not args.no_extract)
        for p in problems:
            print(p)
        total = sum(1 for po in _catalogues(LOCALES / LANGUAGE / "LC_MESSAGES", ".po").values() for m in _read(po) if m.id)
        print(f"{len(problems)} problem(s) in {total} messages of the {LANGUAGE} catalogues.")
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
