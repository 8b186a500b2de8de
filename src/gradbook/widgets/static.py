r"""The static face of an exploration: one Plotly figure for every precomputed setting, its JSON
payload and the HTML the built book shows.

The page's behaviour lives in ``book/static/gradbook-explorer.js`` (loaded by every page of the
book, like plotly.js, through ``_config.yml``): on page load it finds each
``<script type="application/json" class="gradbook-explorer-spec">`` payload written here, and
wires the controls next to it to ``Plotly.update``. Python writes data and markup only.

The controls are labelled in both editions of the book, English and Simplified Chinese
(``<html lang="zh-CN">``), from ``labels_zh_CN.json`` next to this module (package data): it maps
each control name and each option label the book's explorations use to its Chinese. A control's
name is written twice, ``<span class='gb-en' lang='en'>`` and ``<span class='gb-zh'
lang='zh-CN'>``, and the book's CSS hides the other edition's; an ``<option>`` can hold text only,
so it keeps its English and carries the Chinese in ``data-gb-zh`` (as does a control, for its
``aria-label``), which the page script swaps in on a Chinese page. The rule for the file
(:func:`zh_cn_label`): numbers need no entry; every other label must have one, and a label that
Chinese text writes as it is (a function, optimiser, initialiser, data set or layer name that is
code or a proper name: ``relu``, ``adam``, ``he``, ``fashion_mnist``, ``conv1``; a Keras keyword
such as ``same``) maps to itself. A label without an entry raises a ValueError when its static
face is written, so the book build (which writes every chapter's) fails instead of showing English
in the Chinese edition.

:func:`combine_figures` merges the figures of every setting into one; :func:`explorer_html` writes
the fragment around it; :func:`element` and :func:`json_for_script` are the two escaping
primitives everything here is written with.

Examples
--------
>>> element("label", {"class": "gradbook-control"}, text="depth < 10")
"<label class='gradbook-control'>depth &lt; 10</label>"
>>> json_for_script({"title": "</script>"})
'{"title":"\\u003c/script\\u003e"}'
"""

from __future__ import annotations

import html
import json
from functools import lru_cache
from importlib import resources
from types import MappingProxyType
from typing import Any, Iterable, Mapping, Sequence

__all__ = [
    "LABELS_ZH_CN",
    "SPEC_CLASS",
    "bilingual_html",
    "combine_figures",
    "control_html",
    "element",
    "explorer_html",
    "json_for_script",
    "live_only_html",
    "relayout_of",
    "zh_cn_label",
    "zh_cn_labels",
]

#: The class of the ``<script type="application/json">`` payload the page's script looks for.
SPEC_CLASS = "gradbook-explorer-spec"

#: The package data file (next to this module) of the controls' Simplified Chinese labels.
LABELS_ZH_CN = "labels_zh_CN.json"

#: Elements without an end tag.
_VOID = frozenset({"input", "br", "img", "hr", "meta", "link"})


def element(tag: str, attributes: Mapping[str, Any] | None = None, *, text: str | None = None,
            children: Sequence[str] = ()) -> str:
    """One HTML element with every attribute value and its text escaped.

    Parameters
    ----------
    tag : str
        The element's name (written as given).
    attributes : mapping, optional
        Attribute values, written in order in single quotes after :func:`html.escape`; ``True``
        writes a bare attribute (``selected``), ``False`` or ``None`` leaves it out.
    text : str, optional
        Text content, escaped.
    children : sequence of str
        HTML fragments already built (by this function, or Plotly), placed after ``text``.

    Returns
    -------
    str

    Examples
    --------
    >>> element("option", {"value": 2, "selected": True}, text="a & b")
    "<option value='2' selected>a &amp; b</option>"
    >>> element("input", {"type": "range", "aria-label": "it's"})
    "<input type='range' aria-label='it&#x27;s'>"
    """
    parts = [tag]
    for name, value in (attributes or {}).items():
        if value is True:
            parts.append(name)
        elif value is not None and value is not False:
            parts.append(f"{name}='{html.escape(str(value), quote=True)}'")
    start = f"<{' '.join(parts)}>"
    if tag in _VOID:
        return start
    body = (html.escape(text, quote=False) if text is not None else "") + "".join(children)
    return f"{start}{body}</{tag}>"


