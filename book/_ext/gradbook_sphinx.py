"""Small Sphinx fixes for the gradbook HTML build.

Widget state: myst-nb embeds the ipywidgets state of an executed notebook in its page. This book
shows widgets only in JupyterLab (the HTML shows each exploration's precomputed Plotly face,
see ``gradbook.widgets``) and loads no widget manager, so that state is dead weight (hundreds of
kB per chapter); it is dropped.

sphinx-thebe (pulled in by Jupyter Book 1) registers its inline configuration script once per
read of the environment, so a page can carry it twice, which throws "Identifier 'THEBE_JS_URL'
has already been declared" in the browser console. Thebe is off in this book; keep each script
once (the same file or inline body, whatever its priority).

Exercise numbers: sphinx-exercise numbers its blocks through Sphinx's figure numbering, which
without a numbered table of contents counts across the whole book (chapter 6's first exercise
would be "Exercise 31"). Each page's exercises are renumbered 1, 2, ... in page order, so the
numbers match the chapter's own list; "Solution to Exercise N" follows, since it reads the same
table.

Languages: the book has an English edition and a Simplified Chinese one, built from the same
sources (Sphinx's gettext catalogues under ``locales/``) into ``_build/html/`` and
``_build/html/zh_CN/``. Every page links to the same page in the other edition
(``book/templates/language-switch.html``, in the sidebar).

Jupyter Book writes the tables of contents (``_toc.yml``) into the pages after Sphinx has
translated them, so their captions ("Chapters", "Appendix") are translated here, from the same
catalogue as the rest of the page.

Glued values in translated sentences: Sphinx parses each translated message as a small document
of its own, where myst-nb's glue roles cannot see the notebook's values ("No key ... found in glue
data"). The glue roles remember the notebook's renderer while the page is parsed and lend it to
the translated messages they are parsed in, so that ``{glue:text}`ratio``` in a Chinese sentence
shows the number the notebook computed, as in the English one.

Execution: the chapters are executed in this process (myst-nb through jupyter-cache and
nbclient); waits for a cell's reply are polled in short slices (see ``gradbook.execution``) so a
missed wake-up costs half a second instead of the whole cell time limit.
"""

from __future__ import annotations

from myst_nb.ext.glue.domain import NbGlueDomain
from myst_nb.ext.glue.roles import PasteRoleAny

from gradbook.execution import sliced_shell_polling


_WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def _dedupe_scripts(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen = set()
    unique = []
    for script in scripts:
        if getattr(script, "attributes", {}).get("type") == _WIDGET_STATE:
            continue
        key = (str(getattr(script, "filename", script) or ""), getattr(script, "attributes", {}).get("body"))
        if key in seen:
            continue
        seen.add(key)
        unique.append(script)
    scripts[:] = unique


def _number_exercises_per_page(app, env) -> list[str]:
    for numbers in env.toc_fignumbers.values():
        exercises = numbers.get("exercise")
        if exercises:
            in_order = sorted(exercises, key=exercises.__getitem__)
            numbers["exercise"] = {node_id: (i,) for i, node_id in enumerate(in_order, start=1)}
    return []


def _stop_polling(app, exception) -> None:
    app.gradbook_polling.__exit__(None, None, None)


#: Each edition's language, the folder of its pages below the English edition's, and its link's label.
_EDITIONS = {"en": ("", "English"), "zh_CN": ("zh_CN/", "简体中文")}


def _language_switch(app, pagename, templatename, context, doctree):
    """Link each page to the same page in the other edition (see ``_EDITIONS``)."""
    here = app.config.language or "en"
    if here not in _EDITIONS:
        return
    other = "zh_CN" if here == "en" else "en"
    up = "../" * pagename.count("/")  # from this page to its edition's root
    to_english = "../" * _EDITIONS[here][0].count("/")  # from that root to the English edition's
    context["gradbook_language_switch"] = {
        "href": f"{up}{to_english}{_EDITIONS[other][0]}{pagename}.html",
        "hreflang": other.replace("_", "-"),
        "label": _EDITIONS[other][1],
        "aria_label": "本页的其他语言版本" if here.startswith("zh") else "This page in another language",
    }


_RENDERER = "gradbook_nb_renderer"


def _lend_notebook(role_class):
    """A glue role that, inside a translated message, pastes from the page's notebook.

    myst-nb keeps the notebook's renderer on the page only while it parses the page, so the
    first glue role of the page (in the English text, which is parsed before it is translated)
    remembers it for the translated messages' roles.
    """

    class Role(role_class):
        def run(self):
            memory = self.document.settings.env.temp_data  # cleared for every page
            if "nb_renderer" in self.document:
                memory[_RENDERER] = self.document["nb_renderer"]
                return super().run()
            if memory.get(_RENDERER) is None:
                return super().run()
            self.document["nb_renderer"] = memory[_RENDERER]
            try:
                return super().run()
            finally:  # the message's nodes join the page, which is pickled: lend, never give
                del self.document["nb_renderer"]

    Role.__name__ = Role.__qualname__ = role_class.__name__
    return Role


class _GlueDomain(NbGlueDomain):
    roles = {name: _lend_notebook(type(role))() for name, role in NbGlueDomain.roles.items()}


def _translate_toc_captions(app, doctree) -> None:
    """Translate the captions of the tables of contents Jupyter Book adds to a page."""
    from sphinx import addnodes
    from sphinx.locale import init as init_locale
    from sphinx.util.i18n import docname_to_domain

    if not app.config.language or app.config.language == "en":
        return
    toctrees = [t for t in doctree.findall(addnodes.toctree) if t.get("caption")]
    if not toctrees:
        return
    dirs = [str(app.srcdir / d) for d in app.config.locale_dirs]
    domain = docname_to_domain(app.env.docname, app.config.gettext_compact)
    catalogue, found = init_locale(dirs, app.config.language, domain)
    if found:
        for toctree in toctrees:
            toctree["caption"] = catalogue.gettext(toctree["caption"])


def setup(app):
    app.connect("doctree-read", _translate_toc_captions)
    app.add_role("glue", _lend_notebook(PasteRoleAny)(), override=True)
    app.add_domain(_GlueDomain, override=True)
    app.connect("html-page-context", _dedupe_scripts, priority=100)
    app.connect("html-page-context", _language_switch)
    # After Sphinx's own numbering (a toc collector at the default priority, 500).
    app.connect("env-get-updated", _number_exercises_per_page, priority=900)
    app.gradbook_polling = sliced_shell_polling()
    app.gradbook_polling.__enter__()
    app.connect("build-finished", _stop_polling)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
