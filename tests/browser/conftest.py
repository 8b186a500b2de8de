"""Serve the built book on localhost and drive it with Debian's Chromium through Playwright."""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import re
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parents[2]
HTML = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep pytest output readable
        pass


@contextlib.contextmanager
def serve(directory: Path):
    """Serve ``directory`` on localhost for the duration of the block; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def book_url():
    if not (HTML / "index.html").is_file():
        pytest.fail(f"No built book at {HTML}: run `make book` first (make test does).")
    with serve(HTML) as url:
        yield url


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (`apt-get install chromium`).")
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield b
        b.close()


@pytest.fixture
def offline_page(browser):
    """A page whose requests may only reach localhost; others are aborted and recorded."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.external_requests = []
    page.console_errors = []

    def route(r):
        host = urlparse(r.request.url).hostname
        if r.request.url.startswith(("data:", "blob:")) or host in LOCAL_HOSTS:
            r.continue_()
        else:
            page.external_requests.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.on("console", lambda m: page.console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page.console_errors.append(str(e)))
    yield page
    context.close()


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    """A real JupyterLab on localhost with a token, serving a scratch folder of notebooks.

    Yields ``(base_url, token, folder)``; a test writes its notebook into ``folder`` and opens
    ``{base_url}/lab/tree/<name>?token=<token>``. The server runs this repository's Python (so
    the kernel imports ``gradbook`` from the same environment).
    """
    import secrets
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    folder = tmp_path_factory.mktemp("lab")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = secrets.token_hex(16)
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={folder}",
           "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    # Its own settings: render every cell of a notebook (JupyterLab 4 otherwise renders only the
    # cells near the viewport, and a test cannot scroll to a cell that is not rendered).
    settings = folder / ".lab-settings"
    tracker = settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True)
    tracker.write_text('{"windowingMode": "none"}')
    announcements = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    announcements.parent.mkdir(parents=True)
    announcements.write_text('{"fetchNews": "false", "checkForUpdates": false}')
    # A learner's JupyterLab: no static faces are precomputed (see gradbook.widgets).
    env = {**os.environ, "GRADBOOK_STATIC_FACES": "0", "JUPYTERLAB_SETTINGS_DIR": str(settings), "JUPYTERLAB_WORKSPACES_DIR": str(folder / ".lab-workspaces")}
    log = open(folder / "lab.log", "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=folder, env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2).read()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"JupyterLab did not start; its log:\n{(folder / 'lab.log').read_text()[-3000:]}")
            time.sleep(0.5)
    yield base, token, folder
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def open_notebook(page, lab, name: str) -> None:
    """Open ``name`` from the lab's folder in a workspace of its own (so no tab an earlier test
    left open is restored and made active) and wait until its kernel is up (status bar:
    "Python 3 (ipykernel) | Idle")."""
    base, token, _folder = lab
    workspace = re.sub(r"\W", "-", name)
    page.goto(f"{base}/lab/workspaces/{workspace}/tree/{name}?reset&token={token}")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    page.get_by_text(re.compile(r"\| Idle")).first.wait_for(timeout=90_000)


def run_all(page) -> None:
    """Run every cell of the open notebook from JupyterLab's Run menu."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).first.click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).first.click()


def shut_down_kernels(lab) -> None:
    """Shut down every kernel of the lab's server, so that a chapter's kernel (about 1 GB, and
    perhaps still busy) does not slow the tests after it."""
    import json
    import urllib.request

    base, token, _folder = lab
    with urllib.request.urlopen(f"{base}/api/kernels?token={token}", timeout=10) as r:
        kernels = json.load(r)
    for kernel in kernels:
        request = urllib.request.Request(f"{base}/api/kernels/{kernel['id']}?token={token}", method="DELETE")
        urllib.request.urlopen(request, timeout=30).read()



def pytest_collection_modifyitems(config, items):
    """Every browser test is slow: it needs the built book or a running JupyterLab."""
    browser = Path(__file__).resolve().parent
    for item in items:
        if browser in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.slow)