def json_for_script(data: Any) -> str:
    r"""``data`` as compact JSON that is safe inside a ``<script>`` element.

    ``<``, ``>`` and ``&`` are written as JSON ``\u`` escapes, so no string in ``data`` can close
    the script element or open a comment; ``JSON.parse`` reads the same values back.

    Examples
    --------
    >>> json_for_script({"a": [1, 2.5], "b": "x&y"})
    '{"a":[1,2.5],"b":"x\\u0026y"}'
    """
    text = json.dumps(data, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def live_only_html(kind: str) -> str:
    """The ``text/html`` face shown where widgets cannot render, when no static face was built.

    Parameters
    ----------
    kind : str
        What the reader is looking at (``"exploration"``, ``"training panel"``).

    Examples
    --------
    >>> "run the notebook in JupyterLab" in live_only_html("exploration")
    True
    """
    note = (f"This {kind} has live controls: run the notebook in JupyterLab to use them. "
            "Its precomputed version is part of the built book.")
    return element("p", {"class": "gradbook-static-note"}, children=[element("em", text=note)])


def relayout_of(fig) -> dict[str, Any]:
    """The per-setting layout keys a control restores: title, axis ranges (or autorange), notes.

    Parameters
    ----------
    fig : plotly.graph_objects.Figure

    Returns
    -------
    dict
        Keys in ``Plotly.relayout``'s dotted form: ``title.text``, ``xaxis.range`` or
        ``xaxis.autorange`` (and the same for ``yaxis``), ``annotations``.

    Examples
    --------
    >>> import plotly.graph_objects as go
    >>> relayout_of(go.Figure(layout={"title": {"text": "t"}, "xaxis": {"range": [0, 1]}}))
    {'title.text': 't', 'xaxis.range': [0, 1], 'yaxis.autorange': True, 'annotations': []}
    """
    lay = fig.layout
    out: dict[str, Any] = {"title.text": lay.title.text or ""}
    for axis in ("xaxis", "yaxis"):
        ax = getattr(lay, axis)
        if ax.range is not None:
            out[f"{axis}.range"] = list(ax.range)
        else:
            out[f"{axis}.autorange"] = True
    out["annotations"] = [a.to_plotly_json() for a in lay.annotations]
    return out


def combine_figures(figures: Iterable[Any], active: int = 0):
    """One Plotly figure holding the traces of every figure in ``figures``.

    Traces identical in several figures (a contour background, say) are stored once. Only the
    traces of ``figures[active]`` are visible, and its layout keys (:func:`relayout_of`) are
    applied; the rest of the layout is the first figure's.

    Parameters
    ----------
    figures : iterable of plotly.graph_objects.Figure
        One per setting, at least one; read once, in order (a generator draws one at a time).
    active : int
        The figure shown first.

    Returns
    -------
    combined : plotly.graph_objects.Figure
    members : list of list of int
        For each figure, the indices of its traces in ``combined``.
    relayouts : list of dict
        For each figure, its :func:`relayout_of`.

    Examples
    --------
    >>> import plotly.graph_objects as go
    >>> shared = go.Scatter(y=[0, 1])
    >>> figures = [go.Figure([shared, go.Scatter(y=[k, k])]) for k in range(3)]
    >>> combined, members, relayouts = combine_figures(figures, active=1)
    >>> len(combined.data), members
    (4, [[0, 1], [0, 2], [0, 3]])
    >>> [bool(t.visible) for t in combined.data]
    [True, False, True, False]
    """
    import plotly.graph_objects as go
    import plotly.io as pio

    combined = go.Figure()
    trace_keys: dict[str, int] = {}
    members: list[list[int]] = []
    relayouts: list[dict[str, Any]] = []
    first_layout = None
    for fig in figures:
        if first_layout is None:
            first_layout = fig.layout
        mine = []
        for trace in fig.data:
            key = pio.to_json(trace)  # exact: arrays are encoded in full
            if key not in trace_keys:
                trace_keys[key] = len(combined.data)
                combined.add_trace(trace)
            mine.append(trace_keys[key])
        members.append(mine)
        relayouts.append(relayout_of(fig))
    if first_layout is None:
        raise ValueError("combine_figures needs at least one figure.")
    combined.update_layout(first_layout)
    for i, trace in enumerate(combined.data):
        trace.visible = i in members[active]
    combined.update_layout(**relayouts[active])
    return combined, members, relayouts


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _labels_path():
    return resources.files(__package__).joinpath(LABELS_ZH_CN)


@lru_cache(maxsize=None)
def zh_cn_labels() -> Mapping[str, str]:
    """The Simplified Chinese of every control name and option label, read once from
    :data:`LABELS_ZH_CN`.

    Returns
    -------
    mapping of str to str
        Read-only; English label to Chinese (itself for a name or code kept as it is).

    Raises
    ------
    ValueError
        If the file is not a JSON object of non-empty strings.

    Examples
    --------
    >>> zh_cn_labels()["learning rate"], zh_cn_labels()["relu"]
    ('学习率', 'relu')
    """
    labels = json.loads(_labels_path().read_text(encoding="utf-8"))
    if not isinstance(labels, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and k.strip() and v.strip() for k, v in labels.items()):
        raise ValueError(f"{_labels_path()} must be a JSON object of non-empty strings (English label: Chinese).")
    return MappingProxyType(labels)


def zh_cn_label(label: str) -> str:
    """The Simplified Chinese of a control's name or option label on the static face.

    Numbers are written as they are. Every other label must be in :data:`LABELS_ZH_CN`, where a
    name or code that Chinese text writes as it is (``relu``, ``adam``, ``conv1``) maps to itself.

    Parameters
    ----------
    label : str

    Returns
    -------
    str

    Raises
    ------
    ValueError
        For a label that is not a number and has no entry, naming the file to add it to.

    Examples
    --------
    >>> zh_cn_label("depth"), zh_cn_label("tanh"), zh_cn_label("0.01")
    ('深度', 'tanh', '0.01')
    >>> zh_cn_label("wobble")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: The exploration control label 'wobble' has no Simplified Chinese translation: add it to src/gradbook/widgets/labels_zh_CN.json ...
    """
    if _is_number(label):
        return label
    try:
        return zh_cn_labels()[label]
    except KeyError:
        raise ValueError(
            f"The exploration control label {label!r} has no Simplified Chinese translation: add it to "
            f"src/gradbook/widgets/{LABELS_ZH_CN} (read from {_labels_path()}), mapped to its Chinese, or to "
            "itself if it is a name or code that Chinese text writes as it is (like relu, adam, conv1)."
        ) from None


def bilingual_html(text: str) -> str:
    """``text`` in a ``<span>``, with its Chinese (:func:`zh_cn_label`) beside it when that differs.

    The two languages are ``<span class='gb-en' lang='en'>`` and ``<span class='gb-zh'
    lang='zh-CN'>``; the book's CSS shows the one of the page's edition.

    Parameters
    ----------
    text : str
        A control's name (or any label of the static face).

    Returns
    -------
    str

    Raises
    ------
    ValueError
        For a label without a translation (see :func:`zh_cn_label`).

    Examples
    --------
    >>> bilingual_html("depth")
    "<span><span class='gb-en' lang='en'>depth</span><span class='gb-zh' lang='zh-CN'>深度</span></span>"
    >>> bilingual_html("relu")
    '<span>relu</span>'
    """
    zh = zh_cn_label(text)
    if zh == text:
        return element("span", text=text)
    return element("span", children=[element("span", {"class": "gb-en", "lang": "en"}, text=text),
                                     element("span", {"class": "gb-zh", "lang": "zh-CN"}, text=zh)])


def _zh_if_different(text: str) -> str | None:
    zh = zh_cn_label(text)
    return zh if zh != text else None


def control_html(dim: int, control: Mapping[str, Any]) -> str:
    """One control of the static face: a range over grid positions for numbers, else a drop-down.

    Controls carry ``autocomplete='off'``, so a browser does not restore a value on reload or back
    navigation that the figure does not show (the page's script applies the controls' values on
    load all the same).

    The name is written in English and in Chinese (:func:`bilingual_html`); where a Chinese label
    differs from the English, the control carries it in ``data-gb-zh`` (for its ``aria-label``),
    and so does each ``<option>`` (for its text): on a Chinese page the page script swaps them in.

    Parameters
    ----------
    dim : int
        The control's position among the exploration's controls (``data-gb-dim``).
    control : mapping
        ``name``, ``labels`` (one per grid value) and ``active`` (the index shown first), as in
        :meth:`gradbook.widgets.Explorer.static_spec`.

    Raises
    ------
    ValueError
        For a name, or a drop-down's option, without a Chinese translation (see
        :func:`zh_cn_label`).

    Examples
    --------
    >>> control_html(1, {"name": "kernel", "labels": ["blur", "same"], "active": 1})  # doctest: +NORMALIZE_WHITESPACE
    "<label class='gradbook-control'><span><span class='gb-en' lang='en'>kernel</span><span class='gb-zh'
    lang='zh-CN'>卷积核</span></span> <select data-gb-dim='1' aria-label='kernel' data-gb-zh='卷积核'
    autocomplete='off'><option value='0' data-gb-zh='模糊'>blur</option><option value='1'
    selected>same</option></select></label>"
    >>> control_html(0, {"name": "learning rate", "labels": ["0.1", "1"], "active": 0})  # doctest: +NORMALIZE_WHITESPACE
    "<label class='gradbook-control'><span><span class='gb-en' lang='en'>learning rate</span><span class='gb-zh'
    lang='zh-CN'>学习率</span></span> <input type='range' data-gb-dim='0' min='0' max='1' step='1' value='0'
    aria-label='learning rate' data-gb-zh='学习率' autocomplete='off'> <output data-gb-value='0'>0.1</output></label>"
    """
    name = str(control["name"])
    labels = [str(label) for label in control["labels"]]
    active = int(control["active"])
    name_zh = _zh_if_different(name)
    if all(_is_number(label) for label in labels):
        widget = (
            element("input", {"type": "range", "data-gb-dim": dim, "min": 0, "max": len(labels) - 1, "step": 1,
                              "value": active, "aria-label": name, "data-gb-zh": name_zh, "autocomplete": "off"})
            + " " + element("output", {"data-gb-value": dim}, text=labels[active])
        )
    else:
        options = [element("option", {"value": i, "data-gb-zh": _zh_if_different(label), "selected": i == active},
                           text=label) for i, label in enumerate(labels)]
        widget = element("select", {"data-gb-dim": dim, "aria-label": name, "data-gb-zh": name_zh, "autocomplete": "off"},
                         children=options)
    return element("label", {"class": "gradbook-control"}, children=[bilingual_html(name), " ", widget])


def explorer_html(figure_html: str, spec: Mapping[str, Any], *, div_id: str, traces: int, title: str = "") -> str:
    """The static face's HTML fragment: heading, note, controls, the figure and its JSON payload.

    Parameters
    ----------
    figure_html : str
        The figure's ``<div>`` from ``plotly.io.to_html(..., div_id=div_id)``.
    spec : mapping
        :meth:`gradbook.widgets.Explorer.static_spec`: ``controls`` (``name``, ``labels``,
        ``active``), ``members`` and ``relayouts`` per setting.
    div_id : str
        The figure's element id; the fragment's own id is ``<div_id>-explorer``.
    traces : int
        How many traces the combined figure holds.
    title : str
        A heading (escaped); none when empty.

    Returns
    -------
    str
        ``<div class='gradbook-explorer'>...</div>``. Controls whose grid holds a single value
        are left out. The payload the page's script reads, a ``<script type="application/json">``
        of class :data:`SPEC_CLASS` written with :func:`json_for_script`, holds ``div`` (the
        figure's id), ``n`` (its traces), ``sizes``, ``labels`` and ``active`` (per control),
        ``members`` and ``relayouts`` (per setting).
    """
    controls = spec["controls"]
    settings = len(spec["members"])
    payload = {
        "div": div_id, "n": traces, "sizes": [len(c["labels"]) for c in controls],
        "labels": [c["labels"] for c in controls], "active": [c["active"] for c in controls],
        "members": spec["members"], "relayouts": spec["relayouts"],
    }
    # A title is free text: shown in both languages when labels_zh_CN.json has it (the book's do,
    # which its tests check), in English alone otherwise.
    known = title in zh_cn_labels()
    heading = [element("p", {"class": "gradbook-explorer-title"}, children=[
        element("strong", children=[bilingual_html(title)]) if known else element("strong", text=title)])] if title else []
    notes = {
        "en": f"Static version: precomputed for {settings} setting{'s' if settings != 1 else ''}; use the controls "
              "above the figure. Run this notebook in JupyterLab for live controls that recompute any setting.",
        "zh-CN": f"静态版本：已为 {settings} 种设置预先算好，请用图上方的控件切换。在 JupyterLab 中运行本 notebook，"
                 "即可使用能重新计算任意设置的实时控件。",
    }
    note = "".join(element("p", {"class": f"gradbook-static-note gb-{'en' if lang == 'en' else 'zh'}", "lang": lang},
                           children=[element("em", text=text)]) for lang, text in notes.items())
    inputs = [control_html(d, c) for d, c in enumerate(controls) if len(c["labels"]) > 1]
    script = element("script", {"type": "application/json", "class": SPEC_CLASS}, children=[json_for_script(payload)])
    return element("div", {"class": "gradbook-explorer", "id": f"{div_id}-explorer"}, children=[
        *heading, note, element("div", {"class": "gradbook-controls"}, children=inputs), figure_html, script,
    ])
