"""Copy the JavaScript the book's pages load into `_vendor/`, so the HTML works offline.

* MathJax 3 (``tex-chtml.js`` and its woff-v2 fonts) from the npm registry (``npm pack``);
* plotly.js from the installed ``plotly`` wheel.

Sphinx copies `_vendor/` into `_build/html/_static/` (see `_config.yml`). If a step cannot run
(no npm, no registry), it says so loudly and exits non-zero, so `make book` stops instead of
silently producing pages that need a CDN.

Usage: python tools/vendor_assets.py [DEST]
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

MATHJAX = "mathjax@3.2.2"


def vendor_mathjax(dest: Path) -> None:
    target = dest / "mathjax"
    if (target / "tex-chtml.js").is_file():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit(
            "vendor_assets: npm is not installed, so MathJax cannot be fetched for offline pages. "
            "Install Node.js/npm (Debian: apt-get install npm) and run `make book` again."
        )
    with tempfile.TemporaryDirectory() as tmp:
        result = subprocess.run(
            [npm, "pack", MATHJAX, "--silent"], cwd=tmp, capture_output=True, text=True
        )
        if result.returncode != 0:
            raise SystemExit(f"vendor_assets: `npm pack {MATHJAX}` failed:\n{result.stderr}")
        tarball = next(Path(tmp).glob("mathjax-*.tgz"))
        with tarfile.open(tarball) as tar:
            members = [
                m for m in tar.getmembers()
                if m.name == "package/es5/tex-chtml.js"
                or m.name.startswith("package/es5/output/chtml/fonts/woff-v2/")
                or m.name == "package/LICENSE"
            ]
            tar.extractall(tmp, members=members, filter="data")
        src = Path(tmp) / "package"
        (target / "output" / "chtml" / "fonts").mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / "es5" / "tex-chtml.js", target / "tex-chtml.js")
        shutil.copy2(src / "LICENSE", target / "LICENSE")
        shutil.copytree(
            src / "es5" / "output" / "chtml" / "fonts" / "woff-v2",
            target / "output" / "chtml" / "fonts" / "woff-v2",
            dirs_exist_ok=True,
        )


def vendor_plotly(dest: Path) -> None:
    import plotly

    source = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not source.is_file():
        raise SystemExit(f"vendor_assets: plotly.min.js not found in the plotly wheel ({source}).")
    target = dest / "plotly"
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, target / "plotly.min.js")


def main() -> None:
    dest = Path(sys.argv[1] if len(sys.argv) > 1 else "_vendor")
    dest.mkdir(parents=True, exist_ok=True)
    vendor_mathjax(dest)
    vendor_plotly(dest)
    print(f"vendor_assets: MathJax and plotly.js ready in {dest}/")


if __name__ == "__main__":
    main()
