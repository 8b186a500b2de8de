"""Tests for gradbook.tables: HTML tables with escaped cells."""

from __future__ import annotations

import re

import pytest

from gradbook.tables import Html, bold, html_table


def cells(table: str, tag: str = "td") -> list[str]:
    return re.findall(rf"<{tag}>(.*?)</{tag}>", table)


def test_one_header_row_then_one_row_per_item():
    table = html_table([("a", "1"), ("b", "2")], header=("name", "value"))
    assert table.startswith("<table><thead><tr><th>name</th><th>value</th></tr></thead><tbody>")
    assert table.endswith("</tbody></table>")
    assert table.count("<tr>") == 3
    assert cells(table, "th") == ["name", "value"]
    assert cells(table) == ["a", "1", "b", "2"]


def test_cells_and_header_are_escaped():
    table = html_table([("<baseline>", "fix & more", "it's \"so\"")], header=("a < b", "x", "y"))
    assert cells(table, "th")[0] == "a &lt; b"
    assert cells(table) == ["&lt;baseline&gt;", "fix &amp; more", "it&#x27;s &quot;so&quot;"]
    assert "<baseline>" not in table


def test_cells_are_written_with_str():
    table = html_table([(1, 2.5, None)], header=("int", "float", "none"))
    assert cells(table) == ["1", "2.5", "None"]


def test_bold_escapes_its_text_and_is_kept_as_html():
    cell = bold("fixes & helps")
    assert isinstance(cell, Html) and cell == "<b>fixes &amp; helps</b>"
    table = html_table([("remedy", cell)], header=("name", "verdict"))
    assert cells(table) == ["remedy", "<b>fixes &amp; helps</b>"]
    assert cells(html_table([(bold(3),)], header=(bold("total"),)), "th") == ["<b>total</b>"]


def test_objects_with_an_html_method_are_written_as_they_are():
    class Link:
        def __html__(self):
            return "<a href='x.html'>x</a>"

    assert cells(html_table([(Link(),)], header=("see",))) == ["<a href='x.html'>x</a>"]


def test_rows_may_be_any_iterable_of_sequences():
    table = html_table(([k, v] for k, v in {"a": "1", "b": "2"}.items()), header=["k", "v"])
    assert cells(table) == ["a", "1", "b", "2"]


def test_a_table_without_rows_has_only_the_header():
    assert html_table([], header=("a",)) == "<table><thead><tr><th>a</th></tr></thead><tbody></tbody></table>"


@pytest.mark.parametrize("rows", [[("a", "b", "c")], [("a",)], [("a", "b"), ("c",)]])
def test_a_row_with_another_number_of_cells_is_refused(rows):
    with pytest.raises(ValueError, match="cells but the header has 2 columns"):
        html_table(rows, header=("x", "y"))


def test_an_empty_header_is_refused():
    with pytest.raises(ValueError, match="header must name at least one column"):
        html_table([], header=())
