"""Small Sphinx fixes for the gradbook HTML build.

Widget state: myst-nb embeds the ipywidgets state of an executed notebook in its page. This book
shows widgets only in JupyterLab (the HTML shows each exploration's precomputed Plotly face,
see ``gradbook.widgets``) and loads no widget manager, so that state is dead weight (hundreds of
kB per chapter); it is dropped.

sphinx-thebe (pulled in by Jupyter Book 1) registers its inline configuration script once per
read of the environment, so a page can carry it twice, which throws "Identifier 'THEBE_JS_URL'
has already been declared" in the browser console. Thebe is off in this book; keep each script
once (the same file or inline body, whatever its priority).
"""

from __future__ import annotations


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


def setup(app):
    app.connect("html-page-context", _dedupe_scripts, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
