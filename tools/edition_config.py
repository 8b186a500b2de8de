"""Write a copy of the book's Jupyter Book configuration for another edition.

The classroom edition (``tools/classroom_config.py``) and the Chinese edition
(``tools/translations.py``) are the same book built with a few settings changed; this writes the
copy they build from. Jupyter Book resolves a local extension's folder from the configuration
file's own folder, so those folders are rewritten to point at the same places from the copy's
folder. Any Python with PyYAML (a Jupyter Book dependency) will do.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping


def edition_config(source: str | os.PathLike, target: str | os.PathLike, *, writer: str,
                   sphinx_config: Mapping[str, Any] | None = None, changes: Mapping[str, Any] | None = None,
                   execute: bool = True) -> None:
    """Read the book's configuration from ``source`` and write an edition's copy to ``target``.

    Parameters
    ----------
    source, target :
        The book's ``_config.yml`` and the copy to write.
    writer : str
        The tool that writes it, named in the copy's first line.
    sphinx_config : mapping, optional
        Sphinx settings to set (``sphinx.config``).
    changes : mapping, optional
        Top-level settings to set (``title``).
    execute : bool, default True
        ``False`` turns notebook execution off.
    """
    import yaml

    source, target = Path(source).resolve(), Path(target).resolve()
    config = yaml.safe_load(source.read_text(encoding="utf-8"))
    config.update(changes or {})
    sphinx = config.setdefault("sphinx", {})
    if sphinx_config:
        sphinx.setdefault("config", {}).update(sphinx_config)
    if not execute:
        config.setdefault("execute", {})["execute_notebooks"] = "off"
    sphinx["local_extensions"] = {name: os.path.relpath(source.parent / path, target.parent)
                                  for name, path in (sphinx.get("local_extensions") or {}).items()}
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "w", encoding="utf-8") as f:
        f.write(f"# Written by {writer} from {source.name}: do not edit.\n")
        yaml.safe_dump(config, f, sort_keys=False, allow_unicode=True)
