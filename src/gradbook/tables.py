"""HTML tables for the pages, with every cell's text escaped.

A chapter shows a table by building its rows and passing them, with the column names, to
:func:`html_table`; IPython's ``HTML`` displays the result::

    from IPython.display import HTML
    HTML(tables.html_table(rows, header=("listing", "loss")))

Cells are written as text, so names such as ``"<baseline>"`` or ``"fix & more"`` show as
typed. A cell that must carry markup, such as a bold verdict, is made with :func:`bold` (or is
any object with an ``__html__`` method, such as :class:`markupsafe.Markup`).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence

__all__ = ["Html", "bold", "html_table"]


class Html(str):
    """Text that is already HTML: :func:`html_table` puts it in its cell unescaped.

    Make one with :func:`bold` rather than by hand, so that the text inside is escaped.

    Examples
    --------
    >>> Html("<b>fixes</b>").__html__()
    '<b>fixes</b>'
    """

    def __html__(self) -> str:
        return str(self)


def bold(text: object) -> Html:
    """``text`` (escaped) in bold, as a table cell.

    Parameters
    ----------
    text : object
        Written with ``str``.

    Returns
    -------
    Html

    Examples
    --------
    >>> bold("fixes & helps")
    '<b>fixes &amp; helps</b>'
    """
    return Html(f"<b>{html.escape(str(text))}</b>")


def _cell(value: object) -> str:
    """One cell's HTML: its own for an object with ``__html__``, else its text escaped."""
    if hasattr(value, "__html__"):
        return value.__html__()
    return html.escape(str(value))


def html_table(rows: Iterable[Sequence[object]], header: Sequence[object]) -> str:
    """An HTML table: one header row, then one row per item of ``rows``.

    Parameters
    ----------
    rows : iterable of sequences
        The body, one sequence of cells per row, as many cells as ``header`` has. Each cell is
        written with ``str`` and escaped (format numbers before, e.g. ``f"{x:.3f}"``), except an
        object with an ``__html__`` method (see :func:`bold`), which is written as it is.
    header : sequence
        The column names, escaped like the cells.

    Returns
    -------
    str
        ``<table><thead>...</thead><tbody>...</tbody></table>``; show it with
        ``IPython.display.HTML``.

    Raises
    ------
    ValueError
        If ``header`` is empty or a row has a different number of cells.

    Examples
    --------
    >>> html_table([("a < b", "0.50"), ("total", bold(1))], header=("case", "share"))
    '<table><thead><tr><th>case</th><th>share</th></tr></thead><tbody><tr><td>a &lt; b</td><td>0.50</td></tr><tr><td>total</td><td><b>1</b></td></tr></tbody></table>'
    """
    header = list(header)
    if not header:
        raise ValueError("header must name at least one column.")
    body = []
    for number, row in enumerate(rows, start=1):
        row = list(row)
        if len(row) != len(header):
            raise ValueError(f"Row {number} has {len(row)} cells but the header has {len(header)} columns.")
        body.append("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>")
    head = "<tr>" + "".join(f"<th>{_cell(h)}</th>" for h in header) + "</tr>"
    return f"<table><thead>{head}</thead><tbody>{''.join(body)}</tbody></table>"
