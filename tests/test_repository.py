"""The repository stands on its own: no tracked file names a path outside it.

A clone must build and pass its tests with nothing beside it, so no tracked file may name an
absolute path of a build machine (a home or work folder, a temporary folder) or a folder beside
the repository. System paths that a Debian package provides (``/usr/share/datasets/...``,
``/usr/bin/chromium``) are part of the documented setup and are allowed.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Written in pieces so that this file does not name the paths it looks for.
_SLASH = "/"
MACHINE_PATHS = re.compile(
    "|".join([
        r"(?<![\w.~-])" + _SLASH + r"(?:work|home|root|Users|mnt|opt|tmp|private)" + _SLASH,
        r"(?<![\w.-])" + _SLASH + r"var" + _SLASH + r"folders" + _SLASH,
        r"\b[A-Za-z]:\\\\?(?:Users|Documents and Settings)\b",
        r"\.\." + _SLASH + r"shared\b",
        r"file:" + _SLASH * 3,
    ])
)


def tracked_text_files() -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as err:
        pytest.fail(f"This test lists the tracked files with git; run it in a git clone ({err}).")
    files = [ROOT / name for name in out.decode().split("\0") if name]
    return [f for f in files if f.is_file() and b"\0" not in f.read_bytes()[:4096]]


@pytest.mark.parametrize("text", [
    "SEEDS = Path('" + _SLASH + "work" + _SLASH + "shared" + _SLASH + "seeds')",
    "open('" + _SLASH + "home" + _SLASH + "ada" + _SLASH + "notes.txt')",
    "cache in " + _SLASH + "tmp" + _SLASH + "gradbook",
    "see .." + _SLASH + "shared" + _SLASH + "notes",
    "C:" + "\\" + "Users" + "\\" + "ada",
    "file:" + _SLASH * 3 + "opt" + _SLASH + "pypi",
])
def test_the_check_catches_machine_paths(text):
    assert MACHINE_PATHS.search(text), text


@pytest.mark.parametrize("text", [
    _SLASH + "usr" + _SLASH + "share" + _SLASH + "datasets" + _SLASH + "fashion-mnist",
    "executable_path='" + _SLASH + "usr" + _SLASH + "bin" + _SLASH + "chromium'",
    "tests" + _SLASH + "data" + _SLASH + "source_listings.json",
    "http://localhost:8000" + _SLASH + "lab" + _SLASH + "tree",
    "_build" + _SLASH + "html" + _SLASH + "index.html",
])
def test_the_check_allows_repository_and_system_package_paths(text):
    assert not MACHINE_PATHS.search(text), text


def test_no_tracked_file_names_a_path_outside_the_repository():
    offenders = []
    for path in tracked_text_files():
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            match = MACHINE_PATHS.search(line)
            if match:
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {match.group(0)!r} in {line.strip()[:120]!r}")
    assert not offenders, "Tracked files name paths outside the repository:\n" + "\n".join(offenders)
