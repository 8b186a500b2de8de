"""Write the classroom edition's Jupyter Book configuration: ``_config.yml`` without solutions.

Usage: python tools/classroom_config.py SOURCE TARGET

The copy sets sphinx-exercise's ``hide_solutions`` and turns off ``html_copy_source`` (the pages'
sources under ``_sources/`` would still hold the solutions). Jupyter Book resolves a local
extension's folder from the configuration file's own folder, so those folders are rewritten to
point at the same places from the copy's folder. Nothing else changes. ``make book SOLUTIONS=0``
runs it; any Python with PyYAML (a Jupyter Book dependency) will do.
"""

from __future__ import annotations

import os
import sys

import yaml


def classroom_config(source: str, target: str) -> None:
    """Read the book's configuration from ``source`` and write the classroom edition's to ``target``."""
    with open(source, encoding="utf-8") as f:
        config = yaml.safe_load(f)
    sphinx = config.setdefault("sphinx", {})
    sphinx.setdefault("config", {}).update(hide_solutions=True, html_copy_source=False)
    here = os.path.dirname(os.path.abspath(target))
    base = os.path.dirname(os.path.abspath(source))
    sphinx["local_extensions"] = {name: os.path.relpath(os.path.join(base, path), here)
                                  for name, path in (sphinx.get("local_extensions") or {}).items()}
    os.makedirs(here, exist_ok=True)
    with open(target, "w", encoding="utf-8") as f:
        f.write(f"# Written by tools/classroom_config.py from {os.path.basename(source)}: do not edit.\n")
        yaml.safe_dump(config, f, sort_keys=False, allow_unicode=True)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[2])
    classroom_config(sys.argv[1], sys.argv[2])
