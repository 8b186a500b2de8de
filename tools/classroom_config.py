"""Write the classroom edition's Jupyter Book configuration: ``_config.yml`` without solutions.

Usage: python tools/classroom_config.py SOURCE TARGET

The copy (``tools/edition_config.py``) sets sphinx-exercise's ``hide_solutions`` and turns off
``html_copy_source`` (the pages' sources under ``_sources/`` would still hold the solutions).
Nothing else changes. ``make book SOLUTIONS=0``
runs it; any Python with PyYAML (a Jupyter Book dependency) will do.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # its sibling tools/edition_config.py
from edition_config import edition_config  # noqa: E402


def classroom_config(source: str, target: str) -> None:
    """Read the book's configuration from ``source`` and write the classroom edition's to ``target``."""
    edition_config(source, target, writer="tools/classroom_config.py",
                   sphinx_config={"hide_solutions": True, "html_copy_source": False})


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[2])
    classroom_config(sys.argv[1], sys.argv[2])
