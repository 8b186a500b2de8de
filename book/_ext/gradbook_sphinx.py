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

Execution: the chapters are executed in this process (myst-nb through jupyter-cache and
nbclient); waits for a cell's reply are polled in short slices (see ``gradbook.execution``) so a
missed wake-up costs half a second instead of the whole cell time limit.
"""

from __future__ import annotations

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


def setup(app):
    app.connect("html-page-context", _dedupe_scripts, priority=100)
    # After Sphinx's own numbering (a toc collector at the default priority, 500).
    app.connect("env-get-updated", _number_exercises_per_page, priority=900)
    app.gradbook_polling = sliced_shell_polling()
    app.gradbook_polling.__enter__()
    app.connect("build-finished", _stop_polling)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
