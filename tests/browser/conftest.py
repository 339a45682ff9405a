"""Fixtures for browser tests: Debian's Chromium driven by Playwright, real
daphne servers (tests/e2e/harness.py), a TCP proxy that can drop
connections, and axe-core accessibility checks."""
import fcntl
import json
import os
import shutil
import socket
import struct
import subprocess
import threading
from pathlib import Path

import pytest

from tests.e2e.conftest import daphne_server  # noqa: F401  (re-exported fixture)

expect_timeout_ms = 15_000

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium per test module."""
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: scripts/test installs Debian's chromium package")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=expect_timeout_ms)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def new_page(browser):
    """``new_page(base_url, width=1100)``: a page in a fresh context (its own cookies)."""
    contexts = []

    def make(base_url, width=1100, height=800):
        context = browser.new_context(base_url=base_url, viewport={"width": width, "height": height})
        context.set_default_timeout(20_000)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: page_errors.append(exc))
        return page

    page_errors = []
    yield make
    for context in contexts:
        context.close()
    assert not page_errors, f"JavaScript errors in the page: {page_errors}"


class TcpProxy:
    """Forwards 127.0.0.1:port to the daphne server's current port.

    ``block()`` makes new connections fail, ``abort()`` resets the open
    ones (the browser sees close code 1006), ``unblock()`` lets them in."""

    def __init__(self, server):
        self.server = server
        self.blocked = False
        self._conns = set()
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._closed = False
        threading.Thread(target=self._accept_loop, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def _accept_loop(self):
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.blocked:
                self._drop(client, reset=True)
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.server.port), timeout=5)
                upstream.settimeout(None)
            except OSError:
                self._drop(client, reset=True)
                continue
            with self._lock:
                self._conns.update((client, upstream))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        self._drop(src, dst)

    def _drop(self, *socks, reset=False):
        """Shut every socket down before closing any: shutdown() wakes a pump
        thread blocked on it and always sends the peer a FIN, while close()
        alone does neither while another thread still uses the socket.
        ``reset`` adds linger 0 so that the close sends a reset."""
        with self._lock:
            self._conns.difference_update(socks)
        for sock in socks:
            try:
                if reset:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for sock in socks:
            try:
                sock.close()
            except OSError:
                pass

    def block(self):
        self.blocked = True

    def unblock(self):
        self.blocked = False

    def abort(self):
        with self._lock:
            conns = list(self._conns)
        self._drop(*conns, reset=True)

    def close(self):
        self._closed = True
        self._listener.close()
        self.abort()


@pytest.fixture
def make_proxy():
    """``make_proxy(server)``: a TcpProxy in front of ``server``; all closed at the end."""
    proxies = []

    def make(server):
        proxy = TcpProxy(server)
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        proxy.close()


AXE_DIR = Path(__file__).resolve().parent / "axe"
AXE_SCRIPT = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"
AXE_URL_PATH = "/__axe-core__/axe.min.js"
AXE_FAILING_IMPACTS = ("serious", "critical")


def _pinned_axe_version():
    return json.loads((AXE_DIR / "package.json").read_text())["dependencies"]["axe-core"]


def _installed_axe_version():
    manifest = AXE_SCRIPT.parent / "package.json"
    return json.loads(manifest.read_text())["version"] if manifest.exists() else None


@pytest.fixture(scope="session")
def axe_script():
    """The path of axe-core's axe.min.js, installed once per session when missing.

    axe-core comes from the npm registry with ``npm ci`` into the git-ignored
    tests/browser/axe/node_modules, pinned (with its integrity hash) by the
    committed package.json and package-lock.json there: the repository stays
    free of a 500 kB minified third-party file, bumping the version is a
    one-line change, and npm checks what it downloads. A file lock keeps two
    test runs in one working tree from installing at the same time."""
    pinned = _pinned_axe_version()
    if _installed_axe_version() == pinned:
        return AXE_SCRIPT
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is missing: the accessibility checks install axe-core with it (Debian: apt-get install npm)")
    with open(AXE_DIR / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _installed_axe_version() != pinned:
            result = subprocess.run(
                [npm, "ci", "--prefix", str(AXE_DIR), "--no-audit", "--no-fund", "--ignore-scripts"],
                capture_output=True, text=True, timeout=300,
            )
            if result.returncode != 0 or _installed_axe_version() != pinned:
                pytest.fail(f"could not install axe-core {pinned} with npm ci:\n{result.stdout}\n{result.stderr}")
    return AXE_SCRIPT


def _axe_summary(violations):
    lines = []
    for violation in violations:
        targets = [" ".join(map(str, node["target"])) for node in violation["nodes"]]
        lines.append(f"{violation['impact']}: {violation['id']} ({violation['help']}) at {targets}")
    return "\n".join(lines)


@pytest.fixture
def axe_check(axe_script):
    """``axe_check(page, state)``: run axe-core on the page as it is now and
    fail on any serious or critical violation.

    The script is served to the page from its own origin through a Playwright
    route and loaded with ``add_script_tag(url=...)``, so the page's
    Content-Security-Policy (scripts from 'self' only) stays on during the
    check; ``add_script_tag(path=...)`` would add an inline script, which that
    policy blocks, and ``bypass_csp`` would turn the policy off."""
    routed = set()

    def check(page, state):
        if page not in routed:
            page.route(f"**{AXE_URL_PATH}", lambda route: route.fulfill(
                path=str(axe_script), content_type="application/javascript; charset=utf-8"))
            routed.add(page)
        if not page.evaluate("typeof window.axe === 'object'"):
            page.add_script_tag(url=AXE_URL_PATH)
        results = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
        failing = [v for v in results["violations"] if v["impact"] in AXE_FAILING_IMPACTS]
        assert not failing, f"axe-core ({state}) found serious or critical violations:\n{_axe_summary(failing)}"
        return results["violations"]

    return check
